/**
 * The data connector without Node-RED: schedule mode (`tick`) and request mode (`submit`).
 *
 * Schedule: take the lease → deliver what the outbox still holds for the oldest window → plan the
 * windows due after the bookmark (none that rows still on their way in may belong to, see
 * ScheduleOptions.heldSince) → for each, in order: fetch rows for [start, end) → batches →
 * outbox (durable) → POST each batch, retrying per policy → when every batch of the window has a
 * 2xx, advance the bookmark (compare-and-set) and drop the window from the outbox. A window that
 * fails stays where it is and is tried again next tick; later windows wait for it (never skipped).
 *
 * Request: `submit(start, end)` validates, registers a task and runs it in the background (one task
 * at a time); the task fetches the span in pieces, sends every batch with the request's envelope,
 * and reports `current/total` pieces. Request mode never touches the bookmark.
 */
import { randomUUID } from 'node:crypto';
import { ConnectorError, positiveNumber } from './errors';
import { buildBatches, DEFAULT_COLUMNS, normalizeRows, type ReadingColumns, type RejectedRow } from './batches';
import { checkRetryPolicy, decideRetry, DEFAULT_RETRY_POLICY, describeOutcome, classify, type RetryPolicy } from './retry';
import type { BatchPoster, PostOutcome } from './poster';
import type { Outbox, OutboxUnit, StoredBatch, UnitOrigin } from './outbox';
import type { BookmarkStore } from './bookmark';
import { DEFAULT_MAX_WINDOWS_PER_TICK, DEFAULT_SETTLE_MS, backlogSize, dueWindows, firstWindowStart, parseRequestWindow, splitWindow, type SchedulePlanOptions, type TimeWindow } from './windows';

export type FetchRows = (window: TimeWindow) => Promise<readonly Record<string, unknown>[]>;

export interface ScheduleOptions {
  intervalMs: number;
  settleMs?: number;
  maxWindowsPerTick?: number;
  initialStart?: number;
  /** How long the lease lasts without renewal; renewed before every window. Default max(2 × interval, 5 min). */
  leaseTtlMs?: number;
  /**
   * Since when rows may still be on their way into the database (a writer's backlog, an ingest
   * catching up; lib/arrivals.ts), or null. Windows wait until they end a settle delay before it.
   */
  heldSince?: (now: number) => number | null;
}

export interface RequestOptions {
  maxSpanMs?: number;
  /** Request spans are fetched in pieces of this length, bounding memory; default 1 hour. */
  chunkMs?: number;
  /** Tasks remembered (finished ones expire first); default 1000. */
  maxTasks?: number;
  /** Finished tasks are forgotten after this; default 24 h. */
  taskTtlMs?: number;
  /** Accept windows that end in the future (their data is incomplete); default false. */
  allowFuture?: boolean;
}

export interface EngineOptions {
  fetchRows: FetchRows;
  poster: BatchPoster;
  outbox: Outbox;
  /** BATCH_SIZE: readings per request. */
  batchSize: number;
  columns?: ReadingColumns;
  /** Post an envelope with empty `data` for a window without readings (as the original did); default true. */
  sendEmptyWindows?: boolean;
  retry?: Partial<RetryPolicy>;
  /** Batches of one window in flight at once; default 4. */
  concurrency?: number;
  /** Schedule mode needs both. */
  schedule?: ScheduleOptions;
  bookmark?: BookmarkStore;
  /** Lease owner id of this instance; default a random UUID. */
  instanceId?: string;
  request?: RequestOptions;
  onEvent?: (event: ConnectorEvent) => void;
  clock?: () => number;
  random?: () => number;
}

export type TaskState = 'PENDING' | 'STARTED' | 'SUCCESS' | 'FAILURE';

/** The contract's `GET /tasks/<id>` answer. */
export interface TaskView {
  state: TaskState;
  current: number;
  total: number;
  status: string;
}

export type ConnectorEvent =
  | { type: 'window-delivered'; origin: UnitOrigin; window: TimeWindow; fetched: TimeWindow; batches: number; readings: number; taskId?: string }
  | { type: 'window-failed'; origin: UnitOrigin; window: TimeWindow; fetched: TimeWindow; reason: string; batchId?: string; status?: number; retryable: boolean; taskId?: string }
  | { type: 'fetch-failed'; origin: UnitOrigin; window: TimeWindow; reason: string; taskId?: string }
  | { type: 'rows-rejected'; origin: UnitOrigin; window: TimeWindow; count: number; examples: RejectedRow[] }
  | { type: 'backpressure'; batches: number; bytes: number }
  | { type: 'lease-busy'; owner: string | null; until: number | null }
  | { type: 'bookmark-conflict'; window: TimeWindow; bookmark: number | null }
  | { type: 'task-finished'; taskId: string; task: TaskView; window: TimeWindow }
  | { type: 'error'; reason: string };

