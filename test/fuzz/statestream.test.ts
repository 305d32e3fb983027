/**
 * Fuzzing the Home Assistant statestream parser: hostile topics (wildcards, empty and huge levels,
 * NUL, lone surrogates), payloads of every type (invalid UTF-8 bytes, 10 MB, 100,000-level JSON refused by depth,
 * pre-parsed values, cycles, throwing getters). Only StatestreamError may be thrown, and every
 * accepted message yields a well-formed record.
 */
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { StatestreamError, StatestreamParser, parseStatestream, type StatestreamRecord } from '../../lib/statestream';
import { RUNS, anyValue, assertTyped, hostileString, jsonishText, payloadBytes, typedOrValue, type TypedErrorShape } from './hostile';

const CODES = [
  'topic-invalid',
  'topic-too-long',
  'topic-too-short',
  'topic-empty-level',
  'topic-wildcard',
  'topic-bad-entity',
  'base-mismatch',
  'payload-too-large',
  'invalid-utf8',
  'payload-too-deep',
  'payload-type',
  'attribute-not-json',
  'bad-timestamp',
] as const;
const TYPED: TypedErrorShape = { errorClass: StatestreamError, codes: CODES };
const SLUG = /^[A-Za-z0-9_]+$/;

const level = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      'homeassistant',
      'sensor',
      'light',
      'kitchen',
      'temp_1',
      'state',
      'last_updated',
      'last_changed',
      'friendly_name',
      'brightness',
    ),
  },
  { weight: 2, arbitrary: fc.stringMatching(/^[a-z0-9_]{1,12}$/) },
  { weight: 2, arbitrary: hostileString(20) },
  { weight: 1, arbitrary: fc.constantFrom('', '+', '#', 'a+', '#b', ' ', '\u0000', '\uD800', 'Ä', '\u{1F600}') },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 70_000 }).map((n) => 'x'.repeat(n)) },
);

/** Topics with 0..8 levels of anything, plus leading/trailing slashes. */
const topic = fc.oneof(
  { weight: 6, arbitrary: fc.array(level, { minLength: 0, maxLength: 8 }).map((levels) => levels.join('/')) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom('/', '//', ''), fc.array(level, { maxLength: 5 }), fc.constantFrom('/', ''))
      .map(([a, l, b]) => a + l.join('/') + b),
  },
  { weight: 1, arbitrary: anyValue() },
);

/** Good-looking topics, so that payload handling is reached most of the time. */
const goodTopic = fc
  .tuple(
    fc.constantFrom('homeassistant', 'home/statestream', 'ha'),
    fc.constantFrom('sensor', 'light', 'binary_sensor'),
    fc.stringMatching(/^[a-z0-9_]{1,10}$/),
    fc.constantFrom('state', 'last_updated', 'last_changed', 'friendly_name', 'brightness', 'state'),
  )
  .map((parts) => parts.join('/'));

const payload = fc.oneof(
  { weight: 3, arbitrary: payloadBytes() },
  { weight: 3, arbitrary: jsonishText() },
  { weight: 3, arbitrary: anyValue() },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'on',
      'off',
      'unavailable',
      '21.5',
      '"21.5"',
      '2024-06-14T16:00:00.123456+00:00',
      '2024-06-14T16:00:00+02:00',
      '"2024-06-14T16:00:00+00:00"',
      '2024-13-45T99:99:99+00:00',
    ),
  },
);

