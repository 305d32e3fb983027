/**
 * The shipped statestream flow (flows/1-statestream.json) in a real Node-RED, with a real broker
 * and database: a burst of Home Assistant traffic lands in every table, big and emoji payloads
 * stay intact, retained replays add no facts, and neither a database outage nor a SIGKILL of
 * Node-RED loses a published message. Each suite runs its own mosquitto (see startPrivateMosquitto).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import type { Database } from '../../lib/db';
import { HassSimulator, SEED_README_QUERY, type StatestreamPublish } from '../../lib/statestream';
import { startNodeRed, type RunningNodeRed } from '../support/node-red';
import {
  createTestMysqlDatabase,
  MYSQL_HOST,
  MYSQL_PORT,
  requireService,
  type TestMysqlDatabase,
  createTestPostgresDatabase,
  type TestPostgresDatabase,
} from '../support/services';
import { TcpProxy } from '../support/tcp-proxy';
import { makeTempDir, removeTempDir } from '../support/tmp';
import {
  connectPublisher,
  openDb,
  publishAll,
  scalar,
  shippedStatestreamFlow,
  sleep,
  startPrivateMosquitto,
  waitUntil,
  type PrivateMosquitto,
  type Publish,
} from './statestream-support';

function env(databaseUrl: string, baseTopic: string, mqttUrl: string): Record<string, string> {
  return { DATABASE_URL: databaseUrl, MQTT_URL: mqttUrl, STATESTREAM_BASE_TOPIC: baseTopic, SIMULATE: 'false' };
}

/** A unique, multi-level base topic per run. */
const uniqueBase = (): string => `iotp-e2e/${randomBytes(4).toString('hex')}/ha`;

/** Exactly `count` messages of simulated Home Assistant traffic (start-up state, then updates). */
function simulatedTraffic(baseTopic: string, count: number): StatestreamPublish[] {
  const sim = new HassSimulator({ baseTopic, entitiesPerDomain: 4, seed: baseTopic });
  const out = sim.startup(Date.now() - 60_000);
  let t = Date.now() - 50_000;
  while (out.length < count) out.push(...sim.updates(5, (t += 10)));
  return out.slice(0, count);
}

/** Live numbered states: payload = sequence number, so every message is identifiable in the table. */
function numberedTraffic(baseTopic: string, count: number): Publish[] {
  return Array.from({ length: count }, (_, i) => ({ topic: `${baseTopic}/sensor/s${i % 50}/state`, payload: String(i) }));
}

/** Publishes a probe and waits until it is stored: the flow is subscribed and its schema exists. */
async function waitForPipeline(db: Database, client: MqttClient, baseTopic: string): Promise<void> {
  const topic = `${baseTopic}/sensor/probe/state`;
  await waitUntil(
    async () => {
      await client.publishAsync(topic, 'ready', { qos: 1 });
      await sleep(300);
      return (await scalar(db, 'SELECT COUNT(*) FROM messages WHERE topic = ?', [topic])) > 0;
    },
    60_000,
    'the pipeline to store a probe message',
  );
}

async function countsFor(db: Database, baseTopic: string) {
  const like = `${baseTopic}/%`;
  return {
    messages: await scalar(db, "SELECT COUNT(*) FROM messages WHERE topic LIKE ? AND topic NOT LIKE '%/probe/%'", [like]),
    facts: await scalar(
      db,
      `SELECT COUNT(*) FROM facts f JOIN states s ON f.state_id = s.id JOIN entities e ON s.entity_id = e.id JOIN base_topics b ON e.base_topic_id = b.id
       WHERE b.label = ? AND NOT (e.domain = 'sensor' AND e.label = 'probe')`,
      [baseTopic],
    ),
    states: await scalar(
      db,
      "SELECT COUNT(*) FROM states s JOIN entities e ON s.entity_id = e.id JOIN base_topics b ON e.base_topic_id = b.id WHERE b.label = ? AND NOT (e.domain = 'sensor' AND e.label = 'probe')",
      [baseTopic],
    ),
    entities: await scalar(
      db,
      "SELECT COUNT(*) FROM entities e JOIN base_topics b ON e.base_topic_id = b.id WHERE b.label = ? AND NOT (e.domain = 'sensor' AND e.label = 'probe')",
      [baseTopic],
    ),
  };
}

