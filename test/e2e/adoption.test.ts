/**
 * Switching from a running original in place, end to end: each original's database (CONTRACTS §6,
 * built by test/support/originals.ts with its quirks), then the shipped flow started on it in a
 * real Node-RED with nothing but the original's DATABASE_URL (or DB_FILE), then traffic over the
 * broker. Checked: every old row is still there, every new message is stored (or posted) once,
 * and the queries written for the original answer the old rows and the new ones.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { openDatabase } from '../../lib/db';
import type { Database } from '../../lib/db/types';
import { formatUtc } from '../../lib/connector/time';
import { alignDown } from '../../lib/connector/windows';
import { SEED_README_QUERY } from '../../lib/statestream/schema';
import { startReceiver, windowsPerReading, type PostedBody, type Receiver } from '../node/connector/fixtures';
import { freePort, httpJson, packageRoot, startNodeRed, type RunningNodeRed } from '../support/node-red';
import { npmStart } from '../support/npm-start';
import { startPrivateMosquitto } from './statestream-support';
import {
  createConnectorOriginal,
  createIsemsOriginal,
  createPlantReadings,
  createSensorsOriginal,
  createStatestreamOriginal,
  isemsHistory,
  sensorsHistory,
  STATESTREAM_HISTORY,
} from '../support/originals';
import {
  createTestMysqlDatabase,
  createTestPostgresDatabase,
  MQTT_HOST,
  MQTT_PORT,
  requireService,
  type TestMysqlDatabase,
} from '../support/services';
import { makeTempDir, removeTempDir } from '../support/tmp';

const BROKER = `mqtt://${MQTT_HOST}:${MQTT_PORT}`;
const flow = (file: string): unknown[] => JSON.parse(readFileSync(join(packageRoot, 'flows', file), 'utf8')) as unknown[];
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const unique = (): string => randomBytes(4).toString('hex');

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 60_000,
  output?: () => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${output ? `\n${output().slice(-3000)}` : ''}`);
    await sleep(250);
  }
}

const count = async (db: Database, sql: string, params: unknown[] = []): Promise<number> =>
  Number(Object.values((await db.query(sql, params as never)).rows[0])[0]);

/** What the user sees in the log: the adoption said once, no error, no failed migration. */
function assertCleanSwitch(red: RunningNodeRed, set: string): void {
  const out = red.output();
  assert.match(out, new RegExp(`Took over an existing schema for ${set}`));
  assert.doesNotMatch(out, /Migration .* failed|Not taking over|\[error\]/, out.slice(-3000));
}

