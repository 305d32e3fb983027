import assert from 'node:assert/strict';
import fc from 'fast-check';
import { assertTopicName, matchesFilter, parseFilter, topicMatches } from '../../../lib/mqtt/topics';

describe('mqtt topics: matching', () => {
  const cases: Array<[string, string, boolean]> = [
    ['a/b/c', 'a/b/c', true],
    ['a/b/c', 'a/b', false],
    ['a/b', 'a/b/c', false],
    ['a/+/c', 'a/b/c', true],
    ['a/+/c', 'a//c', true],
    ['a/+', 'a', false],
    ['a/+', 'a/', true],
    ['+', '/finance', false],
    ['+/+', '/finance', true],
    ['/+', '/finance', true],
    ['a/#', 'a', true],
    ['a/#', 'a/b/c', true],
    ['a/#', 'ab', false],
    ['#', 'a/b', true],
    ['#', '/', true],
    ['home/+/+/state', 'home/light/kitchen/state', true],
    ['home/+/+/state', 'home/light/kitchen/brightness', false],
    ['#', '$SYS/broker/load', false],
    ['+/broker/#', '$SYS/broker/load', false],
    ['$SYS/#', '$SYS/broker/load', true],
    ['$SYS/+/load', '$SYS/broker/load', true],
    ['$share/g/a/+', 'a/b', true],
    ['$share/g/a/+', '$share/g/a/b', false],
    ['$share/g/#', '$SYS/x', false],
    ['A/b', 'a/b', false],
    ['sensors', 'sensors', true],
    ['/isems/+/csvlog', '/isems/n1/csvlog', true],
    ['\u00e9t\u00e9/+', '\u00e9t\u00e9/x', true],
  ];
  for (const [filter, topic, expected] of cases) {
    it(`${JSON.stringify(filter)} ${expected ? 'matches' : 'does not match'} ${JSON.stringify(topic)}`, () => {
      assert.equal(matchesFilter(filter, topic), expected);
    });
  }

  it('agrees with a reference implementation on random topics and filters', () => {
    const level = fc.constantFrom('a', 'b', '', 'cc', '$x');
    const topicArb = fc
      .array(level, { minLength: 1, maxLength: 5 })
      .map((l) => l.join('/'))
      .filter((t) => t.length > 0);
    const filterArb = fc
      .tuple(fc.array(fc.constantFrom('a', 'b', '', 'cc', '+', '$x'), { minLength: 1, maxLength: 5 }), fc.boolean())
      .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'))
      .filter((f) => f.length > 0);
    const reference = (filter: string, topic: string): boolean => {
      const f = filter.split('/');
      const t = topic.split('/');
      if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
      for (let i = 0; i < f.length; i++) {
        if (f[i] === '#') return true;
        if (i >= t.length) return false;
        if (f[i] !== '+' && f[i] !== t[i]) return false;
      }
      return f.length === t.length;
    };
    fc.assert(
      fc.property(filterArb, topicArb, (filter, topic) => assert.equal(matchesFilter(filter, topic), reference(filter, topic))),
      { numRuns: 2000 },
    );
  });
});

describe('mqtt topics: validation', () => {
  it('parses shared subscriptions', () => {
    const p = parseFilter('$share/group1/sensors/#');
    assert.equal(p.shareGroup, 'group1');
    assert.equal(p.filter, 'sensors/#');
    assert.equal(p.raw, '$share/group1/sensors/#');
    assert.equal(topicMatches(p, 'sensors/1'), true);
  });

  it('rejects invalid filters with MQTT_BAD_TOPIC', () => {
    for (const bad of [
      '',
      'a/#/b',
      'a#',
      'a/b+',
      '+a',
      '$share/',
      '$share/g',
      '$share//a',
      '$share/g/',
      '$share/g+/a',
      'a\u0000b',
      'x'.repeat(70_000),
      42,
      null,
    ]) {
      assert.throws(() => parseFilter(bad), { code: 'MQTT_BAD_TOPIC' }, JSON.stringify(bad)?.slice(0, 40));
    }
  });

  it('rejects wildcards, NUL and empty names in publish topics', () => {
    for (const bad of ['', 'a/+', 'a/#', 'a\u0000', undefined, 1]) {
      assert.throws(() => assertTopicName(bad), { code: 'MQTT_BAD_TOPIC' });
    }
    assertTopicName('a/b/$c');
  });

  it('never throws anything but MQTT_BAD_TOPIC for arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.string({ maxLength: 40 }), (filter, topic) => {
        try {
          const parsed = parseFilter(filter);
          assert.equal(typeof topicMatches(parsed, topic), 'boolean');
        } catch (err) {
          assert.equal((err as { code?: string }).code, 'MQTT_BAD_TOPIC');
        }
      }),
    );
  });
});
