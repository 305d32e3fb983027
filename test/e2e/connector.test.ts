/**
 * The shipped data-connector flow in a real Node-RED, on MariaDB, PostgreSQL and SQLite: schedule
 * mode catches up the windows after a bookmark set in the past (no waiting for real minutes), a
 * SIGKILL in the middle of a window loses nothing and sends no reading in two windows, and the
 * request API behind http in/http response answers with the contract's bodies and refusals.
 * MariaDB and SQLite read the sensors pipeline's `sensor_data` with the shipped query; PostgreSQL
 * reads a plant's own table (camel-case columns, `timestamptz`, `numeric`) through an edited query
 * and edited column names, the way the connector replaces the original on a plant's database.
 * (The shipped query on PostgreSQL's `sensor_data` runs in scale-out.test.ts.)
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectorMigrations } from '../../lib/connector/bookmark';
import { formatUtc } from '../../lib/connector/time';
import { alignDown } from '../../lib/connector/windows';
import { openDatabase, runMigrations } from '../../lib/db';
import type { Database } from '../../lib/db/types';
import {
  createSensorData,
  insertReadings,
  MIN,
  readingKey,
  startReceiver,
  windowsPerReading,
  type PostedBody,
  type Reading,
  type Receiver,
} from '../node/connector/fixtures';
import { httpJson, packageRoot, startNodeRed, type RunningNodeRed } from '../support/node-red';
import {
  createTestMysqlDatabase,
  createTestPostgresDatabase,
  requireService,
  type TestMysqlDatabase,
  type TestPostgresDatabase,
} from '../support/services';
import { makeTempDir, removeTempDir } from '../support/tmp';

const shippedFlows = JSON.parse(readFileSync(join(packageRoot, 'flows', '5-data-connector.json'), 'utf8')) as Array<
  Record<string, unknown>
>;
const API_KEY = 'e2e-api-key-4Hb';
const POST_KEY = 'e2e-post-key-9Lm';

/** Where the readings are and how the connector reads them. */
interface ReadingsTable {
  create(db: Database): Promise<void>;
  insert(db: Database, readings: readonly Reading[]): Promise<void>;
  /** Fields of the batch-post node (`connector.post`) edited in the shipped flow; none: as shipped. */
  edit?: Record<string, string>;
}

/** The sensors pipeline's `sensor_data`, read by the shipped query. */
const sensorData: ReadingsTable = { create: createSensorData, insert: insertReadings };

/**
 * A plant's own PostgreSQL table: camel-case columns (so unquoted names would not find them),
 * time zone-aware times and exact numerics, read through an edited query whose result columns
 * keep their case and are named in the node's column fields.
 */
const plantReadings: ReadingsTable = {
  async create(db) {
    await db.query(
      'CREATE TABLE plant_readings (id BIGSERIAL PRIMARY KEY, "sensorId" INTEGER NOT NULL, "readAt" TIMESTAMPTZ NOT NULL, "kWh" NUMERIC(12, 3))',
    );
  },
  async insert(db, readings) {
    for (const r of readings)
      await db.query('INSERT INTO plant_readings ("sensorId", "readAt", "kWh") VALUES (?, ?, ?)', [r.sensorId, new Date(r.ms), r.value]);
  },
  edit: {
    query:
      'SELECT \'sensor_\' || "sensorId" AS "sensorName", "readAt", "kWh" FROM plant_readings WHERE "readAt" >= :start_time AND "readAt" < :end_time ORDER BY "readAt", id',
    sensorColumn: 'sensorName',
    timestampColumn: 'readAt',
    valueColumn: 'kWh',
  },
};

interface Backend {
  name: string;
  readings: ReadingsTable;
  setup(this: Mocha.Context, dir: string): Promise<{ url: string; db: Database }>;
  teardown(): Promise<void>;
}

let mysql: TestMysqlDatabase | undefined;
let postgres: TestPostgresDatabase | undefined;
const backends: Backend[] = [
  {
    name: 'MariaDB',
    readings: sensorData,
    async setup() {
      await requireService(this, 'mysql');
      mysql = await createTestMysqlDatabase('iotp_e2e');
      return { url: mysql.url, db: openDatabase({ ...mysql.config }) };
    },
    teardown: async () => mysql?.drop(),
  },
  {
    name: 'PostgreSQL, a plant table',
    readings: plantReadings,
    async setup() {
      await requireService(this, 'postgres');
      postgres = await createTestPostgresDatabase('iotp_e2e_conn');
      return { url: postgres.url, db: openDatabase({ ...postgres.config }) };
    },
    teardown: async () => postgres?.drop(),
  },
  {
    name: 'SQLite',
    readings: sensorData,
    async setup(dir: string) {
      const file = join(dir, 'connector.db');
      return { url: `sqlite:${file}`, db: openDatabase({ dialect: 'sqlite', file, busyTimeoutMs: 5000 }) };
    },
    teardown: async () => undefined,
  },
];

