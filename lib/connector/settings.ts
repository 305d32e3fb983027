/**
 * The batch-post node's settings as the editor stores them (strings, often `${ENV}` references
 * that Node-RED has already replaced) turned into validated engine options.
 *
 * Node-RED leaves a `${VAR}` reference in place when VAR is unset, so such a leftover counts as
 * "not set" and the documented default applies (except for the endpoint and the POST key, which
 * have no sensible default). Every problem is a ConnectorError naming the setting, shown in the
 * node status and log, so a misconfigured node says what to fix instead of failing at the first post.
 */
import { isAbsolute, join } from 'node:path';
import { DEFAULT_COLUMNS, type ReadingColumns } from './batches';
import { ConnectorError } from './errors';
import { isOwnEndpoint, ownEndpointUrl } from './own-endpoint';
import { parseEndpoint } from './poster';
import { DEFAULT_READINGS_QUERY } from './query';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry';
import { parseIsoTime } from './time';
import { DEFAULT_MAX_WINDOWS_PER_TICK, DEFAULT_SETTLE_MS, intervalMsFromMinutes } from './windows';

/** What the editor stores (any property may be missing in a hand-written flow). */
export interface BatchPostNodeSettings {
  query?: unknown;
  sensorColumn?: unknown;
  timestampColumn?: unknown;
  valueColumn?: unknown;
  maxRows?: unknown;
  endpoint?: unknown;
  batchSize?: unknown;
  schedule?: unknown;
  interval?: unknown;
  settle?: unknown;
  waitForArrivals?: unknown;
  maxWindowsPerTick?: unknown;
  startFrom?: unknown;
  sendEmpty?: unknown;
  maxAttempts?: unknown;
  maxRetrySeconds?: unknown;
  timeout?: unknown;
  outboxDir?: unknown;
  outboxMaxBatches?: unknown;
  outboxMaxMegabytes?: unknown;
}

export interface BatchPostConfig {
  query: string;
  columns: ReadingColumns;
  /** Rows one window may hold; more is an error (shorten the interval), never a silent cut. */
  maxRows: number;
  /** Absolute URL (a path setting already resolved against this Node-RED's HTTP-in root). */
  endpoint: string;
  /** None for this Node-RED's own endpoint given without a key: no Authorization header then. */
  apiKey: string | undefined;
  batchSize: number;
  /** Schedule mode on (a bookmark in the database and a timer); request mode always works. */
  schedule: boolean;
  intervalMs: number;
  settleMs: number;
  /** Windows wait for rows this Node-RED's writers and MQTT ingests still hold (lib/arrivals.ts). */
  waitForArrivals: boolean;
  maxWindowsPerTick: number;
  initialStart?: number;
  sendEmptyWindows: boolean;
  retry: RetryPolicy;
  timeoutMs: number;
  outboxDir: string;
  outboxMaxBatches: number;
  outboxMaxBytes: number;
}

export const DEFAULT_BATCH_SIZE = 30;
export const DEFAULT_INTERVAL_MINUTES = 1;
export const DEFAULT_MAX_ROWS = 100_000;
export const DEFAULT_TIMEOUT_SECONDS = 30;
export const DEFAULT_OUTBOX_MAX_BATCHES = 10_000;
export const DEFAULT_OUTBOX_MAX_MEGABYTES = 64;

/**
 * The numeric settings' ranges and defaults, the editor's too (test/package/editor-limits.test.ts
 * compares them). A value outside its range is refused with the setting's name.
 */
export const BATCH_POST_LIMITS = {
  maxRows: { min: 1, max: 10_000_000, default: DEFAULT_MAX_ROWS, integer: true },
  batchSize: { min: 1, max: 100_000, default: DEFAULT_BATCH_SIZE, integer: true },
  /** Minutes: one second to 31 days. */
  interval: { min: 1 / 60, max: 44_640, default: DEFAULT_INTERVAL_MINUTES, integer: false },
  /** Seconds. */
  settle: { min: 0, max: 86_400, default: DEFAULT_SETTLE_MS / 1000, integer: false },
  maxWindowsPerTick: { min: 1, max: 10_000, default: DEFAULT_MAX_WINDOWS_PER_TICK, integer: true },
  maxAttempts: { min: 1, max: 100, default: DEFAULT_RETRY_POLICY.maxAttempts, integer: true },
  /** Seconds. */
  maxRetrySeconds: { min: 0, max: 86_400, default: DEFAULT_RETRY_POLICY.maxElapsedMs / 1000, integer: false },
  /** Seconds. */
  timeout: { min: 0.1, max: 3600, default: DEFAULT_TIMEOUT_SECONDS, integer: false },
  outboxMaxBatches: { min: 1, max: 10_000_000, default: DEFAULT_OUTBOX_MAX_BATCHES, integer: true },
  outboxMaxMegabytes: { min: 1, max: 100_000, default: DEFAULT_OUTBOX_MAX_MEGABYTES, integer: false },
} as const;

