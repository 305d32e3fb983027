import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  alignDown,
  backlogSize,
  dueWindows,
  intervalMsFromMinutes,
  parseRequestWindow,
  splitWindow,
  type SchedulePlanOptions,
} from '../../../lib/connector/windows';
import { formatUtc, parseIsoTime } from '../../../lib/connector/time';
import { ConnectorError } from '../../../lib/connector/errors';

const MIN = 60_000;
const T = (iso: string): number => Date.parse(`${iso}Z`);
const plan = (over: Partial<SchedulePlanOptions> = {}): SchedulePlanOptions => ({
  intervalMs: 5 * MIN,
  settleMs: 30_000,
  maxWindowsPerTick: 10,
  ...over,
});
const iso = (w: { start: number; end: number }): string => `${formatUtc(w.start)}/${formatUtc(w.end)}`;

describe('connector windows: schedule planning', () => {
  it('starts, without a bookmark, at the last complete aligned window', () => {
    const windows = dueWindows(null, T('2021-07-01T12:07:10'), plan());
    assert.deepEqual(windows.map(iso), ['2021-07-01T12:00:00/2021-07-01T12:05:00']);
  });

  it('returns the next window after the bookmark only once its end is settle-delay old', () => {
    const bookmark = T('2021-07-01T12:05:00');
    assert.deepEqual(dueWindows(bookmark, T('2021-07-01T12:10:29'), plan()), []);
    assert.deepEqual(dueWindows(bookmark, T('2021-07-01T12:10:30'), plan()).map(iso), ['2021-07-01T12:05:00/2021-07-01T12:10:00']);
  });

  it('holds back windows that rows still on their way in (held since a time) may belong to', () => {
    const bookmark = T('2021-07-01T12:00:00');
    const now = T('2021-07-01T12:30:45');
    assert.equal(dueWindows(bookmark, now, plan()).length, 6);
    // A writer has held rows since 12:16:10: windows are due up to a settle delay before that.
    const held = T('2021-07-01T12:16:10');
    assert.deepEqual(dueWindows(bookmark, now, plan(), held).map(iso), [
      '2021-07-01T12:00:00/2021-07-01T12:05:00',
      '2021-07-01T12:05:00/2021-07-01T12:10:00',
      '2021-07-01T12:10:00/2021-07-01T12:15:00',
    ]);
    assert.equal(backlogSize(bookmark, now, plan(), held), 3);
    assert.deepEqual(
      dueWindows(bookmark, now, plan(), T('2021-07-01T12:15:29')).length,
      2,
      'the 12:15 window needs 30 s of settle after its end',
    );
    assert.deepEqual(dueWindows(bookmark, now, plan(), 0), [], 'held since 0 (unknown): nothing is due');
    assert.equal(backlogSize(bookmark, now, plan(), 0), 0);
    assert.equal(dueWindows(bookmark, now, plan(), now + MIN).length, 6, 'a later held-since time changes nothing');
  });

  it('catches up missed windows in order, bounded per tick, and continues next tick', () => {
    const now = T('2021-07-01T13:00:45');
    const first = dueWindows(T('2021-07-01T12:00:00'), now, plan({ maxWindowsPerTick: 4 }));
    assert.deepEqual(first.map(iso), [
      '2021-07-01T12:00:00/2021-07-01T12:05:00',
      '2021-07-01T12:05:00/2021-07-01T12:10:00',
      '2021-07-01T12:10:00/2021-07-01T12:15:00',
      '2021-07-01T12:15:00/2021-07-01T12:20:00',
    ]);
    assert.equal(backlogSize(T('2021-07-01T12:00:00'), now, plan()), 12);
    const rest = dueWindows(first[3].end, now, plan({ maxWindowsPerTick: 100 }));
    assert.equal(rest.length, 8);
    assert.equal(rest[7].end, T('2021-07-01T13:00:00'));
  });

  it('never returns a window that ends in the future, even with no settle delay', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4e12 }),
        fc.integer({ min: 0, max: 1e9 }),
        fc.integer({ min: 1, max: 120 }),
        fc.integer({ min: 0, max: 120_000 }),
        (now, lag, minutes, settle) => {
          const options = plan({ intervalMs: minutes * MIN, settleMs: settle, maxWindowsPerTick: 50 });
          const windows = dueWindows(alignDown(now - lag, minutes * MIN), now, options);
          let previous: number | undefined;
          for (const w of windows) {
            assert.ok(w.end <= now - settle);
            assert.ok(w.start < w.end);
            assert.equal(alignDown(w.end, minutes * MIN), w.end, 'ends are aligned');
            if (previous !== undefined) assert.equal(w.start, previous, 'contiguous, no gap, no overlap');
            previous = w.end;
          }
        },
      ),
    );
  });

  it('aligns a custom initial time: one short window to the next boundary, then whole ones', () => {
    const windows = dueWindows(null, T('2021-07-01T12:20:00'), plan({ initialStart: T('2021-07-01T12:07:00') }));
    assert.deepEqual(windows.map(iso), ['2021-07-01T12:07:00/2021-07-01T12:10:00', '2021-07-01T12:10:00/2021-07-01T12:15:00']);
  });

  it('aligns times before 1970 too, and refuses bad options with a code', () => {
    assert.equal(alignDown(-1, 1000), -1000);
    assert.equal(alignDown(-1000, 1000), -1000);
    assert.throws(
      () => dueWindows(null, 0, plan({ intervalMs: 0 })),
      (e: unknown) => e instanceof ConnectorError && e.code === 'INVALID_OPTION',
    );
    assert.throws(() => dueWindows(null, 0, plan({ maxWindowsPerTick: 0 })), /maxWindowsPerTick/);
    assert.throws(() => intervalMsFromMinutes('abc'), /FETCH_DATA_INTERVAL/);
    assert.equal(intervalMsFromMinutes('1'), MIN);
    assert.equal(intervalMsFromMinutes(0.5), 30_000);
  });
});

