import assert from 'node:assert/strict';
import fc from 'fast-check';
import { backoffStep, retryDelay, type Backoff, type Jitter } from '../../lib/backoff';

const fixed = (r: number) => (): number => r;
const justBelowOne = 0.9999999;
const anyRandom = fc.double({ min: 0, max: justBelowOne, noNaN: true });
const anyFailures = fc.integer({ min: 0, max: 5000 });
const anyBackoff = (jitter: Jitter): fc.Arbitrary<Backoff> =>
  fc
    .record({ initialMs: fc.integer({ min: 0, max: 100_000 }), maxMs: fc.integer({ min: 0, max: 3_600_000 }) })
    .map((b) => ({ ...b, jitter }));

/** Checks every wait of that jitter (whole ms) against the bounds `within` gives for its step. */
function assertWaits(jitter: Jitter, within: (step: number, backoff: Backoff) => [low: number, high: number]): void {
  fc.assert(
    fc.property(anyFailures, anyBackoff(jitter), anyRandom, (failures, backoff, r) => {
      const d = retryDelay(failures, backoff, fixed(r));
      const step = backoffStep(failures, backoff.initialMs, backoff.maxMs);
      const [low, high] = within(step, backoff);
      assert.ok(Number.isInteger(d) && d >= low && d <= high, `${d} of step ${step}, not in [${low}, ${high}]`);
    }),
  );
}

describe('backoff: exponential steps with jitter', () => {
  it('doubles the step from the initial delay per failure, up to the cap', () => {
    assert.deepEqual(
      [0, 1, 2, 3, 4, 10, 100, 5000].map((n) => backoffStep(n, 100, 1000)),
      [100, 200, 400, 800, 1000, 1000, 1000, 1000],
    );
    assert.equal(backoffStep(-1, 100, 1000), 100, 'a negative count is no failure yet');
    assert.equal(backoffStep(10_000, 0, 1000), 0, 'a zero initial delay stays 0 (no 0 · Infinity)');
    assert.equal(backoffStep(2, 100, 50), 50, 'a cap below the initial delay wins');
  });

  it("'none' waits the step itself", () => {
    assert.deepEqual(
      [0, 1, 2, 6, 7].map((n) => retryDelay(n, { initialMs: 20, maxMs: 1000, jitter: 'none' }, fixed(0.5))),
      [20, 40, 80, 1000, 1000],
    );
  });

  it("'full' waits uniformly in [0, step)", () => {
    const b: Backoff = { initialMs: 100, maxMs: 10_000, jitter: 'full' };
    assert.equal(retryDelay(0, b, fixed(0)), 0);
    assert.equal(retryDelay(0, b, fixed(justBelowOne)), 99);
    assert.equal(retryDelay(2, b, fixed(0.5)), 200);
    assert.equal(retryDelay(60, b, fixed(justBelowOne)), 9999);
    assertWaits('full', (step) => [0, Math.max(0, step - 1)]);
  });

  it("'equal' waits uniformly in [step/2, step)", () => {
    const b: Backoff = { initialMs: 250, maxMs: 30_000, jitter: 'equal' };
    assert.equal(retryDelay(0, b, fixed(0)), 125);
    assert.equal(retryDelay(0, b, fixed(justBelowOne)), 249);
    assert.equal(retryDelay(3, b, fixed(0.5)), 1500);
    assertWaits('equal', (step) => [Math.floor(step / 2), step]);
  });

  it('{ spread } waits step · (1 ± spread), never past the cap', () => {
    const b: Backoff = { initialMs: 1000, maxMs: 60_000, jitter: { spread: 0.2 } };
    assert.equal(retryDelay(0, b, fixed(0)), 800);
    assert.equal(retryDelay(0, b, fixed(0.5)), 1000);
    assert.equal(retryDelay(0, b, fixed(justBelowOne)), 1199);
    assert.equal(retryDelay(10, b, fixed(justBelowOne)), 60_000, 'the upper half of the spread is cut at the cap');
    assert.equal(retryDelay(10, b, fixed(0)), 48_000, 'the lower half still spreads waits at the cap');
    assertWaits({ spread: 0.2 }, (step, backoff) => [Math.floor(step * 0.8), Math.min(backoff.maxMs, step * 1.2)]);
  });

  it('spreads waits with Math.random when no random is given', () => {
    const b: Backoff = { initialMs: 1000, maxMs: 60_000, jitter: 'full' };
    const waits = new Set(Array.from({ length: 50 }, () => retryDelay(4, b)));
    assert.ok(waits.size > 10, `50 waits took ${waits.size} distinct values`);
    for (const w of waits) assert.ok(w >= 0 && w < 16_000);
  });
});