function assertRecord(rec: StatestreamRecord, topicIn: string): void {
  assert.equal(rec.topic, topicIn);
  assert.ok(SLUG.test(rec.domain) && SLUG.test(rec.objectId), 'domain and object id are slugs');
  assert.equal(rec.entityId, `${rec.domain}.${rec.objectId}`);
  assert.ok(rec.key.length > 0);
  assert.equal(topicIn, `${rec.baseTopic}/${rec.domain}/${rec.objectId}/${rec.key}`);
  assert.ok(!/[+#\u0000]/.test(topicIn));
  assert.ok(['state', 'timestamp', 'attribute'].includes(rec.keyKind));
  assert.equal(typeof rec.raw, 'string');
  assert.equal(typeof rec.retain, 'boolean');
  if (rec.numeric !== null) assert.ok(Number.isFinite(rec.numeric), 'numeric is finite');
  if (rec.keyKind === 'state') {
    assert.equal(rec.key, 'state');
    assert.equal(rec.value, rec.raw);
    assert.equal(rec.date, null);
  } else if (rec.keyKind === 'timestamp') {
    assert.ok(rec.key === 'last_updated' || rec.key === 'last_changed');
    assert.ok(rec.date instanceof Date && !Number.isNaN(rec.date.getTime()), 'timestamp has a valid date');
    assert.match(rec.value as string, /Z$/);
    assert.equal(rec.numeric, null);
  } else {
    assert.equal(rec.date, null);
    assert.equal(rec.numeric, null);
  }
}

describe('fuzz: statestream parser', function () {
  this.timeout(120_000);

  it(`parseStatestream: hostile topics with any payload throw only StatestreamError (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(
        topic,
        payload,
        fc.boolean(),
        fc.option(fc.constantFrom('homeassistant', 'home/statestream/', '', 'ha//'), { nil: undefined }),
        (t, p, retain, baseTopic) => {
          const rec = typedOrValue(() => parseStatestream(t, p, { retain, baseTopic }), TYPED, t);
          if (rec) assertRecord(rec, t as string);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it(`parseStatestream: well-formed topics with hostile payloads (${RUNS} runs)`, () => {
    let accepted = 0;
    fc.assert(
      fc.property(goodTopic, payload, fc.constantFrom('auto', 'raw', 'decoded'), (t, p, strings) => {
        const rec = typedOrValue(() => parseStatestream(t, p, { retain: false, strings: strings as 'auto' | 'raw' | 'decoded' }), TYPED, p);
        if (rec) {
          accepted++;
          assertRecord(rec, t);
        }
      }),
      { numRuns: RUNS },
    );
    assert.ok(accepted > RUNS / 10, `only ${accepted} payloads accepted: the generators miss the happy path`);
  });

  it(`StatestreamParser (filter + burst memory) with any topic and payload (${RUNS} runs)`, () => {
    const parser = new StatestreamParser({
      includeDomains: ['sensor', 'light'],
      includeEntities: ['binary_sensor.*door*'],
      excludeEntities: ['sensor.secret*'],
      maxTrackedEntities: 50,
    });
    let now = 0;
    fc.assert(
      fc.property(fc.oneof(goodTopic, topic), payload, (t, p) => {
        now += 7;
        const rec = typedOrValue(() => parser.parse(t, p, false, now), TYPED, t);
        if (rec) assertRecord(rec, t as string);
      }),
      { numRuns: RUNS },
    );
  });

  it('invalid UTF-8 payload bytes are refused exactly when they are not UTF-8', () => {
    fc.assert(
      fc.property(payloadBytes(), (bytes) => {
        const rec = typedOrValue(() => parseStatestream('homeassistant/sensor/t/state', bytes, { retain: false }), TYPED, bytes);
        if (!isUtf8(bytes)) assert.equal(rec, undefined);
        try {
          parseStatestream('homeassistant/sensor/t/state', bytes, { retain: false });
        } catch (err) {
          if (!isUtf8(bytes)) assert.equal((err as StatestreamError).code, 'invalid-utf8');
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('10 MB payloads (Buffer, string, object) are refused as payload-too-large, or parsed under a raised limit', () => {
    const tenMb = 10 * 1024 * 1024;
    const big = [
      Buffer.alloc(tenMb, 0x61),
      'a'.repeat(tenMb),
      '"' + 'é'.repeat(tenMb / 2) + '"',
      { list: new Array(tenMb / 8).fill(1234567) },
      Buffer.concat([Buffer.alloc(tenMb - 1, 0x61), Buffer.from([0xff])]),
    ];
    for (const p of big) {
      for (const key of ['state', 'friendly_name']) {
        assert.throws(
          () => parseStatestream(`homeassistant/sensor/t/${key}`, p, { retain: false }),
          (err: unknown) => {
            assertTyped(err, TYPED);
            return (err as StatestreamError).code === 'payload-too-large';
          },
        );
        const rec = typedOrValue(
          () => parseStatestream(`homeassistant/sensor/t/${key}`, p, { retain: false, maxPayloadBytes: 64 * 1024 * 1024 }),
          TYPED,
        );
        if (rec) assertRecord(rec, `homeassistant/sensor/t/${key}`);
      }
    }
  });

  it('100,000-level nested JSON is refused as payload-too-deep, as text and as a pre-parsed value alike, on every Node', () => {
    const depth = 100_000;
    for (const text of ['['.repeat(depth) + ']'.repeat(depth), '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)]) {
      for (const key of ['state', 'last_updated', 'friendly_name']) {
        const t = `homeassistant/sensor/deep/${key}`;
        // Text (mqtt-in utf8/buffer) and a value mqtt-in decoded already (json mode), which Node 20-24 cannot
        // even serialise and Node 26 can: the answer must not depend on that.
        for (const p of [text, Buffer.from(text), JSON.parse(text) as unknown]) {
          assert.throws(
            () => parseStatestream(t, p, { retain: false }),
            (err: unknown) => {
              assertTyped(err, TYPED);
              return (err as StatestreamError).code === 'payload-too-deep';
            },
          );
        }
      }
    }
  });

  it('huge topics and levels are refused quickly with a typed error', () => {
    const cases = [
      'a/'.repeat(40_000) + 'sensor/x/state',
      'homeassistant/sensor/' + 'x'.repeat(70_000) + '/state',
      'homeassistant/sensor/x/' + 'k'.repeat(100_000),
      '/'.repeat(100_000),
    ];
    for (const t of cases) {
      const rec = typedOrValue(() => parseStatestream(t, 'on', { retain: false }), TYPED, t);
      if (rec) assertRecord(rec, t);
    }
  });
});
