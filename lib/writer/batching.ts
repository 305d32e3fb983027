/**
 * Batching: what leaves the queue next, in queue order. A batch waiting for retry first; then
 * fresh rows from memory once enough wait (batchSize), the oldest has waited maxLatencyMs, or
 * something is behind them; then rows read back from the journal, cut at each spilled run's end so
 * a batch carries its run's commit token.
 */
import type { Batch, PendingCommit } from './batch-executor';
import type { Entry } from './delivery';
import type { Journal } from './journal';
import type { JournalSpill } from './journal-spill';
import { estimateBytes } from './mapping';
import type { MemoryQueue } from './memory-queue';

export interface BatchingSettings {
  batchSize: number;
  maxLatencyMs: number;
  /** Also send what waits as soon as no batch is running. */
  flushWhenIdle: boolean;
  /** Bytes a replay read takes from the journal at once. */
  maxReadBytes: number;
}

/** What batching asks of the writer. */
export interface BatchingHost {
  closing(): boolean;
  /** Batches running now. */
  inFlight(): number;
  /** The next memory batch is due at `at` (epoch ms; 0: none waits for the latency timer). */
  batchDueAt(at: number): void;
}

export class BatchMaker {
  private nextSeq = 1;

  constructor(
    private readonly settings: BatchingSettings,
    private readonly queue: MemoryQueue,
    /** Batches waiting for retry, by batch number. */
    private readonly retryQueue: Batch[],
    private readonly journal: Journal | null,
    private readonly spill: JournalSpill,
    private readonly counters: { replayed: number },
    private readonly writer: BatchingHost,
  ) {}

  takeBatch(now: number): Batch | null {
    if (this.retryQueue.length > 0) return this.retryQueue.shift() as Batch;
    if (this.queue.waiting.length > 0) {
      const oldest = (this.queue.waiting.peek() as Entry).at;
      const ready =
        this.queue.waiting.length >= this.settings.batchSize ||
        now - oldest >= this.settings.maxLatencyMs ||
        this.writer.closing() ||
        (this.settings.flushWhenIdle && this.writer.inFlight() === 0) ||
        this.queue.overflow.length > 0 ||
        (this.journal?.hasUnread() ?? false);
      if (!ready) {
        this.writer.batchDueAt(oldest + this.settings.maxLatencyMs);
        return null;
      }
      const entries: Entry[] = [];
      let bytes = 0;
      while (entries.length < this.settings.batchSize && this.queue.waiting.length > 0) {
        const entry = this.queue.waiting.shift() as Entry;
        bytes += entry.bytes;
        entries.push(entry);
      }
      this.queue.release(entries.length, bytes);
      this.writer.batchDueAt(0);
      this.spill.rebalance();
      return { seq: this.nextSeq++, entries, durable: false, attempts: 0, pending: null };
    }
    if (!this.writer.closing() && this.journal?.hasUnread()) {
      const run = this.spill.runs[0];
      const records = this.journal.read(
        run ? Math.min(this.settings.batchSize, run.rows) : this.settings.batchSize,
        this.settings.maxReadBytes,
      );
      if (records.length === 0) return null; // the next rows are still being made durable
      this.counters.replayed += records.length;
      let pending: PendingCommit | null = null;
      if (run) {
        // A run split over several batches is claimed by each: the first claim decides, the
        // others find either the committed marker or that claim (see commit-markers.ts).
        if (run.token) pending = { token: run.token, rows: records.length };
        run.rows -= records.length;
        if (run.rows <= 0) this.spill.runs.shift();
      }
      const entries = records.map((record): Entry => ({
        values: record.values,
        bytes: estimateBytes(record.values),
        delivery: null,
        index: 0,
        segment: record.segment,
        ordinal: record.ordinal,
        at: now,
        done: false,
      }));
      return { seq: this.nextSeq++, entries, durable: true, attempts: 0, pending };
    }
    return null;
  }
}
