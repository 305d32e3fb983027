import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TumblingWindows, WindowError, parseTimestamp, type TumblingResult } from '../../../lib/window';
import { exactSum } from './reference';

const at = (iso: string): number => parseTimestamp(iso);

describe('window: TumblingWindows', () => {
  it('aligns windows to UTC minutes and stamps each result with its start', () => {
    const w = new TumblingWindows({ graceMs: 0 });
    w.add('1', 20, at('2024-06-14T16:00:00.000'));
    w.add('1', 30, at('2024-06-14T16:00:59.999999'));
    w.add('1', 40, at('2024-06-14T16:01:00.000'));
    assert.deepEqual(w.tick(at('2024-06-14T16:01:00.000')), [
      { series: '1', start: at('2024-06-14T16:00:00'), end: at('2024-06-14T16:01:00'), count: 2, sum: 50, mean: 25, min: 20, max: 30 },
    ]);
    assert.deepEqual(w.tick(at('2024-06-14T16:01:30')), []);
    const [second] = w.tick(at('2024-06-14T16:02:00'));
    assert.equal(second.start, at('2024-06-14T16:01:00'));
    assert.equal(second.mean, 40);
  });

  it('aligns day windows to UTC midnight, whatever the offset the readings were written in', () => {
    const w = new TumblingWindows({ sizeMs: 86_400_000, graceMs: 0 });
    w.add('s', 1, at('2024-06-14T23:30:00-02:00')); // 2024-06-15T01:30Z
    w.add('s', 3, at('2024-06-15T23:59:59Z'));
    const [day] = w.tick(at('2024-06-16T00:00:00Z'));
    assert.equal(new Date(day.start).toISOString(), '2024-06-15T00:00:00.000Z');
    assert.equal(day.count, 2);
  });

  it('emits one result per series per window, oldest window first, and nothing for empty windows', () => {
    const w = new TumblingWindows({ graceMs: 0 });
    const t0 = at('2024-06-14T16:00:00');
    for (let s = 1; s <= 5; s++) for (let i = 0; i < 60; i++) w.add(String(s), s * 10 + (i % 3), t0 + i * 1000 + s);
    w.add('1', 7, t0 + 3 * 60_000); // minute 3; minutes 1 and 2 stay empty
    const results = w.tick(t0 + 10 * 60_000);
    assert.deepEqual(
      results.map((r) => [r.series, (r.start - t0) / 60_000, r.count]),
      [
        ['1', 0, 60],
        ['2', 0, 60],
        ['3', 0, 60],
        ['4', 0, 60],
        ['5', 0, 60],
        ['1', 3, 1],
      ],
    );
    assert.equal(results[1].mean, 21);
    assert.equal(w.stats.emitted, 6);
    assert.deepEqual(w.tick(t0 + 20 * 60_000), []);
  });

  describe('grace and late readings', () => {
    const t0 = at('2024-06-14T16:00:00');

    it('processing time: a reading for a minute that ended but is within grace still counts', () => {
      const w = new TumblingWindows({ graceMs: 5_000 });
      w.add('1', 10, t0 + 30_000);
      assert.deepEqual(w.tick(t0 + 64_999), []);
      assert.equal(w.add('1', 20, t0 + 59_000), 'accepted');
      const [r] = w.tick(t0 + 65_000);
      assert.deepEqual([r.count, r.mean], [2, 15]);
    });

    it('processing time: a reading beyond grace is reported late and counted, never merged silently', () => {
      const w = new TumblingWindows({ graceMs: 5_000 });
      w.add('1', 10, t0 + 30_000);
      w.tick(t0 + 65_000);
      assert.equal(w.add('1', 99, t0 + 59_000), 'late');
      assert.equal(w.add('2', 99, t0 + 1_000), 'late'); // also for a series that had no window open
      assert.equal(w.stats.late, 2);
      assert.deepEqual(w.tick(t0 + 10 * 60_000), []);
    });

    it('event time: the newest event time is the watermark', () => {
      const w = new TumblingWindows({ graceMs: 10_000, watermark: 'event' });
      w.add('1', 1, t0 + 1_000);
      w.add('1', 2, t0 + 65_000); // watermark 16:01:05, minute 0 is within grace
      assert.deepEqual(w.tick(), []);
      assert.equal(w.add('1', 3, t0 + 59_000), 'accepted');
      w.add('2', 5, t0 + 70_000); // watermark 16:01:10: minute 0 closes
      assert.equal(w.add('1', 4, t0 + 2_000), 'late');
      const results = w.tick(Number.MAX_SAFE_INTEGER); // `now` does not move an event-time watermark
      assert.deepEqual(
        results.map((r) => [r.series, r.count, r.mean]),
        [['1', 2, 2]],
      );
      assert.deepEqual(
        w.flush().map((r) => [r.series, r.count]),
        [
          ['1', 1],
          ['2', 1],
        ],
      );
      assert.equal(w.stats.open, 0);
    });

    describe('lateness: closed windows take late readings and are emitted again', () => {
      it('adds a late reading to its closed window and emits the whole window once more', () => {
        const w = new TumblingWindows({ graceMs: 5_000, latenessMs: 10 * 60_000 });
        w.tick(t0);
        w.add('1', 10, t0 + 30_000);
        assert.deepEqual(
          w.tick(t0 + 65_000).map((r) => [r.count, r.mean, r.revision]),
          [[1, 10, undefined]],
        );
        assert.equal(w.add('1', 20, t0 + 59_000), 'revised');
        assert.equal(w.add('1', 30, t0 + 1_000), 'revised');
        assert.deepEqual(w.tick(t0 + 70_000), [], 'a revision is not a closing');
        const [again] = w.revisions();
        assert.deepEqual(
          [again.series, again.start, again.count, again.mean, again.min, again.max, again.revision],
          ['1', t0, 3, 20, 10, 30, 1],
        );
        assert.deepEqual(w.revisions(), [], 'each revision once');
        w.add('1', 40, t0 + 2_000);
        assert.deepEqual(
          w.revisions().map((r) => [r.count, r.revision]),
          [[4, 2]],
        );
        assert.deepEqual([w.stats.accepted, w.stats.revised, w.stats.late, w.stats.emitted], [4, 3, 0, 3]);
      });

      it('emits a series that had no reading when its window closed, for the first time', () => {
        const w = new TumblingWindows({ graceMs: 0, latenessMs: 60_000 });
        w.tick(t0);
        w.add('1', 1, t0);
        w.tick(t0 + 60_000);
        assert.equal(w.add('2', 5, t0 + 30_000), 'revised');
        const [first] = w.revisions();
        assert.deepEqual([first.series, first.count, first.revision], ['2', 1, undefined]);
      });

      it('collects the revisions of a backlog: one per window, oldest late reading first', () => {
        const w = new TumblingWindows({ graceMs: 0, latenessMs: 10 * 60_000, clock: () => t0 + 600_000 });
        w.tick(t0);
        w.tick(t0 + 5 * 60_000);
        assert.equal(w.revisionsPendingSince, undefined);
        for (let i = 0; i < 3000; i++) assert.equal(w.add(String(i % 3), i, t0 + (i % 4) * 60_000 + (i % 60) * 1000), 'revised');
        assert.equal(w.revisionsPendingSince, t0 + 600_000);
        const revisions = w.revisions();
        assert.equal(revisions.length, 12);
        assert.equal(
          revisions.reduce((n, r) => n + r.count, 0),
          3000,
        );
        assert.equal(w.revisionsPendingSince, undefined);
      });

      it('stops taking late readings once the watermark passed the lateness, and forgets the window', () => {
        const w = new TumblingWindows({ graceMs: 5_000, latenessMs: 60_000 });
        w.tick(t0);
        w.add('1', 10, t0);
        w.tick(t0 + 65_000);
        assert.equal(w.stats.revisable, 1);
        assert.equal(w.add('1', 20, t0 + 1_000), 'revised');
        w.tick(t0 + 125_000);
        assert.equal(w.stats.revisable, 0);
        assert.deepEqual(w.revisions(), [], 'a window forgotten before its revision went out takes it along');
        assert.equal(w.add('1', 30, t0 + 2_000), 'late');
        assert.equal(w.stats.late, 1);
      });

      it('keeps closed windows within maxOpenWindows: the oldest gives way to a new open window', () => {
        const w = new TumblingWindows({ graceMs: 0, latenessMs: 60 * 60_000, maxOpenWindows: 3 });
        w.tick(t0);
        for (const s of ['a', 'b', 'c']) w.add(s, 1, t0);
        w.tick(t0 + 60_000);
        assert.equal(w.stats.revisable, 3);
        assert.equal(w.add('a', 1, t0 + 60_000), 'accepted');
        assert.deepEqual([w.stats.open, w.stats.revisable], [1, 0]);
        assert.equal(w.add('a', 2, t0), 'late', 'the oldest closed window was forgotten');
        assert.equal(w.add('b', 2, t0), 'late', 'with all its series: a revision of it would hold only the late readings');
      });

      it('never revises a window that closed before the engine started or before its snapshot', () => {
        const fresh = new TumblingWindows({ graceMs: 5_000, latenessMs: 60 * 60_000 });
        fresh.tick(t0 + 10 * 60_000 + 3_000); // started at 16:10:03: minute 9 is still open
        assert.equal(fresh.add('1', 1, t0 + 8 * 60_000), 'late', 'minute 8 closed before this run: an earlier run may have emitted it');
        assert.equal(fresh.add('1', 1, t0 + 9 * 60_000 + 59_000), 'accepted');
        fresh.add('1', 2, t0 + 10 * 60_000);
        const restored = TumblingWindows.fromJSON(
          JSON.parse(JSON.stringify(fresh)),
          { graceMs: 5_000, latenessMs: 60 * 60_000 },
          t0 + 20 * 60_000,
        );
        assert.deepEqual(
          restored.tick(t0 + 20 * 60_000).map((r) => (r.start - t0) / 60_000),
          [9, 10],
        );
        assert.equal(restored.add('1', 3, t0 + 9 * 60_000), 'revised', 'closed by this run: revisable');
        assert.equal(restored.add('1', 3, t0 + 8 * 60_000), 'late');
      });

      it('is off with latenessMs 0, the engine default', () => {
        const w = new TumblingWindows({ graceMs: 0 });
        w.add('1', 1, t0);
        w.tick(t0 + 60_000);
        assert.deepEqual([w.add('1', 2, t0), w.stats.revisable], ['late', 0]);
      });
    });

    it('never moves the watermark backwards', () => {
      const w = new TumblingWindows({ graceMs: 0 });
      w.tick(t0 + 120_000);
      w.tick(t0);
      assert.equal(w.add('1', 1, t0 + 60_000), 'late');
      assert.equal(w.stats.watermark, t0 + 120_000);
    });
  });

  it('bounds open windows and reports the overflow', () => {
    const w = new TumblingWindows({ maxOpenWindows: 3 });
    const t0 = at('2024-06-14T16:00:00');
    for (const s of ['a', 'b', 'c']) assert.equal(w.add(s, 1, t0), 'accepted');
    assert.equal(w.add('a', 2, t0), 'accepted'); // existing window
    assert.equal(w.add('d', 1, t0), 'overflow');
    assert.equal(w.add('a', 1, t0 + 60_000), 'overflow');
    assert.equal(w.stats.overflow, 2);
  });

  it('rejects bad values, times and keys with typed errors and changes nothing', () => {
    const w = new TumblingWindows();
    const t0 = at('2024-06-14T16:00:00');
    w.add('s', 1, t0);
    const before = JSON.stringify(w);
    for (const v of [Number.NaN, Infinity, 'abc', '', {}, null, true]) {
      assert.throws(
        () => w.add('s', v, t0),
        (err: unknown) => err instanceof WindowError && err.code === 'INVALID_VALUE',
      );
    }
    assert.throws(
      () => w.add('s', 1, Number.NaN),
      (err: unknown) => err instanceof WindowError && err.code === 'INVALID_TIME',
    );
    assert.throws(
      () => w.add(undefined as never, 1, t0),
      (err: unknown) => err instanceof WindowError && err.code === 'INVALID_SERIES',
    );
    assert.equal(JSON.stringify(w), before);
    assert.throws(() => new TumblingWindows({ sizeMs: 0 }), WindowError);
    assert.throws(() => new TumblingWindows({ graceMs: -1 }), WindowError);
    assert.throws(() => new TumblingWindows({ watermark: 'wall' as never }), WindowError);
  });

  it('reset drops the open windows of one series', () => {
    const w = new TumblingWindows({ graceMs: 0 });
    const t0 = at('2024-06-14T16:00:00');
    w.add('a', 1, t0);
    w.add('b', 2, t0);
    assert.equal(w.reset('a'), true);
    assert.equal(w.reset('a'), false);
    assert.deepEqual(
      w.tick(t0 + 60_000).map((r) => r.series),
      ['b'],
    );
  });

  it('snapshots and restores; windows that closed while down are emitted after restart', () => {
    const w = new TumblingWindows({ graceMs: 2_000, decimals: 2 });
    const t0 = at('2024-06-14T16:00:00');
    w.add('1', 1, t0 + 1_000);
    w.add('1', 2, t0 + 2_000);
    w.add('2', 1 / 3, t0 + 61_000);
    w.tick(t0 + 30_000);
    const restored = TumblingWindows.fromJSON(JSON.parse(JSON.stringify(w)), { graceMs: 2_000, decimals: 2 }, t0 + 10 * 60_000);
    assert.deepEqual(
      restored.tick(t0 + 10 * 60_000).map((r) => [r.series, r.mean]),
      [
        ['1', 1.5],
        ['2', 0.33],
      ],
    );
    assert.equal(restored.add('1', 5, t0 + 3_000), 'late');
    for (const bad of [
      null,
      {},
      { ...w.toJSON(), sizeMs: 1000 },
      { ...w.toJSON(), open: [['1', 5, 1, 0, 1, 1, 1]] },
      { ...w.toJSON(), open: [['1', t0, 1, 0, 0, 1, 1]] },
    ]) {
      assert.throws(
        () => TumblingWindows.fromJSON(bad, { graceMs: 2_000 }),
        (err: unknown) => err instanceof WindowError && err.code === 'INVALID_SNAPSHOT',
      );
    }
  });

  it('matches a group-by-minute reference on random in-order and out-of-order data', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            series: fc.integer({ min: 1, max: 5 }),
            dt: fc.integer({ min: 0, max: 20_000 }),
            back: fc.integer({ min: 0, max: 8_000 }),
            value: fc.integer({ min: -50, max: 50 }),
          }),
          { maxLength: 400 },
        ),
        (readings) => {
          const grace = 5_000;
          const w = new TumblingWindows({ graceMs: grace, watermark: 'event' });
          const groups = new Map<string, number[]>();
          let now = at('2024-06-14T16:00:00');
          let watermark = -Infinity;
          let late = 0;
          for (const r of readings) {
            now += r.dt;
            const t = now - r.back;
            const start = Math.floor(t / 60_000) * 60_000;
            const expected = start + 60_000 + grace <= watermark ? 'late' : 'accepted';
            assert.equal(w.add(String(r.series), r.value, t), expected);
            if (expected === 'late') late++;
            else {
              const key = `${start}|${r.series}`;
              groups.set(key, [...(groups.get(key) ?? []), r.value]);
              watermark = Math.max(watermark, t);
            }
          }
          const results: TumblingResult[] = [...w.tick(), ...w.flush()];
          assert.equal(results.length, groups.size);
          for (const r of results) {
            const values = groups.get(`${r.start}|${r.series}`)!;
            assert.equal(r.count, values.length);
            assert.equal(r.sum, exactSum(values));
            assert.equal(r.min, Math.min(...values));
            assert.equal(r.max, Math.max(...values));
          }
          assert.equal(w.stats.late, late);
        },
      ),
      { numRuns: 200, seed: 99 },
    );
  });
});
