import assert from 'node:assert/strict';
import fc from 'fast-check';
import { buildBatches, normalizeRows, type Reading } from '../../../lib/connector/batches';

const T = (iso: string): number => Date.parse(`${iso}Z`);
const window = { start: T('2021-07-01T12:00:00'), end: T('2021-07-01T12:30:00') };

function reading(sensor: string, offsetS: number, value: number): Reading {
  const ms = window.start + offsetS * 1000;
  return { sensor, ms, timestamp: new Date(ms).toISOString().slice(0, 19), value };
}

describe('connector batches', () => {
  it('produces the exact contract envelope', () => {
    const [batch] = buildBatches(window, [reading('sensor_1', 0, 10), reading('sensor_1', 30, 10)], 30);
    assert.equal(
      batch.body,
      '{"start_time":"2021-07-01T12:00:00","end_time":"2021-07-01T12:30:00","data":{"sensor_1":[{"timestamp":"2021-07-01T12:00:00","value":10},{"timestamp":"2021-07-01T12:00:30","value":10}]}}',
    );
    assert.equal(batch.readingCount, 2);
  });

  it('cuts a window into BATCH_SIZE pieces with the same envelope, in time order', () => {
    const readings: Reading[] = [];
    for (let i = 0; i < 1001; i++) readings.push(reading(`s${i % 3}`, 1000 - i, i));
    const batches = buildBatches(window, readings, 500);
    assert.deepEqual(
      batches.map((b) => b.readingCount),
      [500, 500, 1],
    );
    assert.deepEqual(
      batches.map((b) => b.index),
      [0, 1, 2],
    );
    const times: number[] = [];
    for (const b of batches) {
      const body = JSON.parse(b.body);
      assert.equal(body.start_time, '2021-07-01T12:00:00');
      assert.equal(body.end_time, '2021-07-01T12:30:00');
      for (const list of Object.values(body.data) as { timestamp: string }[][])
        for (const r of list) times.push(Date.parse(`${r.timestamp}Z`));
    }
    assert.equal(times.length, 1001);
    // Batch k holds strictly earlier-or-equal readings than batch k+1.
    const firstOf = (b: (typeof batches)[number]): number =>
      Math.min(...(Object.values(JSON.parse(b.body).data) as { timestamp: string }[][]).flat().map((r) => Date.parse(`${r.timestamp}Z`)));
    const lastOf = (b: (typeof batches)[number]): number =>
      Math.max(...(Object.values(JSON.parse(b.body).data) as { timestamp: string }[][]).flat().map((r) => Date.parse(`${r.timestamp}Z`)));
    assert.ok(lastOf(batches[0]) <= firstOf(batches[1]));
  });

  it('gives stable ids that change with the content, the index or the window', () => {
    const readings = [reading('a', 1, 1), reading('b', 2, 2)];
    const a = buildBatches(window, readings, 1);
    const again = buildBatches(window, [...readings].reverse(), 1);
    assert.deepEqual(
      a.map((b) => b.id),
      again.map((b) => b.id),
      'input order does not matter',
    );
    assert.match(a[0].id, /^20210701T120000Z-20210701T123000Z-0-[0-9a-f]{16}$/);
    assert.notEqual(a[0].id, a[1].id);
    const changed = buildBatches(window, [reading('a', 1, 99), reading('b', 2, 2)], 1);
    assert.notEqual(changed[0].id, a[0].id);
    assert.equal(changed[1].id, a[1].id);
    const shifted = buildBatches({ start: window.start, end: window.end + 1000 }, readings, 1);
    assert.notEqual(shifted[0].id, a[0].id);
  });

  it('sends one empty envelope for an empty window unless told not to', () => {
    const [empty] = buildBatches(window, [], 30);
    assert.deepEqual(JSON.parse(empty.body), { start_time: '2021-07-01T12:00:00', end_time: '2021-07-01T12:30:00', data: {} });
    assert.deepEqual(buildBatches(window, [], 30, { sendEmpty: false }), []);
    assert.throws(() => buildBatches(window, [], 0), /BATCH_SIZE/);
  });

  it('keeps hostile sensor names as plain keys', () => {
    const [batch] = buildBatches(window, [reading('__proto__', 1, 1), reading('constructor', 2, 2), reading('"quoted"\n', 3, 3)], 10);
    const data = JSON.parse(batch.body).data;
    assert.deepEqual(Object.keys(data).sort(), ['"quoted"\n', '__proto__', 'constructor'].sort());
    assert.equal(data.__proto__[0].value, 1);
  });

  it('every reading lands in exactly one batch (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.integer({ min: 0, max: 1799 }), fc.integer()), { maxLength: 300 }),
        fc.integer({ min: 1, max: 50 }),
        (rows, size) => {
          const batches = buildBatches(
            window,
            rows.map(([s, t, v]) => reading(s, t, v)),
            size,
          );
          const total = batches.reduce((n, b) => n + b.readingCount, 0);
          assert.equal(total, rows.length);
          assert.equal(batches.length, Math.max(1, Math.ceil(rows.length / size)));
          assert.ok(batches.every((b) => b.readingCount <= size));
        },
      ),
    );
  });
});

