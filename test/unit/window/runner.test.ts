import assert from 'node:assert/strict';
import { MAX_FUTURE_MS, parseWindowSettings, WindowError, WindowRunner } from '../../../lib/window';

const T0 = Date.UTC(2024, 5, 14, 16, 0, 0);

function runner(props: Record<string, unknown>, clock: () => number): WindowRunner {
  const settings = parseWindowSettings({
    value: 'payload.number',
    seriesFrom: 'single',
    timeSource: 'event',
    timeProperty: 'payload.epochtime',
    ...props,
  });
  return WindowRunner.create(settings, { clock }).runner;
}

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    assert.ok(err instanceof WindowError, String(err));
    return err.code;
  }
};

describe('WindowRunner.accept', () => {
  it('reports what it counted: the value as a number, the time in epoch ms (event or arrival)', () => {
    let now = T0;
    const sliding = runner({ mode: 'sliding', windows: '1min' }, () => now);
    assert.deepEqual(sliding.accept({ payload: { number: '42', epochtime: String(T0 / 1000) } }).reading, {
      series: '',
      value: 42,
      time: T0,
    });
    now += 1000;
    const arrival = runner({ mode: 'sliding', windows: '1min', timeSource: 'processing' }, () => now);
    assert.deepEqual(arrival.accept({ payload: { number: 1 } }).reading, { series: '', value: 1, time: T0 + 1000 });
    const tumbling = runner({ mode: 'tumbling', size: '1min' }, () => now);
    assert.deepEqual(tumbling.accept({ payload: { number: 2.5, epochtime: T0 } }).reading, { series: '', value: 2.5, time: T0 });
  });

  it('refuses an event time far ahead of the clock, which would otherwise make every present reading late', () => {
    for (const mode of ['sliding', 'tumbling']) {
      const r = runner({ mode, windows: '1min, 5min, 30min', size: '1min', watermark: 'event' }, () => T0);
      r.accept({ payload: { number: 10, epochtime: T0 / 1000 } });
      assert.equal(
        code(() => r.accept({ payload: { number: 1000, epochtime: T0 + MAX_FUTURE_MS + 1000 } })),
        'FUTURE_READING',
        mode,
      );
      assert.equal(
        code(() => r.accept({ payload: { number: 1000, epochtime: 4e12 } })),
        'FUTURE_READING',
        mode,
      );
      // Within the tolerance (a sender's clock a little ahead) it counts, and the present still does.
      r.accept({ payload: { number: 20, epochtime: T0 + 60_000 } });
      assert.equal(
        code(() => r.accept({ payload: { number: 30, epochtime: T0 } })),
        undefined,
        `${mode}: the present is still counted`,
      );
    }
  });

  it('refuses what issue #16 saw stored: Infinity, objects, text, an epochtime of 1e20', () => {
    const r = runner({ mode: 'sliding', windows: '1min' }, () => T0);
    const refused: Array<[unknown, string]> = [
      [{ number: 'Infinity', epochtime: 'x' }, 'INVALID_VALUE'],
      [{ number: { a: 1 }, epochtime: T0 }, 'INVALID_VALUE'],
      [{ number: 5, epochtime: 1e20 }, 'INVALID_TIMESTAMP'],
      [{ number: 5, epochtime: 'x' }, 'INVALID_TIMESTAMP'],
    ];
    for (const [payload, expected] of refused)
      assert.equal(
        code(() => r.accept({ payload })),
        expected,
        JSON.stringify(payload),
      );
  });
});
