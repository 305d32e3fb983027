/**
 * The iotp-db-write node's settings. The numbers are whole numbers within these ranges, the
 * editor's too (test/package/editor-limits.test.ts compares them). Empty or not a number is the
 * default; out of range (a hand-edited flow) is clamped to the range, so the writer never runs
 * with batches or buffers larger than the editor allows.
 */
import type { ConflictPolicy } from '../db/insert';
import { listSetting } from '../list-setting';

/** `column` or `column = property.path` per line → column → path. */
export function parseColumnMapping(text: string): Record<string, string> {
  const mapping: Record<string, string> = {};
  for (const line of listSetting(text)) {
    const [column, path] = line.split('=').map((s) => s.trim());
    mapping[column] = path || column;
  }
  return mapping;
}

export interface WriterTableSettings {
  columns: Record<string, string>;
  conflict: ConflictPolicy;
  keyColumns: string[];
  updateColumns: string[] | undefined;
}

/** The table side of the node's properties: column mapping and what a conflicting row does. */
export function writerTableSettings(def: {
  columns?: string;
  conflict?: ConflictPolicy | '';
  conflictKeys?: string;
  updateColumns?: string;
}): WriterTableSettings {
  const update = listSetting(def.updateColumns);
  return {
    columns: parseColumnMapping(def.columns ?? ''),
    conflict: def.conflict || 'error',
    keyColumns: listSetting(def.conflictKeys),
    updateColumns: update.length ? update : undefined,
  };
}

export const WRITER_LIMITS = {
  batchSize: { min: 1, max: 10_000, default: 500, integer: true },
  /** Milliseconds a row may wait for its batch to fill. */
  maxLatency: { min: 1, max: 60_000, default: 50, integer: true },
  maxBuffered: { min: 1, default: 10_000, integer: true },
  /** Parallel batches; 1 keeps commit order equal to arrival order. */
  maxInFlight: { min: 1, max: 16, default: 2, integer: true },
} as const;

export interface WriterNumbers {
  batchSize: number;
  maxLatencyMs: number;
  maxBufferedRows: number;
  maxInFlight: number;
}

interface Limit {
  min: number;
  max?: number;
  default: number;
}

function wholeNumber(value: unknown, limit: Limit): number {
  const n = Math.floor(Number(value));
  if (value === '' || value === null || !Number.isFinite(n) || n <= 0) return limit.default;
  return Math.min(limit.max ?? Number.MAX_SAFE_INTEGER, Math.max(limit.min, n));
}

export function writerNumbers(def: {
  batchSize?: unknown;
  maxLatency?: unknown;
  maxBuffered?: unknown;
  maxInFlight?: unknown;
}): WriterNumbers {
  return {
    batchSize: wholeNumber(def.batchSize, WRITER_LIMITS.batchSize),
    maxLatencyMs: wholeNumber(def.maxLatency, WRITER_LIMITS.maxLatency),
    maxBufferedRows: wholeNumber(def.maxBuffered, WRITER_LIMITS.maxBuffered),
    maxInFlight: wholeNumber(def.maxInFlight, WRITER_LIMITS.maxInFlight),
  };
}
