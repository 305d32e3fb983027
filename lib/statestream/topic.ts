/**
 * Splitting a statestream topic. Home Assistant publishes `<base>/<domain>/<object_id>/<key>`
 * where `<base>` may itself contain `/` (`home/statestream`), so the split is taken from the end:
 * the last three levels are always domain, object id and key, the rest is the base.
 */
import { StatestreamError } from './errors';
import { codePoints, longerThan, MAX_TOPIC_CHARS as MAX_STORED_TOPIC_CHARS } from './limits';

export interface StatestreamTopic {
  baseTopic: string;
  domain: string;
  objectId: string;
  /** `state`, `last_updated`, `last_changed` or an attribute name. */
  key: string;
}

/** MQTT caps topics at 65,535 bytes; a UTF-16 length of a quarter of that is a cheap safe bound. */
const MAX_TOPIC_CHARS = 65535;
/** Home Assistant domains and object ids are slugs: lowercase letters, digits, `_` (upper case tolerated). */
const SLUG = /^[A-Za-z0-9_]+$/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** `home/statestream/` (as written in Home Assistant's YAML) → `home/statestream`; '' when unset. */
export function normaliseBaseTopic(base: string | undefined | null): string {
  if (base == null) return '';
  let end = base.length;
  while (end > 0 && base.charCodeAt(end - 1) === 0x2f /* '/' */) end--;
  return base.slice(0, end);
}

/**
 * Splits and validates a topic. `configuredBase` (already normalised, '' = derive it) must then
 * be followed by exactly three levels. Throws StatestreamError.
 */
export function splitStatestreamTopic(topic: unknown, configuredBase = ''): StatestreamTopic {
  if (typeof topic !== 'string') throw new StatestreamError('topic-invalid', `topic must be a string, got ${describeType(topic)}`);
  if (topic.length === 0) throw new StatestreamError('topic-too-short', 'topic is empty', topic);
  if (topic.length > MAX_TOPIC_CHARS)
    throw new StatestreamError('topic-invalid', `topic is longer than ${MAX_TOPIC_CHARS} characters`, topic);
  if (topic.includes('\u0000')) throw new StatestreamError('topic-invalid', 'topic contains a NUL character', topic);
  if (topic.includes('+') || topic.includes('#')) {
    throw new StatestreamError(
      'topic-wildcard',
      'topic contains an MQTT wildcard (+ or #): that is a subscription filter, not a published topic',
      topic,
    );
  }
  if (LONE_SURROGATE.test(topic)) throw new StatestreamError('topic-invalid', 'topic is not valid UTF-8 (lone surrogate)', topic);
  if (longerThan(topic, MAX_STORED_TOPIC_CHARS)) {
    throw new StatestreamError(
      'topic-too-long',
      `topic is ${codePoints(topic)} characters long; the messages table stores at most ${MAX_STORED_TOPIC_CHARS}`,
      topic,
    );
  }

  // The last three separators, found from the end (no array of all levels for deep bases).
  const keySlash = topic.lastIndexOf('/');
  const objectSlash = keySlash > 0 ? topic.lastIndexOf('/', keySlash - 1) : -1;
  const domainSlash = objectSlash > 0 ? topic.lastIndexOf('/', objectSlash - 1) : -1;

  let baseTopic: string;
  if (configuredBase !== '') {
    if (!topic.startsWith(configuredBase) || topic.charCodeAt(configuredBase.length) !== 0x2f) {
      throw new StatestreamError('base-mismatch', `topic does not start with the configured base topic "${configuredBase}/"`, topic);
    }
    if (domainSlash !== configuredBase.length) {
      const levels = domainSlash < configuredBase.length ? 'fewer' : 'more';
      throw new StatestreamError(
        'base-mismatch',
        `expected <domain>/<object_id>/<key> after base "${configuredBase}", found ${levels} than three levels`,
        topic,
      );
    }
    baseTopic = configuredBase;
  } else {
    if (domainSlash < 0) {
      throw new StatestreamError(
        'topic-too-short',
        'a statestream topic has at least four levels: <base>/<domain>/<object_id>/<key>',
        topic,
      );
    }
    baseTopic = topic.slice(0, domainSlash);
    if (baseTopic === '' || baseTopic.startsWith('/') || baseTopic.endsWith('/') || baseTopic.includes('//')) {
      throw new StatestreamError('topic-empty-level', 'the base topic has an empty level', topic);
    }
  }

  const domain = topic.slice(domainSlash + 1, objectSlash);
  const objectId = topic.slice(objectSlash + 1, keySlash);
  const key = topic.slice(keySlash + 1);
  if (domain === '' || objectId === '' || key === '') {
    throw new StatestreamError('topic-empty-level', 'domain, object id and key must not be empty', topic);
  }
  if (!SLUG.test(domain))
    throw new StatestreamError('topic-bad-entity', `domain "${clip(domain)}" is not a Home Assistant slug ([a-z0-9_])`, topic);
  if (!SLUG.test(objectId))
    throw new StatestreamError('topic-bad-entity', `object id "${clip(objectId)}" is not a Home Assistant slug ([a-z0-9_])`, topic);
  return { baseTopic, domain, objectId, key };
}

function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (Buffer.isBuffer(value)) return 'Buffer';
  return typeof value;
}
