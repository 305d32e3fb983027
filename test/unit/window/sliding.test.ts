import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SlidingWindows, WindowError, type SlidingWindowOptions, type WindowValues } from '../../../lib/window';
import { ReferenceWindows, exactSum, seeded, type RefWindowValues } from './reference';

const T0 = Date.UTC(2024, 5, 14, 16, 0, 0);
const MIN = 60_000;

function close(actual: number | null, expected: number | null, rel = 1e-12): boolean {
  if (actual === null || expected === null) return actual === expected;
  return Math.abs(actual - expected) <= rel * Math.max(1, Math.abs(expected));
}

/** Asserts the engine's values for one series equal the reference's (counts, min, max exactly). */
function assertMatches(values: WindowValues, expected: RefWindowValues[], labels: string[], context: string): void {
  labels.forEach((label, w) => {
    const e = expected[w];
    assert.equal(values[`count_${label}`], e.count, `${context}: count_${label}`);
    assert.ok(close(values[`avg_${label}`], e.mean), `${context}: avg_${label} ${values[`avg_${label}`]} vs ${e.mean}`);
    assert.ok(close(values[`sum_${label}`], e.sum), `${context}: sum_${label} ${values[`sum_${label}`]} vs ${e.sum}`);
    assert.equal(values[`min_${label}`], e.min, `${context}: min_${label}`);
    assert.equal(values[`max_${label}`], e.max, `${context}: max_${label}`);
  });
}

