/**
 * RowWriter: the engine behind the database Writer node. It turns a stream of deliveries (one
 * message = one row or an array of rows) into batched multi-row INSERTs and promises that every
 * accepted row ends up committed, durably journaled, or reported, never silently lost.
 *
 * The rows waiting to be written form ONE queue, in arrival order:
 *
 *     retry (batches that failed for connection/transient reasons, by batch number)
 *       ++ memory (fresh rows, bounded by rows and bytes)
 *       ++ journal (rows on disk: spilled, or left by an earlier run)
 *       ++ overflow (fresh rows that had to wait behind a full journal)
 *
 * New rows go to memory while the journal is empty, the database is not down and memory has room;
 * otherwise to the end of the journal; otherwise the overflow policy decides. Batches are taken
 * from the front. A row's delivery callback fires once every row of it is committed, journaled
 * (after fsync) or rejected; rows read back from the journal already had their callback.
 *
 * Order: batches leave in queue order and each batch keeps its rows' order. With maxInFlight > 1
 * two consecutive batches run on two connections and may commit in either order; use
 * maxInFlight 1 for strict commit order.
 *
 * This class is the façade and owns the state (queues, in-flight batches, state, timer, counters);
 * each job is a module that gets only what it needs:
 *
 *     admission.ts       where arriving rows go, the overflow policy
 *     memory-queue.ts    the rows held in memory and their budget
 *     journal-spill.ts   moving rows to the journal (outage spill, overflow, failed writes)
 *     batching.ts        what leaves the queue next (takeBatch)
 *     batch-executor.ts  one batch: INSERT, bisection, commit markers, journal positions
 *     outage.ts          failed batches, backoff, probing
 *     delivery.ts        what each caller is owed, answered once
 *     shutdown.ts, close-claims.ts   close(): hand-over of what is left, unknown commits
 */
import { EventEmitter } from 'node:events';
import type { Database, DbErrorKind } from '../db/types';
import { MemoryQueue } from './memory-queue';
import { Admission, type OverflowPolicy } from './admission';
import { Delivery, finish, settleCommitted, settleFailed, settleRejected, type DeliveryCallback, type Entry } from './delivery';
import { WriterError, describeError } from './errors';
import { Journal } from './journal';
import { compileMapping, estimateBytes, type ColumnMapping, type RowMapper } from './mapping';
import { InsertPlan, type ConflictPolicy } from '../db/insert';
import { CommitMarkers } from './commit-markers';
import { resolvePendingAtClose } from './close-claims';
import { freshPending, handOver, hasFreshWork } from './shutdown';
import { JournalSpill } from './journal-spill';
import { BatchMaker } from './batching';
import { BatchExecutor, type Batch, type Failure } from './batch-executor';
import { keyOrder } from './key-order';
import { JournalPositions, parsePosition } from './journal-positions';
import type { Backoff } from '../backoff';
import { Outage, type WriterState } from './outage';

export type { DeliveryCallback, DeliveryResult, RejectedRow } from './delivery';

export type { WriterState } from './outage';
export type { OverflowPolicy } from './admission';