export interface TickReport {
  /** Why nothing was scheduled, if so. */
  skipped?: 'busy' | 'closed' | 'lease-busy' | 'no-schedule';
  delivered: number;
  failed: number;
  /** Complete windows still due after this tick. */
  backlog: number;
  /** Windows due by the clock but waiting for rows still on their way in (see ScheduleOptions.heldSince). */
  held?: number;
  /** Since when those rows may be arriving (epoch ms), when `held` > 0. */
  heldSince?: number;
}

interface Task extends TaskView {
  id: string;
  window: TimeWindow;
  finishedAt?: number;
}

type UnitResult = { ok: true } | { ok: false; reason: string; batchId: string; status?: number; retryable: boolean };

const MAX_REJECTED_EXAMPLES = 20;

export class ConnectorEngine {
  readonly instanceId: string;
  private readonly opts: EngineOptions;
  private readonly policy: RetryPolicy;
  private readonly concurrency: number;
  private readonly clock: () => number;
  private readonly random: () => number;
  private readonly plan?: SchedulePlanOptions & { leaseTtlMs: number };
  private readonly tasks = new Map<string, Task>();
  private readonly taskQueue: Task[] = [];
  private readonly inFlight = new Set<string>();
  private readonly sleepers = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  private ticking: Promise<TickReport> | null = null;
  private taskRunner: Promise<void> | null = null;
  private closed = false;
  private rowEnsured = false;

  constructor(options: EngineOptions) {
    this.opts = options;
    positiveNumber('BATCH_SIZE', options.batchSize, { integer: true, min: 1 });
    this.policy = checkRetryPolicy({ ...DEFAULT_RETRY_POLICY, ...options.retry });
    this.concurrency = positiveNumber('concurrency', options.concurrency ?? 4, { integer: true, min: 1 });
    this.clock = options.clock ?? Date.now;
    this.random = options.random ?? Math.random;
    this.instanceId = options.instanceId ?? randomUUID();
    if (options.schedule) {
      const s = options.schedule;
      this.plan = {
        intervalMs: s.intervalMs,
        settleMs: s.settleMs ?? DEFAULT_SETTLE_MS,
        maxWindowsPerTick: s.maxWindowsPerTick ?? DEFAULT_MAX_WINDOWS_PER_TICK,
        ...(s.initialStart !== undefined ? { initialStart: s.initialStart } : {}),
        leaseTtlMs: s.leaseTtlMs ?? Math.max(2 * s.intervalMs, 300_000),
      };
      dueWindows(null, 0, this.plan); // validates the options now rather than on the first tick
      if (!options.bookmark) throw new ConnectorError('INVALID_OPTION', 'schedule mode needs a bookmark store');
    }
  }

  // ---------------------------------------------------------------- schedule mode

  /**
   * One schedule step. Overlapping calls do not overlap: while a tick runs, another returns
   * `{skipped: 'busy'}`. Never rejects; problems become events.
   */
  tick(now: number = this.clock()): Promise<TickReport> {
    if (this.closed) return Promise.resolve({ skipped: 'closed', delivered: 0, failed: 0, backlog: 0 });
    if (this.ticking) return Promise.resolve({ skipped: 'busy', delivered: 0, failed: 0, backlog: 0 });
    const run = this.runTick(now)
      .catch((err: unknown): TickReport => {
        this.emit({ type: 'error', reason: `tick failed: ${errorText(err)}` });
        return { delivered: 0, failed: 1, backlog: 0 };
      })
      .finally(() => {
        this.ticking = null;
      });
    this.ticking = run;
    return run;
  }

