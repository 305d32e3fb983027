import { WindowError, describe } from './errors';

const DECIMAL = /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$/;

/**
 * The numeric reading in `value`: a finite number, or text holding one decimal number
 * (`"21.5"`, `" 3e2 "`). Everything else (NaN, ±Infinity, `""`, `"0x10"`, booleans, null,
 * objects) throws WindowError INVALID_VALUE: `Number("")` is 0 and `Number(true)` is 1, and
 * such coercions would put invented readings into a window.
 */
export function toReading(value: unknown): number {
  if (typeof value === 'number') {
    if (value - value === 0) return value; // false for NaN and ±Infinity
  } else if (typeof value === 'string' && value.length <= 64 && DECIMAL.test(value)) {
    const n = Number(value);
    if (n - n === 0) return n;
  }
  throw new WindowError('INVALID_VALUE', `not a finite number: ${describe(value)}`);
}

/** Epoch milliseconds checked for use as a window time (finite, not before 1970). */
export function toWindowTime(time: unknown): number {
  if (typeof time === 'number' && time >= 0 && time <= 8.64e15) return time;
  throw new WindowError('INVALID_TIME', `window time must be epoch milliseconds >= 0, got ${describe(time)}`);
}

/** `x` rounded to `decimals` places, as the decimal text of the double shows it. */
export function roundTo(x: number, decimals: number | undefined): number {
  return decimals === undefined ? x : Number(x.toFixed(decimals));
}
