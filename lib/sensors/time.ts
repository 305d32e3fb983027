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

/** The earliest and latest accepted instants (years 1900..2199 UTC), exact to the microsecond. */
export const MIN_STORABLE_US = Date.UTC(1900, 0, 1) * 1000;
export const MAX_STORABLE_US = Date.UTC(2200, 0, 1) * 1000 - 1;

// YYYY-MM-DD[T ]HH:MM[:SS[.fraction]][Z|±HH[:]MM]. Date-only is handled separately by callers
// that allow it (the read API), because a reading must say when within the day it was taken.
const TIMESTAMP_RE = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$/;
const DATE_ONLY_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Longest timestamp text worth looking at; anything longer is rejected before the regex runs. */
const MAX_TIMESTAMP_LENGTH = 40;

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Epoch ms of a UTC calendar date; Date.UTC maps years 0..99 to 1900.., so years are set explicitly. */
function utcMs(year: number, month: number, day: number, hour: number, minute: number, second: number): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  return date.getTime();
}

/**
 * Parses an ISO 8601 timestamp to epoch microseconds. Text without an offset is UTC (the
 * generator's convention); `Z` or `±HH:MM` is honoured and converted. Fractions beyond
 * microseconds are truncated. Returns a reason string instead of throwing, so hot paths can
 * collect issues without paying for exceptions.
 */
export function parseTimestampUs(text: string, options: { allowDateOnly?: boolean } = {}): number | string {
  if (text.length > MAX_TIMESTAMP_LENGTH) return `longer than ${MAX_TIMESTAMP_LENGTH} characters`;
  let match = TIMESTAMP_RE.exec(text);
  if (!match) {
    const dateOnly = options.allowDateOnly ? DATE_ONLY_RE.exec(text) : null;
    if (!dateOnly) return 'not an ISO 8601 date-time (expected e.g. 2024-06-14T16:00:00.123456)';
    match = [dateOnly[0], dateOnly[1], dateOnly[2], dateOnly[3], '00', '00'] as unknown as RegExpExecArray;
  }
  const year = Number(match[1]);
  const month = Number(match[2]);
  const day = Number(match[3]);
  const hour = Number(match[4]);
  const minute = Number(match[5]);
  const second = match[6] === undefined ? 0 : Number(match[6]);
  if (month < 1 || month > 12) return `month ${match[2]} is out of range`;
  if (day < 1 || day > daysInMonth(year, month)) return `day ${match[3]} does not exist in ${match[1]}-${match[2]}`;
  if (hour > 23) return `hour ${match[4]} is out of range`;
  if (minute > 59) return `minute ${match[5]} is out of range`;
  // Leap seconds (:60) cannot be represented by any of the databases; reject rather than shift.
  if (second > 59) return `second ${match[6]} is out of range`;
  const fraction = match[7];
  const micros = fraction === undefined ? 0 : Number((fraction + '00000').slice(0, 6));
  let offsetMinutes = 0;
  if (match[9] !== undefined) {
    const offsetHours = Number(match[10]);
    const offsetMins = Number(match[11]);
    if (offsetHours > 23 || offsetMins > 59) return `offset ${match[9]}${match[10]}:${match[11]} is out of range`;
    offsetMinutes = (match[9] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMins);
  }
  const us = (utcMs(year, month, day, hour, minute, second) - offsetMinutes * 60_000) * 1000 + micros;
  if (us < MIN_STORABLE_US || us > MAX_STORABLE_US) return 'outside the accepted range (years 1900 to 2199 UTC)';
  return us;
}

function pad2(n: number): string {
  return n < 10 ? '0' + n : String(n);
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

function parts(us: number): { date: string; time: string; micros: string } {
  const ms = Math.floor(us / 1000);
  const d = new Date(ms);
  const micros = (ms % 1000 + 1000) % 1000 * 1000 + (us - ms * 1000);
  return {
    date: `${pad(d.getUTCFullYear(), 4)}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`,
    time: `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`,
    micros: pad(micros, 6),
  };
}

/** `YYYY-MM-DD HH:MM:SS.ffffff` (UTC): the stored form, for DATETIME(6) and SQLite TEXT alike. */
export function formatSqlTimestamp(us: number): string {
  const p = parts(us);
  return `${p.date} ${p.time}.${p.micros}`;
}

/** `YYYY-MM-DDTHH:MM:SS.ffffffZ`: the form every JSON answer uses. */
export function formatIsoTimestamp(us: number): string {
  const p = parts(us);
  return `${p.date}T${p.time}.${p.micros}Z`;
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