const UNRESOLVED_ENV = /^\$\{[^}]*\}$/;

/** The text of a setting, or undefined when it is empty or an unresolved `${VAR}`. */
export function settingText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  // Node settings are text, numbers or booleans; anything else (an object from a hand-edited or
  // hostile flow, whose toString may even throw) is refused as a setting, not stringified.
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
    throw new ConnectorError(
      'INVALID_OPTION',
      `a setting must be text or a number, got ${Array.isArray(value) ? 'an array' : typeof value}`,
    );
  }
  const text = String(value).trim();
  if (text === '' || UNRESOLVED_ENV.test(text)) return undefined;
  return text;
}

function invalid(label: string, expected: string, value: string): ConnectorError {
  const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
  return new ConnectorError('INVALID_OPTION', `${label} must be ${expected}, got "${shown}"`);
}

function numberSetting(
  value: unknown,
  label: string,
  { min, max, default: fallback, integer }: { min: number; max: number; default: number; integer: boolean },
): number {
  const text = settingText(value);
  if (text === undefined) return fallback;
  const n = Number(text);
  const expected = `${integer ? 'an integer' : 'a number'} from ${min} to ${max}`;
  if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) throw invalid(label, expected, text);
  return n;
}

function booleanSetting(value: unknown, fallback: boolean): boolean {
  if (typeof value === 'boolean') return value;
  const text = settingText(value);
  if (text === undefined) return fallback;
  return /^(1|true|yes|on)$/i.test(text);
}

const COLUMN_NAME = /^[^\s]{1,64}$/;

function columnSetting(value: unknown, label: string, fallback: string): string {
  const text = settingText(value);
  if (text === undefined) return fallback;
  if (!COLUMN_NAME.test(text)) throw invalid(label, 'a result column name (1-64 characters, no spaces)', text);
  return text;
}

/** POST_DATA_API_KEY as sent in `Authorization: Bearer`; the same rule as the poster's. */
const SAFE_KEY = /^[\x21-\x7e]{1,255}$/;

/**
 * Validates the node's settings. `apiKey` is the POST key credential; `nodeId` names the default
 * outbox directory `<userDir>/iot-pipelines/outbox/<node id>`.
 */