describe('window: SlidingWindows', () => {
  describe('output shape (rolling-averages STATS contract)', () => {
    it('emits avg_1min, avg_5min and avg_30min by default', () => {
      const w = new SlidingWindows();
      assert.deepEqual(w.outputNames, ['avg_1min', 'avg_5min', 'avg_30min']);
      w.add('DATA', 40, T0);
      w.add('DATA', 52, T0 + 10_000);
      assert.deepEqual(w.read('DATA', T0 + 10_000), { avg_1min: 46, avg_5min: 46, avg_30min: 46 });
    });

    it('separates the windows: a reading 2 minutes old is only in the 5 and 30 minute averages', () => {
      const w = new SlidingWindows();
      w.add('DATA', 10, T0);
      w.add('DATA', 30, T0 + 2 * MIN);
      assert.deepEqual(w.read('DATA', T0 + 2 * MIN), { avg_1min: 30, avg_5min: 20, avg_30min: 20 });
      assert.deepEqual(w.read('DATA', T0 + 6 * MIN), { avg_1min: null, avg_5min: 30, avg_30min: 20 });
      assert.deepEqual(w.read('DATA', T0 + 8 * MIN), { avg_1min: null, avg_5min: null, avg_30min: 20 });
    });

    it('gives null, never 0 or NaN, for an empty window; count 0 and sum 0', () => {
      const w = new SlidingWindows({ aggregates: ['mean', 'count', 'sum', 'min', 'max'] });
      const empty = w.read('nobody', T0);
      assert.equal(empty.avg_1min, null);
      assert.equal(empty.min_30min, null);
      assert.equal(empty.count_5min, 0);
      assert.equal(empty.sum_5min, 0);
      w.add('s', 5, T0);
      const later = w.read('s', T0 + 31 * MIN);
      assert.deepEqual([later.avg_1min, later.avg_5min, later.avg_30min, later.count_30min, later.max_30min], [null, null, null, 0, null]);
    });

    it('rounds to the requested decimals (47.1778) and keeps full precision by default', () => {
      const full = new SlidingWindows();
      const rounded = new SlidingWindows({ decimals: 4 });
      for (const [i, v] of [47, 48, 46.5333].entries()) {
        full.add('s', v, T0 + i);
        rounded.add('s', v, T0 + i);
      }
      assert.equal(full.read('s', T0 + 3).avg_1min, (47 + 48 + 46.5333) / 3);
      assert.equal(rounded.read('s', T0 + 3).avg_1min, 47.1778);
    });

    it('takes custom labels and name templates', () => {
      const w = new SlidingWindows({
        windows: [{ ms: 10_000, label: 'short' }, 3_600_000],
        aggregates: ['mean', 'max'],
        names: { mean: 'mean.{label}', max: 'peak_{label}' },
      });
      assert.deepEqual(w.outputNames, ['mean.short', 'peak_short', 'mean.1h', 'peak_1h']);
    });

    it('refuses options that cannot work', () => {
      const bad: SlidingWindowOptions[] = [
        { windows: [] },
        { windows: [0] },
        { windows: [-5] },
        { windows: [Number.NaN] },
        { windows: [60_000], bucketMs: 7_000 },
        { bucketMs: 0 },
        { bucketsPerWindow: 0 },
        { decimals: -1 },
        { maxSeries: 0 },
        { windows: [60_000, 60_000] },
        { aggregates: ['median' as never] },
      ];
      for (const options of bad) {
        assert.throws(
          () => new SlidingWindows(options),
          (err: unknown) => err instanceof WindowError && err.code === 'INVALID_OPTIONS',
          JSON.stringify(options),
        );
      }
    });
  });

  describe('bucket semantics', () => {
    it('keeps a reading in the 1 min window (1 s buckets) until its bucket is 60 buckets old', () => {
      const w = new SlidingWindows({ windows: [MIN], aggregates: ['count'] });
      w.add('s', 1, T0 + 500);
      assert.equal(w.read('s', T0 + 59_999).count_1min, 1);
      assert.equal(w.read('s', T0 + 60_000).count_1min, 0);
    });

    it('exact mode: one 1 s ring serves all windows', () => {
      const w = new SlidingWindows({ bucketMs: 1000, aggregates: ['count'] });
      w.add('s', 1, T0);
      assert.deepEqual(w.read('s', T0 + 4 * MIN + 59_999), { count_1min: 0, count_5min: 1, count_30min: 1 });
      assert.deepEqual(w.read('s', T0 + 5 * MIN), { count_1min: 0, count_5min: 0, count_30min: 1 });
    });
  });

  describe('late and out-of-order data', () => {
    it('places an out-of-order reading into its bucket', () => {
      const w = new SlidingWindows({ aggregates: ['mean', 'count'] });
      w.add('s', 10, T0 + 3 * MIN);
      assert.equal(w.add('s', 20, T0 + 2.5 * MIN), true);
      assert.deepEqual(w.read('s', T0 + 3 * MIN), {
        avg_1min: 15,
        count_1min: 2,
        avg_5min: 15,
        count_5min: 2,
        avg_30min: 15,
        count_30min: 2,
      });
      assert.equal(w.add('s', 40, T0 + 1 * MIN), true); // too old for 1 min, inside 5 and 30
      assert.deepEqual(w.read('s', T0 + 3 * MIN), {
        avg_1min: 15,
        count_1min: 2,
        avg_5min: 70 / 3,
        count_5min: 3,
        avg_30min: 70 / 3,
        count_30min: 3,
      });
    });

    it('rejects and counts a reading older than the longest window', () => {
      const w = new SlidingWindows({ aggregates: ['count'] });
      w.add('s', 1, T0 + 40 * MIN);
      assert.equal(w.add('s', 2, T0 + 5 * MIN), false);
      assert.equal(w.stats.late, 1);
      assert.equal(w.read('s', T0 + 40 * MIN).count_30min, 1);
    });

    it('never moves a series clock backwards: reading at an earlier time reads the current state', () => {
      const w = new SlidingWindows({ aggregates: ['count'] });
      w.add('s', 1, T0);
      w.read('s', T0 + 2 * MIN);
      assert.equal(w.read('s', T0).count_1min, 0);
    });
  });

  describe('bad input', () => {
    it('rejects non-numeric values with INVALID_VALUE and leaves the windows untouched', () => {
      const w = new SlidingWindows({ aggregates: ['mean', 'count', 'min', 'max'] });
      w.add('s', 5, T0);
      const before = JSON.stringify(w.toJSON());
      for (const value of [
        Number.NaN,
        Infinity,
        -Infinity,
        '',
        ' ',
        'abc',
        '12abc',
        '0x10',
        'NaN',
        'Infinity',
        {},
        [],
        [3],
        null,
        undefined,
        true,
        10n,
        'x'.repeat(10_000),
      ]) {
        assert.throws(
          () => w.add('s', value, T0 + 1),
          (err: unknown) => err instanceof WindowError && err.code === 'INVALID_VALUE',
          String(value),
        );
        assert.throws(() => w.add('fresh', value, T0 + 1), WindowError);
      }
      assert.equal(JSON.stringify(w.toJSON()), before);
      assert.equal(w.has('fresh'), false);
    });

    it('accepts numeric text', () => {
      const w = new SlidingWindows();
      w.add('s', '21.5', T0);
      w.add('s', ' 1e1 ', T0);
      assert.equal(w.read('s', T0).avg_1min, 15.75);
    });

    it('rejects bad times and series keys', () => {
      const w = new SlidingWindows();
      for (const time of [Number.NaN, -1, Infinity, '1700000000' as never]) {
        assert.throws(
          () => w.add('s', 1, time),
          (err: unknown) => err instanceof WindowError && err.code === 'INVALID_TIME',
        );
      }
      assert.throws(
        () => w.add(42 as never, 1, T0),
        (err: unknown) => err instanceof WindowError && err.code === 'INVALID_SERIES',
      );
      assert.equal(w.stats.series, 0);
    });
  });

  describe('series lifecycle', () => {
    it('reset clears one series only', () => {
      const w = new SlidingWindows();
      w.add('a', 1, T0);
      w.add('b', 3, T0);
      assert.equal(w.reset('a'), true);
      assert.equal(w.reset('a'), false);
      assert.equal(w.read('a', T0).avg_1min, null);
      assert.equal(w.read('b', T0).avg_1min, 3);
      w.add('a', 7, T0);
      assert.equal(w.read('a', T0).avg_1min, 7);
    });

    it('evicts idle series after the longest window, and tick reports live ones', () => {
      const w = new SlidingWindows({ windows: [MIN, 5 * MIN] });
      w.add('idle', 1, T0);
      w.add('busy', 2, T0);
      for (let t = T0; t <= T0 + 6 * MIN; t += 10_000) w.add('busy', 2, t);
      const results = w.tick(T0 + 6 * MIN);
      assert.deepEqual(
        results.map((r) => r.series),
        ['busy'],
      );
      assert.deepEqual(results[0].values, { avg_1min: 2, avg_5min: 2 });
      assert.equal(w.stats.evictedIdle, 1);
      assert.equal(w.has('idle'), false);
    });

    it('caps live series, evicting the least recently updated', () => {
      const w = new SlidingWindows({ maxSeries: 3 });
      for (const key of ['a', 'b', 'c']) w.add(key, 1, T0);
      w.add('a', 1, T0 + 1);
      w.add('d', 1, T0 + 2);
      assert.deepEqual(w.seriesKeys.sort(), ['a', 'c', 'd']);
      assert.equal(w.stats.evictedLru, 1);
      for (let i = 0; i < 1000; i++) w.add(`k${i}`, i, T0 + 3 + i);
      assert.equal(w.stats.series, 3);
      assert.deepEqual(w.seriesKeys.sort(), ['k997', 'k998', 'k999']);
    });
  });

  describe('snapshot', () => {
    const options: SlidingWindowOptions = { aggregates: ['mean', 'count', 'sum', 'min', 'max'] };

    it('round-trips through JSON text to identical reads and identical future behaviour', () => {
      const w = new SlidingWindows(options);
      const rand = seeded(7);
      let t = T0;
      for (let i = 0; i < 5000; i++) {
        t += Math.floor(rand() * 2000);
        w.add(`s${i % 7}`, Math.round(rand() * 1e6) / 100, t - Math.floor(rand() * 90_000));
      }
      const copy = SlidingWindows.fromJSON(JSON.parse(JSON.stringify(w)), options);
      for (let i = 0; i < 7; i++) assert.deepEqual(copy.read(`s${i}`, t), w.read(`s${i}`, t));
      for (let i = 0; i < 2000; i++) {
        t += Math.floor(rand() * 3000);
        const value = Math.round(rand() * 1e6) / 100;
        assert.equal(copy.add(`s${i % 9}`, value, t), w.add(`s${i % 9}`, value, t));
      }
      for (let i = 0; i < 9; i++) assert.deepEqual(copy.read(`s${i}`, t), w.read(`s${i}`, t));
      assert.deepEqual(copy.stats, w.stats);
    });

    it('expires on restore what expired while down', () => {
      const w = new SlidingWindows();
      w.add('s', 10, T0);
      w.add('s', 20, T0 + 4 * MIN);
      const restored = SlidingWindows.fromJSON(w.toJSON(), {}, T0 + 6 * MIN);
      assert.deepEqual(restored.read('s', T0 + 6 * MIN), { avg_1min: null, avg_5min: 20, avg_30min: 15 });
      const muchLater = SlidingWindows.fromJSON(w.toJSON(), {}, T0 + 90 * MIN);
      assert.equal(muchLater.has('s'), false);
    });

    it('rejects malformed or incompatible snapshots with INVALID_SNAPSHOT', () => {
      const w = new SlidingWindows();
      w.add('s', 1, T0);
      const good = w.toJSON();
      const variants: unknown[] = [
        null,
        42,
        {},
        { ...good, version: 2 },
        { ...good, levels: [] },
        { ...good, extrema: true },
        { ...good, series: [['s', T0, [[null, []]]]] },
        { ...good, series: [['s', T0, good.series[0][2].map(([h]) => [h, [h! + 1, 1, 1]])]] },
        { ...good, series: [['s', T0, good.series[0][2].map(([h]) => [h, [h, 'x', 1]])]] },
        { ...good, series: [['s', T0, good.series[0][2].map(([h]) => [h, [h, 1, 0]])]] },
        { ...good, series: [...good.series, ...good.series] },
      ];
      for (const snapshot of variants) {
        assert.throws(
          () => SlidingWindows.fromJSON(snapshot),
          (err: unknown) => err instanceof WindowError && err.code === 'INVALID_SNAPSHOT',
          JSON.stringify(snapshot),
        );
      }
      assert.throws(
        () => SlidingWindows.fromJSON(good, { windows: [MIN] }),
        (err: unknown) => err instanceof WindowError && err.code === 'INVALID_SNAPSHOT',
      );
    });
  });

  describe('against a brute-force reference', () => {
    type Op =
      | { kind: 'add'; series: number; value: number; dt: number; skew: number }
      | { kind: 'read'; series: number; dt: number }
      | { kind: 'reset'; series: number }
      | { kind: 'tick'; dt: number };

    const dtArb = fc.oneof(
      { weight: 5, arbitrary: fc.integer({ min: 0, max: 3_000 }) }, // steady
      { weight: 2, arbitrary: fc.constant(0) }, // bursts
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 40 * MIN }) }, // gaps
    );
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      {
        weight: 8,
        arbitrary: fc.record({
          kind: fc.constant('add' as const),
          series: fc.integer({ min: 0, max: 3 }),
          value: fc.oneof(
            fc.integer({ min: -1000, max: 1000 }),
            fc.double({ min: -1e6, max: 1e6, noNaN: true }).map((x) => Math.round(x * 1000) / 1000),
          ),
          dt: dtArb,
          // out-of-order event times: up to 35 min behind the newest
          skew: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 35 * MIN }) }),
        }),
      },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('read' as const), series: fc.integer({ min: 0, max: 4 }), dt: dtArb }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('reset' as const), series: fc.integer({ min: 0, max: 3 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('tick' as const), dt: dtArb }) },
    );

    const configs: Array<{ name: string; options: SlidingWindowOptions; windows: number[]; labels: string[] }> = [
      { name: 'window/60 buckets (1/5/30 min)', options: {}, windows: [MIN, 5 * MIN, 30 * MIN], labels: ['1min', '5min', '30min'] },
      { name: 'exact 1 s ring', options: { bucketMs: 1000 }, windows: [MIN, 5 * MIN, 30 * MIN], labels: ['1min', '5min', '30min'] },
      {
        name: 'odd lengths, 7 buckets per window, shared levels',
        options: { windows: [7_000, 70_000, 10_000], bucketsPerWindow: 7 },
        windows: [7_000, 70_000, 10_000],
        labels: ['7s', '70s', '10s'],
      },
    ];

    for (const config of configs) {
      it(`matches on random sequences: ${config.name}`, () => {
        fc.assert(
          fc.property(fc.array(opArb, { minLength: 1, maxLength: 300 }), fc.integer({ min: 1, max: 5 }), (ops, maxSeries) => {
            const options: SlidingWindowOptions = { ...config.options, maxSeries, aggregates: ['mean', 'count', 'sum', 'min', 'max'] };
            const engine = new SlidingWindows(options);
            const ref = new ReferenceWindows({ ...config.options, windows: config.windows, maxSeries });
            let now = T0;
            for (const op of ops) {
              if (op.kind === 'add') {
                now += op.dt;
                const t = now - op.skew;
                assert.equal(engine.add(`s${op.series}`, op.value, t), ref.add(`s${op.series}`, op.value, t));
              } else if (op.kind === 'read') {
                now += op.dt;
                assertMatches(engine.read(`s${op.series}`, now), ref.read(`s${op.series}`, now), config.labels, 'read');
              } else if (op.kind === 'reset') {
                engine.reset(`s${op.series}`);
                ref.reset(`s${op.series}`);
              } else {
                now += op.dt;
                ref.evictIdle(now);
                const results = engine.tick(now);
                assert.deepEqual(results.map((r) => r.series).sort(), ref.keys().sort());
                for (const r of results) assertMatches(r.values, ref.read(r.series, now), config.labels, 'tick');
              }
            }
            assert.equal(engine.stats.late, ref.late);
            // A snapshot taken anywhere restores to the same reads.
            const copy = SlidingWindows.fromJSON(JSON.parse(JSON.stringify(engine)), options);
            for (let s = 0; s < 4; s++) assert.deepEqual(copy.read(`s${s}`, now), engine.read(`s${s}`, now));
          }),
          { numRuns: 150, seed: 0x5eed },
        );
      });
    }

    it('matches over a long seeded run with many series, gaps, bursts and idle series', () => {
      const rand = seeded(20240614);
      const options: SlidingWindowOptions = { aggregates: ['mean', 'count', 'sum', 'min', 'max'], maxSeries: 40 };
      const engine = new SlidingWindows(options);
      const ref = new ReferenceWindows({ windows: [MIN, 5 * MIN, 30 * MIN], maxSeries: 40 });
      const labels = ['1min', '5min', '30min'];
      let now = T0;
      for (let i = 0; i < 60_000; i++) {
        const r = rand();
        now += r < 0.001 ? Math.floor(rand() * 45 * MIN) : r < 0.3 ? 0 : Math.floor(rand() * 400);
        // series 0..9 hot, 10..49 occasional (so some go idle and some are LRU-evicted)
        const key = `s${rand() < 0.8 ? Math.floor(rand() * 10) : 10 + Math.floor(rand() * 40)}`;
        const t = rand() < 0.05 ? now - Math.floor(rand() * 32 * MIN) : now;
        const value = Math.floor(rand() * 99) + 1;
        assert.equal(engine.add(key, value, t), ref.add(key, value, t));
        if (i % 500 === 0) {
          ref.evictIdle(now);
          const results = engine.tick(now);
          assert.deepEqual(results.map((x) => x.series).sort(), ref.keys().sort());
          for (const x of results) assertMatches(x.values, ref.read(x.series, now), labels, `step ${i} ${x.series}`);
        }
      }
      assert.ok(engine.stats.evictedIdle > 0 && engine.stats.evictedLru > 0 && engine.stats.late > 0, JSON.stringify(engine.stats));
    });
  });

  describe('floating point', () => {
    it('subtracts exactly what it added even when a bucket rounds (huge spike next to small values)', () => {
      const w = new SlidingWindows({ windows: [MIN], aggregates: ['mean', 'sum'] });
      w.add('s', 1e17, T0);
      w.add('s', 1.5, T0); // same bucket: the bucket sum rounds to 1e17 (+16 or +0)
      w.add('s', 3, T0 + 1000);
      w.add('s', 0.25, T0 + 2000);
      const values = w.read('s', T0 + MIN + 500); // the spike bucket has just left
      assert.equal(values.sum_1min, 3.25);
      assert.equal(values.avg_1min, 1.625);
    });

    it('keeps relative drift below 1e-9 after 10^7 updates (spikes included)', function () {
      this.timeout(120_000);
      const N = 10_000_000;
      const dt = 100; // 10 readings per 1 s bucket
      const value = (i: number): number => {
        if (i % 250_000 === 77 && i < N - 20_000) return 1e17; // a spike now and then, never in the final windows
        return ((Math.imul(i, 2654435761) >>> 0) / 4294967296) * 1000 + 0.123456789;
      };
      const w = new SlidingWindows({ aggregates: ['mean', 'count'] });
      const windows = [MIN, 5 * MIN, 30 * MIN];
      const labels = ['1min', '5min', '30min'];
      let worst = 0;
      for (let i = 0; i < N; i++) {
        w.add('s', value(i), T0 + i * dt);
        // Check 1.5, 6 and 31 minutes after each spike (just after it left each window) and at the end.
        const phase = i % 250_000;
        if (phase === 77 + 900 || phase === 77 + 3_700 || phase === 77 + 18_700 || i === N - 1) {
          const now = T0 + i * dt;
          const values = w.read('s', now);
          windows.forEach((ms, k) => {
            const b = ms / 60;
            const head = Math.floor(now / b);
            const members: number[] = [];
            for (let j = i; j >= 0 && Math.floor((T0 + j * dt) / b) > head - 60; j--) members.push(value(j));
            const expected = exactSum(members) / members.length;
            assert.equal(values[`count_${labels[k]}`], members.length);
            worst = Math.max(worst, Math.abs(values[`avg_${labels[k]}`]! - expected) / Math.abs(expected));
          });
        }
      }
      assert.ok(worst < 1e-9, `relative drift ${worst}`);
    });
  });
});
