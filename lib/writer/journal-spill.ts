/**
 * Spilling to the journal: rows move to disk when memory may not hold them (the database down, the
 * journal already holding unread rows), their deliveries answered once fsynced. Keeps the queue
 * order (see row-writer.ts) and, when the journal cannot be written, holds the rows in memory
 * instead of failing them. Owns the journal-side bookkeeping: the spilled runs, when the oldest
 * journaled row was accepted, and the pause after a failed write.
 */
import type { Batch } from './batch-executor';
import { finishIfDone, type Entry } from './delivery';
import type { Journal } from './journal';
import type { MemoryQueue } from './memory-queue';

/** After a failed journal write, rows wait in memory this long before the journal is tried again. */
const JOURNAL_RETRY_MS = 5000;

/**
 * Rows an outage spill moved to the journal, in the order they will be read back; `token` is set
 * for the rows of a batch whose commit a cut left unknown.
 */
export interface JournalRun {
  token: Buffer | null;
  rows: number;
}

/** The writer's counters spilling adds to. */
export interface SpillCounters {
  journaled: number;
  held: number;
}

/** What spilling asks of the writer. */
export interface SpillHost {
  /** close() has begun. */
  closing(): boolean;
  /** The database is down and no batch is in flight: the moment an outage spill may run. */
  downAndIdle(): boolean;
  /** A journal write failed (shown as the writer's lastError). */
  noteError(err: Error): void;
  /** To the end of memory's waiting rows, then pump(). */
  toMemory(entries: Entry[], bytes: number): void;
  pump(): void;
  /** What waited in memory has left: no batch is due on the latency timer. */
  cancelBatchTimer(): void;
  warn(message: string): void;
}

export class JournalSpill {
  /**
   * Runs of rows an outage spill moved from the retry queue to the journal, in the order they
   * will be read back; `token` is set for the rows of a batch whose commit a cut left unknown.
   * Spilled rows are always the next ones read (a spill happens only while no journal row is in
   * flight or waiting for retry, and goes ahead of older unread rows), so a replayed batch is cut
   * at each run's end and carries the run's token. In memory only: a restart before the database
   * answers forgets the tokens (close() tries to resolve them, and warns when it cannot).
   */
  runs: JournalRun[] = [];
  /** When the oldest uncommitted row in the journal was accepted (0: left by an earlier run, time unknown). */
  since: number | null = null;
  /** Until then the journal is not written (a write failed); the next outage spill after it tries again. */
  private brokenUntil = 0;

  constructor(
    private readonly journal: Journal | null,
    private readonly queue: MemoryQueue,
    private readonly counters: SpillCounters,
    private readonly writer: SpillHost,
  ) {
    if (journal && journal.rows > 0) this.since = 0;
  }

  /** Moves rows into the journal; their deliveries count them as journaled once fsynced. Resolves with the error that failed them, if any. */
  toJournal(entries: Entry[], where: 'append' | 'prepend', onFailure: 'front' | 'back' = 'back'): Promise<Error | undefined> {
    const journal = this.journal as Journal;
    let acceptedAt = this.since ?? Infinity;
    for (const entry of entries) if (entry.at < acceptedAt) acceptedAt = entry.at;
    this.since = acceptedAt;
    return new Promise((resolve) => {
      const done = (err?: Error): void => {
        if (err) {
          this.writer.noteError(err);
          // A journal that cannot be written (disk full, directory gone) must not turn accepted
          // rows into failed deliveries: a source acknowledges those, so they would be lost. The
          // rows wait in memory instead (their deliveries unanswered, so an at-least-once source
          // stops taking more) until the database or, after a pause, the journal takes them.
          // The journal has warned; the node shows lastError.
          this.brokenUntil = Date.now() + JOURNAL_RETRY_MS;
          this.holdAfterJournalFailure(
            entries.filter((entry) => !entry.done),
            onFailure,
          );
          resolve(err);
          return;
        }
        for (const entry of entries) {
          if (entry.done) continue;
          entry.done = true;
          this.counters.journaled++;
          if (entry.delivery) {
            entry.delivery.journaled++;
            entry.delivery.remaining--;
            finishIfDone(entry.delivery, this.writer.warn);
          }
        }
        resolve(err);
      };
      const rows = entries.map((entry) => entry.values);
      if (where === 'append') journal.append(rows, done);
      else journal.prepend(rows, done);
    });
  }

  /** False for a while after a journal write failed: rows wait in memory meanwhile. */
  journalUsable(): boolean {
    return this.journal !== null && Date.now() >= this.brokenUntil;
  }

