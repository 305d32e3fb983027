/**
 * What the `iotp-stats` node reports about the writers, MQTT ingests and connectors running in this Node-RED:
 * the numbers their node statuses show, as data a flow (a dashboard) can use. Node-RED's core
 * `status` node only sees nodes of its own tab; a dashboard lives on another one.
 *
 * Each node exposes a `pipelineStats()` snapshot (constant work: counters it keeps anyway and a
 * bounded list of recent events), the stats node collects them when asked.
 */

export interface WriterSnapshot {
  kind: 'writer';
  id: string;
  name: string;
  /** Label of the tab the node is on. */
  tab: string;
  table: string;
  /** The migration set the writer applies (statestream, sensors, ...); '' for none. */
  schema: string;
  state: string;
  rowsPerSecond: number;
  committed: number;
  /** Rows accepted but not yet committed: in memory, plus rows waiting in the outage journal. */
  backlogRows: number;
  journalRows: number;
  /** Epoch ms of the oldest row still on its way in, or null. */
  pendingSince: number | null;
  lastError: string | null;
}

export interface IngestSnapshot {
  kind: 'ingest';
  id: string;
  name: string;
  tab: string;
  /** The subscription filters, as configured (one per line). */
  topics: string;
  /** When the broker's copy is acknowledged: 'journal' (once on disk here), 'complete' or 'receive'. */
  ack: string;
  connected: boolean;
  /** Tables its messages end up in (through the db write nodes it reaches); null: cannot tell. */
  feeds: string[] | null;
  /** Messages handed to the flow and not finished yet. */
  inFlow: number;
  /**
   * Messages taken off the broker and not yet handed to the flow: journaled and waiting, plus those
   * waiting for room in a full journal (0 without a journal: the broker holds them).
   */
  journalBacklog: number;
  journalBytes: number;
  /** Epoch ms since which journaled messages wait for the flow to finish them, or null. */
  waitingSince: number | null;
  deadLettered: number;
}

export interface ConnectorWindowEvent {
  origin: string;
  start_time: string;
  end_time: string;
  /** Epoch ms when it happened. */
  at: number;
  readings?: number;
  batches?: number;
  reason?: string;
  task_id?: string;
  /** A request task's own summary (`delivered 445 readings in 15 batches`). */
  status?: string;
}

export interface ConnectorSnapshot {
  kind: 'connector';
  id: string;
  name: string;
  tab: string;
  state: 'starting' | 'ready' | 'standby' | 'held' | 'failed' | 'unavailable';
  /** End (epoch ms, exclusive) of the last window the schedule delivered, as stored; null before the first. */
  bookmark: number | null;
  intervalMinutes: number | null;
  /** Complete windows due after the bookmark at the last tick (catch-up backlog). */
  windowsDue: number;
  /** Of those, windows due by the clock that wait for rows still on their way in. */
  windowsHeld: number;
  outboxBatches: number;
  lastError: string | null;
  /** Newest first, at most RECENT_EVENTS each. */
  lastDeliveries: ConnectorWindowEvent[];
  lastFailures: ConnectorWindowEvent[];
}

export type PipelineSnapshot = WriterSnapshot | IngestSnapshot | ConnectorSnapshot;

/** How many recent deliveries and failures a connector remembers. */
export const RECENT_EVENTS = 10;

/** Puts `item` first and keeps at most `max` items: O(max), bounded whatever the event rate. */
export function pushRecent<T>(list: T[], item: T, max = RECENT_EVENTS): void {
  list.unshift(item);
  if (list.length > max) list.length = max;
}