export interface RowWriterOptions {
  db: Database;
  table: string;
  /** Column name → property path in the row (array: same-named properties). */
  columns: ColumnMapping;
  /**
   * On a duplicate unique key: `error` (default; the row is rejected), `ignore` (the existing row
   * wins: makes journal replay idempotent) or `upsert` (overwrite `updateColumns`, default all
   * non-key columns). `keyColumns` names the unique key (required for upsert).
   */
  conflict?: ConflictPolicy;
  keyColumns?: readonly string[];
  updateColumns?: readonly string[];
  /** A batch is sent once this many rows wait (default 500)... */
  batchSize?: number;
  /** ...or once the oldest has waited this long (default 50 ms). */
  maxLatencyMs?: number;
  /** Batches running at once (default 2). */
  maxInFlight?: number;
  /**
   * Also send what waits as soon as no batch is running (default false). Batches then form while
   * the database works, so latency drops at low rates; use it when the caller bounds its
   * unanswered deliveries below batchSize (e.g. an MQTT receive window of 100), which otherwise
   * waits maxLatencyMs for every window's worth of rows.
   */
  flushWhenIdle?: boolean;
  /** In-memory budget for rows waiting for the database (default 10,000 rows, 16 MiB). */
  maxBufferedRows?: number;
  maxBufferedBytes?: number;
  /** Directory of the local journal; without it nothing spills to disk. */
  journalDir?: string;
  /** Journal cap (default 256 MiB), segment size (default 8 MiB). */
  maxJournalBytes?: number;
  journalSegmentBytes?: number;
  /** Journal group commit: fsync when this many rows wait (default 1,000) or after this long (default 20 ms). */
  journalSyncRows?: number;
  journalSyncMs?: number;
  /** When memory and journal are full (default `backpressure`). */
  overflow?: OverflowPolicy;
  /** Reconnect backoff: first delay and cap (defaults 250 ms, 30 s), with jitter. */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /**
   * Per INSERT statement: at most this many rows (default 1000, further capped by the driver's
   * placeholder limit) and about this many bytes (default: lib/db's per-dialect cap). A batch
   * needing several statements runs them in one transaction.
   */
  maxRowsPerStatement?: number;
  maxStatementBytes?: number;
  /**
   * MySQL/MariaDB, PostgreSQL: record each batch's commit with a marker row in `iotp_commit_markers` (same
   * transaction, same round trip), so a batch whose commit answer a connection cut swallowed is
   * neither lost nor written twice (see commit-markers.ts). Default: on for conflict `error`
   * (plain INSERT, where a retry duplicates), off for `ignore`/`upsert`, whose unique key already
   * makes a retry idempotent. Not on by default everywhere because the marker statement is
   * measurable on small batches (2-core development machine, alternated runs, medians: about
   * +0-2 % per 500-row batch at the driver, -6 % writer throughput at batch 500 in
   * bench/writer.bench.ts, about +20 % time per 50-row batch, i.e. ~0.15 ms). Ignored on SQLite,
   * where a commit answer cannot get lost.
   */
  commitMarkers?: boolean;
  /**
   * Sort each batch's rows by `keyColumns` before sending them (lib/writer/key-order), so writers
   * in several Node-RED instances upserting the same keys lock them in one order instead of
   * deadlocking on opposite orders (a deadlock is retried, but costs a rollback and a wait).
   * Default: on for `upsert` with key columns on MySQL/MariaDB and PostgreSQL; SQLite takes one lock for the
   * whole database, so order cannot deadlock there. Rows with equal keys keep their order, so the
   * final state is the same either way; only auto-increment ids follow the key order instead of
   * the arrival order within a batch.
   */
  sortByKey?: boolean;
  /**
   * Record, in each batch's transaction, the MQTT receive-journal positions of the deliveries it
   * completes (`write(rows, cb, { position })`), and skip a replayed delivery whose position is
   * recorded (journal-positions.ts). Default on; costs one small INSERT per batch that carries
   * positions, nothing otherwise.
   */
  journalPositions?: boolean;
  /** Receives warnings (also emitted as 'warning' events). */
  warn?: (message: string) => void;
}

/** Where a delivery comes from (an MQTT receive journal), for exactly-once across our own crash. */
export interface DeliveryOrigin {
  /** `<journal id>:<seq>` as the ingest stamps it (msg._iotpJournal). */
  position?: unknown;
  /** Handed over again after a restart: look the position up before writing. */
  replayed?: boolean;
}

export interface LastError {
  message: string;
  code?: string;
  kind: DbErrorKind | 'journal';
  at: number;
}

export interface WriterStats {
  state: WriterState;
  /** Committed rows per second, exponentially smoothed (time constant 5 s). */
  rowsPerSecond: number;
  committed: number;
  rejected: number;
  journaled: number;
  dropped: number;
  failed: number;
  /** Rows read back from the journal (this run's spills and an earlier run's leftovers). */
  replayed: number;
  /** Rows of replayed deliveries (receive journal) found already committed, so not written again. */
  alreadyStored: number;
  overflow: { policy: OverflowPolicy; heldRows: number; rejectedRows: number; droppedRows: number };
  /** Fresh rows held in memory (waiting, in flight, or waiting for retry). */
  backlogRows: number;
  backlogBytes: number;
  inFlightBatches: number;
  journalBytes: number;
  journalRows: number;
  journalCorruptLines: number;
  lastError: LastError | null;
}