describe('connector rows → readings', () => {
  it('maps configurable columns and every timestamp form to the contract rendering', () => {
    const { readings, rejected } = normalizeRows(
      [
        { tag: 'sensor_1', ts: new Date(T('2021-07-01T12:00:00')), v: 10 },
        { tag: 'sensor_2', ts: '2021-07-01 12:00:30.123456', v: '12.50' },
        { tag: 7, ts: T('2021-07-01T12:01:00'), v: 10n },
        { tag: 'sensor_3', ts: '2021-07-01T14:02:00+02:00', v: 'on' },
        { tag: 'sensor_4', ts: new Date(T('2021-07-01T12:03:00.5')), v: null },
      ],
      { sensor: 'tag', timestamp: 'ts', value: 'v' },
      window,
    );
    assert.deepEqual(rejected, []);
    assert.deepEqual(
      readings.map((r) => [r.sensor, r.timestamp, r.value]),
      [
        ['sensor_1', '2021-07-01T12:00:00', 10],
        ['sensor_2', '2021-07-01T12:00:30.123456', 12.5],
        ['7', '2021-07-01T12:01:00', 10],
        ['sensor_3', '2021-07-01T12:02:00', 'on'],
        ['sensor_4', '2021-07-01T12:03:00.500', null],
      ],
    );
  });

  it('rejects rows it cannot send, with the row index and a reason, and keeps the others', () => {
    const { readings, rejected } = normalizeRows(
      [
        { sensor: 's', timestamp: '2021-07-01T12:00:00', value: 1 },
        { sensor: '', timestamp: '2021-07-01T12:00:00', value: 1 },
        { sensor: 's', timestamp: 'garbage', value: 1 },
        { sensor: 's', timestamp: '2021-07-01T12:30:00', value: 1 },
        { sensor: 's', timestamp: '2021-07-01T11:59:59', value: 1 },
        { sensor: 's', timestamp: '2021-07-01T12:00:00', value: Number.NaN },
        { sensor: 's', timestamp: '2021-07-01T12:00:00', value: { nested: true } },
        { sensor: 'x'.repeat(300), timestamp: '2021-07-01T12:00:00', value: 1 },
        null as unknown as Record<string, unknown>,
      ],
      undefined,
      window,
    );
    assert.equal(readings.length, 1);
    assert.deepEqual(
      rejected.map((r) => r.index),
      [1, 2, 3, 4, 5, 6, 7, 8],
    );
    assert.match(rejected[2].reason, /outside the window/, 'the end bound is exclusive');
  });
});

describe('connector readings query', () => {
  it('offers a half-open default query and the window in every common timestamp form', async () => {
    const { DEFAULT_READINGS_QUERY, windowQueryParams } = await import('../../../lib/connector/query');
    assert.match(DEFAULT_READINGS_QUERY, /timestamp >= :start_time AND timestamp < :end_time/);
    assert.deepEqual(windowQueryParams({ start: T('2021-07-01T12:00:00'), end: T('2021-07-01T12:00:30.5') }), {
      start_time: '2021-07-01 12:00:00',
      end_time: '2021-07-01 12:00:30.500',
      start_time_iso: '2021-07-01T12:00:00',
      end_time_iso: '2021-07-01T12:00:30.500',
      start_time_ms: T('2021-07-01T12:00:00'),
      end_time_ms: T('2021-07-01T12:00:30.5'),
    });
  });
});
