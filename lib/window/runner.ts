/**
 * What the iotp-window node does, without Node-RED: reads a message's value, series and time,
 * feeds the sliding or tumbling engine, decides what to emit and when the node's ONE timer must
 * fire next (interval emission, tumbling windows closing, state snapshots), and turns the engine
 * state into a versioned snapshot for the node's persistent context.
 */
import { WindowError, describe } from './errors';
import { SlidingWindows, type SlidingSnapshot, type WindowValues } from './sliding';
import { TumblingWindows, type TumblingResult, type TumblingSnapshot } from './tumbling';
import { formatUtcNaive, parseTimestamp } from './time';
import { toReading } from './value';
import type { WindowSettings } from './settings';

/** One output of the node that is derived from many inputs (interval values, a closed window). */
export interface WindowEmission {
  series: string;
  payload: Record<string, unknown>;
}

/** How far an event time may be ahead of the clock (senders' clocks drift): beyond, it is refused. */
export const MAX_FUTURE_MS = 5 * 60_000;

/** A reading as a window counted it. */
export interface CountedReading {
  series: string;
  value: number;
  /** Epoch milliseconds: the event time, or the arrival time with processing time. */
  time: number;
}

export interface AcceptOutcome {
  series: string;
  /** What was counted (the value and time the windows took). */
  reading: CountedReading;
  /** Sliding with emission on every message: the series' aggregates now. */
  values?: WindowValues;
  /** Tumbling with the event-time watermark: windows this reading closed. */
  closed: WindowEmission[];
}

/** What the node keeps in its context: the engine snapshot and the layout it was made with. */
export interface PersistedWindowState {
  kind: 'iotp-window';
  version: 1;
  fingerprint: string;
  savedAt: number;
  engine: SlidingSnapshot | TumblingSnapshot;
}

/**
 * How long late readings are collected before their closed windows are emitted again: one
 * revision per window for a whole backlog, not one per reading.
 */
export const REVISION_DELAY_MS = 1000;

/** Longest series key accepted: keys are held in memory and snapshots for as long as the series lives. */
export const MAX_SERIES_KEY_LENGTH = 1024;
/** How often changed state is snapshotted into the context store. */
export const DEFAULT_SNAPSHOT_EVERY_MS = 5000;

/** One reading as text, for matching a message against seeded readings. */
export function readingKey(reading: { series: string; value: number; time: number | undefined }): string {
  return `${reading.series}\u0000${reading.value}\u0000${reading.time ?? ''}`;
}

/**
 * A fresh tumbling engine whose processing-time watermark starts now: a reading for a window that
 * ended before this run (a backlog from before a restart) is late, not a new window that would
 * replace what the earlier run emitted for it.
 */
function startedTumbling(settings: WindowSettings, clock: () => number): TumblingWindows {
  const engine = new TumblingWindows({ ...settings.tumbling, clock });
  if (settings.tumbling.watermark !== 'event') engine.tick(clock());
  return engine;
}

