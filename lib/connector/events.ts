/**
 * What the connector reports while it works (a node turns these into status, log lines and
 * messages). Every part of the engine reports through one sink, which a faulty listener cannot break.
 */
import type { RejectedRow } from './batches';
import type { UnitOrigin } from './outbox';
import type { TaskView } from './task-registry';
import type { TimeWindow } from './windows';

export type ConnectorEvent =
  | {
      type: 'window-delivered';
      origin: UnitOrigin;
      window: TimeWindow;
      fetched: TimeWindow;
      batches: number;
      readings: number;
      taskId?: string;
    }
  | {
      type: 'window-failed';
      origin: UnitOrigin;
      window: TimeWindow;
      fetched: TimeWindow;
      reason: string;
      batchId?: string;
      status?: number;
      retryable: boolean;
      taskId?: string;
    }
  | { type: 'fetch-failed'; origin: UnitOrigin; window: TimeWindow; reason: string; taskId?: string }
  | { type: 'rows-rejected'; origin: UnitOrigin; window: TimeWindow; count: number; examples: RejectedRow[] }
  | { type: 'backpressure'; batches: number; bytes: number }
  | { type: 'lease-busy'; owner: string | null; until: number | null }
  | { type: 'bookmark-conflict'; window: TimeWindow; bookmark: number | null }
  | { type: 'task-finished'; taskId: string; task: TaskView; window: TimeWindow }
  | { type: 'error'; reason: string };

export type EmitEvent = (event: ConnectorEvent) => void;

/** The listener behind a sink that never throws: a faulty listener must not break delivery. */
export function eventSink(listener: ((event: ConnectorEvent) => void) | undefined): EmitEvent {
  return (event) => {
    try {
      listener?.(event);
    } catch {
      // ignored, see above
    }
  };
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
