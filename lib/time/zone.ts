/**
 * Local wall-clock time of an IANA time zone ↔ instants, for reading naive local timestamps an
 * original pipeline stored (the ISEMS collector wrote Europe/Berlin local time without offset).
 *
 * Offsets come from the runtime's time-zone data (Intl), so every rule change the zone ever had is
 * honoured. "Local milliseconds" are the wall-clock fields read as if they were UTC:
 * `Date.UTC(y, m - 1, d, h, mi, s)`.
 *
 * Two kinds of local time are not one instant:
 * - in a gap (clocks move forward: 02:00-02:59 on the last Sunday of March in Berlin) a local time
 *   names no instant;
 * - in a repeated hour (clocks move back: 02:00-02:59 on the last Sunday of October) it names two,
 *   an hour apart: the first under the offset before the change, the second under the one after.
 */

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      era: 'short',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** Throws a RangeError for a name the runtime does not know. */
export function checkZone(zone: string): void {
  formatter(zone);
}

/** The zone's UTC offset at `epochMs`, in milliseconds (Berlin: 3,600,000 in winter, 7,200,000 in summer). */
export function zoneOffsetMs(zone: string, epochMs: number): number {
  const second = Math.floor(epochMs / 1000) * 1000;
  const parts: Record<string, string> = {};
  for (const part of formatter(zone).formatToParts(second)) parts[part.type] = part.value;
  const year = parts.era === 'BC' || parts.era === 'B' ? 1 - Number(parts.year) : Number(parts.year);
  const local = Date.UTC(year, Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second));
  // Date.UTC maps years 0-99 to 1900-1999.
  const fixed = year >= 0 && year < 100 ? new Date(local).setUTCFullYear(year) : local;
  return fixed - second;
}

export interface ZoneTransition {
  /** The instant the offset changes (epoch ms). */
  at: number;
  before: number;
  after: number;
}

const DAY_MS = 86_400_000;

/** Offset changes of `zone` between two instants, in order (found day by day, then to the millisecond). */
export function zoneTransitions(zone: string, fromMs: number, toMs: number): ZoneTransition[] {
  const transitions: ZoneTransition[] = [];
  let t = fromMs;
  let offset = zoneOffsetMs(zone, t);
  while (t < toMs) {
    const next = Math.min(t + DAY_MS, toMs);
    const nextOffset = zoneOffsetMs(zone, next);
    if (nextOffset !== offset) {
      // The change is in (t, next]: bisect to the first millisecond with the new offset.
      let lo = t;
      let hi = next;
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        if (zoneOffsetMs(zone, mid) === offset) lo = mid;
        else hi = mid;
      }
      // Offsets are read per whole second, so `hi` is the first millisecond of the changed second.
      transitions.push({ at: hi, before: offset, after: nextOffset });
    }
    offset = nextOffset;
    t = next;
  }
  return transitions;
}

/** A span of local time (local ms, [from, to)) and how its local times map to instants. */
export type LocalSegment =
  | { kind: 'fixed'; from: number; to: number; offset: number }
  /** Clocks went back: each local time here happened twice, first under `first`, then under `second`. */
  | { kind: 'repeated'; from: number; to: number; first: number; second: number };

/**
 * The local-time segments covering [fromLocal, toLocal) (pass a margin: segments may start
 * before and end after). A gap (clocks went forward) belongs to the segment before it: a local
 * time that never existed is read with the offset in force just before the change, as if the
 * clock had not been moved yet (Temporal's and RFC 5545's "compatible" reading), so 02:30 on the
 * day Berlin moves to summer time is 01:30 UTC, the same instant as 03:30 summer time.
 */
export function localSegments(zone: string, fromLocal: number, toLocal: number): LocalSegment[] {
  // Local times lie within a day of their instants; widen so no transition near the ends is missed.
  const transitions = zoneTransitions(zone, fromLocal - 2 * DAY_MS, toLocal + 2 * DAY_MS);
  const segments: LocalSegment[] = [];
  let from = -Infinity;
  let offset = zoneOffsetMs(zone, fromLocal - 2 * DAY_MS);
  for (const change of transitions) {
    if (change.after > change.before) {
      // Forward: local [at + before, at + after) never happened; it stays with the old offset.
      segments.push({ kind: 'fixed', from, to: change.at + change.after, offset: change.before });
      from = change.at + change.after;
    } else {
      // Back: local [at + after, at + before) happened twice.
      segments.push({ kind: 'fixed', from, to: change.at + change.after, offset: change.before });
      segments.push({
        kind: 'repeated',
        from: change.at + change.after,
        to: change.at + change.before,
        first: change.before,
        second: change.after,
      });
      from = change.at + change.before;
    }
    offset = change.after;
  }
  segments.push({ kind: 'fixed', from, to: Infinity, offset });
  return segments.filter((s) => s.to > s.from);
}

/**
 * The instant of a local time: the one instant, the first of a repeated hour (or the second with
 * `occurrence: 'second'`), and for a time in a gap the reading described at localSegments.
 */
export function localToInstant(zone: string, localMs: number, occurrence: 'first' | 'second' = 'first'): number {
  const segment = localSegments(zone, localMs, localMs + 1).find((s) => localMs >= s.from && localMs < s.to)!;
  if (segment.kind === 'fixed') return localMs - segment.offset;
  return localMs - (occurrence === 'first' ? segment.first : segment.second);
}
