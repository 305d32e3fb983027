import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { alignDown } from '../../../lib/connector/windows';
import { formatUtc } from '../../../lib/connector/time';
import { openDatabase } from '../../../lib/db';
import type { Database } from '../../../lib/db/types';
import databaseNode from '../../../nodes/iotp-database/iotp-database';
import batchPostNode from '../../../nodes/iotp-batch-post/iotp-batch-post';
import { collect, helper } from '../../support/helper';
import {
  createTestMysqlDatabase,
  createTestPostgresDatabase,
  requireService,
  type TestMysqlDatabase,
  type TestPostgresDatabase,
} from '../../support/services';
import { makeTempDir, removeTempDir } from '../../support/tmp';
import {
  accept,
  createSensorData,
  statusCalls,
  insertReadings,
  storedTime,
  MIN,
  readingKey,
  startReceiver,
  windowsPerReading,
  type PostedBody,
  type Reading,
  type Receiver,
} from './fixtures';

type Backend = { name: string; url: () => string; setup: (this: Mocha.Context) => Promise<void>; teardown: () => Promise<void> };

let sqliteDir = '';
let mysql: TestMysqlDatabase | undefined;
let postgres: TestPostgresDatabase | undefined;
const backends: Backend[] = [
  {
    name: 'SQLite',
    url: () => `sqlite:${join(sqliteDir, 'source.db')}`,
    setup: async () => {
      sqliteDir = makeTempDir('iotp-bp-');
    },
    teardown: async () => removeTempDir(sqliteDir),
  },
  {
    name: 'MariaDB',
    url: () => mysql!.url,
    setup: async function () {
      await requireService(this, 'mysql');
      mysql = await createTestMysqlDatabase();
    },
    teardown: async () => mysql?.drop(),
  },
  {
    name: 'PostgreSQL',
    url: () => postgres!.url,
    setup: async function () {
      await requireService(this, 'postgres');
      postgres = await createTestPostgresDatabase();
    },
    teardown: async () => postgres?.drop(),
  },
];

const POST_KEY = 'post-key-Zx9';

interface Out {
  topic?: string;
  payload: Record<string, unknown>;
}

