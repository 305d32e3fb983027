/**
 * Turns database rows into the contract's POST bodies.
 *
 * Rows come from a user-editable SQL query, so column names are configurable and every row is
 * checked: a row that cannot be sent (no sensor, unparseable timestamp, a timestamp outside the
 * window, a non-finite value) is reported as rejected instead of blocking the whole window forever
 * or being sent twice. A window's readings are cut into requests of at most BATCH_SIZE readings
 * (the original ignored BATCH_SIZE and sent a whole window in one request); every request carries
 * the same `start_time`/`end_time` envelope and a deterministic id used as `Idempotency-Key`, so a
 * resend after a crash is recognisable by the receiver.
 */
import { createHash } from 'node:crypto';
import { ConnectorError, positiveNumber } from './errors';
import { formatUtc, parseIsoTime } from './time';
import type { TimeWindow } from './windows';

export type ReadingValue = number | string | boolean | null;

export interface Reading {
  sensor: string;
  /** Epoch ms UTC, for ordering and window checks. */
  ms: number;
  /** Contract rendering: `2021-07-01T12:00:00` (UTC, no offset, fractional seconds kept). */
  timestamp: string;
  value: ReadingValue;
}

export interface ReadingColumns {
  sensor: string;
  timestamp: string;
  value: string;
}

export const DEFAULT_COLUMNS: Readonly<ReadingColumns> = Object.freeze({ sensor: 'sensor', timestamp: 'timestamp', value: 'value' });

export interface RejectedRow {
  /** Position of the row in the query result. */
  index: number;
  reason: string;
}

export interface NormalizedRows {
  readings: Reading[];
  rejected: RejectedRow[];
}

const MAX_SENSOR_LENGTH = 255;
const NUMERIC_STRING = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function toSensor(raw: unknown): string {
  if (typeof raw === 'number' && Number.isFinite(raw)) return String(raw);
  if (typeof raw !== 'string' || raw.length === 0) throw new Error('sensor is missing or not a string');
  if (raw.length > MAX_SENSOR_LENGTH) throw new Error(`sensor is longer than ${MAX_SENSOR_LENGTH} characters`);
  return raw;
}

/**
 * Sub-second digits as sent: trailing zeros dropped, at least milliseconds when there is a fraction
 * (`.000000` → none, `.500000` → `.500`, `.123456` kept). A fixed-width text column then renders
 * exactly like a DATETIME read as a Date, so the body does not depend on the database.
 */
function contractFraction(fraction: string): string {
  const significant = fraction.replace(/0+$/, '');
  return significant === '' ? '' : significant.padEnd(3, '0');
}

function toTime(raw: unknown): { ms: number; timestamp: string } {
  if (raw instanceof Date) {
    const ms = raw.getTime();
    if (Number.isNaN(ms)) throw new Error('timestamp is an invalid date');
    return { ms, timestamp: formatUtc(ms) };
  }
  if (typeof raw === 'number' || typeof raw === 'bigint') {
    // Epoch milliseconds (e.g. an INTEGER column in SQLite).
    const ms = Number(raw);
    if (!Number.isSafeInteger(ms)) throw new Error('timestamp is not an integer epoch-ms time');
    return { ms, timestamp: formatUtc(ms) };
  }
  if (typeof raw === 'string') {
    const parsed = parseIsoTime(raw, 'timestamp');
    return { ms: parsed.ms, timestamp: formatUtc(parsed.ms, contractFraction(parsed.fraction)) };
  }
  throw new Error('timestamp is missing');
}

function toValue(raw: unknown): ReadingValue {
  if (raw === null || typeof raw === 'boolean') return raw;
  if (typeof raw === 'number') {
    if (!Number.isFinite(raw)) throw new Error('value is not a finite number');
    return raw;
  }
  if (typeof raw === 'bigint') return Number.isSafeInteger(Number(raw)) ? Number(raw) : raw.toString();
  if (typeof raw === 'string') {
    // DECIMAL columns arrive as strings from mysql2; send them as the numbers they are.
    if (NUMERIC_STRING.test(raw)) {
      const n = Number(raw);
      if (Number.isFinite(n)) return n;
    }
    return raw;
  }
  throw new Error('value is not a number, string, boolean or null');
}

