/**
 * Scale-out: two Node-RED instances (own user dirs, ports and MQTT client ids) run the shipped
 * statestream, sensors and data-connector flows against one database (MariaDB, then PostgreSQL) and a private
 * mosquitto (the compose stack's queue settings), both ingests on an MQTT 5 shared subscription
 * (MQTT_SHARE_GROUP). The test publishes Home Assistant statestream messages and sensor readings
 * itself and checks: every message is stored exactly once across the two instances, with one fact
 * per live statestream message and none for the retained replay the second instance receives when
 * it subscribes; each migration (the statestream trigger included) is recorded once although both
 * instances migrate at start; every per-minute mean is the mean of all the minute's readings,
 * merged from both instances' parts; the connector's bookmark lease lets only one instance post a
 * window, so no reading reaches the receiver twice. It prints the ingest throughput of one instance and of
 * two, measured in the same run.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { connectorMigrations } from '../../lib/connector/bookmark';
import { formatUtc } from '../../lib/connector/time';
import { alignDown } from '../../lib/connector/windows';
import { openDatabase, runMigrations } from '../../lib/db';
import type { Database } from '../../lib/db/types';
import { MIN, readingKey, startReceiver, type PostedBody, type Receiver } from '../node/connector/fixtures';
import { packageRoot, startNodeRed, type RunningNodeRed } from '../support/node-red';
import { missingPrograms, startPrivateMosquitto, type PrivateMosquitto } from '../support/private-services';
import {
  createTestServerDatabase,
  inCi,
  requireService,
  type ServerDialect,
  type TestMysqlDatabase,
  type TestPostgresDatabase,
} from '../support/services';

const readFlow = (file: string): Array<Record<string, unknown>> =>
  JSON.parse(readFileSync(join(packageRoot, 'flows', file), 'utf8')) as Array<Record<string, unknown>>;
// The shipped flows as they are, except that the connector waits 1 s (not 30 s) after a window's
// end before posting it, so the test does not wait half a minute for late rows that cannot come.
const flows = [...readFlow('1-statestream.json'), ...readFlow('4-iot-sensors.json'), ...readFlow('5-data-connector.json')].map((node) =>
  node.id === 'connector.post' ? { ...node, settle: '1' } : node,
);
/** Readings per phase (one instance, then two), and as many statestream messages. */
const PER_PHASE = 3000;
/** Statestream entities the messages cycle through (`sensor.scale_<k>`, key `state`). */
const ENTITIES = 50;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The checks' SQL that differs between the two server dialects. */
interface Backend {
  name: string;
  dialect: ServerDialect;
  /** A statestream payload (the number i as text) as a number. */
  payloadNumber: string;
  /** The statestream pipeline's triggers on `messages`, counted. */
  triggersOnMessages: string;
  /** A `sensor_data.timestamp` cut to its minute, comparable with `aggregated_sensor_data.timestamp`. */
  minuteOf: (column: string) => string;
}

const backends: Backend[] = [
  {
    name: 'MariaDB',
    dialect: 'mysql',
    payloadNumber: 'CAST(payload AS UNSIGNED)',
    triggersOnMessages:
      "SELECT COUNT(*) AS n FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = 'messages'",
    minuteOf: (column) => `DATE_FORMAT(${column}, '%Y-%m-%d %H:%i:00')`,
  },
  {
    name: 'PostgreSQL',
    dialect: 'postgres',
    payloadNumber: 'CAST(payload AS BIGINT)',
    // The statement-level normalise trigger; messages_touch (BEFORE UPDATE, the updated_at stamp) is not the one counted.
    triggersOnMessages:
      "SELECT COUNT(*) AS n FROM pg_trigger WHERE tgrelid = 'messages'::regclass AND NOT tgisinternal AND tgname = 'statestream_normalise'",
    minuteOf: (column) => `date_trunc('minute', ${column})`,
  },
];

