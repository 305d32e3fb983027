/**
 * Bursts against the broker people run: how many messages of a burst reach MariaDB (statestream
 * schema with its trigger) when the broker keeps mosquitto's defaults, and when it is configured
 * like the compose stack's.
 *
 * Brokers (private mosquitto processes on free ports, persistence on as in Debian's package):
 *   debian default: max_inflight_messages 20, max_queued_messages 1000 (mosquitto's defaults,
 *                   also those of Home Assistant's Mosquitto add-on)
 *   compose:        the queue and in-flight lines of docker/mosquitto/mosquitto.conf
 * Pipelines, one Node-RED each, started fresh per broker:
 *   ours: the shipped statestream flow (flows/1-statestream.json) with the ingest in journal mode
 *         (acknowledged once journaled, fed to the flow from the journal)
 *   peer: core mqtt in (QoS 1, persistent session) → function → node-red-node-mysql, one INSERT
 *         per message, into the same schema and trigger
 * Bursts (QoS 1, one MQTT.js publisher, window 1000): 8,000 at 5,000/s, 20,000 at 10,000/s,
 * 30,000 as fast as the publisher goes. Payload = sequence number on `<base>/sensor/s<n>/state`
 * (500 entities): `lost` = published - distinct payloads stored, `dups` = rows - distinct, once
 * nothing new arrived for STALL_MS; `stored/s` = distinct rows / (last row - first publish).
 * BENCH_BURSTS_SCALE (default 1) scales the burst sizes, for a quick look; BENCH_BURSTS_BROKERS
 * (`debian,compose`) and BENCH_BURSTS_PIPELINES (`ours,peer`) pick what runs;
 * BENCH_BURSTS_RECEIVE_MAXIMUM overrides the shipped broker config's in-flight window for ours.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import type { Database } from '../lib/db';
import { runMigrations } from '../lib/db/migrate';
import { statestreamMigrations } from '../lib/statestream/schema';
import { connectPublisher, openDb, publishAll, scalar, shippedStatestreamFlow, sleep, type Publish } from '../test/e2e/statestream-support';
import { packageRoot, startNodeRed, type RunningNodeRed } from '../test/support/node-red';
import { startPrivateMosquitto, type PrivateMosquitto } from '../test/support/private-services';
import { createTestMysqlDatabase, MYSQL_HOST, MYSQL_PORT, portOpen } from '../test/support/services';
import { makeTempDir } from '../test/support/tmp';
import { ensurePeers } from './support/peers';
import { warmUp } from './support/statestream-warm-up';
import { stockStatestreamPeerFlow } from './support/stock-peer';
import { table } from './support/report';

const SCALE = Number(process.env.BENCH_BURSTS_SCALE ?? 1);
const ENTITIES = 500;
const STALL_MS = 10_000;
const BURSTS = [
  { count: Math.round(8000 * SCALE), rate: 5000 },
  { count: Math.round(20_000 * SCALE), rate: 10_000 },
  { count: Math.round(30_000 * SCALE), rate: undefined },
].map((b) => ({
  ...b,
  label: `${b.count.toLocaleString('en-US')} at ${b.rate ? `${b.rate.toLocaleString('en-US')}/s` : 'publisher speed'}`,
}));

interface Result {
  broker: string;
  pipeline: string;
  burst: string;
  count: number;
  publishRate: number;
  distinct: number;
  rows: number;
  storedRate: number;
}

/** The compose broker's queue and in-flight settings, read from its configuration file. */
function composeBrokerLines(): string[] {
  const conf = readFileSync(join(packageRoot, 'docker', 'mosquitto', 'mosquitto.conf'), 'utf8');
  return conf
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^(max_queued_messages|max_queued_bytes|max_inflight_messages)\s/.test(l));
}

/** Distinct sequence numbers stored in [from, from + count) and the rows carrying them. */
async function tally(db: Database, from: number, count: number): Promise<{ distinct: number; rows: number }> {
  const { rows } = await db.query('SELECT payload, COUNT(*) AS n FROM messages GROUP BY payload', []);
  let distinct = 0;
  let total = 0;
  for (const row of rows) {
    const seq = Number(row.payload) - from;
    if (!Number.isInteger(seq) || seq < 0 || seq >= count) continue;
    distinct++;
    total += Number(row.n);
  }
  return { distinct, rows: total };
}

async function burst(
  db: Database,
  client: MqttClient,
  base: string,
  from: number,
  count: number,
  rate: number | undefined,
): Promise<{ distinct: number; rows: number; publishRate: number; storedRate: number }> {
  const messages: Publish[] = Array.from({ length: count }, (_, i) => ({
    topic: `${base}/sensor/s${(from + i) % ENTITIES}/state`,
    payload: String(from + i),
  }));
  const before = await scalar(db, 'SELECT COUNT(*) FROM messages');
  const start = Date.now();
  await publishAll(client, messages, {
    window: 1000,
    pause: rate
      ? async (i) => {
          const due = start + (i / rate) * 1000;
          if (due > Date.now()) await sleep(due - Date.now());
        }
      : undefined,
  });
  const publishRate = count / ((Date.now() - start) / 1000);
  // While rows arrive, a cheap count (the database serves the pipeline on the same cores); the
  // exact tally once nothing moves.
  const target = before + count;
  let rows = await scalar(db, 'SELECT COUNT(*) FROM messages');
  let lastChangeAt = Date.now();
  while (rows < target && Date.now() - lastChangeAt < STALL_MS) {
    await sleep(500);
    const now = await scalar(db, 'SELECT COUNT(*) FROM messages');
    if (now !== rows) lastChangeAt = Date.now();
    rows = now;
  }
  // Duplicates may still be on their way after the last distinct row: a short settle.
  await sleep(1000);
  const last = await tally(db, from, count);
  return { ...last, publishRate, storedRate: last.distinct / ((lastChangeAt - start) / 1000) };
}

