/**
 * The fresh rows the writer holds in memory, with their budget. Two parts of the one queue (see
 * row-writer.ts): `waiting`, ahead of the journal, where batches are taken from, and `overflow`,
 * rows that arrived behind unread journal rows and must follow them. One row and byte count covers
 * both, since both take heap.
 */
import { Deque } from './deque';
import type { Entry } from './delivery';

export class MemoryQueue {
  readonly waiting = new Deque<Entry>();
  readonly overflow = new Deque<Entry>();
  /** Rows and bytes of waiting + overflow. */
  rows = 0;
  bytes = 0;

  constructor(
    private readonly maxRows: number,
    private readonly maxBytes: number,
  ) {}

  hasRoom(rows: number, bytes: number): boolean {
    if (this.rows === 0) return true; // one delivery larger than the budget still gets through alone
    return this.rows + rows <= this.maxRows && this.bytes + bytes <= this.maxBytes;
  }

  /** At the end of `waiting`. */
  append(entries: Entry[], bytes: number): void {
    for (const entry of entries) this.waiting.push(entry);
    this.rows += entries.length;
    this.bytes += bytes;
  }

  /** Ahead of everything in `waiting` (rows older than those). */
  prepend(entries: Entry[], bytes: number): void {
    const rest = this.waiting.drain();
    for (const entry of entries) this.waiting.push(entry);
    for (const entry of rest) this.waiting.push(entry);
    this.rows += entries.length;
    this.bytes += bytes;
  }

  /** At the end of `overflow`. */
  appendOverflow(entries: Entry[], bytes: number): void {
    for (const entry of entries) this.overflow.push(entry);
    this.rows += entries.length;
    this.bytes += bytes;
  }

  /** Rows that left (for a batch, the journal, or dropped): out of the budget. */
  release(rows: number, bytes: number): void {
    this.rows -= rows;
    this.bytes -= bytes;
  }

  /**
   * Removes the rows of the oldest delivery still held (from `waiting`, else from `overflow`) and
   * returns them; empty when nothing is held.
   */
  shiftOldestDelivery(): Entry[] {
    const queue = this.waiting.length > 0 ? this.waiting : this.overflow;
    const first = queue.peek();
    if (!first) return [];
    const victim = first.delivery;
    const removed: Entry[] = [];
    while (queue.length > 0 && queue.peek()?.delivery === victim) {
      const entry = queue.shift() as Entry;
      this.rows--;
      this.bytes -= entry.bytes;
      removed.push(entry);
    }
    return removed;
  }
}