export interface CloseReport {
  /** During close: rows committed, written to the journal, or failed (no journal configured). */
  committed: number;
  journaled: number;
  failed: number;
  /** Rows left in the journal for the next start. */
  journalRows: number;
  durationMs: number;
}

const RATE_TAU_MS = 5000;
/**
 * Heap a waiting row costs beyond its values (entry object, values array header) and a delivery
 * costs (its object, result, callback), so the byte budget tracks real memory (measured ~490
 * bytes per 4-column one-row delivery in bench/writer.bench.ts).
 */
const ENTRY_OVERHEAD_BYTES = 120;

const DELIVERY_OVERHEAD_BYTES = 160;

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new WriterError('WRITER_CONFIG', `${name} must be a positive number, got ${String(value)}`);
  }
  return value;
}

export class RowWriter extends EventEmitter {
  private readonly db: Database;
  private readonly mapper: RowMapper;
  private readonly maxInFlight: number;
  private readonly overflowPolicy: OverflowPolicy;
  /** Failed batches, backoff, probing (outage.ts). */
  private readonly outage: Outage;
  private readonly warnHook?: (message: string) => void;
  /** warn() for the helper modules. */
  private readonly warnFn = (message: string): void => this.warn(message);
  private readonly journal: Journal | null;
  private readonly markers: CommitMarkers | null;
  private readonly positions: JournalPositions | null;
  private readonly executor: BatchExecutor;

  /** Fresh rows held in memory: ahead of the journal (`waiting`) and behind it (`overflow`). */
  private readonly queue: MemoryQueue;
  private readonly admission: Admission;
  private readonly spill: JournalSpill;
  private readonly batches: BatchMaker;
  private readonly retryQueue: Batch[] = [];
  private readonly inFlight = new Set<Batch>();

  private state: WriterState = 'connecting';
  private lastError: LastError | null = null;

  // The one timer: it fires at the earliest of these deadlines (0 = none).
  private timer: NodeJS.Timeout | null = null;
  private timerAt = 0;
  private batchAt = 0;
  private journalAt = 0;
  private retryAt = 0;

  private closing = false;
  /** Set once close() stops waiting for batches: from then on nothing new is sent. */
  private sendingStopped = false;
  private closed = false;
  private closePromise: Promise<CloseReport> | null = null;
  private closeWaiter: (() => void) | null = null;
  private pumping = false;

  private readonly counters = {
    committed: 0,
    rejected: 0,
    journaled: 0,
    dropped: 0,
    failed: 0,
    replayed: 0,
    held: 0,
    overflowRejected: 0,
    alreadyStored: 0,
  };
  private rateSum = 0;
  private rateAt = Date.now();