/** How often each numbered payload was stored; `missing` lists the ones never stored. */
async function numberedPresence(
  db: Database,
  baseTopic: string,
  count: number,
): Promise<{ missing: number[]; duplicates: number; rows: number }> {
  const { rows } = await db.query("SELECT payload FROM messages WHERE topic LIKE ? AND topic NOT LIKE '%/probe/%'", [`${baseTopic}/%`]);
  const seen = new Uint32Array(count);
  for (const row of rows) seen[Number(row.payload)]++;
  const missing: number[] = [];
  let duplicates = 0;
  for (let i = 0; i < count; i++) {
    if (seen[i] === 0) missing.push(i);
    else duplicates += seen[i] - 1;
  }
  return { missing, duplicates, rows: rows.length };
}

type Backend = { name: string; url: () => string; setup(this: Mocha.Context): Promise<void>; teardown(): Promise<void> };

const backends: Backend[] = (() => {
  let mysql: TestMysqlDatabase | undefined;
  let postgres: TestPostgresDatabase | undefined;
  let dir = '';
  return [
    {
      name: 'MariaDB',
      url: () => mysql!.url,
      async setup() {
        await requireService(this, 'mysql');
        mysql = await createTestMysqlDatabase('iotp_e2e_ss');
      },
      teardown: async () => mysql?.drop(),
    },
    {
      name: 'PostgreSQL',
      url: () => postgres!.url,
      async setup() {
        await requireService(this, 'postgres');
        postgres = await createTestPostgresDatabase('iotp_e2e_ss');
      },
      teardown: async () => postgres?.drop(),
    },
    {
      name: 'SQLite',
      url: () => `sqlite:${join(dir, 'statestream.db')}`,
      async setup() {
        dir = makeTempDir('iotp-e2e-ss-');
      },
      teardown: async () => removeTempDir(dir),
    },
  ];
})();

