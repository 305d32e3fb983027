/**
 * The one ISO 8601 date-time parser of the package:
 * `YYYY-MM-DD[(T|t| )HH:MM[:SS[(.|,)fraction]]][Z|z|±HH[[:]MM]]`, a fraction of 1 to 9 digits.
 *
 * Every area that reads a date-time (statestream timestamps, window event times, sensor readings
 * and read-API bounds, connector request windows, the ISEMS collector's stored local times) calls
 * parseIsoDateTime with a format made once by isoFormat: the format states that area's rules
 * (offset required, optional or forbidden, a bare date or not, `±HH` alone, `t` as separator,
 * fraction digits, length, years) and the area keeps only its wording and its unit (ms, µs, text).
 *
 * Neither throws nor allocates: the result goes into a caller-owned object and what is wrong comes
 * back as a short defect code, because the sensors pipeline parses every message.
 *
 * Calendar checks are exact (2023-02-29, 24:00, minute 60 and second 60 are refused): Date's own
 * parser would roll them over, and no database column here can hold a leap second.
 */
import { daysFromCivil, daysInMonth } from './civil';

/**
 * What a scan found, in an object the caller creates once and reuses. Complete after a successful
 * scan and after any defect other than 'shape' (so parseIsoDateTime can judge the year before the
 * other fields, and an area's message can name the field); unspecified after 'shape'.
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
 * What is wrong with a text, first found first: 'length' when it is longer than the format allows
 * (not read at all); 'shape' when it does not follow the format's grammar; 'year' for a year
 * below the format's minYear; then the first field out of range, left to right ('day' covers a
 * day the month does not have, 'offset' hours above 23 or minutes above 59); 'range' for an
 * instant outside the format's UTC years. The scanner alone reports only 'shape' to 'offset'.
 */
export type IsoDefect = 'length' | 'shape' | 'year' | 'month' | 'day' | 'hour' | 'minute' | 'second' | 'offset' | 'range';

/** The grammar variant the scanner reads (isoFormat derives it from an area's options). */
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

/** Everything the grammar allows: the widest variant (the scanner's own tests read every form through it). */
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
 * The tokeniser under parseIsoDateTime: scans `text` against `grammar` into `out`. Returns
 * undefined when the text is a valid date-time, else the first defect ('shape' to 'offset'). The
 * whole text must match: no trimming, nothing after the offset. Reads at most a few characters
 * past the shortest form, so hostile lengths cost nothing.
 */
