/**
 * The one ISO 8601 date-time scanner of the package:
 * `YYYY-MM-DD[(T|t| )HH:MM[:SS[(.|,)fraction]]][Z|z|±HH[[:]MM]]`, a fraction of 1 to 9 digits.
 *
 * It tokenises and validates into a caller-owned fields object and returns what is wrong, if
 * anything, as a short defect code; it neither throws nor allocates, because the sensors pipeline
 * runs it for every message. Each parser of the package keeps its own policy on top (what a
 * missing offset means, which years it accepts, how long a text may be, its own error type and
 * wording) and picks the grammar variant it has always accepted through an IsoGrammar.
 *
 * Calendar checks are exact (2023-02-29, 24:00, minute 60 and second 60 are refused): Date's own
 * parser would roll them over, and no database column here can hold a leap second.
 */
import { daysInMonth } from './civil';

/**
 * What a scan found, in an object the caller creates once (newIsoDateTimeFields) and reuses.
 * Complete after a successful scan and after any defect other than 'shape' (so a caller can put
 * its own checks, e.g. on the year, before the scanner's); unspecified after 'shape'.
 */
export interface IsoDateTimeFields {
  /** 0..9999 as written. */
  year: number;
  month: number;
  day: number;
  /** False for a bare date; hour, minute and second are then 0. */
  hasTime: boolean;
  hour: number;
  minute: number;
  /** 0 when the seconds are not written. */
  second: number;
  /** The fraction digits as written are `text.slice(fractionStart, fractionEnd)`; the two are equal when there is no fraction. */
  fractionStart: number;
  fractionEnd: number;
  /** The fraction in whole nanoseconds (`.5` → 500000000, `.123456789` → 123456789); 0 when none. */
  fractionNanos: number;
  /** False when the text carries no zone designator: the caller decides what that means. */
  hasOffset: boolean;
  /** Minutes east of UTC (`+02:00` → 120, `-0430` → -270, `Z` → 0); 0 when there is no offset. */
  offsetMinutes: number;
  /** Index of the zone designator (`Z` or the sign), which runs to the end of the text; the text's length when none. */
  offsetStart: number;
}

/** A fresh fields object, to be reused for every scan of one caller. */
export function newIsoDateTimeFields(): IsoDateTimeFields {
  return {
    year: 0,
    month: 0,
    day: 0,
    hasTime: false,
    hour: 0,
    minute: 0,
    second: 0,
    fractionStart: 0,
    fractionEnd: 0,
    fractionNanos: 0,
    hasOffset: false,
    offsetMinutes: 0,
    offsetStart: 0,
  };
}

/**
 * What is wrong with a text, first found first, left to right: 'shape' when it does not follow
 * the grammar at all; otherwise the first field out of range ('day' covers a day the month does
 * not have, 'offset' hours above 23 or minutes above 59).
 */
export type IsoDefect = 'shape' | 'month' | 'day' | 'hour' | 'minute' | 'second' | 'offset';

/** The variant of the grammar a caller accepts (each parser documents why it picked its own). */
export interface IsoGrammar {
  /** A bare `YYYY-MM-DD` without a time is accepted. */
  readonly dateOnly: boolean;
  /** A bare date may carry a zone designator too (`2024-06-14Z`, `2024-06-14+02:00`). */
  readonly offsetOnDate: boolean;
  /** Text without a zone designator is refused. */
  readonly offsetRequired: boolean;
  /** `±HH` alone is a complete offset (otherwise only `±HHMM` and `±HH:MM`). */
  readonly offsetHoursOnly: boolean;
  /** `t` separates date and time as well as `T` and a space do. */
  readonly lowercaseT: boolean;
}

/** Everything the grammar allows: the widest variant, for callers with no reason to narrow it. */
export const FULL_ISO_GRAMMAR: IsoGrammar = Object.freeze({
  dateOnly: true,
  offsetOnDate: true,
  offsetRequired: false,
  offsetHoursOnly: true,
  lowercaseT: true,
});

const HYPHEN = 45;
const COLON = 58;
const PLUS = 43;
const DOT = 46;
const COMMA = 44;
const SPACE = 32;
const UPPER_T = 84;
const LOWER_T = 116;
const UPPER_Z = 90;
const LOWER_Z = 122;
const MAX_FRACTION_DIGITS = 9;
/** Scales a fraction of n digits (the index) to nanoseconds. */
const NANOS_SCALE = [0, 1e8, 1e7, 1e6, 1e5, 1e4, 1e3, 100, 10, 1];