for (const backend of backends) {
  // A private mosquitto: the system one keeps at most 1000 queued messages per client
  // (max_queued_messages default), so a 5,000-message burst would be cut at the broker.
  describe(`statestream flow end to end (${backend.name}, private mosquitto)`, function () {
    this.timeout(240_000);
    const base = uniqueBase();
    let broker: PrivateMosquitto | undefined;
    let nodeRed: RunningNodeRed | undefined;
    let db: Database;
    let client: MqttClient;
    const published: StatestreamPublish[] = [];

    before(async function () {
      await backend.setup.call(this);
      broker = await startPrivateMosquitto();
      db = openDb(backend.url());
      client = await connectPublisher(broker.url, `iotp-e2e-pub-${randomBytes(4).toString('hex')}`);
      nodeRed = await startNodeRed({ flows: shippedStatestreamFlow(), env: env(backend.url(), base, broker.url) });
      await waitForPipeline(db, client, base);
    });

    after(async () => {
      await nodeRed?.stop();
      await client?.endAsync();
      await db?.close();
      await broker?.stop();
      await backend.teardown();
    });

    it('stores a 5,000-message burst: every message, every fact, the seed README query returns them', async () => {
      const traffic = simulatedTraffic(base, 5000);
      published.push(...traffic);
      await publishAll(client, traffic);
      await waitUntil(async () => (await countsFor(db, base)).messages >= 5000, 120_000, '5,000 stored messages');
      await sleep(500);
      const counts = await countsFor(db, base);
      const topics = new Set(traffic.map((m) => m.topic));
      assert.equal(counts.messages, 5000);
      assert.equal(counts.facts, 5000, 'live messages: one fact each');
      assert.equal(counts.states, topics.size);
      assert.equal(counts.entities, 20);

      // Every published (topic, payload) is stored byte for byte.
      const { rows } = await db.query(
        "SELECT topic, payload, qos, retained FROM messages WHERE topic LIKE ? AND topic NOT LIKE '%/probe/%' ORDER BY id",
        [`${base}/%`],
      );
      const key = (m: { topic?: unknown; payload?: unknown }) => `${m.topic}\u0000${m.payload}`;
      assert.deepEqual(rows.map(key).sort(), traffic.map(key).sort());
      assert.ok(rows.every((r) => Number(r.qos) === 1 && Number(r.retained) === 0));

      // The original README's query: entity = the object id as written (its domain beside it in entities), main topic = the multi-level base.
      const seed = await db.query(
        `SELECT q.*, e.domain FROM (${SEED_README_QUERY}) q JOIN entities e ON e.id = q.entity_id WHERE q.main_topic = ? AND NOT (e.domain = 'sensor' AND q.entity = 'probe') ORDER BY q.id`,
        [base],
      );
      assert.equal(seed.rows.length, 5000);
      const latest = new Map<string, string>();
      for (const m of traffic) latest.set(m.topic, m.payload);
      const storedLatest = new Map<string, string>();
      for (const r of seed.rows) {
        storedLatest.set(`${r.main_topic}/${r.domain}/${r.entity}/${r.state}`, String(r.fact));
      }
      assert.deepEqual(storedLatest, latest);
      const domains = new Set(seed.rows.map((r) => String(r.domain)));
      assert.deepEqual([...domains].sort(), ['binary_sensor', 'climate', 'light', 'sensor', 'switch']);
    });

    it('stores a 200 KB attribute and emoji intact', async () => {
      const big = JSON.stringify({ text: '🏠 Wohnzimmer — 温度 '.repeat(200), data: 'x'.repeat(200 * 1024) });
      const messages: StatestreamPublish[] = [
        { topic: `${base}/sensor/big/blob`, payload: big, qos: 1, retain: true },
        { topic: `${base}/sensor/big/state`, payload: '🔥 on fire 🔥', qos: 1, retain: true },
        { topic: `${base}/sensor/big/friendly_name`, payload: '"Küche 🧑‍🍳"', qos: 1, retain: true },
      ];
      published.push(...messages);
      await publishAll(client, messages);
      await waitUntil(
        async () => (await scalar(db, 'SELECT COUNT(*) FROM messages WHERE topic LIKE ?', [`${base}/sensor/big/%`])) === 3,
        60_000,
        'the big messages',
      );
      for (const m of messages) {
        const { rows } = await db.query(
          `SELECT f.fact FROM facts f JOIN states s ON f.state_id = s.id JOIN entities e ON s.entity_id = e.id JOIN base_topics b ON e.base_topic_id = b.id
           WHERE b.label = ? AND e.domain = 'sensor' AND e.label = 'big' AND s.label = ?`,
          [base, m.topic.split('/').pop()!],
        );
        assert.equal(rows.length, 1);
        assert.equal(rows[0].fact, m.payload);
      }
    });

    it('adds no facts when a fresh subscriber replays the retained topics after a restart', async () => {
      const before = await countsFor(db, base);
      const retainedTopics = new Set(published.map((m) => m.topic)).size;
      await nodeRed!.stop();
      // A new user directory: a new MQTT client id, so the broker replays every retained topic.
      nodeRed = await startNodeRed({ flows: shippedStatestreamFlow(), env: env(backend.url(), base, broker!.url) });
      await waitUntil(async () => (await countsFor(db, base)).messages >= before.messages + retainedTopics, 60_000, 'the retained replay');
      await sleep(1000);
      const after = await countsFor(db, base);
      assert.equal(after.messages, before.messages + retainedTopics, 'each retained topic replayed once into messages');
      assert.equal(after.facts, before.facts, 'replays equal to the latest fact add none');
      assert.equal(await scalar(db, 'SELECT COUNT(*) FROM messages WHERE topic LIKE ? AND retained = 1', [`${base}/%`]), retainedTopics);
    });
  });
}

