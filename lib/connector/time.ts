/**
 * UTC time parsing and rendering for the connector. Everything is epoch-millisecond arithmetic:
 * no local time zone, no DST. Naive ISO times (no offset) are UTC, as in the original connector,
 * which used naive UTC datetimes throughout.
 */
import { ConnectorError } from './errors';
import { daysFromCivil, daysInMonth } from '../time/civil';

export interface ParsedTime {
  /** Epoch milliseconds (UTC). */
  ms: number;
  /** Fractional-second digits exactly as written (may be longer than 3, e.g. microseconds); '' if none. */
  fraction: string;
}

// YYYY-MM-DD, optionally followed by T or space and HH:MM[:SS[.fraction]], optionally an offset.
const ISO_PATTERN =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?)?$/;

const MAX_INPUT_LENGTH = 64;



/**
 * Parses an ISO 8601 date or date-time (`2021-07-01`, `2021-07-01T12:00:00`, `2021-07-01 12:00:00.250`,
 * `2021-07-01T14:00:00+02:00`, `...Z`). Throws ConnectorError INVALID_TIME with the reason otherwise.
 */
export function parseIsoTime(text: unknown, label = 'time'): ParsedTime {
  if (typeof text !== 'string') throw new ConnectorError('INVALID_TIME', `${label} must be an ISO 8601 string`);
  if (text.length > MAX_INPUT_LENGTH) throw new ConnectorError('INVALID_TIME', `${label} is too long to be an ISO 8601 time`);
  const match = ISO_PATTERN.exec(text.trim());
  if (!match) throw new ConnectorError('INVALID_TIME', `${label} is not an ISO 8601 time (expected e.g. 2021-07-01T12:00:00)`);
  const [, ys, mos, ds, hs = '0', mis = '0', ss = '0', fraction = '', offset] = match;
  const year = Number(ys);
  const month = Number(mos);
  const day = Number(ds);
  const hour = Number(hs);
  const minute = Number(mis);
  const second = Number(ss);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) {
    throw new ConnectorError('INVALID_TIME', `${label} has no such calendar date`);
  }
  if (hour > 23 || minute > 59 || second > 59) throw new ConnectorError('INVALID_TIME', `${label} has an out-of-range time of day`);
  let offsetMinutes = 0;
  if (offset && offset !== 'Z' && offset !== 'z') {
    const digits = offset.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = digits.length > 2 ? Number(digits.slice(2)) : 0;
    if (oh > 23 || om > 59) throw new ConnectorError('INVALID_TIME', `${label} has an out-of-range UTC offset`);
    offsetMinutes = (offset[0] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const millis = fraction ? Math.floor(Number(`0.${fraction}`) * 1000 + 1e-6) : 0;
  const ms = daysFromCivil(year, month, day) * 86_400_000 + ((hour * 60 + minute - offsetMinutes) * 60 + second) * 1000 + millis;
  return { ms, fraction };
}

const MIN_MS = -62_135_596_800_000; // 0001-01-01T00:00:00Z
const MAX_MS = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z

/**
 * Renders epoch ms as the contract's naive UTC form `2021-07-01T12:00:00`. Fractional seconds are
 * appended only when present: `fraction` digits as written in the source if given, else `.mmm` when
 * the milliseconds are not zero.
 */
export function formatUtc(ms: number, fraction?: string): string {
  if (!Number.isFinite(ms) || ms < MIN_MS || ms > MAX_MS) throw new ConnectorError('INVALID_TIME', `time ${String(ms)} is outside years 1-9999`);
  // toISOString is native and fast; within years 1-9999 it is always YYYY-MM-DDTHH:MM:SS.mmmZ.
  const iso = new Date(ms).toISOString();
  if (fraction !== undefined) return fraction ? `${iso.slice(0, 19)}.${fraction}` : iso.slice(0, 19);
  return iso.endsWith('.000Z') ? iso.slice(0, 19) : iso.slice(0, 23);
}