  private async runTick(now: number): Promise<TickReport> {
    const report: TickReport = { delivered: 0, failed: 0, backlog: 0 };
    await this.resumeRequestUnits(report);
    const { bookmark } = this.opts;
    if (!this.plan || !bookmark) return { ...report, skipped: 'no-schedule' };
    if (!this.rowEnsured) {
      await bookmark.ensure(now);
      this.rowEnsured = true;
    }
    if (!(await bookmark.acquireLease(this.instanceId, now, this.plan.leaseTtlMs))) {
      const state = await bookmark.read();
      this.emit({ type: 'lease-busy', owner: state?.leaseOwner ?? null, until: state?.leaseUntil ?? null });
      return { ...report, skipped: 'lease-busy' };
    }
    // Windows stored by an earlier tick or run come first, in order.
    for (const unit of this.opts.outbox.pendingUnits()) {
      if (unit.manifest.origin !== 'schedule' || this.inFlight.has(unit.manifest.key)) continue;
      if (!(await this.finishScheduleUnit(unit, report))) return this.withBacklog(report, now);
    }
    const state = await bookmark.read();
    let position = state?.windowEnd ?? await this.pinFirstWindow(now);
    for (const window of dueWindows(position, now, this.plan, this.heldSince(now))) {
      if (this.closed) break;
      if (this.opts.outbox.isFull()) {
        this.emit({ type: 'backpressure', batches: this.opts.outbox.batchCount, bytes: this.opts.outbox.byteCount });
        break;
      }
      if (!(await bookmark.acquireLease(this.instanceId, this.clock(), this.plan.leaseTtlMs))) {
        const lost = await bookmark.read();
        this.emit({ type: 'lease-busy', owner: lost?.leaseOwner ?? null, until: lost?.leaseUntil ?? null });
        break;
      }
      const unit = await this.fetchIntoOutbox('schedule', window, window, `s-${window.start}-${window.end}`, this.opts.sendEmptyWindows ?? true, 0);
      if (!unit) {
        report.failed += 1;
        break;
      }
      if (!(await this.finishScheduleUnit(unit, report, position))) break;
      position = window.end;
    }
    return this.withBacklog(report, now);
  }

  /**
   * Without a bookmark (the first run), records where the schedule starts: the last complete
   * window now, or the configured initial start. Otherwise, while windows wait (rows still
   * arriving, a failing receiver), the start would move on with the clock and skip them.
   */
  private async pinFirstWindow(now: number): Promise<number | null> {
    const bookmark = this.opts.bookmark as BookmarkStore;
    const start = firstWindowStart(now, this.plan as SchedulePlanOptions);
    if (await bookmark.advance(this.instanceId, null, start, now)) return start;
    return (await bookmark.read())?.windowEnd ?? null;
  }

  private async withBacklog(report: TickReport, now: number): Promise<TickReport> {
    if (this.plan && this.opts.bookmark) {
      const state = await this.opts.bookmark.read();
      const position = state?.windowEnd ?? null;
      const heldSince = this.heldSince(now);
      report.backlog = backlogSize(position, now, this.plan, heldSince);
      const held = heldSince === null ? 0 : backlogSize(position, now, this.plan) - report.backlog;
      if (held > 0) {
        report.held = held;
        report.heldSince = heldSince as number;
      }
    }
    return report;
  }

  /** See ScheduleOptions.heldSince; a throwing provider holds nothing back (it must not stop the schedule). */
  private heldSince(now: number): number | null {
    try {
      const since = this.opts.schedule?.heldSince?.(now) ?? null;
      return since !== null && Number.isFinite(since) ? since : null;
    } catch (err) {
      this.emit({ type: 'error', reason: `checking for rows still arriving failed: ${errorText(err)}` });
      return null;
    }
  }

  /** Delivers a stored schedule window and advances the bookmark past it. False: stop this tick. */
  private async finishScheduleUnit(unit: OutboxUnit, report: TickReport, expected?: number | null): Promise<boolean> {
    const bookmark = this.opts.bookmark as BookmarkStore;
    const { manifest } = unit;
    const result = await this.deliverUnit(unit);
    if (!result.ok) {
      report.failed += 1;
      this.emitFailure(manifest.origin, manifest.envelope, manifest.fetch, result);
      return false;
    }
    const current = expected !== undefined ? expected : ((await bookmark.read())?.windowEnd ?? null);
    const advanced = await this.advanceBookmark(manifest.fetch, current);
    await this.opts.outbox.completeUnit(manifest.key);
    if (!advanced) return false;
    report.delivered += 1;
    this.emit({ type: 'window-delivered', origin: 'schedule', window: manifest.envelope, fetched: manifest.fetch, batches: manifest.batchCount, readings: manifest.readingCount });
    return true;
  }