describe('switching from the originals in place (shipped flows, end to end)', function () {
  this.timeout(240_000);
  let client: MqttClient;
  const cleanups: Array<() => Promise<void>> = [];

  before(async function () {
    await requireService(this, 'mqtt');
    client = await mqtt.connectAsync(BROKER, { clientId: `iotp-e2e-adopt-${unique()}`, protocolVersion: 5 });
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });
  after(async () => {
    await client?.endAsync();
  });

  it('1 statestream: npm start on the original MySQL database takes it over; old facts and new ones answer the original query', async function () {
    await requireService(this, 'mysql');
    const mysql: TestMysqlDatabase = await createTestMysqlDatabase('iotp_e2e_adopt_ss');
    const db = openDatabase(mysql.config);
    cleanups.push(async () => {
      await db.close();
      await mysql.drop();
    });
    const base = `ha_${unique()}`;
    await createStatestreamOriginal(db, base);
    const oldSeed = (await db.query(`${SEED_README_QUERY} ORDER BY facts.id`)).rows;
    const oldMessages = (await db.query('SELECT id, topic, payload FROM messages ORDER BY id')).rows;

    const red = await startNodeRed({
      flows: flow('1-statestream.json'),
      env: {
        DATABASE_URL: mysql.url,
        MQTT_URL: BROKER,
        STATESTREAM_BASE_TOPIC: base,
        SIMULATE: 'false',
        IOTP_INSTANCE_ID: `e2e-${unique()}`,
      },
    });
    cleanups.push(async () => void (await red.stop()));
    await red.waitForOutput(/MQTT broker .*connected/, 30_000);
    // Connected is not subscribed: a message published before the broker has the ingest's
    // subscription goes to no session (MQTT's rule). Probe on a topic of its own until one is stored.
    const probeTopic = `${base}/sensor/probe/state`;
    await until(
      'the ingest subscribed (a probe stored)',
      async () => {
        await client.publishAsync(probeTopic, 'probe', { qos: 1 });
        await sleep(300);
        return (await count(db, 'SELECT COUNT(*) FROM messages WHERE topic = ?', [probeTopic])) > 0 ? true : undefined;
      },
      30_000,
      red.output,
    );

    // Home Assistant goes on publishing (retained, QoS 1): the flow stores each message once.
    const live = Array.from({ length: 30 }, (_, i) => ({
      topic: `${base}/${i % 3 === 0 ? 'binary_sensor/x' : i % 3 === 1 ? 'sensor/x' : 'sensor/kitchen_temp'}/state`,
      payload: i % 3 === 0 ? (i % 2 ? 'on' : 'off') : `${20 + i}.5`,
    }));
    live.push({ topic: `${base}/sensor/kitchen_temp/friendly_name`, payload: '"Küche 😀"' });
    for (const m of live) await client.publishAsync(m.topic, m.payload, { qos: 1, retain: true });
    const expected = oldMessages.length + live.length;
    const withoutProbes = (): Promise<number> => count(db, 'SELECT COUNT(*) FROM messages WHERE topic <> ?', [probeTopic]);
    await until('the live messages', async () => ((await withoutProbes()) >= expected ? true : undefined), 60_000, red.output);
    await sleep(500);

    assert.equal(await withoutProbes(), expected, 'every new message stored once');
    const total = await count(db, 'SELECT COUNT(*) FROM messages'); // the probes too: they are messages like any other
    assert.deepEqual(
      (await db.query('SELECT id, topic, payload FROM messages ORDER BY id LIMIT ?', [oldMessages.length])).rows,
      oldMessages,
      'every old message kept',
    );
    assert.equal(
      await count(db, 'SELECT COUNT(*) FROM facts'),
      total,
      'one fact per message: the original trigger is gone, ours took over',
    );
    const seed = (await db.query(`${SEED_README_QUERY} ORDER BY facts.id`)).rows;
    assert.deepEqual(seed.slice(0, oldSeed.length), oldSeed, "the original's query returns its old rows unchanged");
    assert.equal(seed.length, total);
    // A user's query on the label as the original wrote it: old and new facts of kitchen_temp, one entity.
    const kitchen = await db.query(
      "SELECT facts.fact, entities.id AS e FROM facts JOIN states ON facts.state_id = states.id JOIN entities ON states.entity_id = entities.id JOIN base_topics ON base_topics.id = entities.base_topic_id WHERE base_topics.label = ? AND entities.label = 'kitchen_temp' AND states.label = 'state' ORDER BY facts.id",
      [base],
    );
    assert.deepEqual(
      kitchen.rows.slice(0, 2).map((r) => r.fact),
      ['21.5', '21.7'],
    );
    assert.equal(kitchen.rows.length, 2 + live.filter((m) => m.topic.endsWith('kitchen_temp/state')).length);
    assert.equal(new Set(kitchen.rows.map((r) => r.e)).size, 1);
    assert.equal(await count(db, 'SELECT COUNT(*) FROM facts WHERE fact = ?', ['"Küche 😀"']), 1);
    assert.deepEqual(
      (await db.query('SELECT DISTINCT domain FROM entities WHERE label = ? ORDER BY domain', ['x'])).rows.map((r) => r.domain),
      ['', 'binary_sensor', 'sensor'],
      'the merged history stays under its entity; sensor.x and binary_sensor.x are apart from the switch on',
    );
    assertCleanSwitch(red, 'statestream');
    assert.equal(STATESTREAM_HISTORY.length, oldMessages.length);
  });

  it('2 rolling averages: DB_FILE of the original, the first STATS counts its last 30 minutes', async () => {
    const dir = makeTempDir('iotp-e2e-adopt-ra-');
    cleanups.push(async () => removeTempDir(dir));
    const file = join(dir, 'test.db');
    const db = openDatabase({ dialect: 'sqlite', file, busyTimeoutMs: 5000 });
    cleanups.push(() => db.close());
    const now = Math.floor(Date.now() / 1000);
    await db.query('CREATE TABLE messages (number INTEGER, epochtime INTEGER)');
    // The original's last 35 minutes, away from the windows' bucket edges.
    const stored: Array<[number, number]> = [
      [11, 10],
      [22, 50],
      [33, 120],
      [44, 240],
      [55, 360],
      [66, 720],
      [77, 1200],
      [88, 1680],
      [99, 1980],
    ];
    for (const [n, age] of stored) await db.query('INSERT INTO messages (number, epochtime) VALUES (?, ?)', [n, now - age]);

    const topic = `iotp-e2e/${unique()}/DATA`;
    const statsTopic = `iotp-e2e/${unique()}/STATS`;
    const stats: Array<Record<string, number>> = [];
    client.on('message', (t, payload) => {
      if (t === statsTopic) stats.push(JSON.parse(payload.toString('utf8')) as Record<string, number>);
    });
    await client.subscribeAsync(statsTopic, { qos: 1 });
    cleanups.push(async () => void (await client.unsubscribeAsync(statsTopic)));
    const red = await startNodeRed({
      flows: flow('2-rolling-averages.json'),
      env: {
        DB_FILE: file,
        MQTT_URL: BROKER,
        TOPIC: topic,
        STATS_TOPIC: statsTopic,
        SIMULATE: 'false',
        IOTP_INSTANCE_ID: `e2e-${unique()}`,
      },
    });
    cleanups.push(async () => void (await red.stop()));
    await red.waitForOutput(/MQTT broker .*connected/, 30_000);
    const epoch = String(Math.floor(Date.now() / 1000));
    // The subscription follows the connection: publish until the flow answers.
    await until(
      'the first STATS',
      async () => {
        if (stats.length > 0) return true;
        await client.publishAsync(topic, JSON.stringify({ number: 50, epochtime: epoch }), { qos: 1 });
        await sleep(400);
        return stats.length > 0 ? true : undefined;
      },
      30_000,
      red.output,
    );
    await sleep(1000);
    const probes = stats.length;
    const round = (xs: number[]): number => Number((xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(4));
    const within = (seconds: number, extra: number[]): number[] =>
      stored
        .filter(([, age]) => age < seconds)
        .map(([n]) => n)
        .concat(extra);
    const fifties = (k: number): number[] => Array<number>(k).fill(50);
    assert.deepEqual(
      stats[0],
      { avg_1min: round(within(60, [50])), avg_5min: round(within(300, [50])), avg_30min: round(within(1800, [50])) },
      'the first STATS counts the numbers the original stored',
    );
    assert.deepEqual(stats[probes - 1], {
      avg_1min: round(within(60, fifties(probes))),
      avg_5min: round(within(300, fifties(probes))),
      avg_30min: round(within(1800, fifties(probes))),
    });
    const rows = await db.query('SELECT number, epochtime FROM messages ORDER BY rowid');
    assert.deepEqual(
      rows.rows.slice(0, stored.length).map((r) => Number(r.number)),
      stored.map(([n]) => n),
      'every old row kept',
    );
    assert.equal(rows.rows.length, stored.length + probes, 'every new number stored once');
    assertCleanSwitch(red, 'rolling-averages');
  });

  it("3 ISEMS: the collector's SQLite file (sqlite:////path) answers /measurements with its whole history and the new lines once", async () => {
    const dir = makeTempDir('iotp-e2e-adopt-isems-');
    cleanups.push(async () => removeTempDir(dir));
    const file = join(dir, 'test.db');
    const db = openDatabase({ dialect: 'sqlite', file, busyTimeoutMs: 5000 });
    cleanups.push(() => db.close());
    const suffix = `-${unique()}`;
    const history = isemsHistory(suffix);
    await createIsemsOriginal(db, history);
    const red = await startNodeRed({
      flows: flow('3-isems.json'),
      // The original's own form of the URL (SQLAlchemy: four slashes for an absolute path).
      env: {
        DATABASE_URL: `sqlite:///${file}`,
        MQTT_URL: BROKER,
        SIMULATE: 'false',
        ISEMS_ROUTER_IPS: '',
        IOTP_INSTANCE_ID: `e2e-${unique()}`,
      },
    });
    cleanups.push(async () => void (await red.stop()));
    await red.waitForOutput(/MQTT broker .*connected/, 30_000);
    const node = `Roof-North${suffix}`;
    const north = history.filter((h) => h.nodeId === node).sort((a, b) => b.expected - a.expected);
    const iso = (epoch: number): string => new Date(epoch * 1000).toISOString().replace('.000Z', 'Z');
    const oldHistory = (await httpJson(`${red.url}/measurements/${encodeURIComponent(node)}/latest`)).body as {
      measurements: Array<{ id: number; timestamp: string }>;
    };
    assert.deepEqual(
      oldHistory.measurements.map((m) => m.timestamp),
      north.map((h) => iso(h.expected)),
      'the whole history at once, as instants',
    );

    // The node's log, read again: its newest stored line, and two new ones.
    const last = north[0].expected;
    const line = (t: number): string => `${node};1;${t};ESP_2.0;3592;0;19.21;17.9;13.1;87;95;21.5;11.6;14.1;9;30;52.52;13.40;500`;
    const log = [last, last + 60, last + 120].map(line).join('\n');
    await until(
      'the new lines',
      async () => {
        await client.publishAsync(`/isems/${node}/csvlog`, log, { qos: 1 });
        await sleep(500);
        const body = (await httpJson(`${red.url}/measurements/${encodeURIComponent(node)}/latest`)).body as { measurements: unknown[] };
        return body.measurements.length >= north.length + 2 ? true : undefined;
      },
      30_000,
      red.output,
    );
    await client.publishAsync(`/isems/${node}/csvlog`, log, { qos: 1 });
    await sleep(1000);
    const after = (await httpJson(`${red.url}/measurements/${encodeURIComponent(node)}/latest`)).body as {
      measurements: Array<{ id: number; timestamp: string }>;
    };
    assert.equal(after.measurements.length, north.length + 2, 'lines already stored are not stored again, however often the log is read');
    assert.deepEqual(
      after.measurements.slice(2).map((m) => m.id),
      oldHistory.measurements.map((m) => m.id),
      'old rows keep their ids',
    );
    assert.equal(after.measurements[0].timestamp, iso(last + 120));
    const latest = (await httpJson(`${red.url}/measurements/latest?all=true`)).body as {
      measurements: Array<{ nodeId: string; timestamp: string }>;
    };
    assert.deepEqual(
      latest.measurements.filter((m) => m.nodeId.endsWith(suffix)).map((m) => [m.nodeId, m.timestamp]),
      [
        [node, iso(last + 120)],
        [`Roof-South${suffix}`, iso(Date.parse('2024-03-31T01:30:00Z') / 1000)],
      ],
    );
    assert.equal(await count(db, 'SELECT COUNT(*) FROM measurement'), history.length + 2);
    assertCleanSwitch(red, 'isems');
  });

  it('4 IoT sensors: the original MySQL tables with their duplicates; new readings and minutes beside them, the APIs answer both', async function () {
    await requireService(this, 'mysql');
    const mysql = await createTestMysqlDatabase('iotp_e2e_adopt_sensors');
    const db = openDatabase(mysql.config);
    cleanups.push(async () => {
      await db.close();
      await mysql.drop();
    });
    const history = sensorsHistory();
    await createSensorsOriginal(db, history);
    const topic = `iotp-e2e/${unique()}/sensors`;
    const red = await startNodeRed({
      flows: flow('4-iot-sensors.json'),
      env: { DATABASE_URL: mysql.url, MQTT_URL: BROKER, MQTT_TOPIC: topic, SIMULATE: 'false', IOTP_INSTANCE_ID: `e2e-${unique()}` },
    });
    cleanups.push(async () => void (await red.stop()));
    await red.waitForOutput(/MQTT broker .*connected/, 30_000);
    const reading = (sensor: number, value: number, ms: number) => ({
      sensor_id: String(sensor),
      timestamp: new Date(ms)
        .toISOString()
        .replace('Z', '')
        .replace(/\.(\d{3})$/, '.$1000'),
      value,
      metadata: { location: { lat: 10, lng: 10 }, unit: 'C', type: 'temperature', description: 'Main Entrance' },
    });
    const start = Date.now();
    // Connected is not subscribed: readings published before the broker has the ingest's
    // subscription go to no session (MQTT's rule). Sensor 1 publishes until one is stored; from
    // the first stored one on, every one must be.
    const probes: Array<ReturnType<typeof reading>> = [];
    await until(
      'the flow to store readings',
      async () => {
        const r = reading(1, 20 + probes.length, Date.now());
        probes.push(r);
        await client.publishAsync(topic, JSON.stringify(r), { qos: 1 });
        await sleep(300);
        return (await count(db, 'SELECT COUNT(*) FROM sensor_data')) > history.raw.length ? true : undefined;
      },
      30_000,
      red.output,
    );
    const published: Array<ReturnType<typeof reading>> = [];
    for (let i = 0; i < 5; i++) {
      const r = reading(2, 30 + i, Date.now());
      published.push(r);
      await client.publishAsync(topic, JSON.stringify(r), { qos: 1 });
    }
    const newRows = async (): Promise<Array<{ sensor: string; value: number }>> =>
      (await db.query('SELECT sensor_id, value FROM sensor_data ORDER BY id')).rows
        .slice(history.raw.length)
        .map((r) => ({ sensor: String(r.sensor_id), value: Number(r.value) }));
    await until(
      'every reading',
      async () => {
        const rows = await newRows();
        const probeValues = rows.filter((r) => r.sensor === '1').map((r) => r.value);
        const first = probes.findIndex((p) => p.value === Math.min(...probeValues));
        const probesDue = first < 0 ? Number.POSITIVE_INFINITY : probes.length - first;
        return rows.filter((r) => r.sensor === '2').length === published.length && probeValues.length === probesDue ? true : undefined;
      },
      30_000,
      red.output,
    );
    const storedProbes = new Set((await newRows()).filter((r) => r.sensor === '1').map((r) => r.value));
    published.unshift(...probes.filter((p) => storedProbes.has(p.value)));
    const raw = (await db.query('SELECT id, sensor_id, CAST(timestamp AS CHAR) AS ts, value FROM sensor_data ORDER BY id')).rows;
    assert.deepEqual(
      raw.slice(0, history.raw.length).map((r) => [r.sensor_id, String(r.ts).slice(0, 19), r.value]),
      history.raw.map((r) => [r.sensor_id, r.timestamp, r.value]),
      'old readings kept, the duplicate too',
    );
    const api = (await httpJson(`${red.url}/data?limit=1000`)).body as { count: number };
    assert.equal(api.count, history.raw.length + published.length, '/data answers the old readings and the new ones');

    // The minute closes (1 minute + 10 s grace): its mean joins the original's means, which stay as they were.
    const minutes = new Set(published.map((p) => alignDown(Date.parse(`${p.timestamp.slice(0, 23)}Z`), 60_000)));
    await until(
      'the new per-minute means',
      async () => {
        const n = await count(db, 'SELECT COUNT(*) FROM aggregated_sensor_data WHERE original_row = 0');
        return n >= minutes.size + 1 ? true : undefined; // two sensors in at least one minute
      },
      150_000 - (Date.now() - start),
      red.output,
    );
    const agg = (
      await db.query('SELECT id, sensor_id, CAST(timestamp AS CHAR) AS ts, value, original_row FROM aggregated_sensor_data ORDER BY id')
    ).rows;
    assert.deepEqual(
      agg.slice(0, history.aggregated.length).map((r) => [r.sensor_id, String(r.ts).slice(0, 19), r.value, Number(r.original_row)]),
      history.aggregated.map((r, i) => [r.sensor_id, r.timestamp, r.value, i + 1]),
      "the original's means, duplicate included, untouched",
    );
    const aggApi = (await httpJson(`${red.url}/aggregated_data?limit=1000`)).body as { count: number };
    assert.equal(aggApi.count, agg.length);
    assertCleanSwitch(red, 'sensors');
  });

  it('5 data connector: the first window after the switch starts exactly at the original bookmark; none sent twice, none skipped', async function () {
    await requireService(this, 'mysql');
    const mysql = await createTestMysqlDatabase('iotp_e2e_adopt_conn');
    const db = openDatabase(mysql.config);
    const receiver: Receiver = await startReceiver();
    cleanups.push(async () => {
      await receiver.close();
      await db.close();
      await mysql.drop();
    });
    // The readings the original read (the sensors pipeline's table) and its bookmark: the end of
    // the last window it sent, three minutes and a half ago (not on a minute).
    await createSensorsOriginal(db, { raw: [], aggregated: [] });
    const bookmark = alignDown(Date.now(), 60_000) - 3 * 60_000 - 30_000;
    await createConnectorOriginal(db, formatUtc(bookmark).replace('T', ' '));
    const readings: Array<{ sensor: number; ms: number; value: number }> = [];
    for (let k = -2; k < 12; k++) readings.push({ sensor: (k % 3) + 1 || 1, ms: bookmark + k * 15_000, value: 100 + k });
    for (const r of readings) {
      await db.query('INSERT INTO sensor_data (sensor_id, timestamp, value) VALUES (?, ?, ?)', [
        r.sensor,
        formatUtc(r.ms).replace('T', ' '),
        r.value,
      ]);
    }
    const red = await startNodeRed({
      flows: flow('5-data-connector.json'),
      env: {
        DATABASE_URL: mysql.url,
        API_KEY: `k-${unique()}`,
        POST_DATA_ENDPOINT: receiver.url,
        POST_DATA_API_KEY: 'post-key',
        FETCH_DATA_INTERVAL: '1',
        BATCH_SIZE: '100',
        SIMULATE: 'false',
      },
    });
    cleanups.push(async () => void (await red.stop()));
    const firstFull = bookmark + 30_000; // the next minute boundary
    await until(
      'the windows up to now',
      () =>
        receiver.received.some((r) => (JSON.parse(r.body) as PostedBody).end_time === formatUtc(firstFull + 2 * 60_000)) ? true : undefined,
      90_000,
      red.output,
    );
    const bodies = receiver.received.map((r) => JSON.parse(r.body) as PostedBody).sort((a, b) => a.start_time.localeCompare(b.start_time));
    assert.equal(bodies[0].start_time, formatUtc(bookmark), 'the first window starts exactly where the original stopped');
    for (let i = 1; i < bodies.length; i++) assert.equal(bodies[i].start_time, bodies[i - 1].end_time, 'no gap, no overlap');
    const seen = windowsPerReading(receiver.received);
    // The windows sent so far may run past the one waited for (catching up sends several per tick).
    const lastEnd = Date.parse(`${bodies[bodies.length - 1].end_time}Z`);
    const sent = readings.filter((r) => r.ms >= bookmark && r.ms < lastEnd);
    assert.equal([...seen.values()].filter((w) => w.size !== 1).length, 0, 'no reading in two windows');
    assert.deepEqual(
      [...seen.keys()].sort(),
      sent.map((r) => `sensor_${r.sensor}@${formatUtc(r.ms)}`).sort(),
      'every reading after the bookmark, none before it (the original sent those)',
    );
    assertCleanSwitch(red, 'connector');
  });

  it('5 data connector on PostgreSQL: the plant database as the original left it, its SQLAlchemy DATABASE_URL, the query edited for its table; the first window starts at the bookmark, none twice, none skipped', async function () {
    await requireService(this, 'postgres');
    const pg = await createTestPostgresDatabase('iotp_e2e_adopt_plant');
    const db = openDatabase(pg.config);
    const receiver: Receiver = await startReceiver();
    cleanups.push(async () => {
      await receiver.close();
      await db.close();
      await pg.drop();
    });
    // The README's example plant table (sensors named in a text column, naive UTC times) and the
    // original's bookmark: the end of the last window it sent, 3.5 minutes ago (not on a minute).
    const bookmark = alignDown(Date.now(), 60_000) - 3 * 60_000 - 30_000;
    const names = ['boiler', 'pump-2', 'feed water'];
    const readings = Array.from({ length: 14 }, (_v, i) => ({
      sensor: names[i % names.length],
      ms: bookmark + (i - 2) * 15_000,
      value: 100 + i,
    }));
    await createPlantReadings(
      db,
      readings.map((r) => ({ sensor: r.sensor, value: r.value, timestamp: formatUtc(r.ms).replace('T', ' ') })),
    );
    await createConnectorOriginal(db, formatUtc(bookmark).replace('T', ' '));
    // The user edits the post node's query for their table (the original's fetch_helper).
    const edited = flow('5-data-connector.json').map((node) => {
      const n = node as { type?: string; query?: string };
      return n.type === 'iotp-batch-post'
        ? {
            ...n,
            query:
              'SELECT sensor, timestamp, value FROM sensor_data WHERE timestamp >= :start_time AND timestamp < :end_time ORDER BY timestamp, id',
          }
        : n;
    });
    const red = await startNodeRed({
      flows: edited,
      env: {
        DATABASE_URL: pg.url.replace(/^postgresql:/, 'postgresql+psycopg2:'),
        API_KEY: `k-${unique()}`,
        POST_DATA_ENDPOINT: receiver.url,
        POST_DATA_API_KEY: 'post-key',
        FETCH_DATA_INTERVAL: '1',
        BATCH_SIZE: '100',
        SIMULATE: 'false',
      },
    });
    cleanups.push(async () => void (await red.stop()));
    const firstFull = bookmark + 30_000; // the next minute boundary
    await until(
      'the windows up to now',
      () =>
        receiver.received.some((r) => (JSON.parse(r.body) as PostedBody).end_time === formatUtc(firstFull + 2 * 60_000)) ? true : undefined,
      90_000,
      red.output,
    );
    const bodies = receiver.received.map((r) => JSON.parse(r.body) as PostedBody).sort((a, b) => a.start_time.localeCompare(b.start_time));
    assert.equal(bodies[0].start_time, formatUtc(bookmark), 'the first window starts exactly where the original stopped');
    for (let i = 1; i < bodies.length; i++) assert.equal(bodies[i].start_time, bodies[i - 1].end_time, 'no gap, no overlap');
    const seen = windowsPerReading(receiver.received);
    // The windows sent so far may run past the one waited for (catching up sends several per tick).
    const lastEnd = Date.parse(`${bodies[bodies.length - 1].end_time}Z`);
    const sent = readings.filter((r) => r.ms >= bookmark && r.ms < lastEnd);
    assert.equal([...seen.values()].filter((w) => w.size !== 1).length, 0, 'no reading in two windows');
    assert.deepEqual(
      [...seen.keys()].sort(),
      sent.map((r) => `${r.sensor}@${formatUtc(r.ms)}`).sort(),
      'every reading after the bookmark, none before it (the original sent those)',
    );
    assert.deepEqual(
      bodies[0].data['feed water']?.[0],
      { timestamp: formatUtc(bookmark), value: 102 },
      'values and times as stored (this one stamped at the bookmark itself)',
    );
    assertCleanSwitch(red, 'connector');
    assert.match(red.output(), new RegExp(`the original connector's bookmark ${new Date(bookmark).toISOString()}`));
  });

  it("npm start with the originals' DATABASE_URL, DB_FILE and broker and nothing else: all five flows start, no migration fails, no row is lost", async function () {
    await requireService(this, 'mysql');
    const mysql = await createTestMysqlDatabase('iotp_e2e_adopt_npm');
    const db = openDatabase(mysql.config);
    const dir = makeTempDir('iotp-e2e-adopt-npm-');
    const file = join(dir, 'test.db');
    const rolling = openDatabase({ dialect: 'sqlite', file, busyTimeoutMs: 5000 });
    cleanups.push(async () => {
      await rolling.close();
      await db.close();
      await mysql.drop();
      removeTempDir(dir);
    });
    await createStatestreamOriginal(db);
    const oldMessages = (await db.query('SELECT id, topic, payload FROM messages ORDER BY id')).rows;
    const now = Math.floor(Date.now() / 1000);
    await rolling.query('CREATE TABLE messages (number INTEGER, epochtime INTEGER)');
    for (let i = 0; i < 10; i++) await rolling.query('INSERT INTO messages (number, epochtime) VALUES (?, ?)', [i + 1, now - 30 - i * 120]);

    const userDir = join(dir, 'user');
    mkdirSync(userDir);
    // The user's broker: a private one, as the simulators publish on the default topics.
    const broker = await startPrivateMosquitto();
    cleanups.push(() => broker.stop());
    const started = await npmStart(
      {
        NODE_RED_USER_DIR: userDir,
        PORT: String(await freePort()),
        DATABASE_URL: mysql.url,
        DB_FILE: file,
        MQTT_URL: broker.url,
        // Everything else as a user who sets nothing: the simulators on, default topics.
        MQTT_HOST: undefined,
        BROKER: undefined,
        MYSQL_HOST: undefined,
        SIMULATE: undefined,
        STATESTREAM_BASE_TOPIC: undefined,
        TOPIC: undefined,
        STATS_TOPIC: undefined,
        MQTT_TOPIC: undefined,
      },
      90_000,
    );
    cleanups.unshift(() => started.stop());
    await until(
      'every flow to take over or create its tables',
      () => {
        const out = started.output();
        return ['statestream', 'rolling-averages'].every((set) => out.includes(`Took over an existing schema for ${set}`)) &&
          ['isems/1-', 'sensors/4-', 'connector/1-'].every((m) => out.includes(m))
          ? true
          : undefined;
      },
      90_000,
      started.output,
    );
    // The simulated Home Assistant publishes into the adopted tables meanwhile.
    await until(
      'new statestream messages',
      async () => ((await count(db, 'SELECT COUNT(*) FROM messages')) > oldMessages.length + 5 ? true : undefined),
      60_000,
      started.output,
    );
    await started.stop();
    const out = started.output();
    assert.doesNotMatch(out, /Migration .* failed|Not taking over/, out.slice(-3000));
    assert.match(out, /Started from 10 stored reading\(s\)/, "the rolling window starts from the original's numbers");
    assert.deepEqual(
      (await db.query('SELECT id, topic, payload FROM messages ORDER BY id LIMIT ?', [oldMessages.length])).rows,
      oldMessages,
    );
    assert.equal(await count(db, 'SELECT COUNT(*) FROM facts'), await count(db, 'SELECT COUNT(*) FROM messages'), 'one fact per message');
    assert.equal(await count(rolling, 'SELECT COUNT(*) FROM messages WHERE epochtime <= ?', [now]), 10, 'the original numbers kept');
  });
});
