import assert from 'node:assert/strict';
import { QualityMonitor, QualityStateError, qualityReport, type MetricsJSON, type QualityOptions } from '../../../lib/sensors/quality';
import { RecentSet } from '../../../lib/sensors/recent-set';
import { parseSensorsDefinition } from '../../../lib/sensors/sensors-file';
import { formatIsoTimestamp } from '../../../lib/sensors/time';

const SENSORS = parseSensorsDefinition({
  1: { lat: 10, lng: 10, unit: 'C', type: 'temperature', range: [0, 45], description: 'Main Entrance' },
  2: { lat: 90, lng: 90, unit: 'C', type: 'temperature', range: [0, 45], description: 'Kitchen', interval_ms: 10_000 },
});

/** 2024-06-14T16:00:00Z, the start of a minute. */
const T0 = Date.UTC(2024, 5, 14, 16, 0, 0);

function stamp(ms: number): string {
  // The generator's form: UTC without offset.
  return formatIsoTimestamp(ms * 1000).replace('Z', '');
}

function reading(id: number | string, atMs: number, value = 20, meta: Record<string, unknown> = {}): Record<string, unknown> {
  const sensor = SENSORS.get(Number(id));
  return {
    sensor_id: String(id),
    timestamp: stamp(atMs),
    value,
    metadata: {
      location: { lat: sensor?.lat ?? 0, lng: sensor?.lng ?? 0 },
      unit: sensor?.unit ?? 'C',
      type: sensor?.type ?? 'temperature',
      description: sensor?.description ?? 'x',
      ...meta,
    },
  };
}

function monitor(options: QualityOptions = {}): QualityMonitor {
  return new QualityMonitor({ sensors: SENSORS, ...options });
}

function sensorMetrics(
  m: QualityMonitor,
  now: number,
  id: number,
  period: 'current_window' | 'recent' | 'since_start' = 'since_start',
): MetricsJSON {
  const s = m.report(now).sensors.find((x) => x.sensor_id === id);
  assert.ok(s, `sensor ${id} in report`);
  return s[period];
}

