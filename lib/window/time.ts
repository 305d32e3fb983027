/**
 * Timestamps as the pipelines receive them, turned into epoch milliseconds (UTC).
 *
 * Accepted:
 * - a number or numeric string of epoch seconds or epoch milliseconds. With `unit: 'auto'` (the
 *   default) a magnitude below 1e11 is seconds (1e11 s is the year 5138; 1e11 ms is March 1973,
 *   before any reading this package will see), anything larger is milliseconds. Fractions are kept.
 * - ISO 8601 text `YYYY-MM-DD[(T| )hh:mm[:ss[.fraction]]][Z|±hh[:mm]]`. Text without an offset is
 *   UTC: that is what the sensors pipeline publishes (`2024-06-14T16:00:00.123456`). Fractions up
 *   to nanoseconds are kept as fractional milliseconds, so microseconds survive.
 * - a valid Date.
 * Anything else throws a TimeParseError (code INVALID_TIMESTAMP); so do impossible calendar
 * dates (2023-02-29, 24:00, minute 60) instead of rolling over the way Date.parse does.
 */
import { TimeParseError } from './errors';
import { isoFormat, newIsoDateTime, parseIsoDateTime } from '../time/iso8601';

export type EpochUnit = 'auto' | 's' | 'ms';

export interface ParseTimestampOptions {
  /** How a bare number is read; default 'auto' (see above). */
  unit?: EpochUnit;
}

/** Epoch seconds below this magnitude; milliseconds from it on (unit 'auto'). */
export const SECONDS_MS_THRESHOLD = 1e11;

const NUMERIC = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
/**
 * The widest variant: timestamps reach the window from any flow, so a bare date, a zone on a bare
 * date and an hours-only offset (`+01`) are all read rather than refused.
 */
const WINDOW_TIME = isoFormat({ offset: 'optional', dateOnly: true, offsetOnDate: true, offsetHoursOnly: true, lowercaseT: true });
/** Reused by every parse (synchronous, so one is enough). */
const parsed = newIsoDateTime();
/** Longer text cannot be a timestamp; refusing it early keeps hostile input cheap. */
const MAX_TEXT = 64;

export function parseTimestamp(input: unknown, options: ParseTimestampOptions = {}): number {
  const unit = options.unit ?? 'auto';
  if (typeof input === 'number') return fromEpochNumber(input, unit, input);
  if (typeof input === 'string') {
    const text = input.trim();
    if (text.length === 0) throw new TimeParseError(input, 'empty text');
    if (text.length > MAX_TEXT) throw new TimeParseError(input, 'too long');
    if (NUMERIC.test(text)) {
      const ms = fromEpochNumber(Number(text), unit, input);
      // "1669940235.518" * 1000 is 1669940235517.9998; scaling the integer and fraction digits
      // separately keeps what the text says.
      const dot = /^(\d+)\.(\d+)$/.exec(text);
      return dot !== null && ms !== Number(text) ? Number(dot[1]) * 1000 + Number(`0.${dot[2]}`) * 1000 : ms;
    }
    return parseIso(text, input);
  }
  if (input instanceof Date) {
    const ms = input.getTime();
    if (Number.isNaN(ms)) throw new TimeParseError(input, 'invalid Date');
    return ms;
  }
  throw new TimeParseError(input, 'expected epoch seconds/milliseconds or ISO 8601 text');
}

function fromEpochNumber(value: number, unit: EpochUnit, original: unknown): number {
  if (!Number.isFinite(value)) throw new TimeParseError(original, 'not a finite number');
  const seconds = unit === 's' || (unit === 'auto' && Math.abs(value) < SECONDS_MS_THRESHOLD);
  const ms = seconds ? value * 1000 : value;
  // Date's own range (±8.64e15 ms): beyond it no calendar date exists.
  if (Math.abs(ms) > 8.64e15) throw new TimeParseError(original, 'out of range');
  return ms;
}

function parseIso(text: string, original: unknown): number {
  switch (parseIsoDateTime(text, WINDOW_TIME, parsed)) {
    case undefined:
      break;
    case 'shape':
    case 'length': // never with this format: parseTimestamp caps the length itself,
    case 'year': // and reads every year from 0000 to 9999
    case 'range':
      throw new TimeParseError(original, 'expected epoch seconds/milliseconds or ISO 8601 text');
    case 'month':
      throw new TimeParseError(original, 'month out of range');
    case 'day':
      throw new TimeParseError(original, 'day out of range');
    case 'hour':
    case 'minute':
    case 'second':
      throw new TimeParseError(original, 'time of day out of range');
    case 'offset':
      throw new TimeParseError(original, 'offset out of range');
  }
  // Whole milliseconds first (exact integers), then the fraction as fractional ms, so microseconds
  // survive; the fraction goes through Number('0.<digits>') as it always has, so results stay
  // bit-identical to earlier releases.
  const wholeMs = parsed.epochSeconds * 1000;
  if (parsed.fractionEnd === parsed.fractionStart) return wholeMs;
  return wholeMs + Number(`0.${text.slice(parsed.fractionStart, parsed.fractionEnd)}`) * 1000;
}

/**
 * UTC time as naive ISO text with 0..6 fraction digits (default 6), as the sensors pipeline
 * publishes it: `2024-06-14T16:00:00.123456`. Sub-millisecond digits come from a fractional `ms`,
 * which is first rounded to the microsecond (a double near 1.7e12 ms only resolves ~0.2 µs), then
 * truncated to the requested digits.
 */
export function formatUtcNaive(ms: number, fractionDigits = 6): string {
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) throw new TimeParseError(ms, 'not a representable time');
  const micros = Math.round(ms * 1000);
  const seconds = Math.floor(micros / 1e6);
  const base = new Date(seconds * 1000).toISOString().slice(0, 19);
  const digits = Math.max(0, Math.min(6, Math.floor(fractionDigits)));
  if (digits === 0) return base;
  return `${base}.${String(micros - seconds * 1e6)
    .padStart(6, '0')
    .slice(0, digits)}`;
}
