/**
 * Admission: where a delivery's rows go when they arrive. To memory while the journal has nothing
 * unread, the database is not down and memory has room; otherwise to the end of the journal;
 * otherwise the overflow policy decides (hold beyond the budget, drop the oldest delivery held, or
 * refuse the new one). The writer does the moving (toMemory, toJournal); this module decides.
 */
import type { Entry } from './delivery';
import { finishIfDone, settleFailed } from './delivery';
import { WriterError } from './errors';
import type { MemoryQueue } from './memory-queue';

export type OverflowPolicy = 'backpressure' | 'reject-new' | 'drop-oldest';

/** The writer's counters admission adds to. */
export interface AdmissionCounters {
  held: number;
  dropped: number;
  overflowRejected: number;
  failed: number;
}

/** What admission asks of the writer. */
export interface AdmissionTargets {
  readonly hasJournal: boolean;
  /** The database is known to be down. */
  down(): boolean;
  /** The journal holds rows not read back yet: new rows must follow them. */
  journalUnread(): boolean;
  /** The journal can be written now and has room for `bytes`. */
  journalTakes(bytes: number): boolean;
  /** To the end of the journal. */
  toJournal(entries: Entry[]): void;
  /** To the end of memory's waiting rows, sent when a batch is due. */
  toMemory(entries: Entry[], bytes: number): void;
  warn(message: string): void;
}

export class Admission {
  constructor(
    readonly policy: OverflowPolicy,
    private readonly queue: MemoryQueue,
    private readonly counters: AdmissionCounters,
    private readonly writer: AdmissionTargets,
  ) {}

  accept(entries: Entry[], bytes: number): void {
    const journalUnread = this.writer.journalUnread();
    if (this.queue.overflow.length === 0) {
      if (!journalUnread && !this.writer.down() && this.queue.hasRoom(entries.length, bytes)) {
        this.writer.toMemory(entries, bytes);
        return;
      }
      if (this.writer.journalTakes(bytes)) {
        this.writer.toJournal(entries);
        return;
      }
      if (!journalUnread && this.queue.hasRoom(entries.length, bytes)) {
        this.writer.toMemory(entries, bytes);
        return;
      }
    }
    this.overflow(entries, bytes);
  }

  private overflow(entries: Entry[], bytes: number): void {
    const behindJournal = this.writer.journalUnread() || this.queue.overflow.length > 0;
    switch (this.policy) {
      case 'backpressure':
        // Held in memory beyond the budget; the callback waits, so a source that bounds its
        // unacknowledged messages slows down.
        this.counters.held += entries.length;
        if (behindJournal) this.queue.appendOverflow(entries, bytes);
        else this.writer.toMemory(entries, bytes);
        return;
      case 'drop-oldest':
        while (!this.queue.hasRoom(entries.length, bytes) && this.dropOldestDelivery()) {
          /* dropping */
        }
        if (this.queue.hasRoom(entries.length, bytes)) {
          if (this.writer.journalUnread() || this.queue.overflow.length > 0) this.queue.appendOverflow(entries, bytes);
          else this.writer.toMemory(entries, bytes);
          return;
        }
        break; // nothing droppable (all in flight or journaled): refuse this one instead
      case 'reject-new':
        break;
    }
    const error = new WriterError(
      'WRITER_OVERFLOW',
      `buffer full (${this.queue.rows} rows in memory${this.writer.hasJournal ? ', journal full' : ', no journal'}); delivery refused`,
    );
    this.counters.overflowRejected += entries.length;
    this.counters.failed += entries.length;
    for (const entry of entries) settleFailed(entry, error, this.writer.warn);
  }

  /** Drops the oldest waiting delivery's rows from memory; false when nothing is droppable. */
  private dropOldestDelivery(): boolean {
    const removed = this.queue.shiftOldestDelivery();
    if (removed.length === 0) return false;
    const error = new WriterError('WRITER_DROPPED', 'dropped to make room for newer rows (overflow policy drop-oldest)');
    for (const entry of removed) {
      this.counters.dropped++;
      if (entry.done || !entry.delivery) continue;
      entry.done = true;
      entry.delivery.dropped++;
      entry.delivery.error ??= error;
      entry.delivery.remaining--;
      finishIfDone(entry.delivery, this.writer.warn);
    }
    return true;
  }
}