describe('statestream flow end to end: a MariaDB outage mid-stream loses nothing (private mosquitto)', function () {
  this.timeout(240_000);
  let broker: PrivateMosquitto | undefined;
  let mysql: TestMysqlDatabase | undefined;
  let proxy: TcpProxy | undefined;
  let nodeRed: RunningNodeRed | undefined;
  let db: Database | undefined;
  let client: MqttClient | undefined;

  before(async function () {
    await requireService(this, 'mysql');
    broker = await startPrivateMosquitto();
    mysql = await createTestMysqlDatabase('iotp_e2e_ss');
    proxy = await new TcpProxy(MYSQL_HOST, MYSQL_PORT).start();
    db = openDb(mysql.url);
  });

  after(async () => {
    await nodeRed?.stop();
    await client?.endAsync();
    await proxy?.stop();
    await db?.close();
    await mysql?.drop();
    await broker?.stop();
  });

  it('buffers through a 6-second cut of the database connection and stores every message', async () => {
    const base = uniqueBase();
    const viaProxy = mysql!.url.replace(`${MYSQL_HOST}:${MYSQL_PORT}`, `127.0.0.1:${proxy!.port}`);
    client = await connectPublisher(broker!.url, `iotp-e2e-pub-${randomBytes(4).toString('hex')}`);
    nodeRed = await startNodeRed({ flows: shippedStatestreamFlow(), env: env(viaProxy, base, broker!.url) });
    await waitForPipeline(db!, client, base);
    const total = 4000;
    let cutDone: Promise<void> | undefined;
    await publishAll(client, numberedTraffic(base, total), {
      window: 50,
      pause: async (i) => {
        if (i % 200 === 0) await sleep(20); // a steady stream (~several seconds), not one burst
        if (i === 1000) {
          proxy!.cut();
          cutDone = sleep(6000).then(() => proxy!.restore());
        }
      },
    });
    await cutDone;
    await waitUntil(async () => (await numberedPresence(db!, base, total)).missing.length === 0, 120_000, 'every message after the outage');
    await sleep(1000);
    const presence = await numberedPresence(db!, base, total);
    const counts = await countsFor(db!, base);
    console.log(`      outage: ${presence.rows} rows for ${total} messages, ${presence.duplicates} duplicates`);
    assert.deepEqual(presence.missing, []);
    assert.equal(counts.facts, presence.rows, 'one fact per stored live message');
    assert.equal(counts.states, 50);
    assert.equal(counts.entities, 50);
  });
});

