/**
 * The data connector without Node-RED: schedule mode (`tick`) and request mode (`submit`), put
 * together from parts with one job each:
 *
 * - schedule-runner.ts: the scheduled windows (lease, bookmark, catch-up, waiting for arrivals);
 * - request-runner.ts: the request API's tasks, run one at a time; task-registry.ts: their states;
 * - delivery.ts: fetch → durable outbox → POST with retries, shared by both modes.
 *
 * The engine owns the life cycle: one tick at a time, the figures for a status, and a close that
 * fits Node-RED's close timeout.
 */
import { randomUUID } from 'node:crypto';
import type { BookmarkStore } from './bookmark';
import { UnitDelivery, type DeliverySettings } from './delivery';
import { errorText, eventSink, type ConnectorEvent, type EmitEvent } from './events';
import type { Outbox } from './outbox';
import type { BatchPoster } from './poster';
import { RequestRunner, type RequestOptions } from './request-runner';
import { ScheduleRunner, type ScheduleOptions, type TickReport } from './schedule-runner';
import { TaskRegistry, type TaskView } from './task-registry';

export type { ConnectorEvent } from './events';
export type { FetchRows } from './delivery';
export type { RequestOptions } from './request-runner';
export type { ScheduleOptions, TickReport } from './schedule-runner';
export type { TaskState, TaskView } from './task-registry';

export interface EngineOptions extends DeliverySettings {
  /** Post an envelope with empty `data` for a window without readings (as the original did); default true. */
  sendEmptyWindows?: boolean;
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

export class ConnectorEngine {
  readonly instanceId: string;
  private readonly outbox: Outbox;
  private readonly poster: BatchPoster;
  private readonly clock: () => number;
  private readonly emit: EmitEvent;
  private readonly delivery: UnitDelivery;
  private readonly tasks: TaskRegistry;
  private readonly requests: RequestRunner;
  private readonly schedule?: ScheduleRunner;
  private ticking: Promise<TickReport> | null = null;

  constructor(options: EngineOptions) {
    const { outbox } = options;
    const clock = options.clock ?? Date.now;
    const emit = eventSink(options.onEvent);
    const sendEmptyWindows = options.sendEmptyWindows ?? true;
    this.outbox = outbox;
    this.poster = options.poster;
    this.clock = clock;
    this.emit = emit;
    const delivery = new UnitDelivery({
      fetchRows: options.fetchRows,
      poster: options.poster,
      outbox,
      batchSize: options.batchSize,
      columns: options.columns,
      retry: options.retry,
      concurrency: options.concurrency,
      clock,
      random: options.random ?? Math.random,
      emit,
    });
    this.delivery = delivery;
    this.instanceId = options.instanceId ?? randomUUID();
    if (options.schedule) {
      this.schedule = new ScheduleRunner({
        schedule: options.schedule,
        bookmark: options.bookmark,
        instanceId: this.instanceId,
        delivery,
        outbox,
        sendEmptyWindows,
        clock,
        emit,
      });
    }
    const request = options.request ?? {};
    this.tasks = new TaskRegistry({ maxTasks: request.maxTasks, taskTtlMs: request.taskTtlMs, clock });
    this.requests = new RequestRunner({ request, registry: this.tasks, delivery, outbox, sendEmptyWindows, clock, emit });
  }

  /**
   * One step: resend request pieces left in the outbox, then the schedule's step. Overlapping calls
   * do not overlap: while a tick runs, another returns `{skipped: 'busy'}`. Never rejects;
   * problems become events.
   */
  tick(now: number = this.clock()): Promise<TickReport> {
    if (this.delivery.stopped) return Promise.resolve({ skipped: 'closed', delivered: 0, failed: 0, backlog: 0 });
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
    await this.requests.resendStoredPieces(report);
    if (!this.schedule) return { ...report, skipped: 'no-schedule' };
    return this.schedule.run(now, report);
  }

  /** Validates a request window and queues a task; returns its id. Throws ConnectorError (→ 422/503). */
  submit(startTime: unknown, endTime: unknown): string {
    return this.requests.submit(startTime, endTime);
  }

  getTask(id: string): TaskView | undefined {
    return this.tasks.view(id);
  }

  /** Figures for a node status or a health endpoint. */
  stats(): {
    outboxBatches: number;
    outboxBytes: number;
    outboxFull: boolean;
    tasksRunning: number;
    tasksQueued: number;
    ticking: boolean;
  } {
    return {
      outboxBatches: this.outbox.batchCount,
      outboxBytes: this.outbox.byteCount,
      outboxFull: this.outbox.isFull(),
      tasksRunning: this.tasks.running,
      tasksQueued: this.tasks.queued,
      ticking: this.ticking !== null,
    };
  }

  /**
   * Stops: wakes retry sleeps (their batches stay in the outbox), waits for running work, releases
   * the lease. Posts still in flight after `graceMs` are aborted (the connection is destroyed), so
   * close fits in Node-RED's close timeout even when the receiver hangs: an aborted batch is still
   * in the outbox and is sent again by the next run, with the same Idempotency-Key.
   */
  async close(graceMs = Infinity): Promise<void> {
    this.delivery.stop();
    this.requests.cancelQueued();
    const work = Promise.allSettled([this.ticking, this.requests.running]);
    if (Number.isFinite(graceMs)) {
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), Math.max(0, graceMs));
      });
      const outcome = await Promise.race([work, graceOver]);
      clearTimeout(timer);
      if (outcome === 'late') this.poster.close();
    }
    await work;
    await this.schedule?.releaseLease();
    this.poster.close();
  }
}