  constructor(options: RowWriterOptions) {
    super();
    if (!options || typeof options !== 'object' || !options.db)
      throw new WriterError('WRITER_CONFIG', 'a RowWriter needs a database (`db`)');
    this.db = options.db;
    this.mapper = compileMapping(options.columns);
    let plan: InsertPlan;
    try {
      // Validates table, columns and conflict policy now, not at the first batch.
      plan = new InsertPlan(this.db.dialect, {
        table: options.table,
        columns: this.mapper.columns,
        conflict: options.conflict ?? 'error',
        keyColumns: options.keyColumns,
        updateColumns: options.updateColumns,
        maxRowsPerStatement: options.maxRowsPerStatement,
        maxStatementBytes: options.maxStatementBytes,
      });
    } catch (err) {
      throw new WriterError('WRITER_CONFIG', (err as Error).message, { cause: err });
    }
    const keys = options.keyColumns ?? [];
    const sortWanted = options.sortByKey ?? (plan.conflict === 'upsert' && this.db.dialect !== 'sqlite');
    const rowOrder = sortWanted && keys.length > 0 ? keyOrder(this.mapper.columns, keys) : null;
    const batchSize = Math.floor(positive(options.batchSize, 500, 'batchSize'));
    const maxLatencyMs = positive(options.maxLatencyMs, 50, 'maxLatencyMs');
    this.maxInFlight = Math.floor(positive(options.maxInFlight, 2, 'maxInFlight'));
    const flushWhenIdle = options.flushWhenIdle === true;
    this.queue = new MemoryQueue(
      Math.floor(positive(options.maxBufferedRows, 10_000, 'maxBufferedRows')),
      positive(options.maxBufferedBytes, 16 * 1024 * 1024, 'maxBufferedBytes'),
    );
    this.overflowPolicy = options.overflow ?? 'backpressure';
    if (!['backpressure', 'reject-new', 'drop-oldest'].includes(this.overflowPolicy)) {
      throw new WriterError('WRITER_CONFIG', `unknown overflow policy ${JSON.stringify(this.overflowPolicy)}`);
    }
    const retryInitialMs = positive(options.retryInitialMs, 250, 'retryInitialMs');
    const retryMaxMs = Math.max(retryInitialMs, positive(options.retryMaxMs, 30_000, 'retryMaxMs'));
    // Waits while the database is unreachable: doubling from retryInitialMs to retryMaxMs, equal jitter.
    const outageBackoff: Backoff = { initialMs: retryInitialMs, maxMs: retryMaxMs, jitter: 'equal' };
    this.warnHook = options.warn;
    const markersWanted = options.commitMarkers ?? plan.conflict === 'error';
    // A server's commit answer can be lost in a cut; SQLite's cannot (it runs in-process).
    this.markers = this.db.dialect !== 'sqlite' && markersWanted ? new CommitMarkers(this.db, (message) => this.warn(message)) : null;
    this.positions =
      options.journalPositions === false ? null : new JournalPositions(this.db, options.table, (message) => this.warn(message));
    this.executor = new BatchExecutor(this.db, plan, rowOrder, this.markers, this.positions, {
      reachable: () => this.outage.reachable(),
      commit: (entries, lo, hi) => this.commit(entries, lo, hi),
      reject: (entry, err) => this.reject(entry, err),
    });
    this.journal = options.journalDir
      ? new Journal({
          dir: options.journalDir,
          columns: this.mapper.columns,
          maxBytes: positive(options.maxJournalBytes, 256 * 1024 * 1024, 'maxJournalBytes'),
          segmentBytes: positive(options.journalSegmentBytes, 8 * 1024 * 1024, 'journalSegmentBytes'),
          syncRows: Math.floor(positive(options.journalSyncRows, 1000, 'journalSyncRows')),
          syncBytes: 1024 * 1024,
          syncMs: positive(options.journalSyncMs, 20, 'journalSyncMs'),
          warn: (message) => this.warn(message),
          requestWake: (at) => {
            this.journalAt = this.journalAt === 0 ? at : Math.min(this.journalAt, at);
            this.arm();
          },
          onDurable: () => this.pump(),
        })
      : null;
    this.spill = new JournalSpill(this.journal, this.queue, this.counters, {
      closing: () => this.closing,
      downAndIdle: () => this.inFlight.size === 0 && this.state === 'down',
      noteError: (err) => this.noteError(err, 'journal'),
      toMemory: (entries, bytes) => this.toMemory(entries, bytes),
      pump: () => this.pump(),
      cancelBatchTimer: () => {
        this.batchAt = 0;
      },
      warn: this.warnFn,
    });
    this.batches = new BatchMaker(
      { batchSize, maxLatencyMs, flushWhenIdle, maxReadBytes: 8 * 1024 * 1024 },
      this.queue,
      this.retryQueue,
      this.journal,
      this.spill,
      this.counters,
      {
        closing: () => this.closing,
        inFlight: () => this.inFlight.size,
        batchDueAt: (at) => {
          this.batchAt = at;
          if (at !== 0) this.arm();
        },
      },
    );
    this.admission = new Admission(this.overflowPolicy, this.queue, this.counters, {
      hasJournal: this.journal !== null,
      down: () => this.state === 'down',
      journalUnread: () => this.journal?.hasUnread() ?? false,
      journalTakes: (bytes) => this.spill.journalUsable() && (this.journal as Journal).hasRoom(bytes),
      toJournal: (entries) => void this.spill.toJournal(entries, 'append'),
      toMemory: (entries, bytes) => this.toMemory(entries, bytes),
      warn: this.warnFn,
    });
    this.outage = new Outage(this.db, retryMaxMs, outageBackoff, this.retryQueue, {
      closed: () => this.closed,
      inFlight: () => this.inFlight.size,
      state: () => this.state,
      setState: (state) => this.setState(state),
      noteError: (err, kind) => this.noteError(err, kind),
      retryAt: (at) => {
        this.retryAt = at;
        this.arm();
      },
      fail: (entries, error) => {
        this.counters.failed += entries.length;
        for (const entry of entries) settleFailed(entry, error instanceof Error ? error : new Error(String(error)), this.warnFn);
      },
      spillForOutage: () => this.spill.spillForOutage(this.retryQueue),
      pump: () => this.pump(),
    });
    this.outage.probe();
    this.pump(); // replays rows an earlier run left in the journal
  }

