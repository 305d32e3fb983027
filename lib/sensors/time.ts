/**
 * Timestamps of the sensors pipeline, held as epoch MICROseconds in a plain number.
 *
 * The original generator stamps readings with Python's `datetime.utcnow().isoformat()`: UTC
 * without an offset, with microseconds unless they happen to be zero. A JS Date keeps only
 * milliseconds, so parsing through Date would silently merge readings 0.5 ms apart (and make
 * uniqueness checks lie). Epoch microseconds are exact in a double within ±2^53 µs (years 1685 to
 * 2255), so accepted instants are limited to the years 1900..2199: wide for sensor readings, and
 * inside MySQL's DATETIME range (1000..9999).
 *
 * Storage uses one fixed-width text form, `YYYY-MM-DD HH:MM:SS.ffffff` (UTC), which MySQL accepts
 * for DATETIME(6) regardless of the session time zone and which sorts correctly as SQLite TEXT.
 */

import { digitsAt, isoFormat, newIsoDateTime, parseIsoDateTime, type IsoDefect } from '../time/iso8601';

/** The earliest and latest accepted instants (years 1900..2199 UTC), exact to the microsecond. */
export const MIN_STORABLE_US = Date.UTC(1900, 0, 1) * 1000;
export const MAX_STORABLE_US = Date.UTC(2200, 0, 1) * 1000 - 1;

/** Longest timestamp text worth looking at; anything longer is rejected unread. */
const MAX_TIMESTAMP_LENGTH = 40;
const SHAPE = 'not an ISO 8601 date-time (expected e.g. 2024-06-14T16:00:00.123456)';

/**
 * A reading's timestamp: `t` as separator too (Python's isoformat and hand-written payloads vary),
 * an offset optional (none means UTC, the generator's convention) but complete (`±HH[:]MM`, as
 * isoformat writes it), a bare date never; within the storable years (see the header).
 */
const READING_TIME = isoFormat({
  offset: 'optional',
  lowercaseT: true,
  maxLength: MAX_TIMESTAMP_LENGTH,
  utcYears: { min: 1900, max: 2199 },
});
/** The read API's bounds and stored text: the same, plus a bare date (midnight UTC). */
const BOUND_TIME = isoFormat({
  offset: 'optional',
  lowercaseT: true,
  maxLength: MAX_TIMESTAMP_LENGTH,
  utcYears: { min: 1900, max: 2199 },
  dateOnly: true,
});
/** Reused by every parse: the parse is synchronous, so one object is enough and nothing is allocated per message. */
const parsed = newIsoDateTime();
const NO_OPTIONS: { allowDateOnly?: boolean } = Object.freeze({});

const two = (n: number): string => (n < 10 ? '0' : '') + n;

/** The reason for a defect, naming the offending field as written. */
function describeDefect(defect: IsoDefect, text: string): string {
  switch (defect) {
    case 'length':
      return `longer than ${MAX_TIMESTAMP_LENGTH} characters`;
    case 'shape':
    case 'year': // no minimum year as written: the storable range is checked on the instant ('range')
      return SHAPE;
    case 'month':
      return `month ${two(parsed.month)} is out of range`;
    case 'day':
      return `day ${two(parsed.day)} does not exist in ${parsed.year}-${two(parsed.month)}`;
    case 'hour':
      return `hour ${two(parsed.hour)} is out of range`;
    case 'minute':
      return `minute ${two(parsed.minute)} is out of range`;
    case 'second':
      // Leap seconds (:60) cannot be represented by any of the databases; reject rather than shift.
      return `second ${two(parsed.second)} is out of range`;
    case 'offset':
      return `offset ${text.slice(parsed.offsetStart)} is out of range`;
    case 'range':
      // Microseconds are exact in a double only within about years 1685..2255 (see the header).
      return 'outside the accepted range (years 1900 to 2199 UTC)';
  }
}