  private async advanceBookmark(window: TimeWindow, current: number | null): Promise<boolean> {
    const bookmark = this.opts.bookmark as BookmarkStore;
    // A bookmark already at or past this window: someone (a previous run) recorded it; fine.
    if (current !== null && current >= window.end) return true;
    // The window must continue the bookmark exactly (null: the very first window).
    if ((current === null || current === window.start) && (await bookmark.advance(this.instanceId, current, window.end, this.clock()))) return true;
    const state = await bookmark.read();
    if (state?.windowEnd != null && state.windowEnd >= window.end) return true;
    this.emit({ type: 'bookmark-conflict', window, bookmark: state?.windowEnd ?? null });
    return false;
  }

  /** Figures for a node status or a health endpoint. */
  stats(): { outboxBatches: number; outboxBytes: number; outboxFull: boolean; tasksRunning: number; tasksQueued: number; ticking: boolean } {
    let running = 0;
    for (const task of this.tasks.values()) if (task.state === 'STARTED') running += 1;
    return {
      outboxBatches: this.opts.outbox.batchCount,
      outboxBytes: this.opts.outbox.byteCount,
      outboxFull: this.opts.outbox.isFull(),
      tasksRunning: running,
      tasksQueued: this.taskQueue.length,
      ticking: this.ticking !== null,
    };
  }

  // ---------------------------------------------------------------- request mode

  /** Validates a request window and queues a task; returns its id. Throws ConnectorError (→ 422/503). */
  submit(startTime: unknown, endTime: unknown): string {
    if (this.closed) throw new ConnectorError('NOT_READY', 'the connector is shutting down');
    const request = this.opts.request ?? {};
    const now = this.clock();
    const window = parseRequestWindow(startTime, endTime, {
      ...(request.maxSpanMs !== undefined ? { maxSpanMs: request.maxSpanMs } : {}),
      ...(request.allowFuture ? {} : { now }),
    });
    this.makeRoomForTask(now);
    const chunkMs = request.chunkMs ?? 3_600_000;
    const task: Task = { id: randomUUID(), window, state: 'PENDING', current: 0, total: splitWindow(window, chunkMs).length, status: 'task submitted' };
    this.tasks.set(task.id, task);
    this.taskQueue.push(task);
    this.kickTasks();
    return task.id;
  }

  /**
   * Starts the task runner if it is idle. It starts on a later turn, so the caller's answer
   * ("task submitted", PENDING) is what it sees first; a task queued while the runner was finishing
   * restarts it, so none is stranded.
   */
  private kickTasks(): void {
    if (this.taskRunner || this.taskQueue.length === 0) return;
    this.taskRunner = Promise.resolve()
      .then(() => this.runTasks())
      .finally(() => {
        this.taskRunner = null;
        this.kickTasks();
      });
  }

  getTask(id: string): TaskView | undefined {
    this.expireTasks(this.clock());
    const task = this.tasks.get(id);
    return task && { state: task.state, current: task.current, total: task.total, status: task.status };
  }

  private expireTasks(now: number): void {
    const ttl = this.opts.request?.taskTtlMs ?? 86_400_000;
    for (const [id, task] of this.tasks) if (task.finishedAt !== undefined && now - task.finishedAt > ttl) this.tasks.delete(id);
  }

  private makeRoomForTask(now: number): void {
    this.expireTasks(now);
    const max = this.opts.request?.maxTasks ?? 1000;
    if (this.tasks.size < max) return;
    // Map iteration is insertion order: the first finished task found is the oldest one.
    for (const [id, task] of this.tasks) {
      if (task.finishedAt !== undefined) {
        this.tasks.delete(id);
        return;
      }
    }
    throw new ConnectorError('TASKS_FULL', `${max} tasks are pending or running; try again later`);
  }

  private async runTasks(): Promise<void> {
    for (let task = this.taskQueue.shift(); task; task = this.taskQueue.shift()) {
      try {
        await this.runTask(task);
      } catch (err) {
        // The task's status is read by API clients: the error's text (paths, addresses) goes to the log.
        this.emit({ type: 'error', reason: `request task ${task.id} failed: ${errorText(err)}` });
        this.finishTask(task, 'FAILURE', 'failed: internal error (the Node-RED log says why)');
      }
    }
  }