/**
 * Maps query rows to readings. Rows whose timestamp is outside `window` (a query with inclusive
 * bounds, say) are rejected, so no reading is ever delivered in two windows.
 */
export function normalizeRows(
  rows: readonly Record<string, unknown>[],
  columns: ReadingColumns = DEFAULT_COLUMNS,
  window?: TimeWindow,
): NormalizedRows {
  const readings: Reading[] = [];
  const rejected: RejectedRow[] = [];
  for (let index = 0; index < rows.length; index++) {
    const row = rows[index];
    try {
      if (row === null || typeof row !== 'object') throw new Error('row is not an object');
      const sensor = toSensor(row[columns.sensor]);
      const { ms, timestamp } = toTime(row[columns.timestamp]);
      if (window && (ms < window.start || ms >= window.end)) throw new Error('timestamp is outside the window [start_time, end_time)');
      readings.push({ sensor, ms, timestamp, value: toValue(row[columns.value]) });
    } catch (err) {
      rejected.push({ index, reason: err instanceof Error ? err.message : String(err) });
    }
  }
  return { readings, rejected };
}

export interface Batch {
  /** Deterministic: envelope start/end + batch index + content hash. Sent as `Idempotency-Key`. */
  id: string;
  /** Position within its window (0-based). */
  index: number;
  /** The envelope's window (the same for every batch of a window). */
  window: TimeWindow;
  readingCount: number;
  /** The exact JSON body that is posted. */
  body: string;
}

function compactUtc(ms: number): string {
  return `${formatUtc(ms).replace(/[-:]/g, '')}Z`;
}

export function batchId(window: TimeWindow, index: number, body: string): string {
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 16);
  return `${compactUtc(window.start)}-${compactUtc(window.end)}-${index}-${hash}`;
}

function byTimeThenSensor(a: Reading, b: Reading): number {
  return a.ms - b.ms || (a.sensor < b.sensor ? -1 : a.sensor > b.sensor ? 1 : 0);
}

/**
 * Cuts readings into bodies of at most `batchSize` readings:
 * `{"start_time", "end_time", "data": {"<sensor>": [{"timestamp", "value"}, ...]}}`.
 * Readings are ordered by time then sensor, so the same rows always give the same bodies and ids.
 * No readings → one body with empty `data` when `sendEmpty` (the receiver learns the window is
 * empty, as the original did), else no batch at all.
 */
export function buildBatches(
  window: TimeWindow,
  readings: readonly Reading[],
  batchSize: number,
  { sendEmpty = true, firstIndex = 0 } = {},
): Batch[] {
  positiveNumber('BATCH_SIZE', batchSize, { integer: true, min: 1 });
  if (!(window.start < window.end)) throw new ConnectorError('INVALID_WINDOW', 'window start must be before its end');
  const sorted = [...readings].sort(byTimeThenSensor);
  const startTime = formatUtc(window.start);
  const endTime = formatUtc(window.end);
  const batches: Batch[] = [];
  const emit = (chunk: readonly Reading[]): void => {
    // A null-prototype object: a sensor called "__proto__" becomes a key, not a prototype change.
    const data: Record<string, { timestamp: string; value: ReadingValue }[]> = Object.create(null);
    for (const reading of chunk) {
      const list = data[reading.sensor] ?? (data[reading.sensor] = []);
      list.push({ timestamp: reading.timestamp, value: reading.value });
    }
    const body = JSON.stringify({ start_time: startTime, end_time: endTime, data });
    const index = firstIndex + batches.length;
    batches.push({
      id: batchId(window, index, body),
      index,
      window: { start: window.start, end: window.end },
      readingCount: chunk.length,
      body,
    });
  };
  for (let offset = 0; offset < sorted.length; offset += batchSize) emit(sorted.slice(offset, offset + batchSize));
  if (sorted.length === 0 && sendEmpty) emit([]);
  return batches;
}