  /**
   * Accepts one delivery: a row or an array of rows. `callback` fires exactly once, when every row
   * is committed, journaled or rejected (see DeliveryResult). Never throws.
   */
  write(rows: unknown, callback: DeliveryCallback, origin?: DeliveryOrigin): void {
    const list: unknown[] = Array.isArray(rows) ? rows : [rows];
    const delivery = new Delivery(typeof callback === 'function' ? callback : () => undefined, list.length);
    if (this.positions) delivery.position = parsePosition(origin?.position);
    if (this.closing) {
      delivery.failed = list.length;
      delivery.remaining = 0;
      delivery.error = new WriterError('WRITER_CLOSED', 'the writer is closed; the rows were not accepted');
      this.counters.failed += list.length;
      finish(delivery, this.warnFn);
      return;
    }
    const now = Date.now();
    const entries: Entry[] = [];
    let bytes = 0;
    for (let i = 0; i < list.length; i++) {
      const values = this.mapper.map(list[i]);
      if (values instanceof WriterError) {
        delivery.rejected.push({ row: list[i], index: i, reason: values.message, code: values.code });
        delivery.remaining--;
        this.counters.rejected++;
        continue;
      }
      const entryBytes = estimateBytes(values) + ENTRY_OVERHEAD_BYTES + (entries.length === 0 ? DELIVERY_OVERHEAD_BYTES : 0);
      bytes += entryBytes;
      entries.push({ values, bytes: entryBytes, delivery, index: i, segment: null, ordinal: 0, at: now, done: false });
    }
    if (entries.length === 0) {
      finish(delivery, this.warnFn);
      return;
    }
    if (origin?.replayed === true && delivery.position && this.positions) {
      // Replayed after a crash: stored already if a batch recorded its position. Unknown (the
      // database unreachable): written again, at least once rather than held.
      const position = delivery.position;
      this.positions.stored(position).then(
        (found) => (found ? this.alreadyStored(delivery, entries) : this.admit(delivery, entries, bytes)),
        () => this.admit(delivery, entries, bytes),
      );
      return;
    }
    this.admission.accept(entries, bytes);
  }

  /** Accepts entries whose admission waited (a replay's lookup), unless the writer closed meanwhile. */
  private admit(delivery: Delivery, entries: Entry[], bytes: number): void {
    if (!this.closing) {
      this.admission.accept(entries, bytes);
      return;
    }
    delivery.failed += entries.length;
    delivery.remaining = 0;
    delivery.error = new WriterError('WRITER_CLOSED', 'the writer is closed; the rows were not accepted');
    this.counters.failed += entries.length;
    finish(delivery, this.warnFn);
  }

  /** A replayed delivery whose rows a batch committed before the crash: answered as committed, not written again. */
  private alreadyStored(delivery: Delivery, entries: Entry[]): void {
    delivery.committed += entries.length;
    delivery.remaining = 0;
    this.counters.alreadyStored += entries.length;
    finish(delivery, this.warnFn);
  }

  /** Current figures for status displays. */
  stats(): WriterStats {
    let backlogRows = this.queue.rows;
    let backlogBytes = this.queue.bytes;
    for (const batch of [...this.retryQueue, ...this.inFlight]) {
      if (batch.durable) continue;
      backlogRows += batch.entries.length;
      for (const entry of batch.entries) backlogBytes += entry.bytes;
    }
    return {
      state: this.state,
      rowsPerSecond: this.decayedRate(Date.now()) / (RATE_TAU_MS / 1000),
      committed: this.counters.committed,
      rejected: this.counters.rejected,
      journaled: this.counters.journaled,
      dropped: this.counters.dropped,
      failed: this.counters.failed,
      replayed: this.counters.replayed,
      alreadyStored: this.counters.alreadyStored,
      overflow: {
        policy: this.overflowPolicy,
        heldRows: this.counters.held,
        rejectedRows: this.counters.overflowRejected,
        droppedRows: this.counters.dropped,
      },
      backlogRows,
      backlogBytes,
      inFlightBatches: this.inFlight.size,
      journalBytes: this.journal?.bytes ?? 0,
      journalRows: this.journal?.rows ?? 0,
      journalCorruptLines: this.journal?.corruptLines ?? 0,
      lastError: this.lastError,
    };
  }

