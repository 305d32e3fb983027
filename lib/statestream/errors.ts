/**
 * Typed failures of the statestream parser. Every bad input ends in a StatestreamError with a
 * machine-readable `code`, so a node can count, route or report it without string matching.
 */
import { IotpError } from '../errors';

export type StatestreamErrorCode =
  /** The topic is not a usable MQTT topic string (not a string, NUL, broken UTF-16, too long). */
  | 'topic-invalid'
  /** Longer than the 1,024 characters the messages table stores (lib/statestream/limits.ts). */
  | 'topic-too-long'
  /** Fewer than four levels: `<base>/<domain>/<object_id>/<key>` needs at least four. */
  | 'topic-too-short'
  /** A level is empty (`a//b`, leading or trailing `/`). */
  | 'topic-empty-level'
  /** `+` or `#` in a topic: a subscription filter, never a published topic. */
  | 'topic-wildcard'
  /** Domain or object id is not a Home Assistant slug, so no entity id can be formed. */
  | 'topic-bad-entity'
  /** The topic does not start with the configured base topic followed by exactly three levels. */
  | 'base-mismatch'
  /** The payload exceeds the configured size limit. */
  | 'payload-too-large'
  /** The payload bytes (or string) are not valid UTF-8 (or contain lone surrogates). */
  | 'invalid-utf8'
  /** The payload's JSON nests deeper than lib/json-depth.ts allows (as text, or as a value decoded upstream). */
  | 'payload-too-deep'
  /** The payload has a type no MQTT client produces (undefined, function, bigint, non-finite number, cycles). */
  | 'payload-type'
  /** An attribute payload is not valid JSON (Home Assistant JSON-encodes every attribute). */
  | 'attribute-not-json'
  /** A `last_updated`/`last_changed` payload is not an ISO 8601 date-time with a UTC offset. */
  | 'bad-timestamp';

export class StatestreamError extends IotpError<StatestreamErrorCode> {
  /** The offending topic, when it is a string (kept short for logs). */
  readonly topic: string | undefined;

  constructor(code: StatestreamErrorCode, reason: string, topic?: unknown) {
    super(code, reason);
    this.topic = typeof topic === 'string' ? (topic.length > 300 ? `${topic.slice(0, 300)}…` : topic) : undefined;
  }
}

export function isStatestreamError(err: unknown): err is StatestreamError {
  return err instanceof StatestreamError;
}