/**
 * Parses an ISO 8601 timestamp to epoch microseconds:
 * `YYYY-MM-DD[T| ]HH:MM[:SS[.fraction]][Z|±HH[:]MM]` (a bare date too with `allowDateOnly`).
 * Text without an offset is UTC (the generator's convention); `Z` or an offset is converted.
 * Fractions beyond microseconds are truncated. Returns a reason string instead of throwing, so
 * hot paths collect issues without paying for exceptions; the shared parser neither throws nor
 * allocates for the same reason (this runs for every message; a regex plus Date costs several
 * times as much).
 */
export function parseTimestampUs(text: string, options: { allowDateOnly?: boolean } = NO_OPTIONS): number | string {
  const defect = parseIsoDateTime(text, options.allowDateOnly ? BOUND_TIME : READING_TIME, parsed);
  if (defect !== undefined) return describeDefect(defect, text);
  // Exact: fractionNanos is an integer below 1e9, so the division never rounds up to the next microsecond.
  return parsed.epochSeconds * 1e6 + Math.floor(parsed.fractionNanos / 1000);
}

const PAD2: string[] = Array.from({ length: 100 }, (_, i) => (i < 10 ? '0' : '') + i);

/** `YYYY-MM-DD<sep>HH:MM:SS.ffffff` by civil-from-days arithmetic (no Date object). */
function format(us: number, sep: string): string {
  const secs = Math.floor(us / 1e6);
  const micros = us - secs * 1e6;
  const days = Math.floor(secs / 86400);
  const sod = secs - days * 86400;
  // H. Hinnant's civil_from_days.
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const hour = Math.floor(sod / 3600);
  const minute = Math.floor((sod - hour * 3600) / 60);
  const second = sod - hour * 3600 - minute * 60;
  const y = year >= 1000 ? String(year) : String(year).padStart(4, '0');
  return (
    y +
    '-' +
    PAD2[month] +
    '-' +
    PAD2[day] +
    sep +
    PAD2[hour] +
    ':' +
    PAD2[minute] +
    ':' +
    PAD2[second] +
    '.' +
    String(1e6 + micros).slice(1)
  );
}

/** `YYYY-MM-DD HH:MM:SS.ffffff` (UTC): the stored form, for DATETIME(6) and SQLite TEXT alike. */
export function formatSqlTimestamp(us: number): string {
  return format(us, ' ');
}

/** `YYYY-MM-DDTHH:MM:SS.ffffffZ`: the form every JSON answer uses. */
export function formatIsoTimestamp(us: number): string {
  return format(us, 'T') + 'Z';
}

/**
 * The stored form of a timestamp text that parsed to `us`. The generator's own form (UTC, six
 * fraction digits, no offset) only needs its `T` replaced, which is much cheaper than formatting.
 */
export function storedTimestamp(text: string, us: number): string {
  if (text.length === 26 && text.charCodeAt(19) === 46 && digitsAt(text, 20, 6) >= 0) {
    return text.charCodeAt(10) === 32 ? text : text.slice(0, 10) + ' ' + text.slice(11);
  }
  return format(us, ' ');
}

/** `YYYY-MM-DDTHH:MM:SS.mmmZ` from epoch milliseconds (arrival times are only ms-precise). */
export function formatIsoMs(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * A timestamp as a database driver hands it back, as ISO text with `Z`: a Date (mysql2 without
 * `dateStrings`), or text as stored (`YYYY-MM-DD HH:MM:SS[.ffffff]`, read as UTC). Returns null
 * for SQL NULL and for anything unparseable, so one odd row cannot break a whole answer.
 */
export function dbTimestampToIso(value: unknown): string | null {
  if (value == null) return null;
  if (value instanceof Date) {
    const ms = value.getTime();
    return Number.isFinite(ms) ? formatIsoTimestamp(ms * 1000) : null;
  }
  if (typeof value === 'string') {
    const us = parseTimestampUs(value, { allowDateOnly: true });
    return typeof us === 'number' ? formatIsoTimestamp(us) : null;
  }
  if (typeof value === 'number' && Number.isFinite(value)) {
    // SQLite users who stored epoch seconds by hand: tolerate rather than drop.
    return formatIsoTimestamp(Math.round(value * 1e6));
  }
  return null;
}
