import assert from 'node:assert/strict';
import { codePoints, factlessReason, MAX_DOMAIN_CHARS, MAX_OBJECT_ID_CHARS, MAX_TOPIC_CHARS } from '../../../lib/statestream/limits';
import { parseStatestream } from '../../../lib/statestream';

describe('statestream limits (what the tables hold)', () => {
  it('counts characters as the databases do: a surrogate pair is one', () => {
    assert.equal(codePoints('abc'), 3);
    assert.equal(codePoints('\u{1F600}\u{1F600}'), 2);
    assert.equal(codePoints('\uD800x'), 2, 'a lone surrogate counts once');
  });

  it('a topic of exactly 1,024 characters parses; one more is refused with the reason', () => {
    const base = 'homeassistant/sensor/x/';
    const fits = base + 'k'.repeat(MAX_TOPIC_CHARS - base.length);
    assert.equal(parseStatestream(fits, '1', { retain: false }).topic, fits);
    assert.throws(
      () => parseStatestream(`${fits}k`, '1', { retain: false }),
      (err: Error & { code?: string }) =>
        err.code === 'topic-too-long' && /1025 characters long; the messages table stores at most 1024/.test(err.message),
    );
    // Emoji count once each, as MariaDB's VARCHAR does: 1,000 of them fit.
    const emoji = 'h/sensor/x/' + '\u{1F600}'.repeat(1000);
    assert.equal(parseStatestream(emoji, '1', { retain: false }).key.length, 2000);
  });

  it("says why a message gets no facts: domain, object id, base or attribute name beyond the trigger's limits", () => {
    const parts = { baseTopic: 'homeassistant', domain: 'sensor', objectId: 'x', key: 'state' };
    assert.equal(factlessReason(parts), undefined);
    assert.equal(factlessReason({ ...parts, objectId: 'o'.repeat(MAX_OBJECT_ID_CHARS) }), undefined, 'object id of 255 characters');
    assert.match(String(factlessReason({ ...parts, objectId: 'o'.repeat(MAX_OBJECT_ID_CHARS + 1) })), /object id longer than 255/);
    assert.equal(factlessReason({ ...parts, domain: 'd'.repeat(MAX_DOMAIN_CHARS) }), undefined, 'domain of 255 characters');
    assert.match(String(factlessReason({ ...parts, domain: 'd'.repeat(MAX_DOMAIN_CHARS + 1) })), /domain longer than 255/);
    assert.match(String(factlessReason({ ...parts, baseTopic: 'b'.repeat(513) })), /base topic longer than 512/);
    assert.match(String(factlessReason({ ...parts, key: 'k'.repeat(256) })), /attribute name longer than 255/);
  });
});