for (const backend of backends) {
  describe(`iotp-batch-post node (${backend.name})`, function () {
    this.timeout(30_000);
    let db: Database;
    let receiver: Receiver;
    let outbox: string;

    before(async function () {
      await backend.setup.call(this);
      db = openDatabase(
        backend.url().startsWith('sqlite:')
          ? { dialect: 'sqlite', file: backend.url().slice(7), busyTimeoutMs: 5000 }
          : backend.name === 'PostgreSQL'
            ? { ...postgres!.config }
            : { ...mysql!.config },
      );
    });
    after(async () => {
      await db?.close();
      await backend.teardown();
    });
    beforeEach(async () => {
      await db.query('DROP TABLE IF EXISTS sensor_data');
      // The table stays (its migration is recorded as applied); its rows go.
      await db.query('DELETE FROM connector_bookmarks').catch(() => undefined);
      await createSensorData(db);
      receiver = await startReceiver();
      outbox = makeTempDir('iotp-outbox-');
    });
    afterEach(async () => {
      await helper.unload();
      await receiver.close();
      removeTempDir(outbox);
    });

    function flow(props: Record<string, unknown> = {}) {
      return [
        { id: 'db', type: 'iotp-database', connection: 'url', url: backend.url(), version: 1 },
        {
          id: 'post',
          type: 'iotp-batch-post',
          database: 'db',
          endpoint: receiver.url,
          batchSize: '3',
          interval: '1',
          settle: '0',
          bookmark: 'test-bookmark',
          outboxDir: outbox,
          maxAttempts: 1,
          timeout: 5,
          version: 1,
          wires: [['delivered'], ['failed']],
          ...props,
        },
        { id: 'delivered', type: 'helper' },
        { id: 'failed', type: 'helper' },
      ];
    }
    const credentials = { post: { apiKey: POST_KEY } };

    async function bookmarkEnd(): Promise<number | null> {
      const { rows } = await db.query('SELECT window_end FROM connector_bookmarks WHERE name = ?', ['test-bookmark']);
      return rows[0]?.window_end == null ? null : Number(rows[0].window_end);
    }

    /** Three complete 1-minute windows before the current minute, four readings each (one on the window's start). */
    function threeWindows(): { start: number; readings: Reading[] } {
      const start = alignDown(Date.now(), MIN) - 3 * MIN;
      const readings: Reading[] = [];
      for (let w = 0; w < 3; w++) {
        const t = start + w * MIN;
        readings.push(
          { sensorId: 1, ms: t, value: w * 10 + 1 },
          { sensorId: 2, ms: t + 15_000, value: w * 10 + 2 },
          { sensorId: 1, ms: t + 30_500, value: w * 10 + 3 },
          { sensorId: 2, ms: t + 59_999, value: w * 10 + 4 },
        );
      }
      return { start, readings };
    }

    it('schedule mode delivers consecutive windows in BATCH_SIZE requests with the contract headers and advances the bookmark', async () => {
      const { start, readings } = threeWindows();
      await insertReadings(db, readings);
      await helper.load([databaseNode, batchPostNode], flow({ startFrom: formatUtc(start) }), credentials);
      const messages = await collect<Out>(helper.getNode('delivered'), 3);
      const windows = messages.map((m) => m.payload);
      assert.deepEqual(
        windows.map((w) => [w.origin, w.start_time, w.end_time, w.readings, w.batches]),
        [0, 1, 2].map((i) => ['schedule', formatUtc(start + i * MIN), formatUtc(start + (i + 1) * MIN), 4, 2]),
      );
      assert.ok((await bookmarkEnd())! >= start + 3 * MIN, 'bookmark at the end of the third window (or later)');

      const first = receiver.received.slice(0, 6);
      for (const request of first) {
        assert.equal(request.method, 'POST');
        assert.equal(request.url, '/ingest');
        assert.equal(request.headers['content-type'], 'application/json');
        assert.equal(request.headers.authorization, `Bearer ${POST_KEY}`);
        assert.match(String(request.headers['idempotency-key']), /^\d{8}T\d{6}Z-\d{8}T\d{6}Z-\d+-[0-9a-f]{16}$/);
      }
      const body = JSON.parse(first[0].body) as PostedBody;
      assert.deepEqual(body, {
        start_time: formatUtc(start),
        end_time: formatUtc(start + MIN),
        data: {
          sensor_1: [
            { timestamp: formatUtc(start), value: 1 },
            { timestamp: formatUtc(start + 30_500), value: 3 },
          ],
          sensor_2: [{ timestamp: formatUtc(start + 15_000), value: 2 }],
        },
      });
      // Every reading arrived, each in exactly one window (the one containing it).
      const seen = windowsPerReading(receiver.received);
      for (const r of readings) {
        const w = alignDown(r.ms, MIN);
        assert.deepEqual([...(seen.get(readingKey(r)) ?? [])], [`${formatUtc(w)}/${formatUtc(w + MIN)}`], readingKey(r));
      }
    });

    it("reads a plant's own table through an edited query: the seed's sensor_data(id, sensor, value, timestamp)", async () => {
      // The data connector original's example plant table, with the sensor named in a text column.
      await db.query('DROP TABLE sensor_data');
      await db.query(
        {
          mysql:
            'CREATE TABLE sensor_data (id INT AUTO_INCREMENT PRIMARY KEY, sensor VARCHAR(64) NOT NULL, value DOUBLE, `timestamp` DATETIME(6) NOT NULL)',
          sqlite:
            'CREATE TABLE sensor_data (id INTEGER PRIMARY KEY AUTOINCREMENT, sensor TEXT NOT NULL, value REAL, "timestamp" DATETIME NOT NULL)',
          postgres:
            'CREATE TABLE sensor_data (id SERIAL PRIMARY KEY, sensor VARCHAR(64) NOT NULL, value DOUBLE PRECISION, "timestamp" TIMESTAMP NOT NULL)',
        }[db.dialect],
      );
      const start = alignDown(Date.now(), MIN) - 2 * MIN;
      const plant: [string, number, number][] = [
        ['boiler', start + 1_000, 71.5],
        ['pump-2', start + 20_250, 3.25],
        ['boiler', start + MIN + 5_000, 72],
      ];
      for (const [sensor, ms, value] of plant)
        await db.query('INSERT INTO sensor_data (sensor, value, timestamp) VALUES (?, ?, ?)', [sensor, value, storedTime(ms)]);
      const query =
        'SELECT sensor, timestamp, value FROM sensor_data WHERE timestamp >= :start_time AND timestamp < :end_time ORDER BY timestamp, id';
      await helper.load([databaseNode, batchPostNode], flow({ startFrom: formatUtc(start), query }), credentials);
      await collect<Out>(helper.getNode('delivered'), 2);
      const bodies = receiver.received.map((r) => JSON.parse(r.body) as PostedBody);
      assert.deepEqual(bodies[0], {
        start_time: formatUtc(start),
        end_time: formatUtc(start + MIN),
        data: {
          boiler: [{ timestamp: formatUtc(start + 1_000), value: 71.5 }],
          'pump-2': [{ timestamp: formatUtc(start + 20_250), value: 3.25 }],
        },
      });
      assert.deepEqual(bodies[1].data, { boiler: [{ timestamp: formatUtc(start + MIN + 5_000), value: 72 }] });
    });

    it('request mode (a message with a window) delivers it as a task and leaves the bookmark where it is', async () => {
      const { start, readings } = threeWindows();
      await insertReadings(db, readings);
      await helper.load([databaseNode, batchPostNode], flow({ startFrom: formatUtc(start + 2 * MIN) }), credentials);
      const [scheduled] = await collect<Out>(helper.getNode('delivered'), 1);
      assert.equal(scheduled.payload.start_time, formatUtc(start + 2 * MIN));
      const bookmark = await bookmarkEnd();
      const before = receiver.received.length;

      const answer = collect<Out & { _msgid: string; correlation?: string }>(helper.getNode('delivered'), 1);
      helper
        .getNode('post')
        .receive({ payload: { start_time: formatUtc(start), end_time: formatUtc(start + 2 * MIN) }, correlation: 'abc' });
      const [done] = await answer;
      assert.equal(done.correlation, 'abc', 'the input message travels on');
      assert.equal(done.payload.origin, 'request');
      assert.equal(done.payload.state, 'SUCCESS');
      assert.equal(done.payload.start_time, formatUtc(start));
      assert.equal(done.payload.end_time, formatUtc(start + 2 * MIN));
      assert.match(String(done.payload.task_id), /^[0-9a-f-]{36}$/);
      assert.equal(await bookmarkEnd(), bookmark, 'request mode does not move the bookmark');
      const requested = receiver.received.slice(before);
      assert.equal(requested.length, 3, '8 readings in batches of 3');
      for (const request of requested) {
        const body = JSON.parse(request.body) as PostedBody;
        assert.equal(body.start_time, formatUtc(start));
        assert.equal(body.end_time, formatUtc(start + 2 * MIN));
      }
      assert.equal([...windowsPerReading(requested).keys()].length, 8);
    });

    it('refuses a malformed request message through the error path (Catch) and reports a failed request task on output 2', async () => {
      await helper.load([databaseNode, batchPostNode], flow({ schedule: false }), credentials);
      const post = helper.getNode('post');
      const errors: unknown[] = [];
      (post as unknown as NodeJS.EventEmitter).on('call:error', (call: { args: unknown[] }) => errors.push(call.args[0]));
      post.receive({ payload: 'yesterday' });
      post.receive({ payload: { start_time: '2021-07-01T12:00:00', end_time: '2021-07-01T11:00:00' } });
      post.receive({ payload: { start_time: formatUtc(Date.now() - MIN), end_time: formatUtc(Date.now() + 3_600_000) } });
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(errors.length, 3);
      assert.match(String(errors[1]), /before/);
      assert.match(String(errors[2]), /future/);

      receiver.respond = (_q, response) => response.writeHead(400).end('bad');
      const failed = collect<Out>(helper.getNode('failed'), 1);
      post.receive({ payload: { start_time: '2021-07-01T12:00:00', end_time: '2021-07-01T12:05:00' } });
      const [failure] = await failed;
      assert.equal(failure.payload.state, 'FAILURE');
      assert.match(String(failure.payload.status), /400/);
      // No schedule: no bookmark.
      assert.equal(await bookmarkEnd().catch(() => null), null);
    });

    it('keeps a window the receiver refused in the outbox across close, and a new instance resends it from there', async () => {
      const { start, readings } = threeWindows();
      const firstWindow = readings.slice(0, 4);
      await insertReadings(db, firstWindow);
      receiver.respond = (_q, response) => response.writeHead(503).end('down');
      await helper.load([databaseNode, batchPostNode], flow({ startFrom: formatUtc(start), maxWindowsPerTick: 1 }), credentials);
      const [failure] = await collect<Out>(helper.getNode('failed'), 1);
      assert.equal(failure.payload.origin, 'schedule');
      assert.equal(failure.payload.start_time, formatUtc(start));
      assert.equal(failure.payload.retryable, true);
      assert.equal(failure.payload.status, 503);
      await helper.unload();
      assert.ok(
        readdirSync(outbox).some((f) => f.endsWith('.unit.json')),
        'the window is in the outbox after close',
      );
      assert.equal(await bookmarkEnd(), start, 'a failed window does not move the bookmark past its start');

      // The rows are gone from the database: what arrives now can only come from the outbox.
      await db.query('DELETE FROM sensor_data');
      receiver.received.length = 0;
      receiver.respond = accept;
      await helper.load([databaseNode, batchPostNode], flow({ startFrom: formatUtc(start), maxWindowsPerTick: 1 }), credentials);
      const [delivered] = await collect<Out>(helper.getNode('delivered'), 1);
      assert.equal(delivered.payload.start_time, formatUtc(start));
      assert.equal(delivered.payload.readings, 4);
      const seen = windowsPerReading(receiver.received.filter((r) => (JSON.parse(r.body) as PostedBody).start_time === formatUtc(start)));
      assert.deepEqual([...seen.keys()].sort(), firstWindow.map(readingKey).sort());
      assert.ok((await bookmarkEnd())! >= start + MIN);
      assert.ok(existsSync(outbox));
    });

    it('takes the POST key from POST_DATA_API_KEY when the node has no credential, and stops with a status naming a missing endpoint', async () => {
      const { start, readings } = threeWindows();
      await insertReadings(db, readings.slice(8));
      process.env.POST_DATA_API_KEY = 'from-env-key';
      try {
        await helper.load([databaseNode, batchPostNode], flow({ startFrom: formatUtc(start + 2 * MIN) }), {});
        await collect<Out>(helper.getNode('delivered'), 1);
        assert.equal(receiver.received[0].headers.authorization, 'Bearer from-env-key');
      } finally {
        delete process.env.POST_DATA_API_KEY;
      }
      await helper.unload();

      await helper.load([databaseNode, batchPostNode], flow({ endpoint: '${POST_DATA_ENDPOINT_UNSET_IN_TEST}' }), credentials);
      const post = helper.getNode('post');
      await new Promise((resolve) => setTimeout(resolve, 100));
      const statuses = statusCalls(post);
      assert.ok(
        statuses.some((s) => s.fill === 'red' && /POST_DATA_ENDPOINT/.test(String(s.text))),
        JSON.stringify(statuses),
      );
    });
  });
}
