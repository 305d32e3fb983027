import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  SENSORS,
  Simulator,
  SimulatorError,
  compileTemplate,
  createRandom,
  rollingAveragesConfig,
  sensorsConfig,
  type SimulatorConfig,
  type TemplateVariables,
} from '../../../lib/simulator';
import { parseTimestamp } from '../../../lib/window';

const T0 = Date.UTC(2024, 5, 14, 16, 0, 0);
const isConfigError = (err: unknown): boolean => err instanceof SimulatorError && err.code === 'INVALID_CONFIG';
const isTemplateError = (err: unknown): boolean => err instanceof SimulatorError && err.code === 'INVALID_TEMPLATE';

const vars: TemplateVariables = {
  value: 42,
  series: '7',
  topic: 'DATA',
  seq: 3,
  epochMs: 1669940235123,
  epochSeconds: 1669940235,
  isoTime: '2022-12-02T00:17:15.123Z',
  utcTimestamp: '2022-12-02T00:17:15.123000',
  fields: { unit: 'C', lat: '10.5', location: { lat: 10, lng: 20 } },
};

describe('simulator: templates', () => {
  it('gives a whole-string placeholder its own type, and :string makes it text', () => {
    const t = compileTemplate({ number: '{{value}}', epochtime: '{{epochSeconds:string}}' });
    assert.deepEqual(t(vars), { number: 42, epochtime: '1669940235' });
  });

  it('converts with :number and :json, interpolates inside text, copies constants', () => {
    const t = compileTemplate({
      lat: '{{fields.lat:number}}',
      name: 'sensor-{{series}} #{{seq}} at {{ fields.location }}',
      raw: '{{fields.location:json}}',
      fixed: [1, true, null, 'plain text', { nested: 'x' }],
      missing: '{{fields.nope}}',
    });
    assert.deepEqual(t(vars), {
      lat: 10.5,
      name: 'sensor-7 #3 at {"lat":10,"lng":20}',
      raw: '{"lat":10,"lng":20}',
      fixed: [1, true, null, 'plain text', { nested: 'x' }],
      missing: null,
    });
  });

  it('builds fresh objects on every call', () => {
    const t = compileTemplate({ location: '{{fields.location}}', list: [] });
    const a = t(vars) as { location: { lat: number }; list: unknown[] };
    a.location.lat = 99;
    a.list.push(1);
    assert.deepEqual(t(vars), { location: { lat: 10, lng: 20 }, list: [] });
    assert.equal(vars.fields.location && (vars.fields.location as { lat: number }).lat, 10);
  });

  it('refuses unknown variables, suffixes, malformed placeholders and non-JSON values when compiled', () => {
    for (const bad of [
      '{{nope}}',
      '{{value.x}}',
      'a {{value:date}} b',
      'x {{value',
      '{{ }}',
      { a: undefined },
      { a: () => 1 },
      { a: Number.NaN },
      { a: 10n },
    ]) {
      assert.throws(() => compileTemplate(bad), isTemplateError, String(bad));
    }
    let deep: unknown = 'x';
    for (let i = 0; i < 40; i++) deep = { deep };
    assert.throws(() => compileTemplate(deep), isTemplateError);
    assert.throws(() => compileTemplate({ n: '{{fields.unit:number}}' })(vars), isTemplateError);
  });

  it('does not resolve prototype properties of fields', () => {
    assert.deepEqual(compileTemplate({ p: '{{fields.constructor}}', q: '{{fields.__proto__}}' })(vars), { p: null, q: null });
  });
});

