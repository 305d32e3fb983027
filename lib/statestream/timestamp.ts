/**
 * Strict ISO 8601 date-time parsing for `last_updated` / `last_changed`. Home Assistant sends
 * Python's `isoformat()` of an aware UTC datetime: `2017-10-01T23:20:30.920969+00:00`.
 * `Date.parse` is avoided on purpose: it accepts many non-ISO shapes and reads a string without
 * offset as local time, which would make an instant depend on the server's time zone.
 */

export interface IsoInstant {
  /** UTC instant with the original fraction digits kept: `2017-10-01T23:20:30.920969Z`. */
  iso: string;
  /** The same instant as a Date (millisecond precision). */
  date: Date;
}

const ISO_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:(Z)|([+-])(\d{2}):?(\d{2}))$/i;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysIn(year: number, month: number): number {
  if (month === 2 && (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0))) return 29;
  return DAYS_IN_MONTH[month - 1];
}

/** Returns the instant, or undefined when `text` is not an ISO 8601 date-time with a UTC offset. */
export function parseIsoInstant(text: string): IsoInstant | undefined {
  if (text.length > 40) return undefined;
  const m = ISO_DATE_TIME.exec(text);
  if (!m) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  const fraction = m[7] ?? '';
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMinutes = 0;
  if (m[8] === undefined) {
    const offsetHours = Number(m[10]);
    const offsetMins = Number(m[11]);
    if (offsetHours > 23 || offsetMins > 59) return undefined;
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMins);
  }
  const millis = fraction === '' ? 0 : Number(fraction.slice(0, 3).padEnd(3, '0'));
  const wallUtc = Date.UTC(year, month - 1, day, hour, minute, second, millis);
  // Date.UTC maps years 0..99 to 1900..1999; set the full year explicitly.
  const wall = new Date(wallUtc);
  if (year < 100) wall.setUTCFullYear(year);
  const epoch = wall.getTime() - offsetMinutes * 60_000;
  const date = new Date(epoch);
  // Keep to years 1..9999 so the ISO text stays the plain four-digit form.
  if (Number.isNaN(epoch) || date.getUTCFullYear() < 1 || date.getUTCFullYear() > 9999) return undefined;
  const seconds = date.toISOString().slice(0, 19); // drop the millisecond part; the original digits follow
  return { iso: `${seconds}${fraction === '' ? '' : `.${fraction}`}Z`, date };
}
