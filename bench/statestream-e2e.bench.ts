/**
 * The statestream pipeline end to end: an MQTT.js publisher (QoS 1) → a private mosquitto (queues
 * large enough that the broker drops nothing) → Node-RED → MariaDB with the normalising trigger.
 *
 *   ours: the shipped flow (flows/1-statestream.json): iotp-mqtt-in (acknowledged after commit)
 *         → iotp-statestream → iotp-db-write (500-row batches); on MariaDB and on PostgreSQL
 *         (its PL/pgSQL trigger, COPY batches)
 *   peer: core mqtt in (QoS 1) → function → node-red-node-mysql, one INSERT per message, into the
 *         same schema and trigger, the way the original pipeline's Node-RED flow stored messages
 *
 * Traffic: a burst of BENCH_MESSAGES (default 30,000) live Home Assistant state messages over 500
 * entities, published as fast as the broker acknowledges (window 1,000), then BENCH_RATE msg/s
 * (default 2,000) for 5 s, where latency is the pipeline's rather than the burst's queueing.
 * Payload = sequence number, so an observer polling the new rows of `messages` (every 50 ms, the same for both)
 * sees when each message became a row: publish-to-row latency p50/p99 (±50 ms), messages/s
 * from first publish to last row, and the sustained pace between the moments 10 % and 90 % of the
 * phase were stored (without the pipeline's fill and drain). `stored rows` is the exact tally
 * from the whole table.
 * Peak RSS is Node-RED's VmHWM. Both runs in the same process, one after the other.
 */
import { randomBytes } from 'node:crypto';
import { symlinkSync, mkdirSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { runMigrations } from '../lib/db/migrate';
import type { Database } from '../lib/db';
import { statestreamMigrations } from '../lib/statestream/schema';
import { startNodeRed, type RunningNodeRed } from '../test/support/node-red';
import {
  createTestMysqlDatabase,
  createTestServerDatabase,
  MYSQL_HOST,
  MYSQL_PORT,
  POSTGRES_HOST,
  POSTGRES_PORT,
  portOpen,
  type ServerDialect,
} from '../test/support/services';
import { makeTempDir } from '../test/support/tmp';
import {
  connectPublisher,
  openDb,
  peakRssMiB,
  publishAll,
  scalar,
  shippedStatestreamFlow,
  sleep,
  startPrivateMosquitto,
  type PrivateMosquitto,
  type Publish,
} from '../test/e2e/statestream-support';
import { ensurePeers } from './support/peers';
import { warmUp } from './support/statestream-warm-up';
import { stockStatestreamPeerFlow } from './support/stock-peer';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 30_000);
const ENTITIES = 500;
const PACED_RATE = Number(process.env.BENCH_RATE ?? 2000);
const PACED_SECONDS = 5;
const STALL_MS = 15_000;
const POLL_MS = 50;
/** An id gap older than this is taken as a skipped auto-increment id (rollback, deadlock), not a slow commit. */
const GAP_TIMEOUT_MS = 5_000;

interface Phase {
  label: string;
  /** First sequence number (payload) of the phase. */
  from: number;
  count: number;
  /** Messages per second; undefined = as fast as the broker acknowledges. */
  rate?: number;
}

interface Result {
  name: string;
  phase: string;
  count: number;
  stored: number;
  distinct: number;
  seconds: number;
  rate: number;
  /** Messages/s between the moments 10 % and 90 % of the phase were stored: the pipeline's steady pace, without its fill and drain. */
  sustained: number;
  p50: number;
  p99: number;
  rssMiB: number;
  errors: number;
  firstError: string | undefined;
}

/**
 * Which `messages` ids the observer has seen. Ids are allocated at INSERT and become visible at
 * COMMIT, so concurrent transactions can commit a lower id after a higher one, and a rolled-back
 * transaction leaves ids that never appear. The observer re-reads from its watermark (every id at
 * or below it seen, or given up on after GAP_TIMEOUT_MS), so each poll reads only the new rows and
 * the observer itself does not load the database it measures.
 */
