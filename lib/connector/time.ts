/**
 * UTC time parsing and rendering for the connector. Everything is epoch-millisecond arithmetic:
 * no local time zone, no DST. Naive ISO times (no offset) are UTC, as in the original connector,
 * which used naive UTC datetimes throughout.
 */
import { ConnectorError } from './errors';
import { isoFormat, newIsoDateTime, parseIsoDateTime } from '../time/iso8601';

export interface ParsedTime {
  /** Epoch milliseconds (UTC). */
  ms: number;
  /** Fractional-second digits exactly as written (may be longer than 3, e.g. microseconds); '' if none. */
  fraction: string;
}

/**
 * YYYY-MM-DD, optionally followed by `T` or a space and HH:MM[:SS[.fraction]], optionally an offset
 * (`±HH` alone too), white space around it ignored. A bare date is midnight UTC and takes no
 * offset. Only `T` or a space separates date and time: the request API has always accepted exactly
 * these, and widening it is a contract change, not a refactoring. Year 0000 is refused: the
 * connector renders times back as years 1-9999 only.
 */
const CONNECTOR_TIME = isoFormat({ offset: 'optional', dateOnly: true, offsetHoursOnly: true, maxLength: 64, trim: true, minYear: 1 });
/** Reused by every parse (synchronous, so one is enough). */
const parsed = newIsoDateTime();

/**
 * Parses an ISO 8601 date or date-time (`2021-07-01`, `2021-07-01T12:00:00`, `2021-07-01 12:00:00.250`,
 * `2021-07-01T14:00:00+02:00`, `...Z`). Throws ConnectorError INVALID_TIME with the reason otherwise.
 */
export function parseIsoTime(text: unknown, label = 'time'): ParsedTime {
  if (typeof text !== 'string') throw new ConnectorError('INVALID_TIME', `${label} must be an ISO 8601 string`);
  switch (parseIsoDateTime(text, CONNECTOR_TIME, parsed)) {
    case undefined:
      break;
    case 'length':
      throw new ConnectorError('INVALID_TIME', `${label} is too long to be an ISO 8601 time`);
    case 'shape':
    case 'range': // never: no UTC years are set
      throw new ConnectorError('INVALID_TIME', `${label} is not an ISO 8601 time (expected e.g. 2021-07-01T12:00:00)`);
    case 'year':
    case 'month':
    case 'day':
      throw new ConnectorError('INVALID_TIME', `${label} has no such calendar date`);
    case 'hour':
    case 'minute':
    case 'second':
      throw new ConnectorError('INVALID_TIME', `${label} has an out-of-range time of day`);
    case 'offset':
      throw new ConnectorError('INVALID_TIME', `${label} has an out-of-range UTC offset`);
  }
  const fraction = parsed.text.slice(parsed.fractionStart, parsed.fractionEnd);
  const millis = fraction ? Math.floor(Number(`0.${fraction}`) * 1000 + 1e-6) : 0;
  return { ms: parsed.epochSeconds * 1000 + millis, fraction };
}

const MIN_MS = -62_135_596_800_000; // 0001-01-01T00:00:00Z
const MAX_MS = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z

/**
 * Renders epoch ms as the contract's naive UTC form `2021-07-01T12:00:00`. Fractional seconds are
 * appended only when present: `fraction` digits as written in the source if given, else `.mmm` when
 * the milliseconds are not zero.
 */
export function formatUtc(ms: number, fraction?: string): string {
  if (!Number.isFinite(ms) || ms < MIN_MS || ms > MAX_MS)
    throw new ConnectorError('INVALID_TIME', `time ${String(ms)} is outside years 1-9999`);
  // toISOString is native and fast; within years 1-9999 it is always YYYY-MM-DDTHH:MM:SS.mmmZ.
  const iso = new Date(ms).toISOString();
  if (fraction !== undefined) return fraction ? `${iso.slice(0, 19)}.${fraction}` : iso.slice(0, 19);
  return iso.endsWith('.000Z') ? iso.slice(0, 19) : iso.slice(0, 23);
}
