/**
 * Request mode: `submit(start, end)` validates the window, registers a task (task-registry.ts) and
 * runs it in the background, one task at a time. A task fetches its span in pieces (bounding
 * memory), sends every batch with the request's envelope, and reports `current/total` pieces in
 * words. Request mode never touches the bookmark. Pieces a failed task or an earlier run left in
 * the outbox are sent again by `resendStoredPieces` (every tick).
 */
import { ConnectorError } from './errors';
import type { DeliveryContext } from './delivery';
import { errorText } from './events';
import type { Task, TaskRegistry } from './task-registry';
import { parseRequestWindow, splitWindow } from './windows';

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

export interface RequestRunnerOptions extends DeliveryContext {
  request: RequestOptions;
  registry: TaskRegistry;
}

const DEFAULT_CHUNK_MS = 3_600_000;
const SHUT_DOWN_BEFORE_START = 'the connector shut down before the task started';

export class RequestRunner {
  private readonly opts: RequestRunnerOptions;
  private readonly chunkMs: number;
  private runner: Promise<void> | null = null;

  constructor(options: RequestRunnerOptions) {
    this.opts = options;
    this.chunkMs = options.request.chunkMs ?? DEFAULT_CHUNK_MS;
  }

  /** Settles when the task running now (and those queued behind it) is done; null when idle. */
  get running(): Promise<void> | null {
    return this.runner;
  }

  /** Validates a request window and queues a task; returns its id. Throws ConnectorError (→ 422/503). */
  submit(startTime: unknown, endTime: unknown): string {
    if (this.opts.delivery.stopped) throw new ConnectorError('NOT_READY', 'the connector is shutting down');
    const { request } = this.opts;
    const window = parseRequestWindow(startTime, endTime, {
      ...(request.maxSpanMs !== undefined ? { maxSpanMs: request.maxSpanMs } : {}),
      ...(request.allowFuture ? {} : { now: this.opts.clock() }),
    });
    const task = this.opts.registry.add(window, splitWindow(window, this.chunkMs).length);
    this.kick();
    return task.id;
  }

  /** Fails every task still waiting to start (the connector is stopping). */
  cancelQueued(): void {
    for (const task of this.opts.registry.takeQueued()) this.finish(task, 'FAILURE', SHUT_DOWN_BEFORE_START);
  }

  /** Request pieces left in the outbox by a failed task or a previous run. */
  async resendStoredPieces(tally: { delivered: number; failed: number }): Promise<void> {
    const { delivery, outbox, emit } = this.opts;
    for (const unit of outbox.pendingUnits()) {
      if (unit.manifest.origin !== 'request' || delivery.isDelivering(unit.manifest.key) || delivery.stopped) continue;
      const { manifest } = unit;
      const result = await delivery.deliver(unit);
      if (result.ok || !result.retryable) await outbox.completeUnit(manifest.key);
      if (result.ok) {
        tally.delivered += 1;
        emit({
          type: 'window-delivered',
          origin: 'request',
          window: manifest.envelope,
          fetched: manifest.fetch,
          batches: manifest.batchCount,
          readings: manifest.readingCount,
          ...(manifest.taskId ? { taskId: manifest.taskId } : {}),
        });
      } else {
        tally.failed += 1;
        delivery.reportFailure('request', manifest.envelope, manifest.fetch, result, manifest.taskId);
      }
    }
  }

  /**
   * Starts the runner if it is idle. It starts on a later turn, so the caller's answer
   * ("task submitted", PENDING) is what it sees first; a task queued while the runner was finishing
   * restarts it, so none is stranded.
   */
  private kick(): void {
    if (this.runner || this.opts.registry.queued === 0) return;
    this.runner = Promise.resolve()
      .then(() => this.runQueued())
      .finally(() => {
        this.runner = null;
        this.kick();
      });
  }

  private async runQueued(): Promise<void> {
    for (let task = this.opts.registry.nextQueued(); task; task = this.opts.registry.nextQueued()) {
      try {
        await this.run(task);
      } catch (err) {
        // The task's status is read by API clients: the error's text (paths, addresses) goes to the log.
        this.opts.emit({ type: 'error', reason: `request task ${task.id} failed: ${errorText(err)}` });
        this.finish(task, 'FAILURE', 'failed: internal error (the Node-RED log says why)');
      }
    }
  }

  private async run(task: Task): Promise<void> {
    const { delivery, outbox, registry } = this.opts;
    if (delivery.stopped) return this.finish(task, 'FAILURE', SHUT_DOWN_BEFORE_START);
    // `current` and `total` count these pieces; every status says so in words.
    const pieces = splitWindow(task.window, this.chunkMs);
    const length = pieceLength(this.chunkMs);
    const allPieces = counted(pieces.length, `${length} piece`, `${length} pieces`);
    const piecesOf = (done: number): string => `${done} of ${allPieces}`;
    registry.start(task, `posting the window in ${allPieces}`);
    let nextIndex = 0;
    let readings = 0;
    for (let i = 0; i < pieces.length; i++) {
      const last = i === pieces.length - 1;
      if (outbox.isFull()) return this.finish(task, 'FAILURE', 'the outbox is full (is the receiver down?); try again later');
      const unit = await delivery.fetchIntoOutbox(
        'request',
        task.window,
        pieces[i],
        `r-${task.id}-${i}`,
        last && nextIndex === 0 && this.opts.sendEmptyWindows,
        nextIndex,
        task.id,
      );
      if (!unit) return this.finish(task, 'FAILURE', `reading the database failed for ${length} piece ${i + 1} of ${pieces.length}`);
      nextIndex += unit.manifest.batchCount;
      readings += unit.manifest.readingCount;
      const result = await delivery.deliver(unit);
      if (!result.ok) {
        delivery.reportFailure('request', task.window, pieces[i], result, task.id);
        // A refused (4xx) batch would be refused again: drop it, the client is told. Retryable
        // failures stay in the outbox and are resent by later ticks.
        if (!result.retryable) await outbox.completeUnit(unit.manifest.key);
        return this.finish(
          task,
          'FAILURE',
          `delivery failed: ${result.reason}${result.retryable ? ' (kept in the outbox; retried later)' : ''}`,
        );
      }
      await outbox.completeUnit(unit.manifest.key);
      this.opts.emit({
        type: 'window-delivered',
        origin: 'request',
        window: task.window,
        fetched: pieces[i],
        batches: unit.manifest.batchCount,
        readings: unit.manifest.readingCount,
        taskId: task.id,
      });
      registry.progress(
        task,
        i + 1,
        `${piecesOf(i + 1)} sent: ${counted(readings, 'reading', 'readings')} in ${counted(nextIndex, 'batch', 'batches')}`,
      );
    }
    this.finish(
      task,
      'SUCCESS',
      `delivered ${counted(readings, 'reading', 'readings')} in ${counted(nextIndex, 'batch', 'batches')} (${piecesOf(pieces.length)})`,
    );
  }

  private finish(task: Task, state: 'SUCCESS' | 'FAILURE', status: string): void {
    const view = this.opts.registry.finish(task, state, status);
    this.opts.emit({ type: 'task-finished', taskId: task.id, task: view, window: task.window });
  }
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
