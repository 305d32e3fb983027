/**
 * Building blocks of the fault-under-load soak suite: a paced MQTT publisher that counts a
 * message as published only once the broker acknowledged it, per-sequence-number bookkeeping of
 * what a table holds (read incrementally by auto-increment id), an RSS sampler, and the table the
 * suite prints.
 */
import { readFileSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import type { Database } from '../../lib/db/types';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A copy of `array`, doubled in length until index `seq` fits. */
function grownToFit<T extends Uint8Array | Float64Array>(array: T, seq: number, make: (length: number) => T): T {
  let length = array.length;
  while (length <= seq) length *= 2;
  const grown = make(length);
  grown.set(array);
  return grown;
}

/** A Uint8Array-backed counter per sequence number that grows as needed. */
export class SeqCounts {
  private counts = new Uint8Array(1 << 16);
  /** Highest index ever touched + 1. */
  size = 0;

  add(seq: number, by = 1): void {
    if (seq >= this.counts.length) this.counts = grownToFit(this.counts, seq, (length) => new Uint8Array(length));
    this.counts[seq] = Math.min(255, this.counts[seq] + by);
    if (seq + 1 > this.size) this.size = seq + 1;
  }

  get(seq: number): number {
    return seq < this.counts.length ? this.counts[seq] : 0;
  }
}

/**
 * Publishes QoS 1 messages built from a sequence number at `rate` per second, with at most
 * `maxInFlight` unacknowledged. While the broker is away the in-flight window fills and the
 * publisher stops sending; it does not burst afterwards to make up for the lost time (the
 * schedule restarts from where it is), so the load stays steady.
 */
export class PacedPublisher {
  readonly acked = new SeqCounts();
  /** Acknowledged or failed: no longer in flight. */
  readonly settled = new SeqCounts();
  ackedCount = 0;
  failedCount = 0;
  next = 0;
  private inFlight = 0;
  private running = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly client: MqttClient,
    readonly name: string,
    private readonly rate: number,
    private readonly build: (seq: number) => { topic: string; payload: string },
    private readonly maxInFlight = 1000,
  ) {}

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** Resolves once every message sent so far was acknowledged or failed. */
  async drain(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.inFlight > 0 && Date.now() < deadline) await sleep(50);
  }

  private async run(): Promise<void> {
    let origin = Date.now();
    let sentSinceOrigin = 0;
    while (this.running) {
      const due = Math.floor(((Date.now() - origin) * this.rate) / 1000);
      if (due - sentSinceOrigin > this.rate) {
        // More than a second behind (the broker was away): restart the schedule instead of bursting.
        origin = Date.now();
        sentSinceOrigin = 0;
      }
      while (sentSinceOrigin < due && this.inFlight < this.maxInFlight && this.running) {
        const seq = this.next++;
        sentSinceOrigin++;
        this.inFlight++;
        const { topic, payload } = this.build(seq);
        this.client.publishAsync(topic, payload, { qos: 1 }).then(
          () => {
            this.acked.add(seq);
            this.settled.add(seq);
            this.ackedCount++;
            this.inFlight--;
          },
          () => {
            this.settled.add(seq);
            this.failedCount++;
            this.inFlight--;
          },
        );
      }
      await sleep(10);
    }
  }
}

export function connectPublisher(url: string, clientId: string): Promise<MqttClient> {
  // A persistent session: the broker keeps what it has not acknowledged to us through its restart.
  return mqtt.connectAsync(url, { clientId, clean: false, reconnectPeriod: 500, connectTimeout: 5000 });
}

/** When each sequence number was first seen, in epoch ms (0: not yet), growing as needed. */
export class SeqTimes {
  private times = new Float64Array(1 << 16);

  setOnce(seq: number, at: number): void {
    if (seq >= this.times.length) this.times = grownToFit(this.times, seq, (length) => new Float64Array(length));
    if (this.times[seq] === 0) this.times[seq] = at;
  }

