/**
 * Delivery bookkeeping: what the writer owes each caller of RowWriter.write. A delivery counts its
 * rows down as they settle (committed, journaled, rejected, dropped, failed) and is answered
 * exactly once, always asynchronously, when the last one settles.
 */
import type { SqlValue } from '../db/types';
import type { Journal, Segment } from './journal';
import type { JournalPosition } from './journal-positions';
import { describeError } from './errors';

export interface RejectedRow {
  /** The row as mapped to columns (column → value), or the original input when it could not be mapped. */
  row: unknown;
  /** Position of the row in its delivery. */
  index: number;
  reason: string;
  code?: string;
}

export interface DeliveryResult {
  committed: number;
  journaled: number;
  rejected: RejectedRow[];
  /** Rows dropped by the `drop-oldest` policy, refused by `reject-new`, or failed by a fatal error. */
  dropped: number;
  failed: number;
}

/** Called exactly once per delivery. `err` is set when a row was dropped, refused, or failed fatally. */
export type DeliveryCallback = (err: Error | null, result: DeliveryResult) => void;

export class Delivery {
  remaining: number;
  position: JournalPosition | undefined;
  committed = 0;
  journaled = 0;
  dropped = 0;
  failed = 0;
  rejected: RejectedRow[] = [];
  error: Error | null = null;
  constructor(
    readonly callback: DeliveryCallback,
    rows: number,
  ) {
    this.remaining = rows;
  }
}

/** One row waiting to be written. */
export interface Entry {
  values: SqlValue[];
  bytes: number;
  /** null: a row read back from the journal (its delivery was already answered). */
  delivery: Delivery | null;
  index: number;
  segment: Segment | null;
  /** Row position within `segment`. */
  ordinal: number;
  at: number;
  done: boolean;
}

/** Answers a delivery, always asynchronously, and never lets a throwing callback reach the engine. */
export function finish(delivery: Delivery, warn: (message: string) => void): void {
  delivery.remaining = -1; // answered: no second call
  const result: DeliveryResult = {
    committed: delivery.committed,
    journaled: delivery.journaled,
    rejected: delivery.rejected,
    dropped: delivery.dropped,
    failed: delivery.failed,
  };
  process.nextTick(() => {
    try {
      delivery.callback(delivery.error, result);
    } catch (err) {
      warn(`a delivery callback threw: ${describeError(err).message}`);
    }
  });
}

export function finishIfDone(delivery: Delivery, warn: (message: string) => void): void {
  if (delivery.remaining === 0) finish(delivery, warn);
}

/** Settles a row as failed: its delivery is answered with the first such error. */
export function settleFailed(entry: Entry, error: Error | unknown, warn: (message: string) => void): void {
  if (entry.done) return;
  entry.done = true;
  const delivery = entry.delivery;
  if (!delivery) return;
  delivery.failed++;
  delivery.error ??= error instanceof Error ? error : new Error(String(error));
  delivery.remaining--;
  finishIfDone(delivery, warn);
}

/**
 * Settles entries[lo, hi) as committed: a fresh row counts for its delivery, a row read back from
 * the journal is settled there. Returns how many were not settled before.
 */
export function settleCommitted(
  entries: Entry[],
  lo: number,
  hi: number,
  journal: Journal | null,
  warn: (message: string) => void,
): number {
  let committed = 0;
  for (let i = lo; i < hi; i++) {
    const entry = entries[i];
    if (entry.done) continue;
    entry.done = true;
    committed++;
    if (entry.delivery) {
      entry.delivery.committed++;
      entry.delivery.remaining--;
      finishIfDone(entry.delivery, warn);
    } else if (entry.segment) {
      journal?.settle(entry.segment, entry.ordinal);
    }
  }
  return committed;
}

/**
 * Settles a row the database refused on its own: reported in its delivery's result, or, for a row
 * read back from the journal (whose delivery was answered long ago), warned about and settled
 * there.
 */
export function settleRejected(
  entry: Entry,
  err: unknown,
  columns: readonly string[],
  journal: Journal | null,
  warn: (message: string) => void,
): void {
  if (entry.done) return;
  entry.done = true;
  const { message, code } = describeError(err);
  const row: Record<string, SqlValue> = {};
  columns.forEach((column, c) => {
    row[column] = entry.values[c];
  });
  if (entry.delivery) {
    entry.delivery.rejected.push(
      code === undefined ? { row, index: entry.index, reason: message } : { row, index: entry.index, reason: message, code },
    );
    entry.delivery.remaining--;
    finishIfDone(entry.delivery, warn);
  } else {
    warn(
      `a row replayed from the journal was rejected by the database (${message}): ${JSON.stringify(row, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`,
    );
    if (entry.segment) journal?.settle(entry.segment, entry.ordinal);
  }
}