describe('sensors/quality', () => {
  it('reports 100 % with counts for a clean stream', () => {
    const m = monitor();
    for (let i = 0; i < 10; i++) m.observe(reading(1, T0 + i * 1000), T0 + i * 1000 + 50);
    const r = m.report(T0 + 10_000);
    const all = r.metrics.since_start;
    assert.equal(all.messages, 10);
    for (const name of ['completeness', 'validity', 'accuracy', 'consistency', 'timeliness', 'uniqueness'] as const) {
      assert.deepEqual({ pct: all[name].pct, passed: all[name].passed, total: all[name].total }, { pct: 100, passed: 10, total: 10 }, name);
    }
    assert.equal(all.timeliness.delay_ms.mean, 50);
    assert.equal(all.timeliness.delay_ms.max, 50);
    assert.equal(r.dataset, 'sensor_data');
  });

  it('completeness: missing fields and non-objects fail, present ones pass', () => {
    const m = monitor();
    m.observe(reading(1, T0), T0);
    m.observe({ sensor_id: '1', timestamp: stamp(T0 + 1000), value: 3 }, T0 + 1000);
    m.observe('not json', T0 + 1000);
    m.observe({ ...reading(1, T0 + 2000), value: null }, T0 + 2000);
    const all = m.report(T0 + 3000).metrics.since_start;
    assert.deepEqual(all.completeness, { pct: 25, passed: 1, total: 4 });
    // validity judges present fields only: the metadata-less and the null-valued reading are valid.
    assert.deepEqual(all.validity, { pct: 75, passed: 3, total: 4 });
    assert.equal(m.report(T0 + 3000).unattributed_messages, 1);
  });

  it('validity: wrong types, bad timestamps, future and absurdly old readings', () => {
    const m = monitor({ futureToleranceMs: 10_000, maxAgeMs: 3600_000 });
    const now = T0 + 5 * 3600_000;
    m.observe(reading(1, now - 1000), now); // fine
    m.observe(reading(1, now + 5_000), now); // within future tolerance
    m.observe(reading(1, now + 60_000), now); // future
    m.observe(reading(1, now - 2 * 3600_000), now); // too old
    m.observe({ ...reading(1, now), value: 'hot' }, now); // wrong type
    m.observe({ ...reading(1, now), timestamp: 'soon' }, now); // unparseable
    const s = sensorMetrics(m, now, 1);
    assert.deepEqual(s.validity, { pct: 33.33, passed: 2, total: 6 });
    // Timeliness applies where the timestamp parsed: the old one is late, the future ones are not.
    assert.deepEqual(s.timeliness.total, 5);
    assert.deepEqual(s.timeliness.passed, 4);
  });

  it('accuracy: values outside the declared range, per sensor', () => {
    const m = monitor();
    m.observe(reading(1, T0, 0), T0);
    m.observe(reading(1, T0 + 1, 45), T0);
    m.observe(reading(1, T0 + 2, 45.01), T0);
    m.observe(reading(1, T0 + 3, -3), T0);
    m.observe({ ...reading(1, T0 + 4), value: 'x' }, T0); // not applicable
    assert.deepEqual(sensorMetrics(m, T0, 1).accuracy, { pct: 50, passed: 2, total: 4 });
  });

  it('consistency: unit and type must match the sensors file', () => {
    const m = monitor();
    m.observe(reading(1, T0), T0);
    m.observe(reading(1, T0 + 1, 20, { unit: 'F' }), T0);
    m.observe(reading(1, T0 + 2, 20, { type: 'humidity' }), T0);
    m.observe(reading(1, T0 + 3, 20, { unit: undefined }), T0); // type alone matches
    m.observe(reading(1, T0 + 4, 20, { unit: undefined, type: undefined }), T0); // not applicable
    assert.deepEqual(sensorMetrics(m, T0, 1).consistency, { pct: 50, passed: 2, total: 4 });
  });

  it('timeliness: late readings, mean/p95/max of the delay', () => {
    const m = monitor({ maxDelayMs: 5_000 });
    const now = T0 + 60_000;
    for (let i = 0; i < 95; i++) m.observe(reading(1, now - 100 - i * 10), now); // 100..1040 ms: on time
    for (let i = 0; i < 5; i++) m.observe(reading(1, now - 30_000 - i), now); // 30 s late
    const t = sensorMetrics(m, now, 1).timeliness;
    assert.deepEqual({ pct: t.pct, passed: t.passed, total: t.total }, { pct: 95, passed: 95, total: 100 });
    assert.equal(t.delay_ms.max, 30_004);
    assert.ok(t.delay_ms.p95 !== null && t.delay_ms.p95 >= 800 && t.delay_ms.p95 <= 1500, `p95 ${t.delay_ms.p95}`);
    const mean = ((95 * (100 + 1040)) / 2 + 5 * 30_002) / 100;
    assert.ok(Math.abs((t.delay_ms.mean ?? 0) - mean) < 0.01, `mean ${t.delay_ms.mean} vs ${mean}`);
  });

  it('timeliness p95 tracks the distribution within the histogram resolution', () => {
    const m = monitor();
    const now = T0 + 600_000;
    // Delays 1..1000 ms uniformly: true p95 = 950 ms.
    for (let d = 1; d <= 1000; d++) m.observe(reading(1, now - d), now);
    const p95 = sensorMetrics(m, now, 1).timeliness.delay_ms.p95 ?? 0;
    assert.ok(p95 > 950 / 1.42 && p95 < 950 * 1.42, `p95 ${p95}`);
  });

  it('staleness: sensors silent for more than their interval x factor are stale', () => {
    const m = monitor({ expectedIntervalMs: 1000, staleAfterIntervals: 3 });
    m.observe(reading(1, T0), T0);
    m.observe(reading(2, T0), T0);
    let r = m.report(T0 + 2500);
    assert.deepEqual(r.freshness, { pct: 100, passed: 2, total: 2, stale_sensors: [] });
    r = m.report(T0 + 3500);
    assert.deepEqual(r.freshness.stale_sensors, [1], 'sensor 2 expects one reading per 10 s');
    const s1 = r.sensors.find((s) => s.sensor_id === 1);
    assert.equal(s1?.staleness.age_s, 3.5);
    assert.equal(s1?.staleness.stale, true);
    assert.equal(s1?.staleness.last_reading_timestamp, '2024-06-14T16:00:00.000000Z');
    r = m.report(T0 + 31_000);
    assert.deepEqual(r.freshness.stale_sensors, [1, 2]);
  });

  it('staleness: a known sensor that never reported is stale', () => {
    const m = monitor();
    m.observe(reading(1, T0), T0);
    const r = m.report(T0 + 100);
    const s2 = r.sensors.find((s) => s.sensor_id === 2);
    assert.equal(s2?.staleness.stale, true);
    assert.equal(s2?.staleness.last_seen, null);
    assert.deepEqual(r.freshness.stale_sensors, [2]);
  });

  it('uniqueness: the same sensor_id + timestamp within the horizon is a duplicate', () => {
    const m = monitor({ dedupHorizonMs: 60_000 });
    m.observe(reading(1, T0), T0);
    m.observe(reading(1, T0), T0 + 1000); // duplicate
    m.observe(reading(2, T0), T0 + 1000); // other sensor: not a duplicate
    m.observe(reading(1, T0 + 1), T0 + 1000); // 1 ms later: unique
    m.observe(reading(1, T0), T0 + 200_000); // beyond the horizon: not recognised
    assert.deepEqual(sensorMetrics(m, T0 + 200_000, 1).uniqueness, { pct: 75, passed: 3, total: 4 });
    assert.deepEqual(m.report(T0 + 200_000).metrics.since_start.uniqueness, { pct: 80, passed: 4, total: 5 });
  });

  it('uniqueness distinguishes microseconds (a Date would merge them)', () => {
    const m = monitor();
    m.observe({ ...reading(1, T0), timestamp: '2024-06-14T16:00:00.000100' }, T0);
    m.observe({ ...reading(1, T0), timestamp: '2024-06-14T16:00:00.000200' }, T0);
    m.observe({ ...reading(1, T0), timestamp: '2024-06-14T18:00:00.000200+02:00' }, T0); // same instant
    assert.deepEqual(sensorMetrics(m, T0, 1).uniqueness, { pct: 66.67, passed: 2, total: 3 });
  });

  it('unknown sensors are counted and reported, not judged for accuracy/consistency', () => {
    const m = monitor({ maxUnknownSensors: 2 });
    m.observe(reading(1, T0), T0);
    m.observe(reading(77, T0, 1e6), T0);
    m.observe(reading(77, T0), T0); // duplicate of an unknown sensor still detected
    m.observe(reading(78, T0), T0);
    m.observe(reading(79, T0), T0); // beyond the tracking cap: counted only
    const r = m.report(T0);
    assert.deepEqual(r.unknown_sensors, { count: 2, messages: 4, ids: [77, 78], untracked_messages: 1 });
    assert.equal(r.metrics.since_start.unknown_sensor_messages, 4);
    assert.deepEqual(r.metrics.since_start.accuracy, { pct: 100, passed: 1, total: 1 });
    assert.deepEqual(r.metrics.since_start.uniqueness, { pct: 75, passed: 3, total: 4 });
    const s77 = r.sensors.find((s) => s.sensor_id === 77);
    assert.equal(s77?.known, false);
    assert.equal(r.freshness.total, 2, 'freshness is judged on known sensors');
  });

  it('windows: the current minute, the recent hour and totals since start', () => {
    const m = monitor({ windowMs: 60_000, windowCount: 3 });
    m.observe(reading(1, T0, 100), T0 + 10); // minute 0: inaccurate
    m.observe(reading(1, T0 + 60_000), T0 + 60_010); // minute 1
    m.observe(reading(1, T0 + 120_000), T0 + 120_010); // minute 2
    m.observe(reading(1, T0 + 180_000), T0 + 180_010); // minute 3: minute 0 leaves the recent windows
    const r = m.report(T0 + 180_020);
    assert.equal(r.metrics.current_window.messages, 1);
    assert.equal(r.metrics.recent.messages, 3);
    assert.deepEqual(r.metrics.recent.accuracy, { pct: 100, passed: 3, total: 3 });
    assert.deepEqual(r.metrics.since_start.accuracy, { pct: 75, passed: 3, total: 4 });
    assert.equal(r.periods.current_window.start, '2024-06-14T16:03:00.000Z');
    assert.equal(r.periods.recent.start, '2024-06-14T16:01:00.000Z');
    assert.deepEqual(
      r.windows.map((w) => w.start),
      ['2024-06-14T16:01:00.000Z', '2024-06-14T16:02:00.000Z', '2024-06-14T16:03:00.000Z'],
    );
    // An hour of silence: the windows are empty, the totals remain.
    const later = m.report(T0 + 3 * 3600_000);
    assert.equal(later.metrics.recent.messages, 0);
    assert.equal(later.metrics.recent.accuracy.pct, null);
    assert.equal(later.metrics.since_start.messages, 4);
    assert.deepEqual(later.windows, []);
  });

  it('a clock stepping back counts into the current window instead of reopening an old one', () => {
    const m = monitor({ windowCount: 2 });
    m.observe(reading(1, T0 + 120_000), T0 + 120_000);
    m.observe(reading(1, T0 + 1), T0 + 1);
    assert.equal(m.report(T0 + 120_000).metrics.current_window.messages, 2);
  });

  it('persists and restores through JSON, dedup memory included', () => {
    const m = monitor();
    for (let i = 0; i < 5; i++) m.observe(reading(1, T0 + i * 1000, i === 0 ? 99 : 20), T0 + i * 1000 + 10);
    m.observe(reading(9, T0), T0 + 10);
    const saved = JSON.parse(JSON.stringify(m.toJSON()));
    const restored = QualityMonitor.fromJSON(saved, { sensors: SENSORS });
    assert.deepEqual(restored.report(T0 + 10_000), m.report(T0 + 10_000));
    restored.observe(reading(1, T0 + 2000), T0 + 20_000); // redelivered after restart
    assert.deepEqual(sensorMetrics(restored, T0 + 20_000, 1).uniqueness, { pct: 83.33, passed: 5, total: 6 });
  });

  it('restoring with another window length keeps totals and drops windows', () => {
    const m = monitor();
    m.observe(reading(1, T0), T0);
    const restored = QualityMonitor.fromJSON(m.toJSON(), { sensors: SENSORS, windowMs: 30_000 });
    const r = restored.report(T0 + 1000);
    assert.equal(r.metrics.since_start.messages, 1);
    assert.equal(r.metrics.recent.messages, 0);
  });

  it('rejects malformed saved state with a typed error', () => {
    for (const bad of [
      null,
      5,
      {},
      { version: 2 },
      { ...(monitor().toJSON() as object), all: { totals: [1] } },
      { ...(monitor().toJSON() as object), sensors: [{ id: -1 }] },
    ]) {
      assert.throws(
        () => QualityMonitor.fromJSON(bad, { sensors: SENSORS }),
        (err: unknown) => err instanceof QualityStateError && err.code === 'BAD_QUALITY_STATE',
      );
    }
  });

  it('rejects nonsensical options', () => {
    assert.throws(() => new QualityMonitor({ windowMs: 0 }), RangeError);
    assert.throws(() => new QualityMonitor({ dedupHorizonMs: -1 }), RangeError);
  });

  it('qualityReport groups datasets', () => {
    const a = monitor();
    const b = new QualityMonitor({ dataset: 'aggregated_sensor_data', sensors: SENSORS });
    const r = qualityReport([a, b], T0);
    assert.deepEqual(Object.keys(r.datasets), ['sensor_data', 'aggregated_sensor_data']);
  });

  it('memory stays bounded by sensors x windows, whatever the traffic', () => {
    const m = monitor({ windowCount: 5, dedupMaxEntries: 64, maxUnknownSensors: 3 });
    const empty = m.memoryBytes();
    let atCap = 0;
    for (let i = 0; i < 20_000; i++) {
      const id = i % 10 === 0 ? 1000 + i : 1 + (i % 2); // a flood of distinct unknown ids
      m.observe(reading(id, T0 + i * 10), T0 + i * 10);
      if (i === 10_000) atCap = m.memoryBytes();
    }
    assert.ok(m.memoryBytes() > empty);
    assert.equal(m.memoryBytes(), atCap, 'no growth once dedup caps and the unknown-sensor cap are reached');
    assert.equal(m.report(T0 + 200_000).unknown_sensors.count, 3);
  });

  it('returns the check so callers validate once', () => {
    const check = monitor().observe(JSON.stringify(reading(1, T0)), T0);
    assert.equal(check.row?.sensor_id, 1);
  });
});