export function scanIsoDateTime(text: string, grammar: IsoGrammar, out: IsoDateTimeFields): IsoDefect | undefined {
  const len = text.length;
  const century = twoDigitsAt(text, 0);
  const yearOfCentury = twoDigitsAt(text, 2);
  const month = twoDigitsAt(text, 5);
  const day = twoDigitsAt(text, 8);
  if (century < 0 || yearOfCentury < 0 || month < 0 || day < 0 || text.charCodeAt(4) !== HYPHEN || text.charCodeAt(7) !== HYPHEN)
    return 'shape';
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

/** An area's rules for the date-times it reads: the options of parseIsoDateTime. */
export interface IsoDateTimeOptions {
  /**
   * The zone designator (`Z`, `±HH[:]MM`) and what a text without one means:
   * - 'required': a text without one is refused (it would be somebody's local time);
   * - 'optional': a text without one is UTC;
   * - 'forbidden': a text with one is refused; the fields are a wall-clock time, and epochSeconds
   *   reads them as if they were UTC (the caller places them in their zone).
   */
  readonly offset: 'required' | 'optional' | 'forbidden';
  /** `±HH` alone is a complete offset (otherwise only `±HHMM` and `±HH:MM`). Default false. */
  readonly offsetHoursOnly?: boolean;
  /** A bare `YYYY-MM-DD` is accepted, as midnight. Default false. */
  readonly dateOnly?: boolean;
  /** A bare date may carry a zone designator too (`2024-06-14Z`, `2024-06-14+02:00`); needs dateOnly. Default false. */
  readonly offsetOnDate?: boolean;
  /** `t` separates date and time as well as `T` and a space do. Default false. */
  readonly lowercaseT?: boolean;
  /** At most this many fraction digits, 1 to 9 (default 9: nanoseconds); more is a 'shape' defect. */
  readonly maxFractionDigits?: number;
  /** A longer text is refused unread ('length'), counted before trimming. Default: any length. */
  readonly maxLength?: number;
  /** White space around the text is ignored (String.prototype.trim). Default false. */
  readonly trim?: boolean;
  /** A year below this as written is refused ('year'), before any other field is judged. Default 0. */
  readonly minYear?: number;
  /** The instant must fall within these UTC years, inclusive ('range'). Default: any instant. */
  readonly utcYears?: { readonly min: number; readonly max: number };
}

/** Options made ready for parseIsoDateTime, once per area (isoFormat). */
export interface IsoFormat {
  readonly grammar: IsoGrammar;
  readonly offsetForbidden: boolean;
  readonly maxFractionDigits: number;
  readonly maxLength: number;
  readonly trim: boolean;
  readonly minYear: number;
  /** Whole epoch seconds of the first and the last second the instant may fall in. */
  readonly minSecond: number;
  readonly maxSecond: number;
}

/** What parseIsoDateTime found: the fields as written, and the instant. */
export interface IsoDateTime extends IsoDateTimeFields {
  /** The text the field positions refer to (trimmed when the format trims). */
  text: string;
  /**
   * Whole seconds since 1970-01-01T00:00:00Z of the instant, the fraction apart (fractionNanos);
   * for a wall-clock time (offset 'forbidden') the fields read as if UTC.
   */
  epochSeconds: number;
}

/** A fresh result object, to be reused for every parse of one caller (the parse is synchronous). */
export function newIsoDateTime(): IsoDateTime {
  return { ...newIsoDateTimeFields(), text: '', epochSeconds: 0 };
}

const DAY_SECONDS = 86_400;

/** Checks an area's options and prepares them; call once, at module load. Throws a RangeError for impossible options. */
export function isoFormat(options: IsoDateTimeOptions): IsoFormat {
  const maxFractionDigits = options.maxFractionDigits ?? MAX_FRACTION_DIGITS;
  if (!Number.isInteger(maxFractionDigits) || maxFractionDigits < 1 || maxFractionDigits > MAX_FRACTION_DIGITS) {
    throw new RangeError(`maxFractionDigits must be 1 to ${MAX_FRACTION_DIGITS}`);
  }
  if (options.offsetOnDate && !options.dateOnly) throw new RangeError('offsetOnDate needs dateOnly');
  if (options.offsetOnDate && options.offset === 'forbidden') throw new RangeError('offsetOnDate contradicts a forbidden offset');
  const years = options.utcYears;
  if (years && !(Number.isInteger(years.min) && Number.isInteger(years.max) && years.min <= years.max))
    throw new RangeError('utcYears must be whole years, min <= max');
  return Object.freeze({
    grammar: Object.freeze({
      dateOnly: options.dateOnly === true,
      offsetOnDate: options.offsetOnDate === true,
      offsetRequired: options.offset === 'required',
      offsetHoursOnly: options.offsetHoursOnly === true,
      lowercaseT: options.lowercaseT === true,
    }),
    offsetForbidden: options.offset === 'forbidden',
    maxFractionDigits,
    maxLength: options.maxLength ?? Infinity,
    trim: options.trim === true,
    minYear: options.minYear ?? 0,
    minSecond: years ? daysFromCivil(years.min, 1, 1) * DAY_SECONDS : -Infinity,
    maxSecond: years ? daysFromCivil(years.max + 1, 1, 1) * DAY_SECONDS - 1 : Infinity,
  });
}

/**
 * Parses `text` by `format` into `out`. Returns undefined when it is a date-time the format
 * accepts (then `out.epochSeconds` and `out.fractionNanos` give the instant), else the first
 * defect (see IsoDefect); after a defect other than 'length' and 'shape' the fields as written
 * are in `out`, so an area's message can name the offending one.
 */
export function parseIsoDateTime(text: string, format: IsoFormat, out: IsoDateTime): IsoDefect | undefined {
  if (text.length > format.maxLength) return 'length';
  const scanned = format.trim ? text.trim() : text;
  out.text = scanned;
  const defect = scanIsoDateTime(scanned, format.grammar, out);
  if (defect === 'shape') return defect;
  if ((format.offsetForbidden && out.hasOffset) || out.fractionEnd - out.fractionStart > format.maxFractionDigits) return 'shape';
  if (out.year < format.minYear) return 'year';
  if (defect !== undefined) return defect;
  const seconds =
    daysFromCivil(out.year, out.month, out.day) * DAY_SECONDS + out.hour * 3600 + (out.minute - out.offsetMinutes) * 60 + out.second;
  out.epochSeconds = seconds;
  if (seconds < format.minSecond || seconds > format.maxSecond) return 'range';
  return undefined;
}