for (const backend of backends) {
  describe(`data connector flow end to end (${backend.name})`, function () {
    this.timeout(180_000);
    const flows = shippedFlows.map((node) => (node.id === 'connector.post' ? { ...node, ...backend.readings.edit } : node));
    let dir: string;
    let db: Database;
    let receiver: Receiver;
    let env: Record<string, string>;
    let red: RunningNodeRed | undefined;
    let first: number;
    const readings: Reading[] = [];

    before(async function () {
      dir = makeTempDir('iotp-e2e-conn-');
      const { url, db: opened } = await backend.setup.call(this, dir);
      db = opened;
      receiver = await startReceiver();
      env = {
        DATABASE_URL: url,
        API_KEY,
        POST_DATA_ENDPOINT: receiver.url,
        POST_DATA_API_KEY: POST_KEY,
        FETCH_DATA_INTERVAL: '1',
        BATCH_SIZE: '3',
        SIMULATE: 'false',
      };
      // Everything up to `first` was delivered long ago: the three windows after it are due at once.
      first = alignDown(Date.now(), MIN) - 4 * MIN;
      await backend.readings.create(db);
      await runMigrations(db, [connectorMigrations]);
      await db.query('INSERT INTO connector_bookmarks (name, window_end, updated_at) VALUES (?, ?, ?)', [
        'data-connector',
        first,
        Date.now(),
      ]);
      for (let w = 0; w < 3; w++) {
        const t = first + w * MIN;
        // Five readings a window (two batches of BATCH_SIZE 3), one on the window's first instant,
        // one a microsecond before its end.
        readings.push(
          { sensorId: 1, ms: t, value: 10 * w },
          { sensorId: 2, ms: t + 10_000, value: 10 * w + 1 },
          { sensorId: 3, ms: t + 20_250, value: 10 * w + 2 },
          { sensorId: 1, ms: t + 40_000, value: 10 * w + 3 },
          { sensorId: 2, ms: t + 59_999, value: 10 * w + 4 },
        );
      }
      // And one long before the bookmark: never sent.
      await backend.readings.insert(db, [...readings, { sensorId: 4, ms: Date.UTC(2000, 0, 1), value: 1 }]);
    });

    after(async () => {
      await red?.kill();
      await receiver?.close();
      await db?.close();
      await backend.teardown();
      removeTempDir(dir);
    });

    it('schedule mode: a SIGKILL in the middle of a window loses nothing; after the restart every reading arrives in exactly one window', async () => {
      // The first batch of the second window never gets an answer; its sibling does.
      receiver.respond = (request, response) => {
        const body = JSON.parse(request.body) as PostedBody;
        const isSecondWindowFirstBatch =
          body.start_time === formatUtc(first + MIN) && JSON.stringify(body.data).includes(formatUtc(first + MIN));
        if (isSecondWindowFirstBatch) return; // hangs until Node-RED is killed
        response.writeHead(200, { 'Content-Type': 'application/json' }).end('{"ok":true}');
      };
      red = await startNodeRed({ flows, env });
      await receiver.waitFor(4, 60_000);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await red.kill();
      const windowEnd = async (): Promise<number> =>
        Number((await db.query('SELECT window_end FROM connector_bookmarks WHERE name = ?', ['data-connector'])).rows[0].window_end);
      assert.equal(await windowEnd(), first + MIN, 'only the first window was recorded before the kill');

      receiver.respond = (_request, response) => response.writeHead(200, { 'Content-Type': 'application/json' }).end('{"ok":true}');
      red = await startNodeRed({ flows, env, userDir: red.userDir });
      const deadline = Date.now() + 60_000;
      while ((await windowEnd()) < first + 3 * MIN) {
        assert.ok(Date.now() < deadline, `bookmark stuck at ${formatUtc(await windowEnd())}\n${red.output().slice(-3000)}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }

      const scheduled = receiver.received.filter((r) => {
        const body = JSON.parse(r.body) as PostedBody;
        return Date.parse(`${body.start_time}Z`) < first + 3 * MIN;
      });
      const seen = windowsPerReading(scheduled);
      for (const reading of readings) {
        const start = alignDown(reading.ms, MIN);
        assert.deepEqual(
          [...(seen.get(readingKey(reading)) ?? [])],
          [`${formatUtc(start)}/${formatUtc(start + MIN)}`],
          readingKey(reading),
        );
      }
      assert.equal(seen.size, readings.length, 'nothing but the readings of those windows');

      // The contract: headers and body of every request.
      for (const request of scheduled) {
        assert.equal(request.method, 'POST');
        assert.equal(request.headers['content-type'], 'application/json');
        assert.equal(request.headers.authorization, `Bearer ${POST_KEY}`);
        const body = JSON.parse(request.body) as PostedBody;
        assert.deepEqual(Object.keys(body), ['start_time', 'end_time', 'data']);
        assert.match(body.start_time, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/);
        const count = Object.values(body.data).reduce((n, list) => n + list.length, 0);
        assert.ok(count >= 1 && count <= 3, 'BATCH_SIZE 3');
        for (const list of Object.values(body.data)) for (const entry of list) assert.deepEqual(Object.keys(entry), ['timestamp', 'value']);
      }
      const firstBody = JSON.parse(scheduled.find((r) => r.body.includes(`"start_time":"${formatUtc(first)}"`))!.body) as PostedBody;
      assert.deepEqual(firstBody, {
        start_time: formatUtc(first),
        end_time: formatUtc(first + MIN),
        data: {
          sensor_1: [{ timestamp: formatUtc(first), value: 0 }],
          sensor_2: [{ timestamp: formatUtc(first + 10_000), value: 1 }],
          sensor_3: [{ timestamp: `${formatUtc(first + 20_000)}.250`, value: 2 }],
        },
      });
    });

    it('request mode: the API refuses missing and wrong keys and bad bodies, and a raised task progresses to SUCCESS without moving the bookmark', async () => {
      assert.ok(red, 'Node-RED runs (previous test)');
      const url = red.url;
      const window = { start_time: formatUtc(first), end_time: formatUtc(first + 2 * MIN) };
      const missing = await httpJson(`${url}/raise-request`, { method: 'POST', body: window });
      assert.equal(missing.status, 401);
      assert.equal(missing.headers.get('www-authenticate'), 'Bearer');
      const wrong = await httpJson(`${url}/api/v1/raise-request`, {
        method: 'POST',
        body: window,
        headers: { authorization: 'Bearer not-the-key' },
      });
      assert.equal(wrong.status, 403);
      const invalid = await httpJson(`${url}/raise-request`, {
        method: 'POST',
        body: { start_time: 'yesterday' },
        headers: { authorization: `Bearer ${API_KEY}` },
      });
      assert.equal(invalid.status, 422);
      assert.equal(typeof (invalid.body as { detail: unknown }).detail, 'string');

      const bookmark = (await db.query('SELECT window_end FROM connector_bookmarks WHERE name = ?', ['data-connector'])).rows[0].window_end;
      const before = receiver.received.length;
      const raised = await httpJson(`${url}/api/v1/raise-request`, {
        method: 'POST',
        body: window,
        headers: { authorization: `Bearer ${API_KEY}` },
      });
      assert.equal(raised.status, 200, raised.text);
      const { task_id: taskId, status } = raised.body as { task_id: string; status: string };
      assert.equal(status, 'task submitted');

      let task: { state: string; current: number; total: number; status: string };
      const deadline = Date.now() + 30_000;
      for (;;) {
        const answer = await httpJson(`${url}/tasks/${taskId}`, { headers: { authorization: `Bearer ${API_KEY}` } });
        assert.equal(answer.status, 200, answer.text);
        task = answer.body as typeof task;
        assert.deepEqual(Object.keys(task).sort(), ['current', 'state', 'status', 'total']);
        if (task.state === 'SUCCESS' || task.state === 'FAILURE') break;
        assert.ok(Date.now() < deadline, 'task finished in time');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(task.state, 'SUCCESS', task.status);
      assert.equal(task.current, task.total);
      // current/total count the window's one-hour pieces, and the status says so in words that read right.
      assert.match(
        task.status,
        new RegExp(`^delivered \\d+ readings? in \\d+ batch(es)? \\(${task.current} of ${task.total} one-hour pieces?\\)$`),
      );
      assert.doesNotMatch(task.status, /\b1 (readings|batches|one-hour pieces)\b/);
      const requested = receiver.received.slice(before).filter((r) => r.body.includes(`"end_time":"${window.end_time}"`));
      assert.deepEqual([...windowsPerReading(requested).keys()].sort(), readings.slice(0, 10).map(readingKey).sort());
      assert.equal(
        (await db.query('SELECT window_end FROM connector_bookmarks WHERE name = ?', ['data-connector'])).rows[0].window_end,
        bookmark,
      );

      const unknown = await httpJson(`${url}/api/v1/tasks/00000000-0000-0000-0000-000000000000`, {
        headers: { authorization: `Bearer ${API_KEY}` },
      });
      assert.equal(unknown.status, 404);
      const simulator = await httpJson(`${url}/simulated-receiver`, { method: 'POST', body: {} });
      assert.equal(simulator.status, 404, 'POST_DATA_ENDPOINT names another receiver: the simulated one is off');
      assert.equal(await red.stop(), 0);
      red = undefined;
    });
  });
}
