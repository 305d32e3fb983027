/**
 * MQTT topic names and filters: validation and matching (MQTT 3.1.1 §4.7, MQTT 5 §4.7-4.8).
 *
 * - `+` matches exactly one level, `#` the rest (including the parent level: `a/#` matches `a`).
 * - Topics starting with `$` (`$SYS/...`) are not matched by filters starting with a wildcard.
 * - `$share/<group>/<filter>` is a shared subscription: the broker hands each message to one
 *   member of the group; the message carries the real topic, so matching uses `<filter>`.
 */
import { MqttError } from './errors';

const MAX_TOPIC_BYTES = 65_535;

const badTopic = (message: string): MqttError => new MqttError('MQTT_BAD_TOPIC', message);

/** Throws unless `topic` is a valid topic name to publish to. */
export function assertTopicName(topic: unknown): asserts topic is string {
  if (typeof topic !== 'string' || topic.length === 0) throw badTopic('topic must be a non-empty string');
  if (topic.includes('+') || topic.includes('#'))
    throw badTopic(`topic ${JSON.stringify(topic)} contains a wildcard (+ or #); wildcards are only allowed in subscriptions`);
  if (topic.includes('\u0000')) throw badTopic('topic contains a NUL character');
  if (Buffer.byteLength(topic, 'utf8') > MAX_TOPIC_BYTES) throw badTopic('topic is longer than 65535 bytes');
}

export interface ParsedFilter {
  /** The filter as given (what is sent to the broker). */
  raw: string;
  /** The filter used for matching (without `$share/<group>/`). */
  filter: string;
  /** Shared subscription group, if any. */
  shareGroup: string | undefined;
  /** `filter` split into levels. */
  levels: readonly string[];
}

/** Validates a subscription filter (incl. `$share/...`) and prepares it for matching. */
export function parseFilter(raw: unknown): ParsedFilter {
  if (typeof raw !== 'string' || raw.length === 0) throw badTopic('topic filter must be a non-empty string');
  if (raw.includes('\u0000')) throw badTopic('topic filter contains a NUL character');
  if (Buffer.byteLength(raw, 'utf8') > MAX_TOPIC_BYTES) throw badTopic('topic filter is longer than 65535 bytes');
  let filter = raw;
  let shareGroup: string | undefined;
  if (raw.startsWith('$share/')) {
    const slash = raw.indexOf('/', 7);
    shareGroup = slash < 0 ? raw.slice(7) : raw.slice(7, slash);
    if (slash < 0 || shareGroup.length === 0 || /[+#]/.test(shareGroup)) {
      throw badTopic(`shared subscription ${JSON.stringify(raw)} must look like $share/<group>/<filter> with a group name without + or #`);
    }
    filter = raw.slice(slash + 1);
    if (filter.length === 0) throw badTopic(`shared subscription ${JSON.stringify(raw)} has an empty filter`);
  }
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!;
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) {
      throw badTopic(`topic filter ${JSON.stringify(raw)}: # must be a whole level and the last one`);
    }
    if (level.includes('+') && level !== '+') {
      throw badTopic(`topic filter ${JSON.stringify(raw)}: + must be a whole level`);
    }
  }
  return { raw, filter, shareGroup, levels };
}

/** True when `topic` matches the (already parsed) filter. No allocation per call. */
export function topicMatches(filter: ParsedFilter, topic: string): boolean {
  const levels = filter.levels;
  // $-topics are reserved for the broker ($SYS): a leading wildcard must not reach them.
  if (topic.charCodeAt(0) === 36 /* $ */ && (levels[0] === '+' || levels[0] === '#')) return false;
  let start = 0;
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!;
    if (level === '#') return true;
    if (start > topic.length) return false; // topic has fewer levels than the filter
    let end = topic.indexOf('/', start);
    if (end < 0) end = topic.length;
    if (level !== '+') {
      if (end - start !== level.length || !topic.startsWith(level, start)) return false;
    }
    start = end + 1;
  }
  return start > topic.length; // every topic level consumed
}

/** Convenience for one-off checks: `matchesFilter('a/+/c', 'a/b/c')`. */
export function matchesFilter(filter: string, topic: string): boolean {
  return topicMatches(parseFilter(filter), topic);
}
