import assert from 'node:assert/strict';
import { MAX_FUTURE_MS, parseWindowSettings, REVISION_DELAY_MS, WindowError, WindowRunner } from '../../../lib/window';

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

describe('WindowRunner: late readings of a tumbling window (lateness)', () => {
  const tumbling = (now: { t: number }, lateness?: string): WindowRunner => {
    const settings = parseWindowSettings({
      mode: 'tumbling',
      size: '1min',
      grace: '5s',
      value: 'payload.number',
      timeSource: 'event',
      timeProperty: 'payload.epochtime',
      ...(lateness === undefined ? {} : { lateness }),
    });
    return WindowRunner.create(settings, { clock: () => now.t, snapshotEveryMs: 3_600_000 }).runner;
  };
  const reading = (topic: string, number: number, epochtime: number): Record<string, unknown> => ({
    topic,
    payload: { number, epochtime },
  });

  it('takes a backlog of late readings by default and emits each window again once, after REVISION_DELAY_MS', () => {
    const now = { t: T0 + 30_000 };
    const r = tumbling(now);
    r.accept(reading('a', 10, T0 + 1_000));
    now.t = T0 + 65_000;
    assert.deepEqual(
      r.tick(now.t).map((e) => [e.series, e.payload.count, e.payload.revision]),
      [['a', 1, undefined]],
    );
    // A backlog replayed three minutes later: every reading belongs to the closed minute.
    now.t = T0 + 240_000;
    for (let i = 0; i < 500; i++) r.accept(reading(i % 2 === 0 ? 'a' : 'b', 20, T0 + 2_000 + i));
    assert.equal(r.nextDueAt(), now.t + REVISION_DELAY_MS);
    assert.deepEqual(r.tick(now.t + REVISION_DELAY_MS - 1), [], 'collected, not emitted per reading');
    const emitted = r.tick(now.t + REVISION_DELAY_MS);
    assert.deepEqual(
      emitted.map((e) => [e.series, e.payload.count, e.payload.revision]),
      [
        ['a', 251, 1],
        ['b', 250, undefined],
      ],
    );
    assert.deepEqual(r.tick(now.t + 2 * REVISION_DELAY_MS), [], 'each window once');
  });

  it('refuses a reading older than the lateness, saying so', () => {
    const now = { t: T0 + 65_000 };
    const r = tumbling(now, '2min');
    r.accept(reading('a', 1, T0 + 64_000));
    now.t = T0 + 4 * 60_000;
    r.tick(now.t);
    assert.throws(
      () => r.accept(reading('a', 1, T0 + 1_000)),
      (err: unknown) =>
        err instanceof WindowError && err.code === 'LATE_READING' && /stopped taking late readings 2 min later/.test(err.message),
    );
  });

  it("lateness '0' refuses every reading for a closed window, as before", () => {
    const now = { t: T0 + 65_000 };
    const r = tumbling(now, '0');
    r.accept(reading('a', 1, T0 + 64_000));
    r.tick(now.t + 1_000);
    assert.equal(
      code(() => r.accept(reading('a', 1, T0 + 1_000))),
      'LATE_READING',
    );
  });

  it('emits the revisions still waiting when asked (the node does, before it closes)', () => {
    const now = { t: T0 + 30_000 };
    const r = tumbling(now);
    r.accept(reading('a', 10, T0 + 1_000));
    now.t = T0 + 70_000;
    r.tick(now.t);
    r.accept(reading('a', 30, T0 + 2_000));
    assert.deepEqual(
      r.pendingRevisions().map((e) => [e.payload.count, e.payload.mean, e.payload.revision]),
      [[2, 20, 1]],
    );
    assert.deepEqual(r.pendingRevisions(), []);
  });

  it('checks the lateness setting', () => {
    for (const lateness of ['-1min', 'soon', '25h']) {
      assert.throws(
        () => parseWindowSettings({ mode: 'tumbling', lateness }),
        (err: unknown) => err instanceof WindowError && err.code === 'INVALID_OPTIONS' && /lateness/.test(err.message),
        lateness,
      );
    }
    assert.equal(parseWindowSettings({ mode: 'tumbling' }).tumbling.latenessMs, 10 * 60_000);
    assert.equal(parseWindowSettings({ mode: 'tumbling', lateness: '30' }).tumbling.latenessMs, 30 * 60_000);
    assert.equal(parseWindowSettings({ mode: 'tumbling', lateness: '0' }).tumbling.latenessMs, 0);
  });
});