  /**
   * Rows the journal could not take: back in memory, beyond the budget (held, as with the
   * backpressure policy). `front`: they were the oldest rows (spilled from memory and the retry
   * queue), so they go ahead of what memory holds now; `back`: fresh rows, behind everything.
   * While closing they stay unanswered: the writer is going away and the source redelivers.
   */
  private holdAfterJournalFailure(entries: Entry[], where: 'front' | 'back'): void {
    if (entries.length === 0 || this.writer.closing()) return;
    let bytes = 0;
    for (const entry of entries) bytes += entry.bytes;
    this.counters.held += entries.length;
    if (where === 'front') {
      this.queue.prepend(entries, bytes);
      this.writer.pump();
    } else if ((this.journal?.hasUnread() ?? false) || this.queue.overflow.length > 0) {
      this.queue.appendOverflow(entries, bytes);
    } else {
      this.writer.toMemory(entries, bytes);
    }
  }

  /** Overflow rows move on once the journal drains (to memory) or has room again (to its end). */
  rebalance(): void {
    while (this.queue.overflow.length > 0) {
      if (!(this.journal?.hasUnread() ?? false)) {
        while (this.queue.overflow.length > 0) this.queue.waiting.push(this.queue.overflow.shift() as Entry);
        return;
      }
      if (!this.journalUsable()) return;
      const journal = this.journal as Journal;
      const moving: Entry[] = [];
      let bytes = 0;
      for (let next = this.queue.overflow.peek(); next && journal.hasRoom(bytes + next.bytes); next = this.queue.overflow.peek()) {
        moving.push(this.queue.overflow.shift() as Entry);
        bytes += next.bytes;
      }
      if (moving.length === 0) return;
      this.queue.release(moving.length, bytes);
      void this.toJournal(moving, 'append');
    }
  }

  /**
   * During an outage, fresh rows held in memory move to the journal so their callers get their
   * acknowledgements (a source with a bounded in-flight window would otherwise stall). Done only
   * where it keeps the queue order: appended when the journal has nothing unread, prepended
   * (as a segment ahead of the others) when no row read from the journal is still pending.
   */
  spillForOutage(retryQueue: Batch[]): void {
    const journal = this.journal;
    if (!journal || !this.journalUsable() || this.writer.closing() || !this.writer.downAndIdle()) return;
    const retryHasDurable = retryQueue.some((batch) => batch.durable);
    const unread = journal.hasUnread();
    if (unread && retryHasDurable) return;
    const moving: Entry[] = [];
    const runs: JournalRun[] = [];
    const takeRetry = !retryHasDurable;
    if (takeRetry) {
      for (const batch of retryQueue) {
        const live = batch.entries.filter((entry) => !entry.done);
        const pendingRows = batch.pending ? batch.entries.slice(0, batch.pending.rows).filter((entry) => !entry.done).length : 0;
        if (batch.pending) runs.push({ token: batch.pending.token, rows: pendingRows });
        runs.push({ token: null, rows: live.length - pendingRows });
        moving.push(...live);
      }
    }
    const fromMemory = this.queue.waiting.length;
    runs.push({ token: null, rows: fromMemory });
    let bytes = 0;
    for (const entry of moving) bytes += entry.bytes;
    let memoryBytes = 0;
    for (let i = 0; i < fromMemory; i++) {
      const entry = this.queue.waiting.shift() as Entry;
      memoryBytes += entry.bytes;
      moving.push(entry);
    }
    if (moving.length === 0) return;
    if (!journal.hasRoom(bytes + memoryBytes)) {
      // Not enough room: put memory back as it was and keep holding.
      const back = moving.slice(moving.length - fromMemory);
      for (const entry of back) this.queue.waiting.push(entry);
      // memory was emptied above, so pushing restores the original order
      return;
    }
    if (takeRetry) retryQueue.length = 0;
    this.queue.release(fromMemory, memoryBytes);
    this.writer.cancelBatchTimer();
    const tracked = runs.some((run) => run.token) || this.runs.length > 0;
    if (tracked) {
      const kept = runs.filter((run) => run.rows > 0);
      if (unread) this.runs.unshift(...kept);
      else this.runs = kept;
    }
    void this.toJournal(moving, unread ? 'prepend' : 'append', 'front').then((err) => {
      // The rows went back to memory instead: the runs no longer match the journal. (Rows of a
      // batch whose commit was unknown then lose their check: at worst they are stored twice.)
      if (err && tracked) this.runs = [];
    });
  }
}
