/**
 * How deep the JSON the package takes from outside may nest: one limit, checked where untrusted
 * structures are parsed or serialised (MQTT payload decoding, the statestream parser, the
 * writer's object values), so every Node.js line behaves alike.
 *
 * Without it the outcome depended on the engine's stack: JSON.stringify overflows after a few
 * thousand levels on Node 20 to 24 but not on Node 26, and Node-RED's message cloning recurses
 * once per level on every line, so a hostile 100,000-level payload was refused on one Node and
 * stored, or passed on to crash a later node, on another.
 *
 * 64 levels: far below any Node's stack (thousands of frames), below MySQL's limit for a JSON
 * column (100), and deeper than anything the pipelines here carry (Home Assistant attributes and
 * sensor readings nest two to four levels). MariaDB's JSON functions stop at 31 levels; a JSON
 * column there refuses a row nested deeper as a data error of that row alone.
 */
export const MAX_JSON_DEPTH = 64;

const QUOTE = 34;
const BACKSLASH = 92;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;

/**
 * True when valid JSON `text` nests arrays and objects more than `limit` levels deep (`[]` is one
 * level, `{"a":[1]}` two). Cheap for what the pipelines carry: every level takes an opening and a
 * closing character and one opening bracket, so text shorter than 2 × (limit + 1) characters, or
 * with no more `[` and `{` than the limit (counted by indexOf, at memory speed), stops there;
 * only text with more brackets than the limit is walked, strings skipped, up to the first level
 * too deep. bench/json-depth.bench.ts prints the cost beside JSON.parse's.
 */
export function jsonTextDeeperThan(text: string, limit: number = MAX_JSON_DEPTH): boolean {
  if (text.length < 2 * (limit + 1) || openingBracketsAtMost(text, limit)) return false;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      i = closingQuote(text, i);
      if (i < 0) return false; // not valid JSON: never parsed, so never too deep
    } else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      if (++depth > limit) return true;
    } else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) depth--;
  }
  return false;
}

/** No more than `limit` opening brackets anywhere in `text` (strings included: an upper bound of the depth). */
function openingBracketsAtMost(text: string, limit: number): boolean {
  let count = 0;
  for (let i = text.indexOf('['); i >= 0; i = text.indexOf('[', i + 1)) if (++count > limit) return false;
  for (let i = text.indexOf('{'); i >= 0; i = text.indexOf('{', i + 1)) if (++count > limit) return false;
  return true;
}

/** The index of the quote that ends the string opened at `open` (one preceded by an even run of backslashes), or -1. */
function closingQuote(text: string, open: number): number {
  for (let at = text.indexOf('"', open + 1); at >= 0; at = text.indexOf('"', at + 1)) {
    let backslashes = 0;
    while (text.charCodeAt(at - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
  }
  return -1;
}

/** Marks a value nested deeper than the limit (jsonTextWithinDepth). */
export const TOO_DEEP: unique symbol = Symbol('too deep');

/**
 * JSON.stringify(value), or TOO_DEEP when the value nests more than `limit` levels: found in the
 * text, or by the engine's stack overflowing first (Node 20-24 on thousands of levels), so both
 * read the same everywhere. Other failures (a cycle, a BigInt, a throwing toJSON) are thrown as
 * JSON.stringify throws them; undefined when the value has no JSON form (a function, undefined).
 */
export function jsonTextWithinDepth(value: unknown, limit: number = MAX_JSON_DEPTH): string | undefined | typeof TOO_DEEP {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    if (err instanceof RangeError && /call stack/i.test(err.message)) return TOO_DEEP;
    throw err;
  }
  return text !== undefined && jsonTextDeeperThan(text, limit) ? TOO_DEEP : text;
}
