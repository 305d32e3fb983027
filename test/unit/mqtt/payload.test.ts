import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_JSON_DEPTH } from '../../../lib/json-depth';
import { MqttError } from '../../../lib/mqtt/errors';
import { decodePayload } from '../../../lib/mqtt/payload';

describe('mqtt payload decoding', () => {
  const buf = (s: string): Buffer => Buffer.from(s, 'utf8');

  it('returns buffers, strings and JSON', () => {
    const raw = buf('{"a":1}');
    assert.equal(decodePayload(raw, { format: 'buffer' }), raw);
    assert.deepEqual(decodePayload('x', { format: 'buffer' }), buf('x'));
    assert.equal(decodePayload(raw, { format: 'string' }), '{"a":1}');
    assert.deepEqual(decodePayload(raw, { format: 'json' }), { a: 1 });
    assert.deepEqual(decodePayload(new Uint8Array(raw), { format: 'json' }), { a: 1 });
  });

  it("'auto' parses JSON and keeps other text (Home Assistant statestream values)", () => {
    assert.equal(decodePayload(buf('21.5'), { format: 'auto' }), 21.5);
    assert.equal(decodePayload(buf('on'), { format: 'auto' }), 'on');
    assert.equal(decodePayload(buf('unavailable'), { format: 'auto' }), 'unavailable');
    assert.equal(decodePayload(buf('"Living Room"'), { format: 'auto' }), 'Living Room');
    assert.deepEqual(decodePayload(buf('[1,2]'), { format: 'auto' }), [1, 2]);
    assert.equal(decodePayload(buf('true'), { format: 'auto' }), true);
    assert.equal(decodePayload(buf('nope'), { format: 'auto' }), 'nope');
    assert.equal(decodePayload(buf('2024-06-14T16:00:00'), { format: 'auto' }), '2024-06-14T16:00:00');
    assert.equal(decodePayload(buf(''), { format: 'auto' }), '');
    assert.equal(decodePayload(buf('{broken'), { format: 'auto' }), '{broken');
  });

  it('gives a clear error for invalid JSON when JSON is required', () => {
    assert.throws(
      () => decodePayload(buf('on'), { format: 'json' }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'MQTT_PAYLOAD_NOT_JSON');
        assert.match(err.message, /payload is not valid JSON .*"on"/);
        return true;
      },
    );
    assert.throws(
      () => decodePayload(buf('x'.repeat(500)), { format: 'json' }),
      (err: Error) => err.message.length < 300,
    );
  });

  it(`refuses JSON nested deeper than ${MAX_JSON_DEPTH} levels in json and auto modes, whatever its size`, () => {
    const nested = (levels: number): Buffer => buf('['.repeat(levels) + ']'.repeat(levels));
    for (const format of ['json', 'auto'] as const) {
      assert.equal(JSON.stringify(decodePayload(nested(MAX_JSON_DEPTH), { format })), nested(MAX_JSON_DEPTH).toString());
      for (const levels of [MAX_JSON_DEPTH + 1, 100_000]) {
        assert.throws(
          () => decodePayload(nested(levels), { format }),
          (e: unknown) => e instanceof MqttError && e.code === 'MQTT_PAYLOAD_TOO_DEEP' && /deeper than 64 levels/.test(e.message),
        );
      }
    }
    assert.equal(decodePayload(buf('['.repeat(200)), { format: 'auto' }), '['.repeat(200), 'text that is not JSON stays text');
    assert.equal(decodePayload(nested(200), { format: 'string' }), nested(200).toString(), 'the string format parses nothing');
  });

  it('refuses payloads over the size limit', () => {
    assert.throws(() => decodePayload(Buffer.alloc(11), { format: 'buffer', maxBytes: 10 }), { code: 'MQTT_PAYLOAD_TOO_LARGE' });
    assert.throws(() => decodePayload('\u00e9'.repeat(6), { format: 'string', maxBytes: 10 }), { code: 'MQTT_PAYLOAD_TOO_LARGE' });
    assert.ok(Buffer.isBuffer(decodePayload(Buffer.alloc(10), { format: 'buffer', maxBytes: 10 })));
  });

  it('refuses invalid UTF-8 by default, as text and JSON alike (nothing is stored changed without a word); replaces it only when asked', () => {
    const bad = Buffer.from([0x61, 0xff, 0x62]);
    for (const format of ['string', 'json', 'auto'] as const) {
      assert.throws(() => decodePayload(bad, { format }), { code: 'MQTT_PAYLOAD_NOT_UTF8' }, format);
    }
    assert.throws(() => decodePayload(Buffer.from('{"description":"caf\xe9"}', 'latin1'), { format: 'json' }), /not valid UTF-8/);
    assert.equal(decodePayload(bad, { format: 'string', strictUtf8: false }), 'a\ufffdb');
    assert.ok(Buffer.isBuffer(decodePayload(bad, { format: 'buffer' })), 'bytes stay bytes');
  });

  it('rejects an unknown format', () => {
    assert.throws(() => decodePayload(buf('x'), { format: 'xml' as 'json' }), { code: 'MQTT_BAD_SETTINGS' });
  });

  it('only ever throws typed errors for arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.constantFrom('buffer', 'string', 'json', 'auto' as const), (bytes, format) => {
        try {
          decodePayload(Buffer.from(bytes), { format, maxBytes: 48 });
        } catch (err) {
          assert.match(String((err as { code?: string }).code), /^MQTT_PAYLOAD_/);
        }
      }),
    );
  });
});
