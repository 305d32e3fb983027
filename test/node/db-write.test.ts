/**
 * The writer node in a Node-RED runtime (test helper) on real SQLite and MariaDB: a message is
 * passed on only once its rows are committed; duplicates follow the conflict policy; a row the
 * database rejects goes to the error path with the database's reason while its neighbours commit;
 * the migration set is applied once before the first row.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import databaseNode from '../../nodes/iotp-database/iotp-database';
import writerNode from '../../nodes/iotp-db-write/iotp-db-write';
import { openDatabase, parseDatabaseUrl } from '../../lib/db';
import type { Database } from '../../lib/db/types';
import { collect, flow, helper, nextEvent } from '../support/helper';
import { createTestServerDatabase, requireService, type TestMysqlDatabase, type TestPostgresDatabase } from '../support/services';
import { makeTempDir, removeTempDir } from '../support/tmp';

const CUSTOM_SET = JSON.stringify({
  name: 'writer-test',
  migrations: [
    {
      version: 1,
      name: 'create-readings',
      mysql: [
        'CREATE TABLE readings (id BIGINT AUTO_INCREMENT PRIMARY KEY, sensor VARCHAR(20) NOT NULL, ts BIGINT NOT NULL, value DOUBLE, UNIQUE KEY sensor_ts (sensor, ts)) CHARACTER SET utf8mb4',
      ],
      sqlite: [
        'CREATE TABLE readings (id INTEGER PRIMARY KEY AUTOINCREMENT, sensor TEXT NOT NULL CHECK (length(sensor) <= 20), ts INTEGER NOT NULL, value REAL, UNIQUE (sensor, ts))',
      ],
      postgres: [
        'CREATE TABLE readings (id BIGSERIAL PRIMARY KEY, sensor VARCHAR(20) NOT NULL, ts BIGINT NOT NULL, value DOUBLE PRECISION, UNIQUE (sensor, ts))',
      ],
    },
  ],
});

for (const backend of ['SQLite', 'MariaDB', 'PostgreSQL'] as const) {
  describe(`iotp-db-write node (${backend})`, function () {
    this.timeout(30000);
    let dir: string;
    let mysql: TestMysqlDatabase | TestPostgresDatabase | undefined;
    let url: string;
    let db: Database;

    before(async function () {
      dir = makeTempDir();
      if (backend !== 'SQLite') {
        const dialect = backend === 'MariaDB' ? 'mysql' : 'postgres';
        await requireService(this, dialect);
        mysql = await createTestServerDatabase(dialect);
        url = mysql.url;
      } else {
        url = `sqlite:${join(dir, 'writer.db')}`;
      }
      helper.settings({ iotpJournalDir: join(dir, 'journal') } as never);
    });

    beforeEach(async () => {
      db = openDatabase(parseDatabaseUrl(url));
      await db.query('DROP TABLE IF EXISTS readings');
      await db.query("DELETE FROM migrations WHERE set_name = 'writer-test'").catch(() => undefined);
    });

    afterEach(async () => {
      await helper.unload();
      await db.close();
    });

    after(async () => {
      helper.settings({});
      await mysql?.drop();
      removeTempDir(dir);
    });

    const writerFlow = (conflict = 'error', database: Record<string, unknown> = {}) =>
      flow([
        { id: 'db', type: 'iotp-database', connection: 'url', url, version: 1, ...database },
        {
          id: 'w',
          type: 'iotp-db-write',
          database: 'db',
          table: 'readings',
          columns: 'sensor\nts = time\nvalue',
          conflict,
          migrationSet: 'custom',
          customMigrations: CUSTOM_SET,
          batchSize: 100,
          maxLatency: 20,
          maxBuffered: 10000,
          overflow: 'backpressure',
          journal: true,
          wires: [['out']],
        },
        { id: 'out', type: 'helper' },
      ]);

    it('applies its migration set, maps columns, and passes each message on once its rows are committed', async () => {
      await helper.load([databaseNode, writerNode], writerFlow());
      const w = helper.getNode('w');
      const received = collect<Record<string, unknown>>(helper.getNode('out'), 21);
      w.receive({ payload: Array.from({ length: 250 }, (_, i) => ({ sensor: 'batch', time: i, value: i / 2 })) });
      for (let i = 0; i < 20; i++) w.receive({ payload: { sensor: 'single', time: i, value: null } });
      const messages = await received;
      const batchMessage = messages.find((m) => Array.isArray(m.payload));
      assert.deepEqual(batchMessage?.stored, { committed: 250, journaled: 0 });
      const rows = await db.query('SELECT sensor, COUNT(*) AS n, SUM(value) AS total FROM readings GROUP BY sensor ORDER BY sensor');
      assert.deepEqual(
        rows.rows.map((r) => ({ sensor: r.sensor, n: Number(r.n), total: r.total === null ? null : Number(r.total) })),
        [
          { sensor: 'batch', n: 250, total: (249 * 250) / 4 },
          { sensor: 'single', n: 20, total: null },
        ],
      );
      const applied = await db.query("SELECT name FROM migrations WHERE set_name = 'writer-test'");
      assert.deepEqual(
        applied.rows.map((r) => r.name),
        ['writer-test/1-create-readings'],
      );
    });

    it('ignores duplicates on the unique key when told to (replays are idempotent)', async () => {
      await helper.load([databaseNode, writerNode], writerFlow('ignore'));
      const w = helper.getNode('w');
      const received = collect(helper.getNode('out'), 2);
      const rows = Array.from({ length: 50 }, (_, i) => ({ sensor: 'dup', time: i, value: i }));
      w.receive({ payload: rows });
      w.receive({ payload: rows });
      await received;
      const count = await db.query("SELECT COUNT(*) AS n FROM readings WHERE sensor = 'dup'");
      assert.equal(Number(count.rows[0].n), 50);
    });

    it('isolates a row the database rejects: its neighbours commit, the message goes to the error path with the reason', async () => {
      await helper.load([databaseNode, writerNode], writerFlow());
      const w = helper.getNode('w');
      const error = nextEvent<{ args: [unknown, Record<string, unknown>] }>(w, 'call:error');
      w.receive({
        payload: [
          { sensor: 'ok-1', time: 1, value: 1 },
          { sensor: 'x'.repeat(200), time: 2, value: 2 },
          { sensor: 'ok-3', time: 3, value: 3 },
        ],
      });
      const call = await error;
      assert.match(String(call.args[0]), /iotp-db-write\.errors\.rejected/);
      const rejected = call.args[1].rejected as { index: number; reason: string }[];
      assert.equal(rejected.length, 1);
      assert.equal(rejected[0].index, 1);
      assert.ok(rejected[0].reason.length > 0);
      const stored = await db.query('SELECT sensor FROM readings ORDER BY ts');
      assert.deepEqual(
        stored.rows.map((r) => r.sensor),
        ['ok-1', 'ok-3'],
      );
    });

    it('refuses a payload that is not rows', async () => {
      await helper.load([databaseNode, writerNode], writerFlow());
      const w = helper.getNode('w');
      const error = nextEvent<{ args: unknown[] }>(w, 'call:error');
      w.receive({ payload: 'not a row' });
      assert.match(String((await error).args[0]), /badPayload/);
    });

    it('TimescaleDB switched on where it cannot work: refused with one clear message, nothing changed in the database', async () => {
      await helper.load([databaseNode, writerNode], writerFlow('error', { timescale: true }));
      const w = helper.getNode('w');
      const dbNode = helper.getNode('db');
      const dbErrors: unknown[] = [];
      (dbNode as unknown as NodeJS.EventEmitter).on('call:error', (call: { args: unknown[] }) => dbErrors.push(call.args[0]));
      const logged = nextEvent<{ args: unknown[] }>(dbNode, 'call:error');
      const failed = nextEvent<{ args: unknown[] }>(w, 'call:error');
      w.receive({ payload: { sensor: 'ts', time: 1, value: 1 } });
      const message = String((await logged).args[0]);
      assert.match(message, backend === 'PostgreSQL' ? /does not have the timescaledb extension/ : /TimescaleDB is a PostgreSQL extension/);
      assert.match(message, /Nothing was changed in the database/);
      assert.match(String((await failed).args[0]), /TimescaleDB/);
      // More rows meet the same refusal without a second log line from the database node.
      w.receive({ payload: { sensor: 'ts', time: 2, value: 2 } });
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(dbErrors.length, 1, JSON.stringify(dbErrors));
      const tables = await db.query(
        backend === 'PostgreSQL'
          ? "SELECT to_regclass('readings') AS t"
          : backend === 'MariaDB'
            ? "SELECT COUNT(*) AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'readings'"
            : "SELECT COUNT(*) AS t FROM sqlite_master WHERE name = 'readings'",
      );
      assert.ok(tables.rows[0].t === null || Number(tables.rows[0].t) === 0, 'the migration did not run');
    });
  });
}
