/**
 * The request tasks the connector knows of (`/raise-request` registers one, `GET /tasks/<id>`
 * reads it): their states, a queue of those not started yet, and bounds. Bounded in count: a
 * finished task expires after a time to live or makes room for a new one, oldest first; when every
 * remembered task is still pending or running, a new one is refused (TASKS_FULL → 503). Running
 * them is request-runner.ts's job.
 */
import { randomUUID } from 'node:crypto';
import { ConnectorError } from './errors';
import type { TimeWindow } from './windows';

export type TaskState = 'PENDING' | 'STARTED' | 'SUCCESS' | 'FAILURE';

/** The contract's `GET /tasks/<id>` answer. */
export interface TaskView {
  state: TaskState;
  current: number;
  total: number;
  status: string;
}

/** A task as its runner sees it; its state changes only through the registry. */
export interface Task extends Readonly<TaskView> {
  readonly id: string;
  readonly window: TimeWindow;
}

export interface TaskRegistryOptions {
  /** Tasks remembered (finished ones expire first); default 1000. */
  maxTasks?: number;
  /** Finished tasks are forgotten after this; default 24 h. */
  taskTtlMs?: number;
  clock: () => number;
}

interface TaskRecord extends TaskView {
  id: string;
  window: TimeWindow;
  finishedAt?: number;
}

export class TaskRegistry {
  private readonly maxTasks: number;
  private readonly taskTtlMs: number;
  private readonly clock: () => number;
  /** Insertion order: the first finished task found is the oldest one. */
  private readonly tasks = new Map<string, TaskRecord>();
  private readonly queue: TaskRecord[] = [];

  constructor(options: TaskRegistryOptions) {
    this.maxTasks = options.maxTasks ?? 1000;
    this.taskTtlMs = options.taskTtlMs ?? 86_400_000;
    this.clock = options.clock;
  }

  /** Registers a PENDING task at the end of the queue. Throws ConnectorError TASKS_FULL when there is no room. */
  add(window: TimeWindow, total: number): Task {
    this.makeRoom(this.clock());
    const task: TaskRecord = { id: randomUUID(), window, state: 'PENDING', current: 0, total, status: 'task submitted' };
    this.tasks.set(task.id, task);
    this.queue.push(task);
    return task;
  }

  /** The task's answer for `GET /tasks/<id>`; undefined when unknown or expired. */
  view(id: string): TaskView | undefined {
    this.expire(this.clock());
    const task = this.tasks.get(id);
    return task && { state: task.state, current: task.current, total: task.total, status: task.status };
  }

  /** Takes the next queued task off the queue (it stays PENDING until started). */
  nextQueued(): Task | undefined {
    return this.queue.shift();
  }

  /** Takes every queued task off the queue (to finish them when the connector stops). */
  takeQueued(): Task[] {
    return this.queue.splice(0);
  }

  start(task: Task, status: string): void {
    const record = this.record(task);
    record.state = 'STARTED';
    record.status = status;
  }

  progress(task: Task, current: number, status: string): void {
    const record = this.record(task);
    record.current = current;
    record.status = status;
  }

  /** Finishes a task (its time to live starts now); returns its final answer. */
  finish(task: Task, state: 'SUCCESS' | 'FAILURE', status: string): TaskView {
    const record = this.record(task);
    record.state = state;
    record.status = status;
    record.finishedAt = this.clock();
    return { state, current: record.current, total: record.total, status };
  }

  get running(): number {
    let running = 0;
    for (const task of this.tasks.values()) if (task.state === 'STARTED') running += 1;
    return running;
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Tasks are handed out as read-only views of their records: this is the record again. */
  private record(task: Task): TaskRecord {
    return task as TaskRecord;
  }

  private expire(now: number): void {
    for (const [id, task] of this.tasks) if (task.finishedAt !== undefined && now - task.finishedAt > this.taskTtlMs) this.tasks.delete(id);
  }

  private makeRoom(now: number): void {
    this.expire(now);
    if (this.tasks.size < this.maxTasks) return;
    for (const [id, task] of this.tasks) {
      if (task.finishedAt !== undefined) {
        this.tasks.delete(id);
        return;
      }
    }
    throw new ConnectorError('TASKS_FULL', `${this.maxTasks} tasks are pending or running; try again later`);
  }
}
