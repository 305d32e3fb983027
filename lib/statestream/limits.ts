/**
 * What the statestream tables can hold (migration set `statestream`, lib/statestream/schema.ts),
 * checked before a record leaves the parser, so what does not fit is refused or reported with its
 * reason instead of failing a database write or vanishing from the normalised tables:
 * - `messages.topic` is VARCHAR(1024): a longer topic cannot be stored (MySQL/MariaDB refuse the
 *   row) and is refused by the parser (`topic-too-long`, the node's error path);
 * - the trigger normalises a message into base_topics / entities / states / facts only when the
 *   base is at most 512 characters and the domain, the object id (the entity's label, migration 3)
 *   and the key at most 255 each: otherwise the message is stored in `messages` only, and the node
 *   says so (`factlessReason`).
 * Characters as the databases count them (Unicode code points, not UTF-16 units).
 */

export const MAX_TOPIC_CHARS = 1024;
export const MAX_BASE_CHARS = 512;
/** `entities.domain` and `entities.object_id` (= `label`), each VARCHAR(255) since migration 3. */
export const MAX_DOMAIN_CHARS = 255;
export const MAX_OBJECT_ID_CHARS = 255;
export const MAX_KEY_CHARS = 255;

/** Unicode code points in `text` (a surrogate pair counts once). */
export function codePoints(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i++, count++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
  }
  return count;
}

/** More than `limit` code points (cheap when the UTF-16 length alone rules it out). */
export function longerThan(text: string, limit: number): boolean {
  return text.length > limit && codePoints(text) > limit;
}

/** Why a record of this topic is stored in `messages` without facts, or undefined when it gets them. */
export function factlessReason(parts: { baseTopic: string; domain: string; objectId: string; key: string }): string | undefined {
  if (longerThan(parts.baseTopic, MAX_BASE_CHARS)) return `base topic longer than ${MAX_BASE_CHARS} characters`;
  if (longerThan(parts.domain, MAX_DOMAIN_CHARS)) return `domain longer than ${MAX_DOMAIN_CHARS} characters`;
  if (longerThan(parts.objectId, MAX_OBJECT_ID_CHARS)) return `object id longer than ${MAX_OBJECT_ID_CHARS} characters`;
  if (longerThan(parts.key, MAX_KEY_CHARS)) return `attribute name longer than ${MAX_KEY_CHARS} characters`;
  return undefined;
}