  get(seq: number): number {
    return seq < this.times.length ? this.times[seq] : 0;
  }
}

/**
 * What one table holds per sequence number, read incrementally: rows with id above the highest id
 * seen minus an overlap (auto-increment ids of concurrent transactions may commit out of order),
 * each id counted once.
 */
export class TableTally {
  readonly stored = new SeqCounts();
  /** When a refresh first saw each sequence number stored. */
  readonly firstSeen = new SeqTimes();
  private readonly seenIds = new SeqCounts();
  private maxId = 0;
  rows = 0;
  /** Sequence numbers stored at least once. */
  distinct = 0;

  constructor(
    private readonly db: Database,
    private readonly table: string,
    private readonly seqColumn: string,
  ) {}

  async refresh(): Promise<void> {
    try {
      await this.refreshAfter(Math.max(0, this.maxId - 20_000));
    } catch (err) {
      // The table appears with its writer's first batch (the migration runs then).
      if (!/doesn't exist|does not exist|no such table/i.test((err as Error).message)) throw err;
    }
  }

  private async refreshAfter(after: number): Promise<void> {
    for (;;) {
      const { rows } = await this.db.query(`SELECT id, ${this.seqColumn} AS seq FROM ${this.table} WHERE id > ? ORDER BY id LIMIT 50000`, [
        after,
      ]);
      for (const row of rows) {
        const id = Number(row.id);
        after = id;
        if (this.seenIds.get(id) > 0) continue;
        this.seenIds.add(id);
        this.rows++;
        const seq = Number(row.seq);
        if (this.stored.get(seq) === 0) this.distinct++;
        this.stored.add(seq);
        this.firstSeen.setOnce(seq, Date.now());
        if (id > this.maxId) this.maxId = id;
      }
      if (rows.length < 50000) return;
    }
  }

  /** Over sequence numbers [from, to): acknowledged but not stored, stored copies beyond the first, distinct stored. */
  compare(
    acked: SeqCounts,
    from: number,
    to: number,
  ): { published: number; stored: number; missing: number[]; duplicates: number; unacknowledgedStored: number } {
    const missing: number[] = [];
    let published = 0;
    let stored = 0;
    let duplicates = 0;
    let unacknowledgedStored = 0;
    for (let seq = from; seq < to; seq++) {
      const copies = this.stored.get(seq);
      if (copies > 1) duplicates += copies - 1;
      if (acked.get(seq) > 0) {
        published++;
        if (copies > 0) stored++;
        else missing.push(seq);
      } else if (copies > 0) {
        unacknowledgedStored++;
      }
    }
    return { published, stored, missing, duplicates, unacknowledgedStored };
  }
}

/** Resident set size of a process in MiB (Linux /proc), NaN when it is gone. */
export function rssMiB(pid: number | undefined): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) / 1024;
  } catch {
    return Number.NaN;
  }
}

export interface FaultRow {
  fault: string;
  repeat: number;
  published: number;
  stored: number;
  missing: number;
  /** Keyless tables (messages, sensor_data): at-least-once copies. */
  duplicatesKeyless: number;
  /** Tables and deliveries with a key (measurement, posted readings): must be 0. */
  duplicatesKeyed: number;
  maxBacklog: number;
  recoverySeconds: number;
  peakRssMiB: number;
}

export function formatTable(rows: readonly FaultRow[]): string {
  const header = [
    'fault',
    'rep',
    'published',
    'stored',
    'missing',
    'dup (keyless)',
    'dup (keyed)',
    'max backlog',
    'recovery s',
    'peak RSS MiB',
  ];
  const body = rows.map((r) => [
    r.fault,
    String(r.repeat),
    String(r.published),
    String(r.stored),
    String(r.missing),
    String(r.duplicatesKeyless),
    String(r.duplicatesKeyed),
    String(r.maxBacklog),
    r.recoverySeconds.toFixed(1),
    r.peakRssMiB.toFixed(0),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}