  /**
   * When the oldest row accepted and not yet committed was accepted (epoch ms; 0 for rows an
   * earlier run left in the journal), or null when every accepted row is committed. The
   * connector's schedule waits for it (lib/arrivals.ts). Cost: a look at each queue's head and at
   * the first open row of each batch waiting for retry or in flight (rows keep arrival order).
   */
  pendingSince(): number | null {
    let oldest = Infinity;
    const journal = this.journal;
    if (journal && (journal.rows > 0 || journal.hasUnread())) oldest = this.spill.since ?? 0;
    else this.spill.since = null;
    const memoryHead = this.queue.waiting.peek();
    if (memoryHead) oldest = Math.min(oldest, memoryHead.at);
    const overflowHead = this.queue.overflow.peek();
    if (overflowHead) oldest = Math.min(oldest, overflowHead.at);
    for (const batch of [...this.retryQueue, ...this.inFlight]) {
      // Rows read back from the journal are counted by the journal (their `at` is the read time).
      if (batch.durable) continue;
      const open = batch.entries.find((entry) => !entry.done);
      if (open) oldest = Math.min(oldest, open.at);
    }
    return oldest === Infinity ? null : oldest;
  }

  get currentState(): WriterState {
    return this.state;
  }

  /**
   * Stops accepting rows and writes what it can within `timeoutMs`. Fresh rows still pending then
   * go to the journal (replayed at the next start) or, without a journal, fail their deliveries
   * (so the caller does not acknowledge them and the source redelivers). Rows already in the
   * journal stay there. The database itself is not closed (it belongs to the caller).
   */
  close(timeoutMs = 5000): Promise<CloseReport> {
    if (this.closePromise) return this.closePromise;
    this.closePromise = this.shutdown(timeoutMs);
    return this.closePromise;
  }

  // ---- accepting rows ------------------------------------------------------------------------

  private toMemory(entries: Entry[], bytes: number): void {
    this.queue.append(entries, bytes);
    this.pump();
  }

  // ---- sending batches ---------------------------------------------------------------------

  /** Sends as many batches as the in-flight limit allows. Safe to call any time. */
  private pump(): void {
    if (this.pumping || this.closed || this.sendingStopped) return;
    this.pumping = true;
    try {
      this.spill.rebalance();
      const now = Date.now();
      if (this.retryAt !== 0 && now < this.retryAt) return;
      const limit = this.state === 'ok' || this.state === 'closing' ? this.maxInFlight : 1;
      while (this.inFlight.size < limit) {
        const batch = this.batches.takeBatch(now);
        if (!batch) break;
        void this.run(batch);
      }
    } finally {
      this.pumping = false;
    }
  }

  private async run(batch: Batch): Promise<void> {
    this.inFlight.add(batch);
    if (this.state === 'down') this.setState('connecting');
    let failure: Failure | null;
    try {
      failure = await this.executor.execute(batch);
    } catch (err) {
      failure = { kind: 'fatal', error: err, remaining: batch.entries, pending: batch.pending };
    }
    this.inFlight.delete(batch);
    if (this.closed) return;
    if (failure) this.outage.handleFailure(batch, failure);
    this.pump();
    this.checkClose();
  }

  // ---- settling rows -------------------------------------------------------------------------

  private commit(entries: Entry[], lo: number, hi: number): void {
    const committed = settleCommitted(entries, lo, hi, this.journal, this.warnFn);
    this.counters.committed += committed;
    const now = Date.now();
    this.rateSum = this.decayedRate(now) + committed;
    this.rateAt = now;
  }

  private reject(entry: Entry, err: unknown): void {
    if (entry.done) return;
    this.counters.rejected++; // before settling: a warning hook reading stats() sees it
    settleRejected(entry, err, this.mapper.columns, this.journal, this.warnFn);
  }

  // ---- timer, state, close -----------------------------------------------------------------