describe('sensors/recent-set', () => {
  it('detects repeats and forgets by arrival time', () => {
    const set = new RecentSet(1024, 4);
    assert.equal(set.seen(1e15, 0, 100), false);
    assert.equal(set.seen(1e15, 50, 100), true);
    assert.equal(set.seen(1e15 + 1000, 60, 100), false);
    assert.equal(set.seen(1e15, 101, 100), false, 'the first entry expired');
    assert.equal(set.size, 2);
  });

  it('grows to its cap, then evicts the oldest', () => {
    const set = new RecentSet(8, 4);
    for (let i = 0; i < 8; i++) assert.equal(set.seen(i * 1e6, i, 1e9), false);
    assert.equal(set.size, 8);
    assert.equal(set.seen(100e6, 9, 1e9), false);
    assert.equal(set.size, 8);
    assert.equal(set.seen(0, 10, 1e9), false, 'the oldest was evicted');
    assert.equal(set.seen(7e6, 11, 1e9), true);
  });

  it('agrees with a reference model under random operations', () => {
    // Keys with many collisions in the low bits (multiples of 10^6), random horizons.
    let seed = 42;
    const random = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
    const cap = 64;
    const set = new RecentSet(cap, 4);
    const model: Array<{ key: number; time: number }> = [];
    let now = 0;
    for (let step = 0; step < 20_000; step++) {
      now += Math.floor(random() * 3);
      const key = 1.7e15 + Math.floor(random() * 200) * 1e6;
      const horizon = 150;
      while (model.length && model[0].time < now - horizon) model.shift();
      const expected = model.some((e) => e.key === key);
      if (!expected) {
        if (model.length === cap) model.shift();
        model.push({ key, time: now });
      }
      assert.equal(set.seen(key, now, horizon), expected, `step ${step}`);
      assert.equal(set.size, model.length);
    }
  });
});
