/**
 * Strict ISO 8601 date-time parsing for `last_updated` / `last_changed`. Home Assistant sends
 * Python's `isoformat()` of an aware UTC datetime: `2017-10-01T23:20:30.920969+00:00`.
 * `Date.parse` is avoided on purpose: it accepts many non-ISO shapes and reads a string without
 * offset as local time, which would make an instant depend on the server's time zone.
 */
import { daysFromCivil } from '../time/civil';
import { newIsoDateTimeFields, scanIsoDateTime, type IsoGrammar } from '../time/iso8601';

export interface IsoInstant {
  /** UTC instant with the original fraction digits kept: `2017-10-01T23:20:30.920969Z`. */
  iso: string;
  /** The same instant as a Date (millisecond precision). */
  date: Date;
}

/**
 * Home Assistant always writes an offset, and a text without one has no instant (it would be
 * somebody's local time), so the offset is required and must be complete (`±HH[:]MM`, as
 * isoformat writes it). A bare date is not a `last_updated`.
 */
const STATESTREAM_GRAMMAR: IsoGrammar = Object.freeze({ dateOnly: false, offsetOnDate: false, offsetRequired: true, offsetHoursOnly: false, lowercaseT: true });
/** Reused by every parse (synchronous, so one is enough). */
const fields = newIsoDateTimeFields();
/** Longer text cannot be a timestamp; refusing it unread keeps hostile payloads cheap. */
const MAX_TEXT = 40;

/** Returns the instant, or undefined when `text` is not an ISO 8601 date-time with a UTC offset. */
export function parseIsoInstant(text: string): IsoInstant | undefined {
  if (text.length > MAX_TEXT) return undefined;
  if (scanIsoDateTime(text, STATESTREAM_GRAMMAR, fields) !== undefined) return undefined;
  const fraction = text.slice(fields.fractionStart, fields.fractionEnd);
  const millis = fraction === '' ? 0 : Number(fraction.slice(0, 3).padEnd(3, '0'));
  const epoch =
    daysFromCivil(fields.year, fields.month, fields.day) * 86_400_000 +
    ((fields.hour * 60 + fields.minute - fields.offsetMinutes) * 60 + fields.second) * 1000 +
    millis;
  const date = new Date(epoch);
  // Keep to years 1..9999 after the offset is applied, so the ISO text stays the plain four-digit form.
  if (date.getUTCFullYear() < 1 || date.getUTCFullYear() > 9999) return undefined;
  const seconds = date.toISOString().slice(0, 19); // drop the millisecond part; the original digits follow
  return { iso: `${seconds}${fraction === '' ? '' : `.${fraction}`}Z`, date };
}
