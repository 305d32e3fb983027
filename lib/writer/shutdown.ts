/**
 * Shutdown's hand-over of fresh rows: which rows still have a caller waiting (in queue order),
 * whether close() should keep waiting for them, and, once it stops, where they go: to the journal
 * (ahead of what it holds, since they are older), or, without a journal, failed so that the source
 * redelivers them. The claims for rows whose commit is unknown are close-claims.ts.
 */
import type { Batch } from './batch-executor';
import { settleFailed, type Entry } from './delivery';
import { WriterError } from './errors';
import type { Journal } from './journal';
import type { JournalSpill } from './journal-spill';
import type { MemoryQueue } from './memory-queue';

/** Fresh rows (with a caller waiting) not yet settled, in queue order. */
export function freshPending(
  retryQueue: readonly Batch[],
  inFlight: ReadonlySet<Batch>,
  queue: MemoryQueue,
): { head: Entry[]; tail: Entry[]; durableAhead: boolean } {
  const batches = [...retryQueue, ...inFlight].sort((a, b) => a.seq - b.seq);
  const head: Entry[] = [];
  let durableAhead = false;
  for (const batch of batches) {
    if (batch.durable) {
      if (head.length === 0) durableAhead = true;
      continue;
    }
    for (const entry of batch.entries) if (!entry.done) head.push(entry);
  }
  for (const entry of queue.waiting.drain()) if (!entry.done) head.push(entry);
  const tail = queue.overflow.drain().filter((entry) => !entry.done);
  return { head, tail, durableAhead };
}

/** Fresh rows wait somewhere (memory, retry, in flight): close() waits for them, within its timeout. */
export function hasFreshWork(retryQueue: readonly Batch[], inFlight: ReadonlySet<Batch>, queue: MemoryQueue): boolean {
  if (queue.waiting.length > 0 || queue.overflow.length > 0) return true;
  for (const batch of retryQueue) if (!batch.durable) return true;
  for (const batch of inFlight) if (!batch.durable) return true;
  return false;
}

/**
 * Journals `head` (ahead of the journal's unread rows) and `tail` (at its end), or fails them when
 * there is no journal. Returns, with a journal, what resolves once it has written them (not an async
 * function: without a journal close() goes on in the same tick, as before the split).
 */
export function handOver(
  head: Entry[],
  tail: Entry[],
  journal: Journal | null,
  spill: JournalSpill,
  counters: { failed: number },
  warn: (message: string) => void,
): Promise<unknown> | undefined {
  if (journal) {
    // Prepending keeps these rows ahead of what the journal already holds (they are older).
    const writes: Promise<unknown>[] = [];
    if (head.length > 0) writes.push(spill.toJournal(head, journal.hasUnread() ? 'prepend' : 'append'));
    if (tail.length > 0) writes.push(spill.toJournal(tail, 'append'));
    journal.flush();
    return Promise.all(writes);
  }
  const error = new WriterError('WRITER_CLOSED', 'the writer closed before these rows were committed (no journal configured)');
  let failedAtClose = 0;
  for (const entry of [...head, ...tail]) {
    if (!entry.done) failedAtClose++;
    settleFailed(entry, error, warn);
  }
  counters.failed += failedAtClose;
  return undefined;
}
