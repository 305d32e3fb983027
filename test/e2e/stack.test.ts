/**
 * The compose stack without Docker: Node-RED started exactly as the `node-red` service of
 * docker-compose.yml starts it (the project's settings.js, which seeds every shipped flow on first
 * start, and the service's own environment, rendered from .env.example), with only the addresses
 * and speeds swapped for local ones: DATABASE_URL to a throwaway MariaDB database reached through
 * a TCP proxy, MQTT_URL to the local mosquitto, unique topics, fast simulators.
 *
 * `.env.example` leaves the two secrets compose requires empty (no default secrets), so the test
 * supplies them as a user does: a bcrypt hash of the editor password and a credential key. The
 * editor and admin API then refuse anonymous requests, as they do in the container.
 *
 * The database is DOWN when the stack starts (the proxy refuses connections) and comes up ~10 s
 * later, as MySQL does on a cold `docker compose up` without health checks. Meanwhile the test
 * publishes identifiable readings into three database pipelines; afterwards every one of them is
 * stored exactly as often as the contracts say (nothing lost in the writers), all five pipelines
 * run on their simulators, and their HTTP APIs answer.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { formatUtc } from '../../lib/connector/time';
import { openDatabase } from '../../lib/db';
import type { Database, SqlParams } from '../../lib/db/types';
import { startReceiver, type PostedBody, type Receiver } from '../node/connector/fixtures';
import { httpJson, packageRoot, startNodeRed, type RunningNodeRed } from '../support/node-red';

// Node-RED's own bcrypt implementation (a dependency of node-red): the hash it will verify.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const bcrypt = require(require.resolve('bcryptjs', { paths: [require.resolve('node-red/package.json', { paths: [packageRoot] })] })) as {
  hashSync(password: string, rounds: number): string;
};
import {
  createTestMysqlDatabase,
  MQTT_HOST,
  MQTT_PORT,
  MYSQL_HOST,
  MYSQL_PORT,
  requireService,
  type TestMysqlDatabase,
} from '../support/services';
import { TcpProxy } from '../support/tcp-proxy';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, red?: RunningNodeRed): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${red ? `\n--- Node-RED output ---\n${red.output().slice(-4000)}` : ''}`,
      );
    await sleep(250);
  }
}

/** `.env.example` as name -> value (comments and blank lines skipped). */
function readEnvExample(): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of readFileSync(join(packageRoot, '.env.example'), 'utf8').split('\n')) {
    const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (match) values.set(match[1], match[2]);
  }
  return values;
}

/**
 * The `environment:` map of one compose service, interpolated the way compose does it with
 * `--env-file .env.example`: `${VAR}`, `${VAR:-default}` (default when unset or empty) and
 * `${VAR:?error}`, nested ones from the inside out. The file keeps one `NAME: value` per line.
 */
export function composeServiceEnvironment(service: string, dotenv = readEnvExample()): Record<string, string> {
  const lines = readFileSync(join(packageRoot, 'docker-compose.yml'), 'utf8').split('\n');
  // A YAML anchor may follow a key (`node-red: &node-red`): the postgres profile reuses the service.
  const start = lines.findIndex((line) => line.replace(/ &[\w-]+$/, '') === `  ${service}:`);
  assert.ok(start >= 0, `service ${service} in docker-compose.yml`);
  const env: Record<string, string> = {};
  let inEnvironment = false;
  for (const line of lines.slice(start + 1)) {
    if (/^ {2}\S/.test(line) || /^\S/.test(line)) break; // the next service or top-level key
    if (/^ {4}\S/.test(line)) {
      inEnvironment = line.trim().replace(/ &[\w-]+$/, '') === 'environment:';
      continue;
    }
    const entry = /^ {6}([A-Z][A-Z0-9_]*): ?(.*)$/.exec(line);
    if (!inEnvironment || !entry) continue;
    let value = entry[2].replace(/^"(.*)"$/, '$1');
    for (let inner = /\$\{([A-Z0-9_]+)(?:(:-|:\?)([^${}]*))?\}/; inner.test(value);) {
      value = value.replace(inner, (_all, name: string, op: string | undefined, arg: string | undefined) => {
        const given = dotenv.get(name) ?? '';
        if (op === ':-') return given === '' ? (arg ?? '') : given;
        if (op === ':?') {
          assert.notEqual(given, '', `${name} is required by docker-compose.yml: set in .env.example, or given by the test`);
          return given;
        }
        return given;
      });
    }
    env[entry[1]] = value;
  }
  return env;
}

