/**
 * Outage handling: what a failed batch means for the writer. A data error never reaches here (the
 * executor bisects it); a fatal error fails fresh rows; a transient one (deadlock, lock wait,
 * SQLITE_BUSY) retries the batch soon; a lost connection marks the database down, backs off
 * (equal jitter from retryInitialMs to retryMaxMs) and spills what waits to the journal. While
 * nothing is sent, a ping keeps the state shown current.
 */
import { retryDelay, type Backoff } from '../backoff';
import type { Database, DbErrorKind } from '../db/types';
import type { Batch, Failure } from './batch-executor';
import type { Entry } from './delivery';
import { classifyDbError } from './errors';

export type WriterState = 'ok' | 'connecting' | 'down' | 'closing';

/** A deadlock, lock wait or SQLITE_BUSY: the same batch again soon, 20 ms doubling to 1 s. */
const TRANSIENT_BACKOFF: Backoff = { initialMs: 20, maxMs: 1000, jitter: 'none' };

/** What outage handling asks of the writer. */
export interface OutageHost {
  closed(): boolean;
  /** Batches running now. */
  inFlight(): number;
  state(): WriterState;
  setState(state: WriterState): void;
  noteError(err: unknown, kind: DbErrorKind): void;
  /** Sends nothing before `at` (epoch ms), then pumps. */
  retryAt(at: number): void;
  /** Fails fresh rows the database will not take (counted as failed). */
  fail(entries: Entry[], error: unknown): void;
  /** Moves what waits to the journal, where the queue order allows (journal-spill.ts). */
  spillForOutage(): void;
  pump(): void;
}

export class Outage {
  /** Consecutive failed attempts to reach the database; 0 once it answers. */
  failures = 0;
  private pinging = false;

  constructor(
    private readonly db: Database,
    /** The wait after a fatal error on journal rows (they wait on disk; nothing else to try). */
    private readonly retryMaxMs: number,
    /** Waits while the database is unreachable. */
    private readonly outageBackoff: Backoff,
    /** Batches waiting for retry, by batch number. */
    private readonly retryQueue: Batch[],
    private readonly writer: OutageHost,
  ) {}

  handleFailure(batch: Batch, failure: Failure): void {
    const { kind, error, remaining, pending } = failure;
    this.writer.noteError(error, kind);
    if (kind === 'fatal' && !batch.durable) {
      // Missing table, syntax, permissions: retrying would spin. The callers get the error.
      this.writer.fail(remaining, error);
      return;
    }
    if (remaining.length > 0)
      this.requeue({ seq: batch.seq, entries: remaining, durable: batch.durable, attempts: batch.attempts + 1, pending });
    if (kind === 'transient') {
      // Deadlock, lock wait, SQLITE_BUSY: the same batch again soon.
      this.writer.retryAt(Date.now() + retryDelay(batch.attempts, TRANSIENT_BACKOFF));
      return;
    }
    // Connection lost, or journal rows the database will not take yet (fatal): they are already
    // acknowledged, so they wait on disk while we back off.
    this.failures++;
    this.writer.retryAt(Date.now() + (kind === 'fatal' ? this.retryMaxMs : retryDelay(this.failures - 1, this.outageBackoff)));
    this.writer.setState('down');
    this.writer.spillForOutage();
  }

  private requeue(batch: Batch): void {
    let i = this.retryQueue.length;
    while (i > 0 && this.retryQueue[i - 1].seq > batch.seq) i--;
    this.retryQueue.splice(i, 0, batch);
  }

  /** Pings when nothing is waiting, so the state shown is the database's, not stale. */
  probe(): void {
    if (this.pinging || this.writer.closed()) return;
    this.pinging = true;
    this.db.ping().then(
      () => {
        this.pinging = false;
        if (this.writer.closed()) return;
        this.reachable();
        this.writer.pump();
      },
      (err: unknown) => {
        this.pinging = false;
        if (this.writer.closed() || this.writer.inFlight() > 0) return;
        this.writer.noteError(err, classifyDbError(err));
        this.failures++;
        this.writer.retryAt(Date.now() + retryDelay(this.failures - 1, this.outageBackoff));
        this.writer.setState('down');
        this.writer.spillForOutage();
      },
    );
  }

  reachable(): void {
    this.failures = 0;
    if (this.writer.state() !== 'ok' && this.writer.state() !== 'closing') this.writer.setState('ok');
  }
}