/** The shipped statestream flow with its ingest acknowledging once journaled. */
function oursFlow(): Record<string, unknown>[] {
  const receiveMaximum = Number(process.env.BENCH_BURSTS_RECEIVE_MAXIMUM) || undefined;
  return shippedStatestreamFlow().map((node) => {
    if (node.type === 'iotp-mqtt-in') return { ...node, ack: 'journal' };
    if (node.type === 'iotp-mqtt-broker' && receiveMaximum) return { ...node, receiveMaximum };
    return node;
  });
}

async function runPipeline(
  broker: { name: string; mosquitto: PrivateMosquitto },
  pipeline: 'ours' | 'peer',
  peerDir: string,
  results: Result[],
): Promise<void> {
  const database = await createTestMysqlDatabase('iotp_bench_burst');
  const db = openDb(database.url);
  const client = await connectPublisher(broker.mosquitto.url, `bench-pub-${randomBytes(4).toString('hex')}`);
  const base = `bench/${randomBytes(4).toString('hex')}`;
  let nodeRed: RunningNodeRed | undefined;
  try {
    if (pipeline === 'ours') {
      nodeRed = await startNodeRed({
        flows: oursFlow(),
        env: { DATABASE_URL: database.url, MQTT_URL: broker.mosquitto.url, STATESTREAM_BASE_TOPIC: base, SIMULATE: 'false' },
      });
    } else {
      await runMigrations(db, [statestreamMigrations]);
      const userDir = makeTempDir('iotp-bench-peer-');
      mkdirSync(join(userDir, 'node_modules'), { recursive: true });
      symlinkSync(peerDir, join(userDir, 'node_modules', 'node-red-node-mysql'), 'dir');
      const { flows, credentials } = stockStatestreamPeerFlow(broker.mosquitto.port, database, base);
      nodeRed = await startNodeRed({ userDir, flows, credentials, env: { SIMULATE: 'false' } });
    }
    const name = pipeline === 'ours' ? 'iotp (journal)' : 'stock peer';
    await warmUp(name, db, client, base, { entities: ENTITIES, window: 100 });
    let from = 0;
    for (const b of BURSTS) {
      const r = await burst(db, client, base, from, b.count, b.rate);
      results.push({ broker: broker.name, pipeline: name, burst: b.label, count: b.count, ...r });
      console.log(
        `${broker.name} / ${name} / ${b.label}: ${b.count - r.distinct} lost, ${r.rows - r.distinct} duplicates, ${Math.round(r.storedRate)} stored/s`,
      );
      from += b.count;
      await sleep(2000);
    }
  } finally {
    await nodeRed?.stop();
    await client.endAsync().catch(() => undefined);
    await db.close().catch(() => undefined);
    await database.drop().catch(() => undefined);
  }
}

async function main(): Promise<void> {
  if (!(await portOpen(MYSQL_HOST, MYSQL_PORT))) {
    console.log(`MariaDB not reachable at ${MYSQL_HOST}:${MYSQL_PORT}: bursts bench skipped`);
    return;
  }
  const peers = ensurePeers({ 'node-red-node-mysql': '3.0.4' });
  const results: Result[] = [];
  const brokers: Array<{ name: string; extra: string[] }> = [
    { name: 'debian default', extra: ['max_inflight_messages 20', 'max_queued_messages 1000'] },
    { name: 'compose', extra: composeBrokerLines() },
  ];
  const wantedBrokers = (process.env.BENCH_BURSTS_BROKERS ?? 'debian,compose').split(',');
  const pipelines = (process.env.BENCH_BURSTS_PIPELINES ?? 'ours,peer')
    .split(',')
    .filter((p): p is 'ours' | 'peer' => p === 'ours' || p === 'peer');
  for (const spec of brokers.filter((b) => wantedBrokers.some((w) => b.name.startsWith(w)))) {
    const mosquitto = await startPrivateMosquitto({ extraConfig: spec.extra });
    try {
      for (const pipeline of pipelines) await runPipeline({ name: spec.name, mosquitto }, pipeline, peers['node-red-node-mysql'], results);
    } finally {
      await mosquitto.stop();
    }
  }
  console.log(`\nbursts into MariaDB + statestream trigger; QoS 1, MQTT.js → private mosquitto → Node-RED; scale ${SCALE}`);
  console.log(
    `machine: ${cpus().length} cores, load ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  console.log(`brokers: debian default = max_inflight_messages 20, max_queued_messages 1000; compose = ${composeBrokerLines().join(', ')}`);
  table(
    'lost messages and stored rate per burst',
    ['broker', 'pipeline', 'burst', 'published/s', 'lost', 'lost %', 'duplicates', 'stored/s'],
    results.map((r) => [
      r.broker,
      r.pipeline,
      r.burst,
      Math.round(r.publishRate).toLocaleString('en-US'),
      (r.count - r.distinct).toLocaleString('en-US'),
      `${(((r.count - r.distinct) / r.count) * 100).toFixed(1)} %`,
      (r.rows - r.distinct).toLocaleString('en-US'),
      Math.round(r.storedRate).toLocaleString('en-US'),
    ]),
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