for (const backend of backends) {
  describe(`scale-out: two Node-RED instances on a $share subscription, one ${backend.name}`, function () {
    this.timeout(300_000);
    let server: TestMysqlDatabase | TestPostgresDatabase | undefined;
    let db: Database | undefined;
    let receiver: Receiver | undefined;
    let publisher: mqtt.MqttClient | undefined;
    let broker: PrivateMosquitto | undefined;
    const instances: RunningNodeRed[] = [];
    const run = randomBytes(4).toString('hex');
    const topic = `iotp-scale/${run}/sensors`;
    // A multi-level base topic, as Home Assistant allows.
    const baseTopic = `iotp-scale/${run}/ha`;
    // The connector's bookmark: every reading of the test is later than this.
    const first = alignDown(Date.now(), MIN) - MIN;
    /** Event time of reading i: live readings (the window node counts them), 1 ms apart so each is unique. */
    const times: number[] = [];

    const reading = (i: number) => ({ sensorId: (i % 5) + 1, ms: times[i]!, value: i });
    const payload = (i: number): string => {
      const r = reading(i);
      return JSON.stringify({
        sensor_id: String(r.sensorId),
        timestamp: new Date(r.ms).toISOString().replace('Z', ''),
        value: r.value,
        metadata: { location: { lat: 10, lng: 10 }, unit: 'C', type: 'temperature', description: 'scale-out' },
      });
    };

    const env = (instance: string): Record<string, string> => ({
      IOTP_INSTANCE_ID: `${instance}-${run}`,
      DATABASE_URL: server!.url,
      MQTT_URL: broker!.url,
      MQTT_TOPIC: topic,
      STATESTREAM_BASE_TOPIC: baseTopic,
      MQTT_SHARE_GROUP: `iotp-${run}`,
      SIMULATE: 'false',
      INTERVAL_MS: '1000',
      POST_DATA_ENDPOINT: receiver!.url,
      POST_DATA_API_KEY: 'scale-out-post-key',
      API_KEY: 'scale-out-api-key',
      FETCH_DATA_INTERVAL: '1',
      BATCH_SIZE: '500',
    });

    const count = async (sql: string): Promise<number> => Number((await db!.query(sql)).rows[0].n);
    const stored = (): Promise<number> => count('SELECT COUNT(*) AS n FROM sensor_data');
    // Live statestream messages: the retained replay a subscribing instance receives is counted apart.
    const storedStatestream = (): Promise<number> => count('SELECT COUNT(*) AS n FROM messages WHERE retained = 0');
    // Statestream message i: entity scale_<i mod ENTITIES>, payload the number i (every payload unique).
    const statestreamTopic = (i: number): string => `${baseTopic}/sensor/scale_${i % ENTITIES}/state`;

    async function start(instance: string): Promise<RunningNodeRed> {
      const red = await startNodeRed({ flows, env: env(instance) });
      instances.push(red);
      // The ingests are subscribed once the broker session is up (the subscription follows the
      // CONNACK); the examples share one broker node, so one session carries both flows.
      await red.waitForOutput(/MQTT broker .*: connected/, 30_000);
      await sleep(1000);
      return red;
    }

    /**
     * Publishes readings and statestream messages [from, to) at QoS 1 (the statestream ones retained,
     * as Home Assistant does) and waits until both are stored `expected` times; returns messages/s stored.
     */
    async function publishAndMeasure(from: number, to: number, expected: number): Promise<number> {
      // Live readings 1 ms apart, each later than every earlier one: no two share sensor and time.
      const base = Math.max(Date.now() - (to - from), from > 0 ? times[from - 1]! + 1 : 0);
      for (let i = from; i < to; i++) times[i] = base + (i - from);
      const started = process.hrtime.bigint();
      const acks: Promise<unknown>[] = [];
      for (let i = from; i < to; i++) {
        acks.push(publisher!.publishAsync(topic, payload(i), { qos: 1 }));
        acks.push(publisher!.publishAsync(statestreamTopic(i), String(i), { qos: 1, retain: true }));
      }
      await Promise.all(acks);
      const deadline = Date.now() + 120_000;
      for (;;) {
        const [readings, statestream] = [await stored(), await storedStatestream()];
        if (readings >= expected && statestream >= expected) break;
        assert.ok(
          Date.now() < deadline,
          `stored ${readings} readings and ${statestream} statestream messages of ${expected}\n${instances.map((r) => r.output().slice(-2000)).join('\n----\n')}`,
        );
        await sleep(50);
      }
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      return (2 * (to - from)) / seconds;
    }

    before(async function () {
      await requireService(this, backend.dialect);
      const missing = await missingPrograms(['mosquitto']);
      if (missing.length > 0) {
        if (inCi()) throw new Error('mosquitto is not installed');
        console.log('      [skip] mosquitto is not installed (apt-get install mosquitto)');
        this.skip();
      }
      // A private broker with the compose stack's queue settings. mosquitto's default
      // max_queued_messages (1000 per client) DROPS QoS 1 messages beyond it while a subscriber
      // catches up: a burst of a few thousand readings would lose messages at the broker.
      const conf = readFileSync(join(packageRoot, 'docker', 'mosquitto', 'mosquitto.conf'), 'utf8');
      const queueSettings = conf
        .split('\n')
        .filter((line) => /^(max_queued_messages|max_queued_bytes|max_inflight_messages|persistent_client_expiration)\s/.test(line));
      assert.ok(
        queueSettings.some((line) => line.startsWith('max_queued_messages')),
        'the compose broker config sets max_queued_messages',
      );
      broker = await startPrivateMosquitto({ extraConfig: queueSettings });
      server = await createTestServerDatabase(backend.dialect, 'iotp_scale');
      db = openDatabase({ ...server.config });
      receiver = await startReceiver();
      // The connector's bookmark starts at `first`, its lease held by the test: neither instance may
      // post until every reading is stored; then both compete for the lease.
      await runMigrations(db, [connectorMigrations]);
      await db.query('INSERT INTO connector_bookmarks (name, window_end, updated_at, lease_owner, lease_until) VALUES (?, ?, ?, ?, ?)', [
        'data-connector',
        first,
        Date.now(),
        'scale-out-test',
        Date.now() + 3_600_000,
      ]);
      publisher = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: `iotp-scale-pub-${run}` });
    });

    after(async () => {
      await Promise.all(instances.map((red) => red.stop().catch(() => red.kill())));
      await publisher?.endAsync();
      await receiver?.close();
      await db?.close();
      await server?.drop();
      await broker?.stop();
    });

    it('stores every message exactly once, migrates once, and posts every reading once; prints one vs two instances', async () => {
      await start('a');
      const oneInstance = await publishAndMeasure(0, PER_PHASE, PER_PHASE);
      await start('b');
      const twoInstances = await publishAndMeasure(PER_PHASE, 2 * PER_PHASE, 2 * PER_PHASE);

      // Exactly once: each reading's value appears once, nothing else was stored.
      const { rows: duplicates } = await db!.query(
        'SELECT value, COUNT(*) AS n FROM sensor_data GROUP BY value HAVING COUNT(*) > 1 LIMIT 5',
      );
      assert.deepEqual(duplicates, [], 'readings stored twice');
      assert.equal(await stored(), 2 * PER_PHASE);
      const { rows: distinct } = await db!.query('SELECT COUNT(DISTINCT value) AS n, MIN(value) AS lo, MAX(value) AS hi FROM sensor_data');
      assert.deepEqual(distinct[0], { n: 2 * PER_PHASE, lo: 0, hi: 2 * PER_PHASE - 1 });

      // Statestream: each live message once, one fact each; the retained replay instance b got when it
      // subscribed repeats the latest facts, so it added none.
      const { rows: twiceStatestream } = await db!.query(
        'SELECT payload, COUNT(*) AS n FROM messages WHERE retained = 0 GROUP BY payload HAVING COUNT(*) > 1 LIMIT 5',
      );
      assert.deepEqual(twiceStatestream, [], 'statestream messages stored twice');
      const { rows: live } = await db!.query(
        `SELECT COUNT(DISTINCT payload) AS n, MIN(${backend.payloadNumber}) AS lo, MAX(${backend.payloadNumber}) AS hi FROM messages WHERE retained = 0`,
      );
      assert.deepEqual(live[0], { n: 2 * PER_PHASE, lo: 0, hi: 2 * PER_PHASE - 1 });
      const replayed = await count('SELECT COUNT(*) AS n FROM messages WHERE retained = 1');
      assert.equal(
        await count('SELECT COUNT(*) AS n FROM facts'),
        2 * PER_PHASE,
        `one fact per live message (${replayed} retained replays stored besides)`,
      );
      assert.equal(await count('SELECT COUNT(DISTINCT message_id) AS n FROM facts'), 2 * PER_PHASE);
      assert.equal(await count('SELECT COUNT(*) AS n FROM facts WHERE retained = 1'), 0, 'a retained replay added a fact');
      const { rows: entities } = await db!.query(
        'SELECT b.label AS base, COUNT(DISTINCT e.id) AS entities, COUNT(DISTINCT s.id) AS states FROM base_topics b JOIN entities e ON e.base_topic_id = b.id JOIN states s ON s.entity_id = e.id GROUP BY b.label',
      );
      assert.deepEqual(entities, [{ base: baseTopic, entities: ENTITIES, states: ENTITIES }]);

      // Both instances applied the migration sets at start; the migrations table records each step once.
      const { rows: migrations } = await db!.query('SELECT name, COUNT(*) AS n FROM migrations GROUP BY name');
      assert.ok(
        migrations.some((m) => String(m.name).startsWith('statestream')) && migrations.some((m) => String(m.name).startsWith('sensors')),
        `migrations recorded: ${JSON.stringify(migrations)}`,
      );
      assert.equal(await count(backend.triggersOnMessages), 1, 'the statestream trigger exists once');
      assert.deepEqual(
        migrations.filter((m) => Number(m.n) !== 1),
        [],
        'a migration recorded more than once',
      );

      // The connector: free the lease; one instance at a time posts the due windows from the bookmark on.
      await db!.query('UPDATE connector_bookmarks SET lease_owner = NULL, lease_until = NULL WHERE name = ?', ['data-connector']);
      const windowEnd = async (): Promise<number> =>
        Number((await db!.query('SELECT window_end FROM connector_bookmarks WHERE name = ?', ['data-connector'])).rows[0].window_end);
      const deadline = Date.now() + 120_000;
      const lastWindowEnd = alignDown(Math.max(...times), MIN) + MIN;
      while ((await windowEnd()) < lastWindowEnd) {
        assert.ok(Date.now() < deadline, `bookmark stuck at ${formatUtc(await windowEnd())}`);
        await sleep(200);
      }
      await sleep(1500); // a second instance that (wrongly) posted the same window would have done so by now
      // Every delivery of a reading: which request (its index, window and Idempotency-Key) carried it.
      const deliveries = new Map<string, string[]>();
      const windows = new Map<string, number>();
      receiver!.received.forEach((request, index) => {
        const body = JSON.parse(request.body) as PostedBody;
        const carrier = `#${index} ${body.start_time}/${body.end_time} key ${String(request.headers['idempotency-key'])}`;
        for (const [sensor, list] of Object.entries(body.data)) {
          for (const entry of list) {
            const key = `${sensor}@${entry.timestamp}`;
            deliveries.set(key, [...(deliveries.get(key) ?? []), `${carrier} value ${String(entry.value)}`]);
          }
        }
        windows.set(`${body.start_time}/${body.end_time}`, 0);
      });
      const twice = [...deliveries].filter(([, carriers]) => carriers.length > 1);
      assert.deepEqual(
        twice.slice(0, 3),
        [],
        `${twice.length} readings delivered more than once (of ${receiver!.received.length} requests for ${windows.size} windows; bookmark started at ${formatUtc(first)})`,
      );
      const missing = Array.from({ length: 2 * PER_PHASE }, (_, i) => readingKey(reading(i))).filter((key) => !deliveries.has(key));
      assert.deepEqual(missing.slice(0, 5), [], `${missing.length} readings never delivered`);
      assert.equal(deliveries.size, 2 * PER_PHASE);

      // Per-minute means: each instance's window covers only its share of a sensor's minute; its part
      // is stored per instance and the parts are merged, so every minute's mean is that of all its
      // readings. The windows close 10 s (their grace) after the minute.
      const aggregateDeadline = Date.now() + 90_000;
      while ((await count('SELECT COALESCE(SUM(samples), 0) AS n FROM aggregated_sensor_data')) < 2 * PER_PHASE) {
        assert.ok(
          Date.now() < aggregateDeadline,
          `aggregates cover ${await count('SELECT COALESCE(SUM(samples), 0) AS n FROM aggregated_sensor_data')} of ${2 * PER_PHASE} readings`,
        );
        await sleep(200);
      }
      const { rows: minutes } = await db!.query(
        `SELECT r.sensor_id, r.minute, r.n, r.mean, a.samples, a.value
         FROM (SELECT sensor_id, ${backend.minuteOf('timestamp')} AS minute, COUNT(*) AS n, AVG(value) AS mean
                 FROM sensor_data GROUP BY sensor_id, minute) r
         LEFT JOIN aggregated_sensor_data a ON a.sensor_id = r.sensor_id AND a.timestamp = r.minute
        ORDER BY r.minute, r.sensor_id`,
      );
      const wrong = minutes.filter(
        (m) =>
          Number(m.samples) !== Number(m.n) || Math.abs(Number(m.value) - Number(m.mean)) > 1e-9 * Math.max(1, Math.abs(Number(m.mean))),
      );
      assert.deepEqual(
        wrong.slice(0, 5),
        [],
        `${wrong.length} of ${minutes.length} sensor-minutes whose stored mean is not the mean of their readings`,
      );
      const contributors = await count('SELECT COUNT(DISTINCT instance) AS n FROM aggregated_sensor_parts');
      assert.equal(contributors, 2, 'both instances contributed parts of the minutes');

      console.log(
        `      scale-out ingest (statestream + sensors flows, ${backend.name}, mosquitto $share, ${PER_PHASE} readings + ${PER_PHASE} statestream messages per phase, QoS 1):\n` +
          `        1 instance : ${oneInstance.toFixed(0)} messages/s stored\n` +
          `        2 instances: ${twoInstances.toFixed(0)} messages/s stored (x${(twoInstances / oneInstance).toFixed(2)}; 2 shared CPU cores)\n` +
          `        per-minute means: ${minutes.length} sensor-minutes from the parts of ${contributors} instances, each the mean of all its readings\n` +
          `        statestream: ${2 * PER_PHASE} live messages, one fact each; ${replayed} retained replays stored, no fact added\n` +
          `        connector: ${receiver!.received.length} requests for ${windows.size} windows, every reading once`,
      );
    });
  });
}