/** A duration for a message: whole minutes as minutes, the rest in seconds. */
function describeMs(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms / 1000} s`;
}

export class WindowRunner {
  private readonly sliding: SlidingWindows | undefined;
  private readonly tumbling: TumblingWindows | undefined;
  private nextEmitAt: number | undefined;
  private lastSnapshotAt: number;
  /** State changed since the last snapshot. */
  private changed = false;
  /** The latest output, for the node status. */
  latest: { series: string; values: Record<string, unknown> } | undefined;

  private constructor(
    readonly settings: WindowSettings,
    private readonly clock: () => number,
    engine: SlidingWindows | TumblingWindows,
    private readonly snapshotEveryMs: number,
  ) {
    if (engine instanceof SlidingWindows) this.sliding = engine;
    else this.tumbling = engine;
    const now = clock();
    this.lastSnapshotAt = now;
    if (settings.emitIntervalMs !== undefined) this.nextEmitAt = now + settings.emitIntervalMs;
  }

  /**
   * A runner for `settings`, restored from `persisted` when that is a snapshot of the same
   * layout. A snapshot that cannot be used is reported in `discarded` (the runner starts empty):
   * losing state must be visible, never silent.
   */
  static create(
    settings: WindowSettings,
    options: { clock?: () => number; persisted?: unknown; snapshotEveryMs?: number } = {},
  ): { runner: WindowRunner; restored: boolean; discarded?: WindowError } {
    const clock = options.clock ?? Date.now;
    const clockOptions = { clock };
    const snapshotEveryMs = options.snapshotEveryMs ?? DEFAULT_SNAPSHOT_EVERY_MS;
    const fresh = (): WindowRunner =>
      new WindowRunner(
        settings,
        clock,
        settings.mode === 'sliding' ? new SlidingWindows({ ...settings.sliding, ...clockOptions }) : startedTumbling(settings, clock),
        snapshotEveryMs,
      );
    const persisted = options.persisted;
    if (persisted === undefined || persisted === null) return { runner: fresh(), restored: false };
    try {
      const state = persisted as Partial<PersistedWindowState>;
      if (typeof state !== 'object' || state.kind !== 'iotp-window' || state.version !== 1) {
        throw new WindowError('INVALID_SNAPSHOT', 'saved window state has an unknown format');
      }
      if (state.fingerprint !== settings.fingerprint) {
        throw new WindowError(
          'INVALID_SNAPSHOT',
          `saved window state was made with other settings (${describe(state.fingerprint)}, now ${settings.fingerprint})`,
        );
      }
      const now = clock();
      const engine =
        settings.mode === 'sliding'
          ? SlidingWindows.fromJSON(state.engine, { ...settings.sliding, ...clockOptions }, now)
          : TumblingWindows.fromJSON(state.engine, { ...settings.tumbling, ...clockOptions }, now);
      return { runner: new WindowRunner(settings, clock, engine, snapshotEveryMs), restored: true };
    } catch (err) {
      const problem =
        err instanceof WindowError ? err : new WindowError('INVALID_SNAPSHOT', `saved window state rejected: ${(err as Error).message}`);
      return { runner: fresh(), restored: false, discarded: problem };
    }
  }

  get mode(): 'sliding' | 'tumbling' {
    return this.sliding ? 'sliding' : 'tumbling';
  }

  /** Engine counters (accepted, late, series/open windows...). */
  get stats(): Record<string, number | null> {
    return { ...(this.sliding ? this.sliding.stats : this.tumbling!.stats) };
  }

  /** True when state changed since the last snapshot. */
  get dirty(): boolean {
    return this.changed;
  }

  /**
   * The series key of a message: msg.topic, a property, or '' (one series). Throws WindowError
   * INVALID_SERIES when it is missing, not text/number, or longer than MAX_SERIES_KEY_LENGTH.
   */
  seriesOf(msg: Record<string, unknown>): string {
    if (this.settings.seriesFrom === 'single') return '';
    const raw = this.settings.seriesFrom === 'topic' ? msg.topic : this.settings.series!(msg);
    const key = typeof raw === 'string' ? raw : typeof raw === 'number' && Number.isFinite(raw) ? String(raw) : undefined;
    if (key === undefined) {
      const where = this.settings.seriesFrom === 'topic' ? 'msg.topic' : 'the series property';
      throw new WindowError('INVALID_SERIES', `${where} must be text or a number, got ${describe(raw)}`);
    }
    if (key.length > MAX_SERIES_KEY_LENGTH)
      throw new WindowError('INVALID_SERIES', `series key longer than ${MAX_SERIES_KEY_LENGTH} characters`);
    return key;
  }

  /** The reading a message carries (its series, value and event time). Throws like accept(). */
  readingOf(msg: Record<string, unknown>): { series: string; value: number; time: number | undefined } {
    const value = toReading(this.settings.value(msg));
    const series = this.seriesOf(msg);
    const time = this.settings.time ? parseTimestamp(this.settings.time(msg)) : undefined;
    return { series, value, time };
  }

  /**
   * Sliding windows only: fills them with readings already stored elsewhere (the rows a pipeline
   * kept in its database), each row read like a message's payload. Produces no output; rows that
   * cannot be read or are older than the longest window are skipped and counted. Returns the
   * readings taken, keyed `series/value/time`, so a message that arrives while they are read and
   * is one of them (the same reading, stored meanwhile) can be counted once (accept's `counted`).
   */
  seed(rows: readonly Record<string, unknown>[]): { taken: number; skipped: number; keys: Map<string, number> } {
    if (!this.sliding) throw new WindowError('INVALID_OPTIONS', 'only sliding windows can start from stored readings');
    const keys = new Map<string, number>();
    let taken = 0;
    let skipped = 0;
    for (const row of rows) {
      let reading;
      try {
        reading = this.readingOf({ payload: row });
      } catch {
        skipped++;
        continue;
      }
      if (!this.sliding.add(reading.series, reading.value, reading.time)) {
        skipped++;
        continue;
      }
      taken++;
      const key = readingKey(reading);
      keys.set(key, (keys.get(key) ?? 0) + 1);
    }
    if (taken > 0) this.changed = true;
    return { taken, skipped, keys };
  }

  /**
   * Adds the message's reading. Throws WindowError (INVALID_VALUE, INVALID_TIMESTAMP,
   * INVALID_SERIES, LATE_READING, FUTURE_READING, WINDOW_OVERFLOW) and then no window has changed.
   * `counted`: the reading is in the windows already (see seed); only the output is computed.
   */
  accept(msg: Record<string, unknown>, options: { counted?: boolean } = {}): AcceptOutcome {
    const { series, value, time } = this.readingOf(msg);
    const now = this.clock();
    if (time !== undefined && time > now + MAX_FUTURE_MS) {
      // One such reading would move the series' windows (or the tumbling watermark) to its time:
      // every reading of the present would then be refused as late, until the clock got there.
      throw new WindowError(
        'FUTURE_READING',
        `reading at ${new Date(time).toISOString()} is more than ${MAX_FUTURE_MS / 60_000} min ahead of this machine's clock; not counted (is the sender's clock right?)`,
      );
    }
    const reading: CountedReading = { series, value, time: time ?? now };
    if (this.sliding) {
      if (!options.counted && !this.sliding.add(series, value, time)) {
        throw new WindowError(
          'LATE_READING',
          `reading at ${new Date(time ?? 0).toISOString()} is older than the longest window; not counted`,
        );
      }
      this.changed = true;
      if (!this.settings.emitOnMessage) return { series, reading, closed: [] };
      // Windows end now, not at the newest reading: after a quiet spell the averages must
      // forget what is older than each window (the original measured back from the last row).
      const values = this.sliding.read(series, this.clock());
      this.latest = { series, values };
      return { series, reading, values, closed: [] };
    }
    const tumbling = this.tumbling!;
    const outcome = tumbling.add(series, value, time);
    if (outcome === 'late') {
      const lateness = tumbling.latenessMs > 0 ? ` and stopped taking late readings ${describeMs(tumbling.latenessMs)} later` : '';
      throw new WindowError(
        'LATE_READING',
        `reading at ${new Date(time ?? this.clock()).toISOString()} belongs to a window that is already closed${lateness}; not counted`,
      );
    }
    if (outcome === 'overflow') throw new WindowError('WINDOW_OVERFLOW', 'too many open windows (maxSeries); reading not counted');
    this.changed = true;
    const closed = this.settings.tumbling.watermark === 'event' ? this.emitClosed(tumbling.tick()) : [];
    return { series, reading, closed };
  }

  /** Forgets one series, or every series when `series` is undefined. Returns whether anything was there. */
  reset(series?: string): boolean {
    this.changed = true;
    if (this.sliding) {
      if (series !== undefined) return this.sliding.reset(series);
      const had = this.sliding.stats.series > 0;
      this.sliding.clear();
      return had;
    }
    if (series !== undefined) return this.tumbling!.reset(series);
    const had = this.tumbling!.stats.open > 0;
    this.tumbling!.clear();
    return had;
  }

  /**
   * Runs what is due at `now`: the interval emission of every series (sliding), the windows the
   * clock closed (tumbling). Returns the emissions; call `nextDueAt` afterwards to re-arm.
   */
  tick(now = this.clock()): WindowEmission[] {
    if (this.sliding) {
      if (this.nextEmitAt === undefined || now < this.nextEmitAt) return [];
      const interval = this.settings.emitIntervalMs!;
      this.nextEmitAt += interval;
      if (this.nextEmitAt <= now) this.nextEmitAt = now + interval; // the timer ran late: no burst
      const before = this.sliding.stats.series;
      const all = this.sliding.tick(now);
      if (this.sliding.stats.series !== before) this.changed = true;
      const out = all.map(({ series, values }) => ({ series, payload: values as Record<string, unknown> }));
      if (out.length > 0) this.latest = { series: out[out.length - 1].series, values: out[out.length - 1].payload };
      return out;
    }
    const tumbling = this.tumbling!;
    const closed =
      tumbling.stats.open === 0 && tumbling.stats.revisable === 0
        ? []
        : tumbling.tick(this.settings.tumbling.watermark === 'event' ? undefined : now);
    const since = tumbling.revisionsPendingSince;
    const revised = since !== undefined && now >= since + REVISION_DELAY_MS ? tumbling.revisions() : [];
    return this.emitClosed(revised.length === 0 ? closed : [...closed, ...revised]);
  }

  /** The closed windows waiting to be emitted again with late readings, now (e.g. before the node closes). */
  pendingRevisions(): WindowEmission[] {
    return this.tumbling && this.tumbling.revisionsPendingSince !== undefined ? this.emitClosed(this.tumbling.revisions()) : [];
  }

  /** When the node's timer must fire next (epoch ms), or undefined when nothing is pending. */
  nextDueAt(): number | undefined {
    let due = this.changed ? this.lastSnapshotAt + this.snapshotEveryMs : undefined;
    const earliest = (t: number | undefined): void => {
      if (t !== undefined && (due === undefined || t < due)) due = t;
    };
    if (this.sliding) {
      earliest(this.nextEmitAt);
    } else {
      const tumbling = this.tumbling!;
      const oldest = tumbling.oldestOpenStart;
      if (this.settings.tumbling.watermark === 'processing' && oldest !== undefined) earliest(oldest + tumbling.sizeMs + tumbling.graceMs);
      const since = tumbling.revisionsPendingSince;
      if (since !== undefined) earliest(since + REVISION_DELAY_MS);
    }
    return due;
  }

  /** True when changed state has waited `snapshotEveryMs` for a snapshot. */
  snapshotDue(now = this.clock()): boolean {
    return this.changed && now >= this.lastSnapshotAt + this.snapshotEveryMs;
  }

  /** The state to persist; marks the runner clean. Idle sliding series are evicted first. */
  snapshot(now = this.clock()): PersistedWindowState {
    if (this.sliding) this.sliding.evictIdle(now);
    this.changed = false;
    this.lastSnapshotAt = now;
    return {
      kind: 'iotp-window',
      version: 1,
      fingerprint: this.settings.fingerprint,
      savedAt: now,
      engine: this.sliding ? this.sliding.toJSON() : this.tumbling!.toJSON(),
    };
  }

  private emitClosed(results: TumblingResult[]): WindowEmission[] {
    if (results.length === 0) return [];
    this.changed = true;
    const format = this.settings.timeFormat;
    const stamp = (ms: number): number | string =>
      format === 'iso' ? new Date(ms).toISOString() : format === 'utc-naive' ? formatUtcNaive(ms) : ms;
    const out = results.map((r) => ({
      series: r.series,
      payload: {
        series: r.series,
        start: stamp(r.start),
        end: stamp(r.end),
        count: r.count,
        mean: r.mean,
        min: r.min,
        max: r.max,
        sum: r.sum,
        // Only on a window emitted again with late readings: consumers that upsert by (series, start) need nothing else.
        ...(r.revision !== undefined ? { revision: r.revision } : {}),
      } as Record<string, unknown>,
    }));
    this.latest = { series: out[out.length - 1].series, values: out[out.length - 1].payload };
    return out;
  }
}