describe('simulator: Simulator', () => {
  it('reproduces the rolling-averages publisher: integers 1..99 every 1-30 s as {number, epochtime text}', () => {
    const sim = new Simulator(rollingAveragesConfig({ seed: 42 }));
    sim.start(T0);
    const readings = [];
    for (let t = T0; t <= T0 + 24 * 3_600_000; t += 60_000) readings.push(...sim.due(t));
    assert.ok(readings.length > (24 * 3600) / 30, `${readings.length} readings`);
    let previous = T0;
    const values = new Set<number>();
    for (const r of readings) {
      assert.equal(r.topic, 'DATA');
      const message = r.message as { number: unknown; epochtime: unknown };
      assert.deepEqual(Object.keys(message), ['number', 'epochtime']);
      assert.ok(Number.isInteger(message.number) && (message.number as number) >= 1 && (message.number as number) <= 99);
      assert.equal(message.epochtime, String(Math.floor(r.time / 1000)));
      assert.ok(r.time - previous >= 1000 && r.time - previous <= 30_000, `gap ${r.time - previous}`);
      previous = r.time;
      values.add(message.number as number);
    }
    assert.equal(values.size, 99, 'every integer of 1..99 appears over a day');
    const mine = new Simulator(rollingAveragesConfig({ topic: 'MINE', seed: 1 }));
    assert.deepEqual(mine.due(T0), [], 'the first reading comes one random interval after start');
    assert.equal(mine.due(T0 + 30_000)[0].topic, 'MINE');
  });

  it('reproduces the sensors publisher: every sensor every INTERVAL_MS, contract message shape', () => {
    const sim = new Simulator(sensorsConfig({ seed: 3, intervalMs: 1000 }));
    const start = T0 + 123.456;
    sim.start(start);
    const readings = sim.due(start + 9_999);
    assert.equal(readings.length, 50);
    assert.deepEqual(
      readings.slice(0, 5).map((r) => r.series),
      ['1', '2', '3', '4', '5'],
    );
    const first = readings[0].message as Record<string, unknown>;
    assert.deepEqual(Object.keys(first), ['sensor_id', 'timestamp', 'value', 'metadata']);
    assert.equal(first.sensor_id, '1');
    assert.equal(first.timestamp, '2024-06-14T16:00:00.123456');
    assert.deepEqual(first.metadata, { location: { lat: 10, lng: 10 }, unit: 'C', type: 'temperature', description: 'Main Entrance' });
    for (const r of readings) {
      const m = r.message as { sensor_id: string; timestamp: string; value: number; metadata: { description: string } };
      const [lo, hi] = SENSORS[m.sensor_id].range;
      assert.ok(Number.isInteger(m.value) && m.value >= lo && m.value <= hi);
      assert.equal(m.metadata.description, SENSORS[m.sensor_id].description);
      assert.match(m.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
      assert.equal(parseTimestamp(m.timestamp), r.time);
      assert.equal(r.topic, 'sensors');
    }
    assert.deepEqual(
      readings.filter((r) => r.series === '4').map((r) => r.time - start),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((s) => s * 1000),
    );
  });

  it('is deterministic with a seed, however the due() calls are spaced', () => {
    const config = (): SimulatorConfig => ({
      series: 20,
      values: { kind: 'walk', min: -5, max: 5, step: 0.7, decimals: 3 },
      interval: { minMs: 50, maxMs: 5_000 },
      seed: 'demo',
      maxCatchUp: 1_000_000,
    });
    const a = new Simulator(config());
    a.start(T0);
    const all = a.due(T0 + 600_000);
    const b = new Simulator(config());
    b.start(T0);
    const pieces = [];
    const rand = createRandom(5);
    for (let t = T0; t < T0 + 600_000; t += rand.int(1, 20_000)) pieces.push(...b.due(t));
    pieces.push(...b.due(T0 + 600_000));
    assert.deepEqual(pieces, all);
    const other = new Simulator({ ...config(), seed: 'other' });
    other.start(T0);
    assert.notDeepEqual(
      other.due(T0 + 600_000).map((r) => r.value),
      all.map((r) => r.value),
    );
    for (let i = 1; i < all.length; i++) assert.ok(all[i].time >= all[i - 1].time, 'oldest first');
  });

  it('keeps values and intervals within bounds (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -1000, max: 1000 }),
        fc.integer({ min: 0, max: 500 }),
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 3000 }),
        fc.integer({ min: 0, max: 3000 }),
        fc.constantFrom('int', 'float', 'walk', 'iwalk'),
        fc.integer(),
        (min, span, step, minMs, extraMs, kind, seed) => {
          const max = min + span;
          const values =
            kind === 'int'
              ? { kind: 'int' as const, min, max }
              : kind === 'float'
                ? { kind: 'float' as const, min, max }
                : { kind: 'walk' as const, min, max, step, integer: kind === 'iwalk' };
          const sim = new Simulator({ series: 3, values, interval: { minMs, maxMs: minMs + extraMs }, seed });
          sim.start(T0);
          const readings = sim.due(T0 + 200 * (minMs + extraMs));
          const last = new Map<string, number>();
          for (const r of readings) {
            assert.ok(r.value >= min && r.value <= max, `${r.value} outside ${min}..${max}`);
            if (kind !== 'float') assert.ok(Number.isInteger(r.value) || kind === 'walk');
            const prev = last.get(r.series);
            if (prev !== undefined) {
              assert.ok(r.time - prev >= minMs && r.time - prev <= minMs + extraMs);
            }
            last.set(r.series, r.time);
          }
        },
      ),
      { numRuns: 150, seed: 8 },
    );
  });

  it('random walk steps are at most `step`', () => {
    const sim = new Simulator({ series: 1, values: { kind: 'walk', min: 0, max: 100, step: 2, start: 50 }, interval: { fixedMs: 10 } });
    const values = sim
      .due(T0)
      .concat(sim.due(T0 + 100_000))
      .map((r) => r.value);
    assert.equal(values[0], 50);
    for (let i = 1; i < values.length; i++) assert.ok(Math.abs(values[i] - values[i - 1]) <= 2 + 1e-9);
    assert.ok(new Set(values).size > 100);
  });

  it('drives all series from one timer: nextDueAt, and no burst after a long pause', () => {
    const sim = new Simulator({
      series: 3,
      values: { kind: 'int', min: 0, max: 1 },
      interval: { fixedMs: 1000 },
      startImmediately: false,
      maxCatchUp: 5,
    });
    assert.equal(sim.nextDueAt(), undefined);
    sim.start(T0);
    assert.equal(sim.nextDueAt(), T0 + 1000);
    assert.deepEqual(sim.due(T0 + 999), []);
    assert.equal(sim.due(T0 + 1000).length, 3);
    assert.equal(sim.nextDueAt(), T0 + 2000);
    const afterPause = sim.due(T0 + 3_600_000);
    assert.equal(afterPause.length, 15);
    assert.equal(sim.stats.reanchored, 3);
    assert.equal(sim.nextDueAt(), T0 + 3_601_000);
    assert.equal(sim.stats.produced, 18);
  });

  it('numbers the readings per series and takes explicit series with fields and topics', () => {
    const sim = new Simulator({
      series: [
        { id: 'a', fields: { unit: 'V' }, topic: 'x/a' },
        { id: 'b', interval: { fixedMs: 500 } },
      ],
      values: { kind: 'int', min: 1, max: 1 },
      interval: { fixedMs: 1000 },
      template: { id: '{{series}}', n: '{{seq}}', unit: '{{fields.unit}}', topic: '{{topic}}' },
      topic: 'all',
    });
    const readings = sim.due(T0).concat(sim.due(T0 + 1000));
    assert.deepEqual(
      readings.map((r) => r.message),
      [
        { id: 'a', n: 1, unit: 'V', topic: 'x/a' },
        { id: 'b', n: 1, unit: null, topic: 'all' },
        { id: 'b', n: 2, unit: null, topic: 'all' },
        { id: 'a', n: 2, unit: 'V', topic: 'x/a' },
        { id: 'b', n: 3, unit: null, topic: 'all' },
      ],
    );
  });

  it('refuses configurations that cannot work', () => {
    const ok: SimulatorConfig = { series: 1, values: { kind: 'int', min: 0, max: 1 }, interval: { fixedMs: 1000 } };
    const bad: unknown[] = [
      null,
      { ...ok, series: 0 },
      { ...ok, series: 1.5 },
      { ...ok, series: [] },
      { ...ok, series: [{ id: 'a' }, { id: 'a' }] },
      { ...ok, series: [{ id: '' }] },
      { ...ok, values: { kind: 'int', min: 2, max: 1 } },
      { ...ok, values: { kind: 'int', min: 0.5, max: 1 } },
      { ...ok, values: { kind: 'float', min: 0, max: Infinity } },
      { ...ok, values: { kind: 'walk', min: 0, max: 1, step: 0 } },
      { ...ok, values: { kind: 'walk', min: 0, max: 1, step: 1, start: 5 } },
      { ...ok, values: { kind: 'gauss', min: 0, max: 1 } },
      { ...ok, interval: { fixedMs: 0 } },
      { ...ok, interval: { minMs: 10, maxMs: 5 } },
      { ...ok, interval: { minMs: 0, maxMs: 5 } },
      { ...ok, maxCatchUp: 0 },
      { ...ok, seed: Number.NaN },
      { ...ok, series: [{ id: 'a', fields: [] }] },
    ];
    for (const config of bad) assert.throws(() => new Simulator(config as SimulatorConfig), isConfigError, JSON.stringify(config));
    assert.throws(() => new Simulator({ ...ok, template: { x: '{{bogus}}' } }), isTemplateError);
  });
});
