/**
 * `last_updated` / `last_changed` as instants. Home Assistant sends Python's `isoformat()` of an
 * aware UTC datetime: `2017-10-01T23:20:30.920969+00:00`. `Date.parse` is avoided on purpose: it
 * accepts many non-ISO shapes and reads a string without offset as local time, which would make an
 * instant depend on the server's time zone.
 */
import { isoFormat, newIsoDateTime, parseIsoDateTime } from '../time/iso8601';

export interface IsoInstant {
  /** UTC instant with the original fraction digits kept: `2017-10-01T23:20:30.920969Z`. */
  iso: string;
  /** The same instant as a Date (millisecond precision). */
  date: Date;
}

/**
 * Home Assistant always writes an offset, and a text without one has no instant (it would be
 * somebody's local time), so the offset is required and must be complete (`±HH[:]MM`, as
 * isoformat writes it). A bare date is not a `last_updated`. Longer text than 40 characters
 * cannot be a timestamp: refusing it unread keeps hostile payloads cheap. Years 1..9999 after the
 * offset is applied, so the ISO text stays the plain four-digit form.
 */
const STATESTREAM_TIME = isoFormat({ offset: 'required', lowercaseT: true, maxLength: 40, utcYears: { min: 1, max: 9999 } });
/** Reused by every parse (synchronous, so one is enough). */
const parsed = newIsoDateTime();

/** Returns the instant, or undefined when `text` is not an ISO 8601 date-time with a UTC offset. */
export function parseIsoInstant(text: string): IsoInstant | undefined {
  if (parseIsoDateTime(text, STATESTREAM_TIME, parsed) !== undefined) return undefined;
  const date = new Date(parsed.epochSeconds * 1000 + Math.floor(parsed.fractionNanos / 1e6));
  const seconds = date.toISOString().slice(0, 19); // drop the millisecond part; the original digits follow
  const fraction = text.slice(parsed.fractionStart, parsed.fractionEnd);
  return { iso: `${seconds}${fraction === '' ? '' : `.${fraction}`}Z`, date };
}
