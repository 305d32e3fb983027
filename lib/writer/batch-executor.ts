/**
 * Executes one batch: a multi-row INSERT in one transaction (with its commit marker and the
 * receive-journal positions it completes), split in halves on a data error until the bad rows
 * stand alone. It settles rows through its host (commit, reject) and returns what a connection,
 * transient or fatal error left unwritten; retrying, backoff and outage state are the writer's.
 */
import type { Database, DbErrorKind, SqlStatement, SqlValue } from '../db/types';
import type { InsertPlan } from '../db/insert';
import { CommitMarkers, newCommitToken } from './commit-markers';
import type { Delivery, Entry } from './delivery';
import { classifyDbError } from './errors';
import type { JournalPosition, JournalPositions } from './journal-positions';

/** An attempt whose outcome a connection cut hid: its first `rows` entries were sent under `token`. */
export interface PendingCommit {
  token: Buffer;
  rows: number;
}

export interface Batch {
  seq: number;
  entries: Entry[];
  durable: boolean;
  attempts: number;
  /** Set while the batch's first rows may already be committed (see commit-markers.ts). */
  pending: PendingCommit | null;
}

export interface Failure {
  kind: DbErrorKind;
  error: unknown;
  remaining: Entry[];
  /** The front of `remaining` was sent under a token whose commit is unknown. */
  pending: PendingCommit | null;
}

/** What the executor reports back to the writer, which owns the rows' bookkeeping and the state. */
export interface ExecutorHost {
  /** The database answered (a statement succeeded or failed on the rows' data). */
  reachable(): void;
  /** entries[lo, hi) are committed. */
  commit(entries: Entry[], lo: number, hi: number): void;
  /** The database refused this row on its own. */
  reject(entry: Entry, err: unknown): void;
}

export class BatchExecutor {
  constructor(
    private readonly db: Database,
    private readonly plan: InsertPlan,
    /** Sorts a statement's rows by key (key-order.ts), or null. */
    private readonly rowOrder: ((a: readonly SqlValue[], b: readonly SqlValue[]) => number) | null,
    private readonly markers: CommitMarkers | null,
    private readonly positions: JournalPositions | null,
    private readonly host: ExecutorHost,
  ) {}

  /**
   * Inserts the batch; a data error splits the failing range in halves (each its own
   * transaction) until the bad rows stand alone and are rejected, so good rows still commit.
   * Stops at the first connection/transient/fatal error and returns the rows not yet written.
   * With commit markers every range attempt carries its own token; a batch that comes back with
   * a pending token first learns whether that attempt committed.
   */
  async execute(batch: Batch): Promise<Failure | null> {
    const entries = batch.entries;
    let useMarkers = false;
    let start = 0;
    try {
      useMarkers = this.markers !== null && (await this.markers.available());
      if (batch.pending && useMarkers) {
        const outcome = await (this.markers as CommitMarkers).claim(batch.pending.token);
        this.host.reachable();
        if (outcome === 'committed') {
          this.host.commit(entries, 0, batch.pending.rows);
          start = batch.pending.rows;
        }
      }
    } catch (err) {
      const kind = classifyDbError(err);
      // A claim is never a data problem of the rows; anything but a cut or a lock wait is fatal.
      return { kind: kind === 'data' ? 'fatal' : kind, error: err, remaining: entries, pending: batch.pending };
    }
    const stack: [number, number][] = start < entries.length ? [[start, entries.length]] : [];
    while (stack.length > 0) {
      const [lo, hi] = stack.pop() as [number, number];
      const token = useMarkers ? newCommitToken() : null;
      try {
        await this.insert(entries, lo, hi, token);
        this.host.reachable();
        this.host.commit(entries, lo, hi);
        if (useMarkers) this.markers?.prune();
      } catch (err) {
        const kind = classifyDbError(err);
        if (kind === 'data') {
          this.host.reachable();
          if (hi - lo === 1) this.host.reject(entries[lo], err);
          else {
            const mid = (lo + hi) >>> 1;
            stack.push([mid, hi], [lo, mid]);
          }
          continue;
        }
        const remaining = entries.slice(lo, hi);
        for (let i = stack.length - 1; i >= 0; i--) remaining.push(...entries.slice(stack[i][0], stack[i][1]));
        // Only a cut leaves the outcome open: any answer from the server means it rolled back.
        const pending = kind === 'connection' && token ? { token, rows: hi - lo } : null;
        return { kind, error: err, remaining, pending };
      }
    }
    return null;
  }

  /**
   * One transaction for the range. With a commit marker: marker and rows in one atomic() call
   * (MySQL: one round trip, as cheap as the single statement it replaces). Without: a single
   * statement when it fits (atomic on its own, two round trips fewer), else a transaction.
   */
  private async insert(entries: Entry[], lo: number, hi: number, token: Buffer | null): Promise<void> {
    const rows: SqlValue[][] = new Array(hi - lo);
    for (let i = lo; i < hi; i++) rows[i - lo] = entries[i].values;
    // Only the statement's order changes: entries (and a data error's bisection) keep arrival order.
    if (this.rowOrder && rows.length > 1) rows.sort(this.rowOrder);
    const statements: SqlStatement[] = this.plan.statements(rows);
    const positions = this.positionsCompletedBy(entries, lo, hi);
    if (positions.length > 0 && this.positions && (await this.positions.available())) {
      const recorded = this.positions.statement(positions);
      if (recorded) statements.push(recorded);
      this.positions.prune();
    }
    if (token && this.markers) {
      await this.db.atomic([this.markers.statement(token), ...statements]);
      return;
    }
    if (statements.length === 1) {
      await this.db.query(statements[0].sql, statements[0].values);
      return;
    }
    await this.db.transaction(async (tx) => {
      for (const statement of statements) await tx.query(statement.sql, statement.values);
    });
  }

  /** Positions of the deliveries whose every outstanding row is in entries[lo, hi): committing the range completes them. */
  private positionsCompletedBy(entries: Entry[], lo: number, hi: number): JournalPosition[] {
    if (!this.positions) return [];
    let counts: Map<Delivery, number> | undefined;
    for (let i = lo; i < hi; i++) {
      const delivery = entries[i].delivery;
      if (!delivery?.position || entries[i].done) continue;
      counts ??= new Map();
      counts.set(delivery, (counts.get(delivery) ?? 0) + 1);
    }
    const out: JournalPosition[] = [];
    if (counts) for (const [delivery, count] of counts) if (count === delivery.remaining && delivery.position) out.push(delivery.position);
    return out;
  }
}
