/**
 * What the statestream tables can hold (migration set `statestream`, lib/statestream/schema.ts),
 * checked before a record leaves the parser, so what does not fit is refused or reported with its
 * reason instead of failing a database write or vanishing from the normalised tables:
 * - `messages.topic` is VARCHAR(1024): a longer topic cannot be stored (MySQL/MariaDB refuse the
 *   row) and is refused by the parser (`topic-too-long`, the node's error path);
 * - the trigger normalises a message into base_topics / entities / states / facts only when the
 *   base is at most 512 characters, the entity id (`domain.object_id`) at most 254 plus the dot
 *   and the key at most 255: otherwise the message is stored in `messages` only, and the node says
 *   so (`factlessReason`).
 * Characters as the databases count them (Unicode code points, not UTF-16 units).
 */

export const MAX_TOPIC_CHARS = 1024;
export const MAX_BASE_CHARS = 512;
/** `domain` plus `object_id`, without the dot (the trigger's `CHAR_LENGTH(domain) + CHAR_LENGTH(object_id) < 255`). */
export const MAX_ENTITY_CHARS = 254;
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
  // Domains and object ids are slugs (ASCII): UTF-16 length is the character count.
  if (parts.domain.length + parts.objectId.length > MAX_ENTITY_CHARS) return `entity id longer than ${MAX_ENTITY_CHARS + 1} characters`;
  if (longerThan(parts.key, MAX_KEY_CHARS)) return `attribute name longer than ${MAX_KEY_CHARS} characters`;
  return undefined;
}