describe('statestream flow end to end: SIGKILL of Node-RED mid-stream loses nothing (private mosquitto)', function () {
  this.timeout(300_000);
  let broker: PrivateMosquitto | undefined;
  let mysql: TestMysqlDatabase | undefined;
  let nodeRed: RunningNodeRed | undefined;
  let db: Database | undefined;
  let client: MqttClient | undefined;

  before(async function () {
    await requireService(this, 'mysql');
    broker = await startPrivateMosquitto();
    mysql = await createTestMysqlDatabase('iotp_e2e_ss');
    db = openDb(mysql.url);
  });

  after(async () => {
    await nodeRed?.stop();
    await client?.endAsync();
    await db?.close();
    await mysql?.drop();
    await broker?.stop();
  });

  it('keeps publishing while Node-RED is killed and restarted; every published message is stored', async () => {
    const base = uniqueBase();
    client = await connectPublisher(broker!.url, `iotp-e2e-pub-${randomBytes(4).toString('hex')}`);
    nodeRed = await startNodeRed({ flows: shippedStatestreamFlow(), env: env(mysql!.url, base, broker!.url) });
    const userDir = nodeRed.userDir;
    await waitForPipeline(db!, client, base);
    const total = 8000;
    let restarted: Promise<void> | undefined;
    let killedAt = -1;
    let checking = false;
    let holding: Promise<void> = Promise.resolve();
    await publishAll(client, numberedTraffic(base, total), {
      window: 50,
      pause: async (i) => {
        if (i % 200 === 0) await sleep(25);
        await holding;
        if (killedAt >= 0 || checking || i < 2000) return;
        checking = true;
        let stored = await scalar(db!, 'SELECT COUNT(*) FROM messages');
        if (stored <= 500 && i >= (total * 3) / 4) {
          // A loaded machine: the pipeline lags far behind the publisher. Every worker waits until
          // it has stored enough for the kill to land mid-stream, with the rest still to come.
          holding = (async () => {
            while ((stored = await scalar(db!, 'SELECT COUNT(*) FROM messages')) <= 500) await sleep(100);
          })();
          await holding;
        }
        checking = false;
        if (killedAt < 0 && stored > 500) {
          killedAt = i;
          const victim = nodeRed!;
          restarted = victim.kill().then(async () => {
            await sleep(3000); // the publisher keeps going; the broker queues for the persistent session
            nodeRed = await startNodeRed({ userDir, env: env(mysql!.url, base, broker!.url) });
          });
        }
      },
    });
    assert.ok(killedAt > 0, 'Node-RED was killed mid-stream');
    await restarted;
    await waitUntil(async () => (await numberedPresence(db!, base, total)).missing.length === 0, 180_000, 'every message after the crash');
    await sleep(1000);
    const presence = await numberedPresence(db!, base, total);
    const counts = await countsFor(db!, base);
    console.log(
      `      SIGKILL after ${killedAt} published: ${presence.rows} rows for ${total} messages, ${presence.duplicates} redelivered duplicates`,
    );
    assert.deepEqual(presence.missing, []);
    assert.equal(counts.facts, presence.rows, 'one fact per stored live message (duplicates included)');
    assert.equal(counts.states, 50);
    assert.equal(counts.entities, 50);
  });
});

describe('statestream flow end to end: SIMULATE=true runs the simulated Home Assistant into the database', function () {
  this.timeout(120_000);
  let broker: PrivateMosquitto | undefined;
  let nodeRed: RunningNodeRed | undefined;
  let db: Database | undefined;
  let dir = '';

  after(async () => {
    await nodeRed?.stop();
    await db?.close();
    await broker?.stop();
    if (dir) removeTempDir(dir);
  });

  it('stores the start-up state of all ten entities and live updates, with no errors', async () => {
    broker = await startPrivateMosquitto();
    dir = makeTempDir('iotp-e2e-sim-');
    const url = `sqlite:${join(dir, 'simulated.db')}`;
    const base = `${uniqueBase()}/home`;
    nodeRed = await startNodeRed({ flows: shippedStatestreamFlow(), env: { ...env(url, base, broker.url), SIMULATE: 'true' } });
    db = openDb(url);
    await waitUntil(async () => (await countsFor(db!, base)).entities === 10, 60_000, 'the ten simulated entities');
    const first = await countsFor(db, base);
    // The flow's simulator publishes one entity update per second after the start-up burst.
    await waitUntil(async () => (await countsFor(db!, base)).facts > first.facts, 30_000, 'a live update');
    const { rows } = await db.query(
      `SELECT DISTINCT e.domain, q.entity FROM (${SEED_README_QUERY}) q JOIN entities e ON e.id = q.entity_id WHERE q.main_topic = ?`,
      [base],
    );
    assert.deepEqual(rows.map((r) => String(r.domain)).sort(), [
      'binary_sensor',
      'binary_sensor',
      'climate',
      'climate',
      'light',
      'light',
      'sensor',
      'sensor',
      'switch',
      'switch',
    ]);
    assert.doesNotMatch(nodeRed.output(), /\[error\]/);
  });
});