/** One line of an ISEMS csvlog (the contract's field order), status appended as `;xyz` or ''. */
const isemsLine = (node: string, epoch: number): string =>
  `${node};1;${epoch};ESP_2.0;3592;1;19.21;17.9;13.1;87;95;21.5;11.6;14.1;9;30;52.52;13.40;a0f`;

/** Naive UTC with microseconds, as the sensors pipeline's devices send it. */
const sensorTime = (ms: number): string => new Date(ms).toISOString().slice(0, 23) + '000';

describe('the compose stack: Node-RED as the node-red service runs it, database up late', function () {
  this.timeout(240_000);
  const run = randomBytes(4).toString('hex');
  const topics = {
    STATESTREAM_BASE_TOPIC: `iotp-stack/${run}/ha`,
    TOPIC: `iotp-stack/${run}/DATA`,
    STATS_TOPIC: `iotp-stack/${run}/STATS`,
    MQTT_TOPIC: `iotp-stack/${run}/sensors`,
  };
  const API_KEY = `stack-api-key-${run}`;
  const ADMIN_PASSWORD = `stack-editor-${run}`;
  let adminUser = '';
  /** Every secret the stack was given: none may appear in what Node-RED printed. */
  const secrets: string[] = [];
  const PROBES = 25;
  const probeSensor = 7000 + Math.floor(Math.random() * 1000);
  const isemsNode = `stack-${run}`;
  let mysql: TestMysqlDatabase | undefined;
  let db: Database | undefined;
  let proxy: TcpProxy | undefined;
  let receiver: Receiver | undefined;
  let client: mqtt.MqttClient | undefined;
  let red: RunningNodeRed | undefined;
  const stats: unknown[] = [];
  const statestreamProbes: string[] = [];
  let restoredAt = 0;
  let startedIn = 0;

  before(async function () {
    await requireService(this, 'mysql');
    await requireService(this, 'mqtt');
    const shipped = readdirSync(join(packageRoot, 'flows'))
      .filter((f) => f.endsWith('.json'))
      .sort();
    // The five pipelines and their Dashboard 2.0 pages (Dashboard 2.0 is installed beside Node-RED, as in the image).
    const pipelines = shipped.filter((f) => !f.startsWith('6-dashboard-'));
    assert.deepEqual(
      pipelines.map((f) => f.split('-')[0]),
      ['1', '2', '3', '4', '5'],
      `five shipped pipeline flows (found ${shipped.join(', ')})`,
    );
    assert.equal(shipped.length, 10, `five dashboard pages (found ${shipped.join(', ')})`);

    mysql = await createTestMysqlDatabase('iotp_stack');
    db = openDatabase({ ...mysql.config });
    proxy = await new TcpProxy(MYSQL_HOST, MYSQL_PORT).start();
    proxy.cut(); // the database is not up yet
    receiver = await startReceiver();
    client = await mqtt.connectAsync(`mqtt://${MQTT_HOST}:${MQTT_PORT}`, { clientId: `iotp-stack-${run}` });
    client.on('message', (topic, payload) => {
      if (topic === topics.STATS_TOPIC) stats.push(JSON.parse(payload.toString('utf8')));
    });
    await client.subscribeAsync(topics.STATS_TOPIC, { qos: 1 });

    // The secrets compose requires, as a user puts them in .env.
    const dotenv = readEnvExample();
    for (const name of ['NODE_RED_ADMIN_PASSWORD_HASH', 'NODE_RED_CREDENTIAL_SECRET'])
      assert.equal(dotenv.get(name), '', `.env.example ships no ${name}`);
    dotenv.set('NODE_RED_ADMIN_PASSWORD_HASH', bcrypt.hashSync(ADMIN_PASSWORD, 8));
    dotenv.set('NODE_RED_CREDENTIAL_SECRET', randomBytes(32).toString('hex'));
    secrets.push(ADMIN_PASSWORD, dotenv.get('NODE_RED_ADMIN_PASSWORD_HASH')!, dotenv.get('NODE_RED_CREDENTIAL_SECRET')!);
    const compose = composeServiceEnvironment('node-red', dotenv);
    adminUser = compose.NODE_RED_ADMIN_USER ?? '';
    const overrides: Record<string, string> = {
      ...topics,
      DATABASE_URL: `mysql://${encodeURIComponent(mysql.config.user ?? 'root')}${mysql.config.password ? `:${encodeURIComponent(mysql.config.password)}` : ''}@127.0.0.1:${proxy.port}/${mysql.config.database}`,
      MQTT_URL: `mqtt://${MQTT_HOST}:${MQTT_PORT}`,
      SIMULATE: 'true',
      INTERVAL_MS: '200',
      ISEMS_POLL_INTERVAL: '1',
      API_KEY,
      POST_DATA_ENDPOINT: receiver.url,
      POST_DATA_API_KEY: `stack-post-key-${run}`,
    };
    // Only names the compose service really passes: a renamed variable there fails here.
    for (const name of Object.keys(overrides)) assert.ok(name in compose, `docker-compose.yml's node-red service passes ${name}`);
    // HOST, PORT and NODE_RED_USER_DIR are the container's (0.0.0.0, 1880, /data): startNodeRed
    // supplies the local equivalents (127.0.0.1, a free port, a temp dir).
    for (const name of ['HOST', 'PORT', 'NODE_RED_USER_DIR']) assert.ok(name in compose, `compose passes ${name}`);
    const { HOST: _host, PORT: _port, NODE_RED_USER_DIR: _dir, ...rest } = compose;
    const t0 = Date.now();
    // No `flows`: settings.js deploys the shipped flows on first start, as in the container.
    red = await startNodeRed({ env: { ...rest, ...overrides } });
    startedIn = Date.now() - t0;
  });

  after(async () => {
    await red?.stop();
    // Retained statestream probes would replay to any later subscriber of the base topic.
    if (client) for (const topic of statestreamProbes) await client.publishAsync(topic, '', { qos: 1, retain: true });
    await client?.endAsync();
    await receiver?.close();
    await proxy?.stop();
    await db?.close();
    await mysql?.drop();
  });

  it('deploys all five shipped flows and their dashboard pages on first start, behind the editor password', async () => {
    const output = red!.output();
    assert.match(output, /deployed 10 shipped flow\(s\)/);
    assert.doesNotMatch(output, /NOT password protected/);
    assert.equal((await httpJson(`${red!.url}/flows`)).status, 401, 'anonymous admin requests are refused');
    const granted = await httpJson(`${red!.url}/auth/token`, {
      method: 'POST',
      body: { client_id: 'node-red-admin', grant_type: 'password', scope: '*', username: adminUser, password: ADMIN_PASSWORD },
    });
    assert.equal(granted.status, 200, granted.text);
    const authorization = `Bearer ${(granted.body as { access_token: string }).access_token}`;
    const flows = (await httpJson(`${red!.url}/flows`, { headers: { authorization } })).body as Array<{ type: string; label?: string }>;
    const tabs = flows.filter((n) => n.type === 'tab').map((n) => n.label);
    assert.equal(tabs.length, 10, `tabs: ${tabs.join(', ')}`);
    console.log(`      Node-RED with the five flows started in ${startedIn} ms`);
  });

  it('keeps ingesting while the database is down, and stores everything once it comes up', async () => {
    // The sensors pipeline's quality node counts in memory: once it saw a simulated reading, the
    // ingest subscription is live and the test's own readings cannot be missed by the broker.
    await until(
      'the simulated sensors to reach /quality',
      async () => {
        const { status, body } = await httpJson(`${red!.url}/quality`, { headers: { accept: 'application/json' } });
        const messages = (body as { metrics?: { since_start?: { messages?: number } } }).metrics?.since_start?.messages ?? 0;
        return status === 200 && messages > 0 ? true : undefined;
      },
      30_000,
      red,
    );
    const { rows: none } = await db!.query('SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE()');
    assert.equal(Number(none[0].n), 0, 'no table yet: the database was unreachable');

    // Identifiable readings published during the outage.
    const now = Date.now();
    for (let i = 0; i < PROBES; i++) {
      const reading = {
        sensor_id: String(probeSensor),
        timestamp: sensorTime(now - 30_000 + i * 10),
        value: i,
        metadata: { location: { lat: 1, lng: 2 }, unit: 'C', type: 'temperature', description: 'stack probe' },
      };
      await client!.publishAsync(topics.MQTT_TOPIC, JSON.stringify(reading), { qos: 1 });
      // Home Assistant publishes retained: one entity per probe, replayed if the subscription is new.
      const topic = `${topics.STATESTREAM_BASE_TOPIC}/sensor/stack_probe_${i}/state`;
      statestreamProbes.push(topic);
      await client!.publishAsync(topic, `probe ${i}`, { qos: 1, retain: true });
    }
    // ISEMS logs are idempotent (one row per node and timestamp): published every second.
    const epoch = Math.floor(now / 1000) - 120;
    const log = [isemsLine(isemsNode, epoch), isemsLine(isemsNode, epoch + 60)].join('\n');
    const isemsPublisher = setInterval(
      () => void client!.publishAsync(`/isems/${isemsNode}/csvlog`, log, { qos: 1 }).catch(() => undefined),
      1000,
    );
    try {
      await sleep(10_000);
      proxy!.restore();
      restoredAt = Date.now();

      const count = async (sql: string, params: SqlParams = []): Promise<number> => {
        try {
          return Number((await db!.query(sql, params)).rows[0].n);
        } catch {
          return -1; // table not created yet
        }
      };
      const [sensors, messages, isems] = await Promise.all([
        until(
          `${PROBES} probe readings in sensor_data`,
          async () => {
            const n = await count('SELECT COUNT(*) AS n FROM sensor_data WHERE sensor_id = ?', [probeSensor]);
            return n >= PROBES ? n : undefined;
          },
          90_000,
          red,
        ),
        until(
          `${PROBES} probe states in messages`,
          async () => {
            const n = await count('SELECT COUNT(DISTINCT topic) AS n FROM messages WHERE topic LIKE ?', [
              `${topics.STATESTREAM_BASE_TOPIC}/sensor/stack\\_probe\\_%`,
            ]);
            return n >= PROBES ? n : undefined;
          },
          90_000,
          red,
        ),
        until(
          'the ISEMS log in measurement',
          async () => {
            const n = await count('SELECT COUNT(*) AS n FROM measurement WHERE nodeId = ?', [isemsNode]);
            return n >= 2 ? n : undefined;
          },
          90_000,
          red,
        ),
      ]);
      console.log(`      caught up ${((Date.now() - restoredAt) / 1000).toFixed(1)} s after the database came up`);
      await sleep(1500); // anything still in flight would show up as a duplicate now
      assert.equal(await count('SELECT COUNT(*) AS n FROM sensor_data WHERE sensor_id = ?', [probeSensor]), sensors);
      assert.equal(sensors, PROBES, 'every reading published during the outage stored once');
      const { rows: values } = await db!.query('SELECT value FROM sensor_data WHERE sensor_id = ? ORDER BY value', [probeSensor]);
      assert.deepEqual(
        values.map((r) => Number(r.value)),
        Array.from({ length: PROBES }, (_, i) => i),
      );
      assert.equal(messages, PROBES);
      assert.equal(
        await count('SELECT COUNT(*) AS n FROM measurement WHERE nodeId = ?', [isemsNode]),
        2,
        'the repeated ISEMS log stored once',
      );
      assert.equal(isems, 2);
    } finally {
      clearInterval(isemsPublisher);
    }
  });

  it('statestream: simulated Home Assistant lands in messages and in the facts of the seed query', async () => {
    const base = topics.STATESTREAM_BASE_TOPIC;
    const facts = await until(
      'simulated facts',
      async () => {
        const { rows } = await db!.query(
          `SELECT COUNT(*) AS n FROM facts f JOIN states s ON f.state_id = s.id JOIN entities e ON s.entity_id = e.id
         JOIN base_topics b ON e.base_topic_id = b.id WHERE b.label = ? AND NOT (e.domain = 'sensor' AND e.label LIKE 'stack_probe_%')`,
          [base],
        );
        return Number(rows[0].n) > 0 ? Number(rows[0].n) : undefined;
      },
      30_000,
      red,
    );
    const { rows: probeFacts } = await db!.query(
      `SELECT e.label AS entity, s.label AS state, f.fact FROM facts f JOIN states s ON f.state_id = s.id JOIN entities e ON s.entity_id = e.id
       JOIN base_topics b ON e.base_topic_id = b.id WHERE b.label = ? AND e.domain = 'sensor' AND e.label = 'stack_probe_3'`,
      [base],
    );
    assert.deepEqual(
      probeFacts.map((r) => [r.entity, r.state, r.fact]),
      [['stack_probe_3', 'state', 'probe 3']],
    );
    const { rows } = await db!.query("SELECT COUNT(*) AS n FROM messages WHERE topic LIKE ? AND topic NOT LIKE '%stack\\_probe%'", [
      `${base}/%`,
    ]);
    assert.ok(Number(rows[0].n) > 0 && facts > 0, 'the simulator feeds the pipeline');
  });

  it('rolling averages: a number on TOPIC gives a STATS message on STATS_TOPIC', async () => {
    const before = stats.length;
    await until(
      'a STATS message',
      async () => {
        await client!.publishAsync(topics.TOPIC, JSON.stringify({ number: 42, epochtime: String(Math.floor(Date.now() / 1000)) }), {
          qos: 1,
        });
        return stats.length > before ? true : undefined;
      },
      30_000,
      red,
    );
    const last = stats[stats.length - 1] as Record<string, unknown>;
    assert.deepEqual(Object.keys(last).sort(), ['avg_1min', 'avg_30min', 'avg_5min']);
    for (const value of Object.values(last)) assert.equal(typeof value, 'number');
  });

  it('ISEMS: the simulated solar nodes are stored and GET /measurements/latest answers', async () => {
    const latest = await until(
      'simulated solar nodes in /measurements/latest',
      async () => {
        const { status, body } = await httpJson(`${red!.url}/measurements/latest`);
        const rows = (body as { measurements?: Array<{ nodeId: string }> }).measurements ?? [];
        return status === 200 && rows.filter((r) => r.nodeId !== isemsNode).length >= 5 ? rows : undefined;
      },
      30_000,
      red,
    );
    assert.ok(
      latest.some((r) => r.nodeId === isemsNode),
      'the node published during the outage is listed',
    );
    assert.equal(new Set(latest.map((r) => r.nodeId)).size, latest.length, 'one row per node');
  });

  it('IoT sensors: simulated readings stored, /quality and /catalog answer', async () => {
    const { rows } = await db!.query('SELECT COUNT(DISTINCT sensor_id) AS n FROM sensor_data WHERE sensor_id <> ?', [probeSensor]);
    assert.equal(Number(rows[0].n), 5, 'the five simulated sensors');
    const quality = await httpJson(`${red!.url}/quality`, { headers: { accept: 'application/json' } });
    assert.equal(quality.status, 200);
    const catalog = await httpJson(`${red!.url}/catalog`);
    assert.equal(catalog.status, 200);
    const datasets = (catalog.body as { datasets: Array<{ name: string; row_count: number }> }).datasets;
    const raw = datasets.find((d) => d.name === 'sensor_data');
    assert.ok(raw && raw.row_count >= PROBES, `sensor_data in /catalog: ${JSON.stringify(raw)}`);
    assert.ok(datasets.some((d) => d.name === 'aggregated_sensor_data'));
  });

  it('data connector: /raise-request with API_KEY posts the readings to POST_DATA_ENDPOINT', async () => {
    const window = { start_time: formatUtc(Date.now() - 5 * 60_000), end_time: formatUtc(Date.now()) };
    const refused = await httpJson(`${red!.url}/raise-request`, {
      method: 'POST',
      body: window,
      headers: { authorization: 'Bearer wrong' },
    });
    assert.equal(refused.status, 403);
    const before = receiver!.received.length;
    const raised = await httpJson(`${red!.url}/raise-request`, {
      method: 'POST',
      body: window,
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    assert.equal(raised.status, 200, raised.text);
    const taskId = (raised.body as { task_id: string }).task_id;
    const task = await until(
      'the task to finish',
      async () => {
        const answer = (await httpJson(`${red!.url}/tasks/${taskId}`, { headers: { authorization: `Bearer ${API_KEY}` } })).body as {
          state: string;
          status: string;
        };
        return answer.state === 'SUCCESS' || answer.state === 'FAILURE' ? answer : undefined;
      },
      60_000,
      red,
    );
    assert.equal(task.state, 'SUCCESS', task.status);
    const posted = receiver!.received.slice(before).filter((r) => r.body.includes(`"end_time":"${window.end_time}"`));
    const probeValues = posted.flatMap((r) => (JSON.parse(r.body) as PostedBody).data[`sensor_${probeSensor}`] ?? []).map((e) => e.value);
    assert.deepEqual(
      probeValues.sort((a, b) => Number(a) - Number(b)),
      Array.from({ length: PROBES }, (_, i) => i),
      'every probe reading posted once',
    );
    for (const request of posted) assert.equal(request.headers.authorization, `Bearer stack-post-key-${run}`);
  });

  it('printed none of its secrets: API keys, editor password and hash, credential key', () => {
    const output = red!.output();
    for (const secret of [...secrets, API_KEY, `stack-post-key-${run}`])
      assert.ok(!output.includes(secret), `Node-RED printed a secret (${secret.slice(0, 6)}…)`);
  });
});
