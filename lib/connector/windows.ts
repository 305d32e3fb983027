/**
 * Window arithmetic for schedule and request mode.
 *
 * Windows are half-open UTC intervals [start, end) in epoch ms, so a reading stamped exactly on a
 * boundary belongs to exactly one window (the original used inclusive bounds on both ends and sent
 * boundary rows twice). Schedule windows are aligned to multiples of FETCH_DATA_INTERVAL since the
 * epoch; a window is only due once its end is at least `settleMs` in the past (late rows settle),
 * never a window that ends in the future, and after downtime the missed windows are caught up in
 * order, at most `maxWindowsPerTick` per tick so one tick never runs unbounded.
 */
import { ConnectorError, positiveNumber } from './errors';
import { parseIsoTime } from './time';

export interface TimeWindow {
  /** Inclusive start, epoch ms UTC. */
  start: number;
  /** Exclusive end, epoch ms UTC. */
  end: number;
}

export interface SchedulePlanOptions {
  /** Window length (FETCH_DATA_INTERVAL minutes × 60 000). */
  intervalMs: number;
  /** How long after a window's end it becomes due, so rows written late still land in it. */
  settleMs: number;
  /** Upper bound of windows returned by one call (catch-up is spread over ticks). */
  maxWindowsPerTick: number;
  /** Start of the first window when there is no bookmark yet; default: the last complete aligned window. */
  initialStart?: number;
}

export const DEFAULT_SETTLE_MS = 30_000;
export const DEFAULT_MAX_WINDOWS_PER_TICK = 10;

/** FETCH_DATA_INTERVAL (minutes, as in the original's .env) → milliseconds, validated. */
export function intervalMsFromMinutes(minutes: unknown): number {
  const value = typeof minutes === 'string' && minutes.trim() !== '' ? Number(minutes) : minutes;
  const checked = positiveNumber('FETCH_DATA_INTERVAL', value, { min: 1 / 60 });
  return Math.round(checked * 60_000);
}

/** Largest multiple of `intervalMs` that is <= t (also for times before 1970). */
export function alignDown(t: number, intervalMs: number): number {
  return t - (((t % intervalMs) + intervalMs) % intervalMs);
}

function checkPlanOptions(options: SchedulePlanOptions): void {
  positiveNumber('intervalMs', options.intervalMs, { integer: true, min: 1000 });
  positiveNumber('settleMs', options.settleMs, { min: 0 });
  positiveNumber('maxWindowsPerTick', options.maxWindowsPerTick, { integer: true, min: 1 });
  if (options.initialStart !== undefined && !Number.isFinite(options.initialStart)) {
    throw new ConnectorError('INVALID_OPTION', 'initialStart must be a finite epoch ms time');
  }
}

/** Where the first window starts when nothing has been delivered yet. */
export function firstWindowStart(now: number, options: SchedulePlanOptions): number {
  return options.initialStart ?? alignDown(now, options.intervalMs) - options.intervalMs;
}

/**
 * The windows due after `bookmark` (end of the last delivered window, or null), in order. A bookmark
 * that is not on an interval boundary (a custom initial time) yields one short window up to the next
 * boundary, then aligned windows: no gap, no overlap. `heldSince` (lib/arrivals.ts): rows since
 * then may still be on their way in, so windows are due only up to a settle delay before it.
 */
export function dueWindows(
  bookmark: number | null,
  now: number,
  options: SchedulePlanOptions,
  heldSince: number | null = null,
): TimeWindow[] {
  checkPlanOptions(options);
  const { intervalMs, settleMs, maxWindowsPerTick } = options;
  const horizon = Math.min(now, heldSince ?? now) - settleMs;
  const windows: TimeWindow[] = [];
  let start = bookmark ?? firstWindowStart(now, options);
  while (windows.length < maxWindowsPerTick) {
    const end = alignDown(start, intervalMs) + intervalMs;
    if (end > horizon) break;
    windows.push({ start, end });
    start = end;
  }
  return windows;
}

/** How many complete windows are due in total after `bookmark` (the catch-up backlog, for status); `heldSince` as in dueWindows. */
export function backlogSize(bookmark: number | null, now: number, options: SchedulePlanOptions, heldSince: number | null = null): number {
  checkPlanOptions(options);
  const start = bookmark ?? firstWindowStart(now, options);
  const firstEnd = alignDown(start, options.intervalMs) + options.intervalMs;
  const horizon = Math.min(now, heldSince ?? now) - options.settleMs;
  if (firstEnd > horizon) return 0;
  return 1 + Math.floor((alignDown(horizon, options.intervalMs) - firstEnd) / options.intervalMs);
}

export interface RequestWindowOptions {
  /** Longest accepted span; default 7 days. */
  maxSpanMs?: number;
  /** When given, a window ending after `now` is refused (its data does not exist yet). */
  now?: number;
}

export const DEFAULT_MAX_REQUEST_SPAN_MS = 7 * 86_400_000;

/**
 * Validates a request-mode window from the API body's `start_time`/`end_time`. Throws ConnectorError
 * (INVALID_TIME, INVALID_WINDOW, WINDOW_TOO_LONG, WINDOW_IN_FUTURE) with a reason for the 422 answer.
 */
export function parseRequestWindow(startText: unknown, endText: unknown, options: RequestWindowOptions = {}): TimeWindow {
  const maxSpanMs = options.maxSpanMs ?? DEFAULT_MAX_REQUEST_SPAN_MS;
  const start = parseIsoTime(startText, 'start_time');
  const end = parseIsoTime(endText, 'end_time');
  // Windows are whole milliseconds; silently truncating microseconds could move a boundary row.
  for (const [label, parsed] of [
    ['start_time', start],
    ['end_time', end],
  ] as const) {
    if (/[1-9]/.test(parsed.fraction.slice(3))) {
      throw new ConnectorError('INVALID_TIME', `${label} has sub-millisecond precision, which windows do not support`);
    }
  }
  if (start.ms >= end.ms) throw new ConnectorError('INVALID_WINDOW', 'start_time must be before end_time');
  if (end.ms - start.ms > maxSpanMs) {
    throw new ConnectorError('WINDOW_TOO_LONG', `the window may span at most ${formatSpan(maxSpanMs)}`);
  }
  if (options.now !== undefined && end.ms > options.now) {
    throw new ConnectorError('WINDOW_IN_FUTURE', 'end_time is in the future; its data does not exist yet');
  }
  return { start: start.ms, end: end.ms };
}

function formatSpan(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000} day(s)`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} hour(s)`;
  return `${Math.round(ms / 1000)} s`;
}

/** Splits [start, end) into consecutive pieces of at most `chunkMs` (request mode fetches in pieces to bound memory). */
export function splitWindow(window: TimeWindow, chunkMs: number): TimeWindow[] {
  positiveNumber('chunkMs', chunkMs, { integer: true, min: 1 });
  const pieces: TimeWindow[] = [];
  for (let start = window.start; start < window.end; start += chunkMs) {
    pieces.push({ start, end: Math.min(start + chunkMs, window.end) });
  }
  return pieces;
}
