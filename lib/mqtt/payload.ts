/**
 * Payload decoding for received MQTT messages: raw Buffer, UTF-8 text, or JSON.
 * 'auto' parses JSON when the text is JSON and otherwise keeps the text (what Home Assistant's
 * statestream needs: `21.5` is a number, `on` stays the string "on"). JSON nested deeper than
 * MAX_JSON_DEPTH (lib/json-depth.ts) is refused in both modes: as a value it would overflow the
 * stack of whatever recurses over it next (Node-RED clones messages level by level).
 */
import { MAX_JSON_DEPTH, jsonTextDeeperThan } from '../json-depth';
import { MqttError } from './errors';

export type PayloadFormat = 'buffer' | 'string' | 'json' | 'auto';

export interface DecodeOptions {
  format: PayloadFormat;
  /** Larger payloads are refused with MQTT_PAYLOAD_TOO_LARGE (default 1 MiB). */
  maxBytes?: number;
  /**
   * Refuse text that is not valid UTF-8 (default true). `false` replaces the bad bytes with U+FFFD:
   * what was sent is then stored changed, and nothing says so.
   */
  strictUtf8?: boolean;
}

export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;

const strictDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

function toText(payload: Buffer, strict: boolean): string {
  if (!strict) return payload.toString('utf8');
  try {
    return strictDecoder.decode(payload);
  } catch {
    throw new MqttError('MQTT_PAYLOAD_NOT_UTF8', 'payload is not valid UTF-8 text (binary payloads need the buffer format)');
  }
}

/** A short, printable excerpt of a payload for error messages. */
function excerpt(text: string): string {
  const short = text.length > 60 ? `${text.slice(0, 60)}…` : text;
  return JSON.stringify(short);
}

/** Could `text` be JSON? Cheap first-character test so 'auto' does not pay for a throw on plain words. */
function looksLikeJson(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13) continue;
    // { [ " - 0-9 t(rue) f(alse) n(ull)
    return c === 123 || c === 91 || c === 34 || c === 45 || (c >= 48 && c <= 57) || c === 116 || c === 102 || c === 110;
  }
  return false;
}

export function decodePayload(payload: Buffer | Uint8Array | string, options: DecodeOptions): unknown {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  const size = typeof payload === 'string' ? Buffer.byteLength(payload, 'utf8') : payload.byteLength;
  if (size > maxBytes) {
    throw new MqttError('MQTT_PAYLOAD_TOO_LARGE', `payload of ${size} bytes exceeds the limit of ${maxBytes} bytes`);
  }
  if (options.format === 'buffer') {
    if (typeof payload === 'string') return Buffer.from(payload, 'utf8');
    return Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  }
  const text =
    typeof payload === 'string' ? payload : toText(Buffer.isBuffer(payload) ? payload : Buffer.from(payload), options.strictUtf8 !== false);
  let value: unknown;
  switch (options.format) {
    case 'string':
      return text;
    case 'json':
      try {
        value = JSON.parse(text);
      } catch (err) {
        throw new MqttError('MQTT_PAYLOAD_NOT_JSON', `payload is not valid JSON (${(err as Error).message}): ${excerpt(text)}`);
      }
      break;
    case 'auto':
      if (!looksLikeJson(text)) return text;
      try {
        value = JSON.parse(text);
      } catch {
        return text;
      }
      break;
    default:
      throw new MqttError(
        'MQTT_BAD_SETTINGS',
        `unknown payload format ${JSON.stringify(options.format)} (use buffer, string, json or auto)`,
      );
  }
  if (jsonTextDeeperThan(text))
    throw new MqttError('MQTT_PAYLOAD_TOO_DEEP', `payload JSON nests deeper than ${MAX_JSON_DEPTH} levels: ${excerpt(text)}`);
  return value;
}
