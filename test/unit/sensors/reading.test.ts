import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkReading, parseReading, ReadingError, type ReadingErrorCode, type ReadingField } from '../../../lib/sensors/reading';
import { dbTimestampToIso, formatIsoTimestamp, formatSqlTimestamp, parseTimestampUs, storedTimestamp } from '../../../lib/sensors/time';

const GOOD = {
  sensor_id: '1',
  timestamp: '2024-06-14T16:00:00.123456',
  value: 23,
  metadata: { location: { lat: 10, lng: 10 }, unit: 'C', type: 'temperature', description: 'Main Entrance' },
};

function us(iso: string): number {
  const v = parseTimestampUs(iso);
  assert.equal(typeof v, 'number', `${iso} should parse: ${v}`);
  return v as number;
}

function expectError(input: unknown, code: ReadingErrorCode, field: ReadingField): ReadingError {
  let caught: unknown;
  try {
    parseReading(input);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ReadingError, `expected a ReadingError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.equal(caught.field, field, caught.message);
  return caught;
}

function withMeta(patch: Record<string, unknown>): unknown {
  return { ...GOOD, metadata: { ...GOOD.metadata, ...patch } };
}

describe('sensors/time', () => {
  const base = Date.UTC(2024, 5, 14, 16, 0, 0) * 1000;

  it('reads text without an offset as UTC, keeping microseconds', () => {
    assert.equal(us('2024-06-14T16:00:00.123456'), base + 123456);
    assert.equal(us('2024-06-14 16:00:00.123456'), base + 123456);
  });

  it('accepts a missing fraction and short or long fractions', () => {
    assert.equal(us('2024-06-14T16:00:00'), base);
    assert.equal(us('2024-06-14T16:00:00.5'), base + 500000);
    assert.equal(us('2024-06-14T16:00:00.123'), base + 123000);
    assert.equal(us('2024-06-14T16:00:00.123456789'), base + 123456, 'nanoseconds are truncated');
    assert.equal(us('2024-06-14T16:00'), base, 'seconds may be omitted');
  });

  it('converts Z and explicit offsets to UTC', () => {
    assert.equal(us('2024-06-14T16:00:00Z'), base);
    assert.equal(us('2024-06-14T18:00:00.000001+02:00'), base + 1);
    assert.equal(us('2024-06-14T11:30:00-0430'), base);
    assert.equal(us('2024-06-15T01:00:00+09:00'), base, 'an offset may cross the date line');
  });

  it('rejects impossible dates and malformed text with a reason', () => {
    for (const bad of [
      '2024-02-30T00:00:00',
      '2023-02-29T00:00:00',
      '2024-13-01T00:00:00',
      '2024-06-14T24:00:00',
      '2024-06-14T16:60:00',
      '2024-06-14T16:00:60',
      '2024-06-14',
      '14/06/2024 16:00',
      'now',
      '',
      '2024-06-14T16:00:00+25:00',
      '2024-06-14T16:00:00.',
      '1899-12-31T23:59:59',
      '2200-01-01T00:00:00',
      `2024-06-14T16:00:00.${'1'.repeat(60)}`,
    ]) {
      const v = parseTimestampUs(bad);
      assert.equal(typeof v, 'string', `${bad} should be rejected`);
    }
    assert.equal(us('2024-02-29T00:00:00'), Date.UTC(2024, 1, 29) * 1000, 'leap day exists in 2024');
  });

  it('accepts a bare date only when asked (read API)', () => {
    assert.equal(parseTimestampUs('2024-06-14', { allowDateOnly: true }), Date.UTC(2024, 5, 14) * 1000);
  });

  it('derives the stored form from any accepted text, cheaply for the generator form', () => {
    for (const text of [
      '2024-06-14T16:00:00.123456',
      '2024-06-14 16:00:00.123456',
      '2024-06-14t16:00:00.123456',
      '2024-06-14T16:00:00.1+0200',
      '2024-06-14T18:00:00Z',
      '2024-06-14T16:00',
    ]) {
      const t = us(text);
      assert.equal(storedTimestamp(text, t), formatSqlTimestamp(t), text);
    }
  });

  it('formats to the stored and the ISO form, fixed width', () => {
    assert.equal(formatSqlTimestamp(base + 123456), '2024-06-14 16:00:00.123456');
    assert.equal(formatIsoTimestamp(base + 7), '2024-06-14T16:00:00.000007Z');
    assert.equal(formatIsoTimestamp(Date.UTC(1969, 11, 31, 23, 59, 59) * 1000 + 999999), '1969-12-31T23:59:59.999999Z');
  });

  it('round-trips every storable instant through the stored form (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(1900, 0, 1), max: Date.UTC(2199, 11, 31) }), fc.integer({ min: 0, max: 999 }), (ms, micro) => {
        const t = ms * 1000 + micro;
        assert.equal(parseTimestampUs(formatSqlTimestamp(t)), t);
        assert.equal(parseTimestampUs(formatIsoTimestamp(t)), t);
      }),
    );
  });

  it('renders driver values (Date, stored text, NULL, garbage) as ISO with Z', () => {
    assert.equal(dbTimestampToIso('2024-06-14 16:00:00.123456'), '2024-06-14T16:00:00.123456Z');
    assert.equal(dbTimestampToIso('2024-06-14 16:00:00'), '2024-06-14T16:00:00.000000Z');
    assert.equal(dbTimestampToIso(new Date(Date.UTC(2024, 5, 14, 16))), '2024-06-14T16:00:00.000000Z');
    assert.equal(dbTimestampToIso(null), null);
    assert.equal(dbTimestampToIso('garbage'), null);
    assert.equal(dbTimestampToIso(new Date(NaN)), null);
  });
});

describe('sensors/reading', () => {
  it('normalises the generator payload into a sensor_data row', () => {
    assert.deepEqual(parseReading(GOOD), {
      sensor_id: 1,
      timestamp: '2024-06-14 16:00:00.123456',
      value: 23,
      lat: 10,
      lng: 10,
      unit: 'C',
      type: 'temperature',
      description: 'Main Entrance',
    });
  });

  it('accepts the same payload as Buffer, string and Uint8Array', () => {
    const text = JSON.stringify(GOOD);
    const expected = parseReading(GOOD);
    assert.deepEqual(parseReading(text), expected);
    assert.deepEqual(parseReading(Buffer.from(text)), expected);
    assert.deepEqual(parseReading(new Uint8Array(Buffer.from(text))), expected);
  });

  it('accepts a numeric sensor_id and an explicit offset', () => {
    const row = parseReading({ ...GOOD, sensor_id: 7, timestamp: '2024-06-14T18:00:00+02:00' });
    assert.equal(row.sensor_id, 7);
    assert.equal(row.timestamp, '2024-06-14 16:00:00.000000');
  });

  it('stores a reading without metadata with NULLs, unless metadata is required', () => {
    const row = parseReading({ sensor_id: '2', timestamp: '2024-06-14T16:00:00', value: 1.5 });
    assert.equal(row.lat, null);
    assert.equal(row.description, null);
    const check = checkReading({ sensor_id: '2', timestamp: '2024-06-14T16:00:00', value: 1.5 });
    assert.equal(check.presentFields, 3);
    assert.deepEqual(
      check.issues.map((i) => i.field),
      ['lat', 'lng', 'unit', 'type', 'description'],
    );
    assert.throws(
      () => parseReading({ sensor_id: '2', timestamp: '2024-06-14T16:00:00', value: 1.5 }, { requireMetadata: true }),
      (err: unknown) => {
        return err instanceof ReadingError && err.code === 'MISSING_FIELD' && err.field === 'lat';
      },
    );
  });

  it('names the field of every defect', () => {
    const cases: Array<[unknown, ReadingErrorCode, ReadingField]> = [
      ['{not json', 'BAD_JSON', 'payload'],
      ['[1,2]', 'NOT_OBJECT', 'payload'],
      ['42', 'NOT_OBJECT', 'payload'],
      [null, 'NOT_OBJECT', 'payload'],
      ['null', 'NOT_OBJECT', 'payload'],
      [{ ...GOOD, sensor_id: undefined }, 'MISSING_FIELD', 'sensor_id'],
      [{ ...GOOD, sensor_id: null }, 'MISSING_FIELD', 'sensor_id'],
      [{ ...GOOD, timestamp: undefined }, 'MISSING_FIELD', 'timestamp'],
      [{ ...GOOD, value: undefined }, 'MISSING_FIELD', 'value'],
      [{ ...GOOD, sensor_id: 'abc' }, 'BAD_SENSOR_ID', 'sensor_id'],
      [{ ...GOOD, sensor_id: '-1' }, 'BAD_SENSOR_ID', 'sensor_id'],
      [{ ...GOOD, sensor_id: ' 1' }, 'BAD_SENSOR_ID', 'sensor_id'],
      [{ ...GOOD, sensor_id: 1.5 }, 'BAD_SENSOR_ID', 'sensor_id'],
      [{ ...GOOD, sensor_id: '99999999999' }, 'BAD_SENSOR_ID', 'sensor_id'],
      [{ ...GOOD, sensor_id: 2147483648 }, 'BAD_SENSOR_ID', 'sensor_id'],
      [{ ...GOOD, sensor_id: true }, 'WRONG_TYPE', 'sensor_id'],
      [{ ...GOOD, sensor_id: { id: 1 } }, 'WRONG_TYPE', 'sensor_id'],
      [{ ...GOOD, timestamp: 1718380800 }, 'WRONG_TYPE', 'timestamp'],
      [{ ...GOOD, timestamp: 'yesterday' }, 'BAD_TIMESTAMP', 'timestamp'],
      [{ ...GOOD, timestamp: '2024-02-30T00:00:00' }, 'BAD_TIMESTAMP', 'timestamp'],
      [{ ...GOOD, value: '23' }, 'WRONG_TYPE', 'value'],
      [{ ...GOOD, value: true }, 'WRONG_TYPE', 'value'],
      [{ ...GOOD, value: NaN }, 'NON_FINITE', 'value'],
      [{ ...GOOD, value: Infinity }, 'NON_FINITE', 'value'],
      ['{"sensor_id":"1","timestamp":"2024-06-14T16:00:00","value":1e999}', 'NON_FINITE', 'value'],
      [{ ...GOOD, metadata: 'x' }, 'WRONG_TYPE', 'metadata'],
      [withMeta({ location: [10, 10] }), 'WRONG_TYPE', 'location'],
      [withMeta({ location: { lat: '10', lng: 10 } }), 'WRONG_TYPE', 'lat'],
      [withMeta({ location: { lat: 10, lng: -Infinity } }), 'NON_FINITE', 'lng'],
      [withMeta({ location: { lat: 91, lng: 10 } }), 'OUT_OF_RANGE', 'lat'],
      [withMeta({ location: { lat: 10, lng: 180.5 } }), 'OUT_OF_RANGE', 'lng'],
      [withMeta({ unit: 5 }), 'WRONG_TYPE', 'unit'],
      [withMeta({ type: ['temperature'] }), 'WRONG_TYPE', 'type'],
      [withMeta({ unit: 'C'.repeat(33) }), 'TOO_LARGE', 'unit'],
      [withMeta({ type: 't'.repeat(65) }), 'TOO_LARGE', 'type'],
      [withMeta({ description: 'd'.repeat(4097) }), 'TOO_LARGE', 'description'],
      ['x'.repeat(64 * 1024 + 1), 'TOO_LARGE', 'payload'],
      [Buffer.alloc(64 * 1024 + 1, 32), 'TOO_LARGE', 'payload'],
    ];
    for (const [input, code, field] of cases) expectError(input, code, field);
  });

  it('reports all defects of one payload, and the fields that did parse', () => {
    const check = checkReading({ sensor_id: '3', timestamp: 'bad', value: 'x', metadata: { unit: 'C', location: { lat: 1, lng: 2 } } });
    assert.equal(check.row, null);
    assert.equal(check.sensorId, 3);
    assert.equal(check.unit, 'C');
    assert.deepEqual(
      check.issues.map((i) => `${i.code}:${i.field}`),
      ['BAD_TIMESTAMP:timestamp', 'WRONG_TYPE:value', 'MISSING_FIELD:type', 'MISSING_FIELD:description'],
    );
    assert.equal(check.presentFields, 6);
  });

  it('ignores inherited and unknown fields (no prototype pollution)', () => {
    const parsed = JSON.parse('{"__proto__": {"value": 5}, "sensor_id": "1", "timestamp": "2024-06-14T16:00:00", "extra": 1}');
    const check = checkReading(parsed);
    assert.equal(check.value, null);
    assert.equal(check.issues[0].code, 'MISSING_FIELD');
    assert.equal(check.issues[0].field, 'value');
    assert.equal(({} as Record<string, unknown>).value, undefined);
  });

  it('keeps error messages short for huge hostile strings', () => {
    const err = expectError({ ...GOOD, sensor_id: '9'.repeat(50_000) }, 'BAD_SENSOR_ID', 'sensor_id');
    assert.ok(err.message.length < 200, err.message.length.toString());
    const ts = expectError({ ...GOOD, timestamp: '2'.repeat(50_000) }, 'BAD_TIMESTAMP', 'timestamp');
    assert.ok(ts.message.length < 200);
  });

  it('never throws from checkReading, whatever the input (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.anything(),
          fc.json(),
          fc.string(),
          fc.record({ sensor_id: fc.anything(), timestamp: fc.anything(), value: fc.anything(), metadata: fc.anything() }),
        ),
        (input) => {
          const check = checkReading(input);
          if (check.row !== null) {
            assert.equal(typeof check.row.sensor_id, 'number');
            assert.ok(Number.isFinite(check.row.value));
          } else {
            assert.ok(check.issues.length > 0);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