  /** (Re)arms the single timer for the earliest deadline. */
  private arm(): void {
    if (this.closed) return;
    let at = 0;
    for (const deadline of [this.batchAt, this.journalAt, this.retryAt]) {
      if (deadline !== 0 && (at === 0 || deadline < at)) at = deadline;
    }
    if (at === 0 || (this.timer && this.timerAt <= at)) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.onTimer(), Math.max(0, at - Date.now()));
  }

  private onTimer(): void {
    this.timer = null;
    this.timerAt = 0;
    const now = Date.now();
    if (this.journalAt !== 0 && now >= this.journalAt) {
      this.journalAt = 0;
      this.journal?.tick(now);
    }
    if (this.batchAt !== 0 && now >= this.batchAt) this.batchAt = 0;
    if (this.retryAt !== 0 && now >= this.retryAt) {
      this.retryAt = 0;
      const idle = this.retryQueue.length === 0 && this.queue.waiting.length === 0 && !(this.journal?.hasUnread() ?? false);
      if (idle && this.state === 'down') this.outage.probe();
    }
    this.pump();
    this.arm();
  }

  private setState(state: WriterState): void {
    if (this.state === state || (this.closing && state !== 'closing')) return;
    this.state = state;
    this.emit('state', state, this.lastError);
    this.checkClose();
  }

  private noteError(err: unknown, kind: LastError['kind']): void {
    const { message, code } = describeError(err);
    this.lastError = code === undefined ? { message, kind, at: Date.now() } : { message, code, kind, at: Date.now() };
  }

  private warn(message: string): void {
    this.warnHook?.(message);
    if (this.listenerCount('warning') > 0) this.emit('warning', message);
    else if (!this.warnHook) console.warn(`[iotp writer] ${message}`);
  }

  private decayedRate(now: number): number {
    return this.rateSum * Math.exp(-(now - this.rateAt) / RATE_TAU_MS);
  }

  private checkClose(): void {
    if (!this.closeWaiter) return;
    // A lost connection while closing: no point waiting out the timeout, journal now.
    const gaveUp = this.outage.failures > 0;
    // Batches in flight are waited for too: a replayed batch committing after close would
    // otherwise be replayed again by the next writer on this journal.
    if (this.inFlight.size === 0 && (gaveUp || !hasFreshWork(this.retryQueue, this.inFlight, this.queue))) {
      const resolve = this.closeWaiter;
      this.closeWaiter = null;
      resolve();
    }
  }

  private async shutdown(timeoutMs: number): Promise<CloseReport> {
    const started = Date.now();
    const before = { ...this.counters };
    const wasDown = this.state === 'down';
    this.setState('closing');
    this.closing = true;
    if (!wasDown) {
      // Flush what waits now, without the latency timer, and wait for it (bounded by the timeout).
      await new Promise<void>((resolve) => {
        const timer = setTimeout(
          () => {
            this.closeWaiter = null;
            resolve();
          },
          Math.max(0, timeoutMs),
        );
        this.closeWaiter = () => {
          clearTimeout(timer);
          resolve();
        };
        this.pump();
        this.checkClose();
      });
    }
    // Nothing new is sent from here on: a pending batch run now would claim its own token while
    // resolvePendingAtClose() claims it too, and one of them would misread the other's claim.
    this.sendingStopped = true;
    await resolvePendingAtClose(started + Math.max(0, timeoutMs), {
      markers: this.markers,
      journal: this.journal,
      retryQueue: this.retryQueue,
      takeJournalRuns: () => {
        const runs = this.spill.runs;
        this.spill.runs = [];
        return runs;
      },
      commit: (entries, lo, hi) => this.commit(entries, lo, hi),
      warn: this.warnFn,
    });
    const { head, tail } = freshPending(this.retryQueue, this.inFlight, this.queue);
    this.queue.rows = 0;
    this.queue.bytes = 0;
    this.retryQueue.length = 0;
    const journal = this.journal;
    const handing = handOver(head, tail, journal, this.spill, this.counters, this.warnFn);
    if (handing) await handing;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await Promise.all([journal?.close(), this.markers?.stop()]);
    return {
      committed: this.counters.committed - before.committed,
      journaled: this.counters.journaled - before.journaled,
      failed: this.counters.failed - before.failed,
      journalRows: journal?.rows ?? 0,
      durationMs: Date.now() - started,
    };
  }
}