class RowObserver {
  private watermark: number;
  private readonly above = new Set<number>();
  private gapSince = 0;
  constructor(watermark: number) {
    this.watermark = watermark;
  }
  get readFrom(): number {
    return this.watermark;
  }
  /** True the first time an id is seen. */
  first(id: number): boolean {
    if (id <= this.watermark || this.above.has(id)) return false;
    this.above.add(id);
    return true;
  }
  /** Moves the watermark over contiguous ids, and past a gap that has stayed open too long. */
  settle(now: number): void {
    for (;;) {
      while (this.above.delete(this.watermark + 1)) this.watermark++;
      if (this.above.size === 0) {
        this.gapSince = 0;
        return;
      }
      if (this.gapSince === 0) this.gapSince = now;
      if (now - this.gapSince < GAP_TIMEOUT_MS) return;
      // Every id below the lowest one seen has had its chance: skip the whole gap.
      let lowest = Infinity;
      for (const id of this.above) lowest = Math.min(lowest, id);
      this.watermark = lowest - 1;
      this.gapSince = 0;
    }
  }
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Publishes a phase and watches its rows appear until all are there or nothing moved for STALL_MS. */
async function measure(
  name: string,
  nodeRed: RunningNodeRed,
  db: Database,
  client: MqttClient,
  base: string,
  phase: Phase,
): Promise<Result> {
  const { from, count, rate } = phase;
  const lastId = Number(await scalar(db, 'SELECT COALESCE(MAX(id), 0) FROM messages'));
  const errorsBefore = (nodeRed.output().match(/\[error\]/g) ?? []).length;
  const messages: Publish[] = Array.from({ length: count }, (_, i) => ({
    topic: `${base}/sensor/s${(from + i) % ENTITIES}/state`,
    payload: String(from + i),
  }));
  const publishedAt = new Float64Array(count);
  const latencies: number[] = [];
  const seen = new Uint8Array(count);
  let distinct = 0;
  let lastRowAt = 0;
  let tenthAt = 0;
  let ninetiethAt = 0;
  let lastProgressAt = Date.now();
  const start = Date.now();
  const publishing = publishAll(client, messages, {
    window: 1000,
    onSent: (i) => (publishedAt[i] = Date.now()),
    pause: rate
      ? async (i) => {
          const due = start + (i / rate) * 1000;
          if (due > Date.now()) await sleep(due - Date.now());
        }
      : undefined,
  });

  const observer = new RowObserver(lastId);
  while (distinct < count && Date.now() - lastProgressAt < STALL_MS) {
    await sleep(POLL_MS);
    const { rows } = await db.query('SELECT id, payload FROM messages WHERE id > ? ORDER BY id', [observer.readFrom]);
    const now = Date.now();
    for (const row of rows) {
      if (!observer.first(Number(row.id))) continue;
      const seq = Number(row.payload) - from;
      if (!Number.isInteger(seq) || seq < 0 || seq >= count || seen[seq] === 1) continue;
      seen[seq] = 1;
      distinct++;
      if (distinct === Math.ceil(count * 0.1)) tenthAt = now;
      if (distinct === Math.floor(count * 0.9)) ninetiethAt = now;
      latencies.push(now - publishedAt[seq]);
      lastProgressAt = now;
      lastRowAt = now;
    }
    observer.settle(now);
  }
  await publishing;
  // The exact tally, from the whole table.
  let stored = 0;
  const { rows: all } = await db.query('SELECT payload FROM messages', []);
  for (const row of all) {
    const seq = Number(row.payload) - from;
    if (Number.isInteger(seq) && seq >= 0 && seq < count) stored++;
  }
  const sorted = Float64Array.from(latencies).sort();
  const seconds = (lastRowAt - start) / 1000;
  return {
    name,
    phase: phase.label,
    count,
    stored,
    distinct,
    seconds,
    rate: distinct / seconds,
    sustained: ninetiethAt > tenthAt ? (Math.floor(count * 0.9) - Math.ceil(count * 0.1)) / ((ninetiethAt - tenthAt) / 1000) : Number.NaN,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    rssMiB: peakRssMiB(nodeRed.child.pid),
    errors: (nodeRed.output().match(/\[error\]/g) ?? []).length - errorsBefore,
    firstError: nodeRed
      .output()
      .split('\n')
      .filter((l) => l.includes('[error]'))[errorsBefore],
  };
}

const PHASES: Phase[] = [
  { label: `burst ${MESSAGES}`, from: 0, count: MESSAGES },
  { label: `paced ${PACED_RATE}/s`, from: MESSAGES, count: PACED_RATE * PACED_SECONDS, rate: PACED_RATE },
];

async function measureAll(name: string, nodeRed: RunningNodeRed, db: Database, client: MqttClient, base: string): Promise<Result[]> {
  await warmUp(name, db, client, base, { entities: ENTITIES });
  const results: Result[] = [];
  for (const phase of PHASES) {
    results.push(await measure(name, nodeRed, db, client, base, phase));
    await sleep(1000);
  }
  return results;
}

async function main(): Promise<void> {
  if (!(await portOpen(MYSQL_HOST, MYSQL_PORT))) {
    console.log(`MariaDB not reachable at ${MYSQL_HOST}:${MYSQL_PORT}: statestream-e2e bench skipped`);
    return;
  }
  const peers = ensurePeers({ 'node-red-node-mysql': '3.0.4' });
  const results: Result[] = [];
  let broker: PrivateMosquitto | undefined;
  const cleanups: Array<() => Promise<unknown>> = [];
  try {
    broker = await startPrivateMosquitto();
    const client = await connectPublisher(broker.url, `bench-pub-${randomBytes(4).toString('hex')}`);
    cleanups.push(() => client.endAsync());

    // ours: the shipped flow, which migrates its database itself
    const brokerUrl = broker.url;
    const measureShippedFlow = async (dialect: ServerDialect, name: string): Promise<void> => {
      const database = await createTestServerDatabase(dialect, 'iotp_bench_ss');
      cleanups.push(() => database.drop());
      const db = openDb(database.url);
      cleanups.push(() => db.close());
      const base = `bench/${randomBytes(4).toString('hex')}`;
      const nodeRed = await startNodeRed({
        flows: shippedStatestreamFlow(),
        env: { DATABASE_URL: database.url, MQTT_URL: brokerUrl, STATESTREAM_BASE_TOPIC: base, SIMULATE: 'false' },
      });
      try {
        results.push(...(await measureAll(name, nodeRed, db, client, base)));
      } finally {
        await nodeRed.stop();
      }
    };
    await measureShippedFlow('mysql', 'iotp (shipped flow)');
    if (await portOpen(POSTGRES_HOST, POSTGRES_PORT)) {
      await measureShippedFlow('postgres', 'iotp (shipped flow), PostgreSQL');
    } else {
      console.log(`PostgreSQL not reachable at ${POSTGRES_HOST}:${POSTGRES_PORT}: its run skipped`);
    }

    // peer: same schema and trigger, applied up front (node-red-node-mysql has no migrations)
    {
      const database = await createTestMysqlDatabase('iotp_bench_ss');
      cleanups.push(() => database.drop());
      const db = openDb(database.url);
      cleanups.push(() => db.close());
      await runMigrations(db, [statestreamMigrations]);
      const base = `bench/${randomBytes(4).toString('hex')}`;
      const userDir = makeTempDir('iotp-bench-peer-');
      mkdirSync(join(userDir, 'node_modules'), { recursive: true });
      symlinkSync(peers['node-red-node-mysql'], join(userDir, 'node_modules', 'node-red-node-mysql'), 'dir');
      const { flows, credentials } = stockStatestreamPeerFlow(broker.port, database, base);
      const nodeRed = await startNodeRed({ userDir, flows, credentials, env: { SIMULATE: 'false' } });
      try {
        results.push(...(await measureAll('core mqtt in → function → node-red-node-mysql', nodeRed, db, client, base)));
      } finally {
        await nodeRed.stop();
      }
    }
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await broker?.stop();
  }

  console.log(
    `\nstatestream end to end: a ${MESSAGES}-message burst, then ${PACED_SECONDS} s at ${PACED_RATE} msg/s; QoS 1, MQTT.js → mosquitto (private) → Node-RED → MariaDB (PostgreSQL where named) + trigger`,
  );
  console.log(
    `machine: ${cpus().length} cores, load ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}\n`,
  );
  const header = [
    'pipeline',
    'traffic',
    'stored rows',
    'distinct msgs',
    'seconds',
    'msg/s',
    'sustained msg/s',
    'p50 ms',
    'p99 ms',
    'peak RSS MiB',
    'errors logged',
  ];
  const rows = results.map((r) => [
    r.name,
    r.phase,
    String(r.stored),
    `${r.distinct}/${r.count}`,
    r.seconds.toFixed(2),
    Math.round(r.rate).toLocaleString('en-US'),
    Number.isNaN(r.sustained) ? '-' : Math.round(r.sustained).toLocaleString('en-US'),
    String(Math.round(r.p50)),
    String(Math.round(r.p99)),
    r.rssMiB.toFixed(0),
    String(r.errors),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(header));
  for (const row of rows) console.log(line(row));
  for (const r of results) if (r.firstError) console.log(`\n${r.name}, ${r.phase}: first error: ${r.firstError.slice(0, 300)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
