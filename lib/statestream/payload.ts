/**
 * Normalising an MQTT payload into one of three forms, because Node-RED's mqtt-in node may hand
 * over the raw bytes (`buffer`), the raw text (`utf8`), or an already JSON-parsed value
 * (`auto-detect`, the default, and `json`). Which one a string is cannot be seen from the string
 * itself, hence the `strings` option.
 */
import { isUtf8 } from 'node:buffer';
import { MAX_JSON_DEPTH, TOO_DEEP, jsonTextDeeperThan, jsonTextWithinDepth } from '../json-depth';
import { StatestreamError } from './errors';
import { describeType } from './topic';

/**
 * How string payloads are read:
 * - `raw`: strings are the wire text (mqtt-in output `utf8`); strict, e.g. attributes must be JSON;
 * - `decoded`: strings were JSON-decoded already (mqtt-in `auto-detect`/`json`): `"Living Room"` is the value;
 * - `auto` (default): a string that parses as JSON is taken as wire text, any other string as an
 *   already decoded value. Right for both mqtt-in modes except for string attributes whose text
 *   is itself JSON (`"1.0"` would read as the number 1): choose `decoded` or `raw` to be exact.
 */
export type StringPayloads = 'auto' | 'raw' | 'decoded';

export type PayloadForm =
  /** Wire text known to be raw: from a Buffer, or a string in `raw` mode. */
  | { kind: 'wire'; text: string }
  /** A string of unknown origin (`auto` mode): wire text, or a JSON string decoded upstream. */
  | { kind: 'string'; text: string }
  /** An already decoded JSON value (including strings in `decoded` mode); `text` is its JSON text. */
  | { kind: 'decoded'; value: unknown; text: string };

/** The limit of the MQTT ingest (lib/mqtt/payload.ts), stated once: a larger payload never arrives here. */
export { DEFAULT_MAX_PAYLOAD_BYTES } from '../mqtt/payload';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function tooLarge(bytes: number, max: number, topic: string): StatestreamError {
  return new StatestreamError('payload-too-large', `payload is ${bytes} bytes, over the limit of ${max} bytes`, topic);
}

function tooDeep(topic: string): StatestreamError {
  return new StatestreamError('payload-too-deep', `payload JSON nests deeper than ${MAX_JSON_DEPTH} levels`, topic);
}

export function normalisePayload(payload: unknown, strings: StringPayloads, maxBytes: number, topic: string): PayloadForm {
  if (payload instanceof Uint8Array) {
    if (payload.byteLength > maxBytes) throw tooLarge(payload.byteLength, maxBytes, topic);
    if (!isUtf8(payload)) throw new StatestreamError('invalid-utf8', 'payload bytes are not valid UTF-8', topic);
    return { kind: 'wire', text: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8') };
  }
  switch (typeof payload) {
    case 'string': {
      // UTF-16 length is at most the UTF-8 byte length, so the exact count is only needed near the limit.
      if (payload.length > maxBytes || (payload.length * 3 > maxBytes && Buffer.byteLength(payload, 'utf8') > maxBytes)) {
        throw tooLarge(Buffer.byteLength(payload, 'utf8'), maxBytes, topic);
      }
      if (LONE_SURROGATE.test(payload))
        throw new StatestreamError('invalid-utf8', 'payload string has a lone surrogate (not encodable as UTF-8)', topic);
      if (strings === 'raw') return { kind: 'wire', text: payload };
      if (strings === 'decoded') return { kind: 'decoded', value: payload, text: JSON.stringify(payload) };
      return { kind: 'string', text: payload };
    }
    case 'number':
      if (!Number.isFinite(payload)) throw new StatestreamError('payload-type', `payload is a non-finite number (${payload})`, topic);
      return { kind: 'decoded', value: payload, text: JSON.stringify(payload) };
    case 'boolean':
      return { kind: 'decoded', value: payload, text: payload ? 'true' : 'false' };
    case 'object': {
      if (payload === null) return { kind: 'decoded', value: null, text: 'null' };
      let text: string | undefined | typeof TOO_DEEP;
      try {
        text = jsonTextWithinDepth(payload);
      } catch (err) {
        throw new StatestreamError('payload-type', `payload object cannot be serialised as JSON (${(err as Error).message})`, topic);
      }
      if (text === TOO_DEEP) throw tooDeep(topic);
      if (typeof text !== 'string') throw new StatestreamError('payload-type', 'payload object has no JSON form', topic);
      if (text.length > maxBytes || Buffer.byteLength(text, 'utf8') > maxBytes)
        throw tooLarge(Buffer.byteLength(text, 'utf8'), maxBytes, topic);
      if (LONE_SURROGATE.test(text))
        throw new StatestreamError('invalid-utf8', 'payload object holds a lone surrogate (not encodable as UTF-8)', topic);
      return { kind: 'decoded', value: payload, text };
    }
    default:
      throw new StatestreamError('payload-type', `payload of type ${describeType(payload)} is not an MQTT payload`, topic);
  }
}

/** Python's json.dumps writes these bare tokens for float nan/inf (allow_nan=True). */
const PYTHON_NON_FINITE: Readonly<Record<string, number>> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity };

const NOT_JSON = Symbol('not-json');

/**
 * JSON.parse that reports failure as a sentinel instead of throwing; accepts Python's NaN/Infinity.
 * Throws StatestreamError `payload-too-deep` for JSON nested deeper than MAX_JSON_DEPTH.
 */
export function tryParseJson(text: string, topic: string): unknown {
  // Cheap first-character test: most Home Assistant states (`on`, `unavailable`) are not JSON.
  const first = text.charCodeAt(firstNonSpace(text));
  const mayBeJson =
    first === 0x22 /* " */ ||
    first === 0x7b /* { */ ||
    first === 0x5b /* [ */ ||
    first === 0x2d /* - */ ||
    (first >= 0x30 && first <= 0x39) ||
    first === 0x74 /* t */ ||
    first === 0x66 /* f */ ||
    first === 0x6e /* n */ ||
    first === 0x4e /* N */ ||
    first === 0x49; /* I */
  if (!mayBeJson) return NOT_JSON;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    const trimmed = text.trim();
    return Object.prototype.hasOwnProperty.call(PYTHON_NON_FINITE, trimmed) ? PYTHON_NON_FINITE[trimmed] : NOT_JSON;
  }
  if (jsonTextDeeperThan(text)) throw tooDeep(topic);
  return value;
}

export function isJson(parsed: unknown): boolean {
  return parsed !== NOT_JSON;
}

function firstNonSpace(text: string): number {
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
    i++;
  }
  return i;
}