export function resolveBatchPostConfig(
  settings: BatchPostNodeSettings,
  apiKey: unknown,
  context: {
    userDir: string;
    nodeId: string;
    /** Base URL of this Node-RED's HTTP-in endpoints (own-endpoint.ts), for a path endpoint. */ httpNodeBaseUrl?: string;
  },
): BatchPostConfig {
  const given = settingText(settings.endpoint);
  if (given === undefined)
    throw new ConnectorError('INVALID_ENDPOINT', 'no endpoint: set POST_DATA_ENDPOINT or the node\u2019s endpoint URL');
  // A path is this Node-RED's own endpoint (the example's simulated receiver): it needs no key.
  const own = isOwnEndpoint(given);
  if (own && context.httpNodeBaseUrl === undefined) {
    throw new ConnectorError(
      'INVALID_ENDPOINT',
      `the endpoint ${given} is a path on this Node-RED, whose HTTP endpoints are disabled (httpNodeRoot); set a full URL`,
    );
  }
  const endpoint = own ? ownEndpointUrl(given, context.httpNodeBaseUrl!) : given;
  parseEndpoint(endpoint);
  const key = settingText(apiKey);
  if (key === undefined && !own)
    throw new ConnectorError('INVALID_OPTION', 'no POST key: set POST_DATA_API_KEY or the node\u2019s POST key');
  if (key !== undefined && !SAFE_KEY.test(key))
    throw new ConnectorError('INVALID_OPTION', 'the POST key must be 1-255 printable ASCII characters without spaces');

  const intervalText = settingText(settings.interval);
  let intervalMs: number;
  try {
    intervalMs = intervalMsFromMinutes(intervalText ?? DEFAULT_INTERVAL_MINUTES);
  } catch {
    throw invalid('FETCH_DATA_INTERVAL (minutes)', 'a number of minutes >= 1/60', intervalText ?? '');
  }
  if (intervalMs > BATCH_POST_LIMITS.interval.max * 60_000)
    throw invalid('FETCH_DATA_INTERVAL (minutes)', 'at most 31 days', intervalText ?? '');

  const startText = settingText(settings.startFrom);
  let initialStart: number | undefined;
  if (startText !== undefined) {
    try {
      initialStart = parseIsoTime(startText, 'start from').ms;
    } catch {
      throw invalid('start from', 'an ISO 8601 time such as 2021-07-01T12:00:00', startText);
    }
  }

  const outboxText = settingText(settings.outboxDir);
  const outboxDir =
    outboxText === undefined
      ? join(context.userDir, 'iot-pipelines', 'outbox', context.nodeId.replace(/[^A-Za-z0-9_.-]/g, '_'))
      : isAbsolute(outboxText)
        ? outboxText
        : join(context.userDir, outboxText);

  const maxAttempts = numberSetting(settings.maxAttempts, 'attempts per batch', BATCH_POST_LIMITS.maxAttempts);
  const maxRetrySeconds = numberSetting(settings.maxRetrySeconds, 'retry for at most (s)', BATCH_POST_LIMITS.maxRetrySeconds);

  return {
    query: settingText(settings.query) ?? DEFAULT_READINGS_QUERY,
    columns: {
      sensor: columnSetting(settings.sensorColumn, 'sensor column', DEFAULT_COLUMNS.sensor),
      timestamp: columnSetting(settings.timestampColumn, 'timestamp column', DEFAULT_COLUMNS.timestamp),
      value: columnSetting(settings.valueColumn, 'value column', DEFAULT_COLUMNS.value),
    },
    maxRows: numberSetting(settings.maxRows, 'row limit per window', BATCH_POST_LIMITS.maxRows),
    endpoint,
    apiKey: key,
    batchSize: numberSetting(settings.batchSize, 'BATCH_SIZE', BATCH_POST_LIMITS.batchSize),
    schedule: booleanSetting(settings.schedule, true),
    intervalMs,
    settleMs: numberSetting(settings.settle, 'settle delay (s)', BATCH_POST_LIMITS.settle) * 1000,
    waitForArrivals: booleanSetting(settings.waitForArrivals, true),
    maxWindowsPerTick: numberSetting(settings.maxWindowsPerTick, 'windows per tick', BATCH_POST_LIMITS.maxWindowsPerTick),
    ...(initialStart !== undefined ? { initialStart } : {}),
    sendEmptyWindows: booleanSetting(settings.sendEmpty, true),
    retry: { ...DEFAULT_RETRY_POLICY, maxAttempts, maxElapsedMs: maxRetrySeconds * 1000 },
    timeoutMs: numberSetting(settings.timeout, 'timeout (s)', BATCH_POST_LIMITS.timeout) * 1000,
    outboxDir,
    outboxMaxBatches: numberSetting(settings.outboxMaxBatches, 'outbox batches', BATCH_POST_LIMITS.outboxMaxBatches),
    outboxMaxBytes: Math.round(
      numberSetting(settings.outboxMaxMegabytes, 'outbox size (MB)', BATCH_POST_LIMITS.outboxMaxMegabytes) * 1024 * 1024,
    ),
  };
}

/** A failed or skipped tick is tried again after at most this long (the engine's retries already ran). */
export const RETRY_TICK_MS = 60_000;

/** While windows wait for rows still arriving (a writer's backlog, an ingest catching up), the schedule looks again this often. */
export const HELD_RECHECK_MS = 5_000;

/**
 * When the schedule timer should fire next: at once while catch-up windows remain (and the last
 * tick made progress), else when the next window becomes due (its end plus the settle delay);
 * after a failed or skipped tick no later than RETRY_TICK_MS, and no sooner than a second, so a
 * long interval does not leave a failed window waiting for hours and a broken database cannot
 * spin the loop; while due windows wait for rows still arriving, every HELD_RECHECK_MS.
 */
export function nextTickDelay(
  now: number,
  intervalMs: number,
  settleMs: number,
  lastTick: { backlog: number; failed: number; skipped?: string; held?: number },
): number {
  if (lastTick.backlog > 0 && lastTick.failed === 0 && lastTick.skipped === undefined) return 0;
  const horizon = now - settleMs;
  const nextEnd = horizon - (((horizon % intervalMs) + intervalMs) % intervalMs) + intervalMs;
  const untilDue = nextEnd + settleMs - now;
  if (lastTick.failed > 0 || lastTick.skipped !== undefined) return Math.max(1000, Math.min(untilDue, RETRY_TICK_MS));
  if ((lastTick.held ?? 0) > 0) return Math.min(untilDue, HELD_RECHECK_MS);
  return untilDue;
}