  private async runTask(task: Task): Promise<void> {
    if (this.closed) return this.finishTask(task, 'FAILURE', 'the connector shut down before the task started');
    const chunkMs = this.opts.request?.chunkMs ?? 3_600_000;
    // `current` and `total` count these pieces; every status says so in words.
    const pieces = splitWindow(task.window, chunkMs);
    const length = pieceLength(chunkMs);
    const allPieces = counted(pieces.length, `${length} piece`, `${length} pieces`);
    const piecesOf = (done: number): string => `${done} of ${allPieces}`;
    task.state = 'STARTED';
    task.status = `posting the window in ${allPieces}`;
    let nextIndex = 0;
    let readings = 0;
    for (let i = 0; i < pieces.length; i++) {
      const last = i === pieces.length - 1;
      if (this.opts.outbox.isFull()) return this.finishTask(task, 'FAILURE', 'the outbox is full (is the receiver down?); try again later');
      const unit = await this.fetchIntoOutbox('request', task.window, pieces[i], `r-${task.id}-${i}`, last && nextIndex === 0 && (this.opts.sendEmptyWindows ?? true), nextIndex, task.id);
      if (!unit) return this.finishTask(task, 'FAILURE', `reading the database failed for ${length} piece ${i + 1} of ${pieces.length}`);
      nextIndex += unit.manifest.batchCount;
      readings += unit.manifest.readingCount;
      const result = await this.deliverUnit(unit);
      if (!result.ok) {
        this.emitFailure('request', task.window, pieces[i], result, task.id);
        // A refused (4xx) batch would be refused again: drop it, the client is told. Retryable
        // failures stay in the outbox and are resent by later ticks.
        if (!result.retryable) await this.opts.outbox.completeUnit(unit.manifest.key);
        return this.finishTask(task, 'FAILURE', `delivery failed: ${result.reason}${result.retryable ? ' (kept in the outbox; retried later)' : ''}`);
      }
      await this.opts.outbox.completeUnit(unit.manifest.key);
      this.emit({ type: 'window-delivered', origin: 'request', window: task.window, fetched: pieces[i], batches: unit.manifest.batchCount, readings: unit.manifest.readingCount, taskId: task.id });
      task.current = i + 1;
      task.status = `${piecesOf(i + 1)} sent: ${counted(readings, 'reading', 'readings')} in ${counted(nextIndex, 'batch', 'batches')}`;
    }
    this.finishTask(task, 'SUCCESS', `delivered ${counted(readings, 'reading', 'readings')} in ${counted(nextIndex, 'batch', 'batches')} (${piecesOf(pieces.length)})`);
  }

  private finishTask(task: Task, state: 'SUCCESS' | 'FAILURE', status: string): void {
    task.state = state;
    task.status = status;
    task.finishedAt = this.clock();
    this.emit({ type: 'task-finished', taskId: task.id, task: { state, current: task.current, total: task.total, status }, window: task.window });
  }

  /** Request pieces left in the outbox by a failed task or a previous run. */
  private async resumeRequestUnits(report: TickReport): Promise<void> {
    for (const unit of this.opts.outbox.pendingUnits()) {
      if (unit.manifest.origin !== 'request' || this.inFlight.has(unit.manifest.key) || this.closed) continue;
      const { manifest } = unit;
      const result = await this.deliverUnit(unit);
      if (result.ok || !result.retryable) await this.opts.outbox.completeUnit(manifest.key);
      if (result.ok) {
        report.delivered += 1;
        this.emit({ type: 'window-delivered', origin: 'request', window: manifest.envelope, fetched: manifest.fetch, batches: manifest.batchCount, readings: manifest.readingCount, ...(manifest.taskId ? { taskId: manifest.taskId } : {}) });
      } else {
        report.failed += 1;
        this.emitFailure('request', manifest.envelope, manifest.fetch, result, manifest.taskId);
      }
    }
  }

  // ---------------------------------------------------------------- shared delivery

  /** Fetches rows for `fetched`, batches them under `envelope` and stores them. Undefined: fetch failed (event emitted). */
  private async fetchIntoOutbox(origin: UnitOrigin, envelope: TimeWindow, fetched: TimeWindow, key: string, sendEmpty: boolean, firstIndex: number, taskId?: string): Promise<OutboxUnit | undefined> {
    let rows: readonly Record<string, unknown>[];
    try {
      rows = await this.opts.fetchRows(fetched);
      if (!Array.isArray(rows)) throw new TypeError('the query did not return rows');
    } catch (err) {
      this.emit({ type: 'fetch-failed', origin, window: fetched, reason: errorText(err), ...(taskId ? { taskId } : {}) });
      return undefined;
    }
    const { readings, rejected } = normalizeRows(rows, this.opts.columns ?? DEFAULT_COLUMNS, fetched);
    if (rejected.length > 0) this.emit({ type: 'rows-rejected', origin, window: fetched, count: rejected.length, examples: rejected.slice(0, MAX_REJECTED_EXAMPLES) });
    const batches = buildBatches(envelope, readings, this.opts.batchSize, { sendEmpty, firstIndex });
    return this.opts.outbox.addUnit({ key, origin, envelope, fetch: fetched, ...(taskId ? { taskId } : {}) }, batches, this.clock());
  }

