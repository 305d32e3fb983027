import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EntityMerger, parseStatestream, StatestreamError, StatestreamParser } from '../../../lib/statestream';

const level = fc.oneof(
  fc.constantFrom('homeassistant', 'sensor', 'light', 'state', 'last_updated', 'last_changed', 'x', '', '+', '#', 'a b', 'é', '😀'),
  fc.string({ maxLength: 8 }),
);
const topic = fc.oneof(
  fc.array(level, { minLength: 0, maxLength: 7 }).map((levels) => levels.join('/')),
  fc.string({ maxLength: 40 }),
  fc.anything(),
);
const payload = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.json(),
  fc.constantFrom('on', '21.5', 'unavailable', '"quoted"', '2017-10-01T23:20:30.920969+00:00', 'NaN', '-Infinity', '{"a":', '\uD800'),
  fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes)),
  fc.jsonValue(),
  fc.anything(),
);

describe('statestream property: hostile input', () => {
  it('parseStatestream returns a record or throws a StatestreamError, nothing else', () => {
    fc.assert(
      fc.property(
        topic,
        payload,
        fc.boolean(),
        fc.constantFrom('auto', 'raw', 'decoded') as fc.Arbitrary<'auto' | 'raw' | 'decoded'>,
        (t, p, retain, strings) => {
          try {
            const record = parseStatestream(t, p, { retain, strings, maxPayloadBytes: 64 });
            assert.equal(typeof record.raw, 'string');
            assert.ok(['state', 'timestamp', 'attribute'].includes(record.keyKind));
            assert.equal(record.entityId, `${record.domain}.${record.objectId}`);
            assert.equal(record.topic, `${record.baseTopic}/${record.domain}/${record.objectId}/${record.key}`);
            if (record.keyKind === 'state') assert.equal(typeof record.value, 'string');
            if (record.keyKind === 'timestamp') assert.ok(record.date instanceof Date && !Number.isNaN(record.date.getTime()));
          } catch (err) {
            if (!(err instanceof StatestreamError)) throw err;
            assert.equal(typeof err.code, 'string');
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('well-formed statestream messages always parse, and the state survives a round trip', () => {
    const slug = fc.stringMatching(/^[a-z0-9_]{1,12}$/);
    const base = fc.array(fc.stringMatching(/^[a-z]{1,6}$/), { minLength: 1, maxLength: 3 }).map((levels) => levels.join('/'));
    const stateText = fc.string({ maxLength: 20 }).filter((s) => !/[\uD800-\uDFFF]/.test(s) && !s.startsWith('"'));
    fc.assert(
      fc.property(base, slug, slug, stateText, (b, domain, objectId, state) => {
        const record = parseStatestream(`${b}/${domain}/${objectId}/state`, Buffer.from(state), { retain: true });
        assert.equal(record.baseTopic, b);
        assert.equal(record.entityId, `${domain}.${objectId}`);
        assert.equal(record.keyKind, 'state');
        assert.equal(record.value, state);
      }),
      { numRuns: 1000 },
    );
  });

  it('the stateful parser and merger never throw anything but StatestreamError', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(topic, payload, fc.nat(500)), { maxLength: 30 }), (messages) => {
        const parser = new StatestreamParser({ maxPayloadBytes: 64, excludeEntities: ['*_battery'] });
        const merger = new EntityMerger({ quietMs: 50, maxOpenEntities: 5 });
        let now = 0;
        for (const [t, p, dt] of messages) {
          now += dt;
          try {
            const record = parser.parse(t, p, false, now);
            if (record) merger.push(record, now);
          } catch (err) {
            if (!(err instanceof StatestreamError)) throw err;
          }
          merger.tick(now);
          assert.ok(merger.size <= 5);
        }
        merger.flush();
      }),
      { numRuns: 500 },
    );
  });
});