describe('connector windows: request validation', () => {
  const code = (c: string) => (e: unknown) => e instanceof ConnectorError && e.code === c;

  it('reads naive ISO times as UTC and honours offsets', () => {
    assert.deepEqual(parseRequestWindow('2021-07-01T12:00:00', '2021-07-01T12:30:00'), {
      start: T('2021-07-01T12:00:00'),
      end: T('2021-07-01T12:30:00'),
    });
    assert.deepEqual(parseRequestWindow('2021-07-01T14:00:00+02:00', '2021-07-01 12:30:00Z'), {
      start: T('2021-07-01T12:00:00'),
      end: T('2021-07-01T12:30:00'),
    });
    assert.deepEqual(parseRequestWindow('2021-07-01', '2021-07-02'), { start: T('2021-07-01T00:00:00'), end: T('2021-07-02T00:00:00') });
    assert.equal(parseRequestWindow('2021-07-01T12:00:00.250', '2021-07-01T12:00:01').start, T('2021-07-01T12:00:00.250'));
  });

  it('refuses bad times, reversed or empty windows, too long spans and future ends, each with a reason', () => {
    assert.throws(() => parseRequestWindow('yesterday', '2021-07-01T12:00:00'), code('INVALID_TIME'));
    assert.throws(() => parseRequestWindow(12, '2021-07-01T12:00:00'), code('INVALID_TIME'));
    assert.throws(() => parseRequestWindow('2021-02-29T00:00:00', '2021-03-01T00:00:00'), /no such calendar date/);
    assert.throws(() => parseRequestWindow('2021-07-01T24:00:00', '2021-07-02T01:00:00'), /out-of-range time/);
    assert.throws(() => parseRequestWindow('2021-07-01T12:00:00+25:00', '2021-07-02T01:00:00'), /offset/);
    assert.throws(() => parseRequestWindow('2021-07-01T12:00:00.0000001', '2021-07-02T01:00:00'), /sub-millisecond/);
    assert.throws(() => parseRequestWindow('2021-07-01T12:00:00', '2021-07-01T12:00:00'), code('INVALID_WINDOW'));
    assert.throws(() => parseRequestWindow('2021-07-02T00:00:00', '2021-07-01T00:00:00'), code('INVALID_WINDOW'));
    assert.throws(() => parseRequestWindow('2021-07-01', '2021-07-09'), code('WINDOW_TOO_LONG'));
    assert.doesNotThrow(() => parseRequestWindow('2021-07-01', '2021-07-08'));
    assert.throws(() => parseRequestWindow('2021-07-01', '2021-07-03', { maxSpanMs: 86_400_000 }), /at most 1 day/);
    assert.throws(() => parseRequestWindow('2021-07-01', '2021-07-02', { now: T('2021-07-01T18:00:00') }), code('WINDOW_IN_FUTURE'));
    assert.throws(() => parseRequestWindow('9'.repeat(10_000), '2021-07-02'), /too long/);
  });

  it('never throws anything but a ConnectorError on arbitrary input', () => {
    fc.assert(
      fc.property(fc.anything(), fc.anything(), (a, b) => {
        try {
          parseRequestWindow(a, b);
        } catch (err) {
          assert.ok(err instanceof ConnectorError, String(err));
        }
      }),
    );
  });

  it('parses and renders round-trip for every valid time', () => {
    fc.assert(
      fc.property(fc.integer({ min: T('0001-01-01T00:00:00'), max: T('9999-12-31T23:59:59') }), (ms) => {
        assert.equal(parseIsoTime(formatUtc(ms)).ms, ms);
        assert.equal(
          formatUtc(ms),
          new Date(ms)
            .toISOString()
            .slice(0, ms % 1000 ? 23 : 19)
            .replace(/^\+0*/, ''),
        );
      }),
    );
  });

  it('splits a request span into bounded pieces that tile it exactly', () => {
    const pieces = splitWindow({ start: 0, end: 10 }, 4);
    assert.deepEqual(pieces, [
      { start: 0, end: 4 },
      { start: 4, end: 8 },
      { start: 8, end: 10 },
    ]);
  });
});
