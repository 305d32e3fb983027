/**
 * Getting one unit of readings to the receiver, for the schedule and the request tasks alike:
 * fetch the rows of a span → batches → the durable outbox (a "unit") → POST every batch, a few at a
 * time, retrying per policy → acknowledge each 2xx in the outbox. What happens to a unit after
 * that (advance the bookmark, finish a task) is the caller's.
 *
 * `stop()` ends the retry waits at once (their batches stay in the outbox) and tells every caller
 * that nothing new is to start: the engine's one "shutting down" flag.
 */
import { buildBatches, DEFAULT_COLUMNS, normalizeRows, type ReadingColumns } from './batches';
import { errorText, type EmitEvent } from './events';
import { positiveNumber } from './errors';
import type { Outbox, OutboxUnit, StoredBatch, UnitOrigin } from './outbox';
import type { BatchPoster, PostOutcome } from './poster';
import { checkRetryPolicy, classify, decideRetry, DEFAULT_RETRY_POLICY, describeOutcome, type RetryPolicy } from './retry';
import type { TimeWindow } from './windows';

export type FetchRows = (window: TimeWindow) => Promise<readonly Record<string, unknown>[]>;

export type UnitResult = { ok: true } | UnitFailure;
export type UnitFailure = { ok: false; reason: string; batchId: string; status?: number; retryable: boolean };

/** What a user configures about delivery (the engine's options share these). */
export interface DeliverySettings {
  fetchRows: FetchRows;
  poster: BatchPoster;
  outbox: Outbox;
  /** BATCH_SIZE: readings per request. */
  batchSize: number;
  columns?: ReadingColumns;
  retry?: Partial<RetryPolicy>;
  /** Batches of one unit in flight at once; default 4. */
  concurrency?: number;
}

export interface DeliveryOptions extends DeliverySettings {
  clock: () => number;
  random: () => number;
  emit: EmitEvent;
}

/** What the schedule and the request runner both work with. */
export interface DeliveryContext {
  delivery: UnitDelivery;
  outbox: Outbox;
  /** Post an envelope with empty `data` for a window without readings. */
  sendEmptyWindows: boolean;
  clock: () => number;
  emit: EmitEvent;
}

const MAX_REJECTED_EXAMPLES = 20;

export class UnitDelivery {
  private readonly opts: DeliveryOptions;
  private readonly policy: RetryPolicy;
  private readonly concurrency: number;
  /** Keys of the units being posted now: a tick does not post them a second time meanwhile. */
  private readonly delivering = new Set<string>();
  private readonly sleepers = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  private isStopped = false;

  constructor(options: DeliveryOptions) {
    this.opts = options;
    positiveNumber('BATCH_SIZE', options.batchSize, { integer: true, min: 1 });
    this.policy = checkRetryPolicy({ ...DEFAULT_RETRY_POLICY, ...options.retry });
    this.concurrency = positiveNumber('concurrency', options.concurrency ?? 4, { integer: true, min: 1 });
  }

  /** True once stop() was called: start nothing new. */
  get stopped(): boolean {
    return this.isStopped;
  }

  isDelivering(key: string): boolean {
    return this.delivering.has(key);
  }

  /** Fetches rows for `fetched`, batches them under `envelope` and stores them. Undefined: fetch failed (event emitted). */
  async fetchIntoOutbox(
    origin: UnitOrigin,
    envelope: TimeWindow,
    fetched: TimeWindow,
    key: string,
    sendEmpty: boolean,
    firstIndex: number,
    taskId?: string,
  ): Promise<OutboxUnit | undefined> {
    let rows: readonly Record<string, unknown>[];
    try {
      rows = await this.opts.fetchRows(fetched);
      if (!Array.isArray(rows)) throw new TypeError('the query did not return rows');
    } catch (err) {
      this.opts.emit({ type: 'fetch-failed', origin, window: fetched, reason: errorText(err), ...(taskId ? { taskId } : {}) });
      return undefined;
    }
    const { readings, rejected } = normalizeRows(rows, this.opts.columns ?? DEFAULT_COLUMNS, fetched);
    if (rejected.length > 0)
      this.opts.emit({
        type: 'rows-rejected',
        origin,
        window: fetched,
        count: rejected.length,
        examples: rejected.slice(0, MAX_REJECTED_EXAMPLES),
      });
    const batches = buildBatches(envelope, readings, this.opts.batchSize, { sendEmpty, firstIndex });
    return this.opts.outbox.addUnit({ key, origin, envelope, fetch: fetched, ...(taskId ? { taskId } : {}) }, batches, this.opts.clock());
  }

  /** Posts every unacknowledged batch of a unit (a few at a time), acknowledging each 2xx. */
  async deliver(unit: OutboxUnit): Promise<UnitResult> {
    const key = unit.manifest.key;
    this.delivering.add(key);
    try {
      const queue = [...unit.batches.values()].sort((a, b) => a.index - b.index);
      let failure: UnitFailure | undefined;
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
      this.delivering.delete(key);
    }
  }

  /** The `window-failed` event for a unit that was not delivered. */
  reportFailure(origin: UnitOrigin, window: TimeWindow, fetched: TimeWindow, result: UnitFailure, taskId?: string): void {
    this.opts.emit({
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

  /** Wakes every retry wait (its batch stays in the outbox) and marks the delivery stopped. */
  stop(): void {
    this.isStopped = true;
    for (const sleeper of this.sleepers) {
      clearTimeout(sleeper.timer);
      sleeper.resolve();
    }
    this.sleepers.clear();
  }

  private async postWithRetry(batch: StoredBatch): Promise<UnitResult> {
    const firstAttemptAt = this.opts.clock();
    for (let attempt = 1; ; attempt++) {
      const outcome: PostOutcome = await this.opts.poster.post(batch.body, batch.id);
      if (classify(outcome) === 'delivered') return { ok: true };
      const decision = decideRetry(outcome, attempt, firstAttemptAt, this.opts.clock(), this.policy, this.opts.random);
      const status = outcome.kind === 'response' ? outcome.status : undefined;
      const failed = (reason: string, retryable: boolean): UnitFailure => ({
        ok: false,
        reason,
        batchId: batch.id,
        ...(status !== undefined ? { status } : {}),
        retryable,
      });
      const shuttingDown = `${describeOutcome(outcome)}; the connector is shutting down`;
      if (!decision.retry) return failed(decision.reason, classify(outcome) === 'retry');
      if (this.isStopped) return failed(shuttingDown, true);
      await this.sleep(decision.delayMs);
      if (this.isStopped) return failed(shuttingDown, true);
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
}