/** The number written by `count` ASCII digits at `at`, or -1 (also when the text ends first); for fixed-width checks beside the scanner too. */
export function digitsAt(text: string, at: number, count: number): number {
  if (at + count > text.length) return -1;
  let n = 0;
  for (let i = at; i < at + count; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** The two ASCII digits at `at` as a number, or -1 (also past the end: NaN fails both comparisons). */
function twoDigitsAt(text: string, at: number): number {
  const tens = text.charCodeAt(at) - 48;
  const ones = text.charCodeAt(at + 1) - 48;
  return tens >= 0 && tens <= 9 && ones >= 0 && ones <= 9 ? tens * 10 + ones : -1;
}

/**
 * Scans `text` against `grammar` into `out`. Returns undefined when the text is a valid date-time,
 * else the first defect. The whole text must match: no trimming, nothing after the offset.
 * Reads at most a few characters past the shortest form, so hostile lengths cost nothing; callers
 * still cap the length to keep their messages short.
 */
export function scanIsoDateTime(text: string, grammar: IsoGrammar, out: IsoDateTimeFields): IsoDefect | undefined {
  const len = text.length;
  const century = twoDigitsAt(text, 0);
  const yearOfCentury = twoDigitsAt(text, 2);
  const month = twoDigitsAt(text, 5);
  const day = twoDigitsAt(text, 8);
  if (century < 0 || yearOfCentury < 0 || month < 0 || day < 0 || text.charCodeAt(4) !== HYPHEN || text.charCodeAt(7) !== HYPHEN) return 'shape';
  const year = century * 100 + yearOfCentury;
  let hour = 0;
  let minute = 0;
  let second = 0;
  let fractionStart = 10;
  let fractionEnd = 10;
  let fractionNanos = 0;
  let i = 10;
  const sep = text.charCodeAt(10); // NaN past the end
  const hasTime = sep === UPPER_T || sep === SPACE || (sep === LOWER_T && grammar.lowercaseT);
  if (hasTime) {
    hour = twoDigitsAt(text, 11);
    minute = twoDigitsAt(text, 14);
    if (hour < 0 || minute < 0 || text.charCodeAt(13) !== COLON) return 'shape';
    i = 16;
    if (text.charCodeAt(i) === COLON) {
      second = twoDigitsAt(text, 17);
      if (second < 0) return 'shape';
      i = 19;
      const dot = text.charCodeAt(i);
      if (dot === DOT || dot === COMMA) {
        fractionStart = ++i;
        let value = 0;
        while (i < len) {
          const d = text.charCodeAt(i) - 48;
          if (d < 0 || d > 9) break;
          if (i - fractionStart === MAX_FRACTION_DIGITS) return 'shape';
          value = value * 10 + d;
          i++;
        }
        if (i === fractionStart) return 'shape';
        fractionNanos = value * NANOS_SCALE[i - fractionStart];
      } else fractionStart = i;
    } else fractionStart = i;
    fractionEnd = i;
  } else if (!grammar.dateOnly) return 'shape';

  const offsetStart = i;
  let offsetHours = 0;
  let offsetMins = 0;
  let offsetNegative = false;
  const hasOffset = i < len;
  if (hasOffset) {
    if (!hasTime && !grammar.offsetOnDate) return 'shape';
    const c = text.charCodeAt(i);
    if (c === UPPER_Z || c === LOWER_Z) i++;
    else if (c === PLUS || c === HYPHEN) {
      offsetNegative = c === HYPHEN;
      offsetHours = twoDigitsAt(text, i + 1);
      if (offsetHours < 0) return 'shape';
      i += 3;
      if (i === len) {
        if (!grammar.offsetHoursOnly) return 'shape';
      } else {
        if (text.charCodeAt(i) === COLON) i++;
        offsetMins = twoDigitsAt(text, i);
        if (offsetMins < 0) return 'shape';
        i += 2;
      }
    } else return 'shape';
    if (i !== len) return 'shape';
  } else if (grammar.offsetRequired) return 'shape';

  out.year = year;
  out.month = month;
  out.day = day;
  out.hasTime = hasTime;
  out.hour = hour;
  out.minute = minute;
  out.second = second;
  out.fractionStart = fractionStart;
  out.fractionEnd = fractionEnd;
  out.fractionNanos = fractionNanos;
  out.hasOffset = hasOffset;
  // 0 - x rather than -x: `-00:00` is offset 0, not -0 (which deepEqual and Object.is tell apart).
  out.offsetMinutes = offsetNegative ? 0 - (offsetHours * 60 + offsetMins) : offsetHours * 60 + offsetMins;
  out.offsetStart = offsetStart;

  if (month < 1 || month > 12) return 'month';
  if (day < 1 || day > daysInMonth(year, month)) return 'day';
  if (hour > 23) return 'hour';
  if (minute > 59) return 'minute';
  if (second > 59) return 'second';
  if (offsetHours > 23 || offsetMins > 59) return 'offset';
  return undefined;
}