  /** Posts every unacknowledged batch of a unit (a few at a time), acknowledging each 2xx. */
  private async deliverUnit(unit: OutboxUnit): Promise<UnitResult> {
    const key = unit.manifest.key;
    this.inFlight.add(key);
    try {
      const queue = [...unit.batches.values()].sort((a, b) => a.index - b.index);
      let failure: UnitResult | undefined;
      const worker = async (): Promise<void> => {
        for (let batch = queue.shift(); batch && !failure; batch = queue.shift()) {
          const result = await this.postWithRetry(batch);
          if (result.ok) await this.opts.outbox.ackBatch(key, batch.index);
          else failure ??= result;
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.concurrency, queue.length) }, worker));
      return failure ?? { ok: true };
    } finally {
      this.inFlight.delete(key);
    }
  }

  private async postWithRetry(batch: StoredBatch): Promise<UnitResult> {
    const firstAttemptAt = this.clock();
    for (let attempt = 1; ; attempt++) {
      const outcome: PostOutcome = await this.opts.poster.post(batch.body, batch.id);
      if (classify(outcome) === 'delivered') return { ok: true };
      const decision = decideRetry(outcome, attempt, firstAttemptAt, this.clock(), this.policy, this.random);
      const status = outcome.kind === 'response' ? outcome.status : undefined;
      if (!decision.retry || this.closed) {
        const reason = decision.retry ? `${describeOutcome(outcome)}; the connector is shutting down` : decision.reason;
        return { ok: false, reason, batchId: batch.id, ...(status !== undefined ? { status } : {}), retryable: classify(outcome) === 'retry' };
      }
      await this.sleep(decision.delayMs);
      if (this.closed) return { ok: false, reason: `${describeOutcome(outcome)}; the connector is shutting down`, batchId: batch.id, ...(status !== undefined ? { status } : {}), retryable: true };
    }
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          this.sleepers.delete(entry);
          resolve();
        }, ms),
        resolve,
      };
      this.sleepers.add(entry);
    });
  }

  private emitFailure(origin: UnitOrigin, window: TimeWindow, fetched: TimeWindow, result: Extract<UnitResult, { ok: false }>, taskId?: string): void {
    this.emit({
      type: 'window-failed',
      origin,
      window,
      fetched,
      reason: result.reason,
      batchId: result.batchId,
      ...(result.status !== undefined ? { status: result.status } : {}),
      retryable: result.retryable,
      ...(taskId ? { taskId } : {}),
    });
  }

  private emit(event: ConnectorEvent): void {
    try {
      this.opts.onEvent?.(event);
    } catch {
      // A faulty listener must not break delivery.
    }
  }

  /**
   * Stops: wakes retry sleeps (their batches stay in the outbox), waits for running work, releases
   * the lease. Posts still in flight after `graceMs` are aborted (the connection is destroyed), so
   * close fits in Node-RED's close timeout even when the receiver hangs: an aborted batch is still
   * in the outbox and is sent again by the next run, with the same Idempotency-Key.
   */
  async close(graceMs = Infinity): Promise<void> {
    this.closed = true;
    for (const sleeper of this.sleepers) {
      clearTimeout(sleeper.timer);
      sleeper.resolve();
    }
    this.sleepers.clear();
    for (const task of this.taskQueue.splice(0)) this.finishTask(task, 'FAILURE', 'the connector shut down before the task started');
    const work = Promise.allSettled([this.ticking, this.taskRunner]);
    if (Number.isFinite(graceMs)) {
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), Math.max(0, graceMs));
      });
      const outcome = await Promise.race([work, graceOver]);
      clearTimeout(timer);
      if (outcome === 'late') this.opts.poster.close();
    }
    await work;
    if (this.opts.bookmark && this.plan) await this.opts.bookmark.releaseLease(this.instanceId).catch(() => undefined);
    this.opts.poster.close();
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** `1 batch`, `3 batches`. */
export function counted(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** How long a request's pieces are, as an adjective: `one-hour`, `30-minute`. */
export function pieceLength(ms: number): string {
  if (ms === 3_600_000) return 'one-hour';
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}-hour`;
  if (ms % 60_000 === 0) return `${ms / 60_000}-minute`;
  return `${Math.round(ms / 1000)}-second`;
}
