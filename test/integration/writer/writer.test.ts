/**
 * The RowWriter against real databases: MariaDB and PostgreSQL (directly, and through a TCP relay
 * that a test cuts to cause a real outage) and SQLite files.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseError, openDatabase } from '../../../lib/db';
import type { Database } from '../../../lib/db/types';
import { RowWriter, type DeliveryResult, type RowWriterOptions } from '../../../lib/writer';
import {
  MYSQL_HOST,
  MYSQL_PORT,
  POSTGRES_HOST,
  POSTGRES_PORT,
  createTestServerDatabase,
  requireService,
  type TestMysqlDatabase,
  type TestPostgresDatabase,
} from '../../support/services';
import { makeTempDir, removeTempDir } from '../../support/tmp';
import type { SqliteDriverName } from '../../../lib/db/sqlite-driver';
import { requireSqliteDriver, SQLITE_DRIVERS } from '../../support/sqlite-drivers';
import { TcpProxy } from './tcp-proxy';

interface Outcome {
  err: Error | null;
  result: DeliveryResult;
}

function send(writer: RowWriter, rows: unknown): Promise<Outcome> {
  return new Promise((resolve) => writer.write(rows, (err, result) => resolve({ err, result })));
}

async function until(condition: () => Promise<boolean> | boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const TABLE_SQL = {
  mysql: 'CREATE TABLE readings (id INT AUTO_INCREMENT PRIMARY KEY, n INT NOT NULL, label VARCHAR(8), UNIQUE KEY uq_n (n))',
  sqlite:
    'CREATE TABLE readings (id INTEGER PRIMARY KEY AUTOINCREMENT, n INTEGER NOT NULL, label TEXT CHECK (length(label) <= 8), UNIQUE (n))',
  postgres: 'CREATE TABLE readings (id SERIAL PRIMARY KEY, n INT NOT NULL, label VARCHAR(8), UNIQUE (n))',
};

function suite(dialect: 'mysql' | 'sqlite' | 'postgres', driver?: SqliteDriverName): void {
  describe(`writer engine on ${dialect === 'sqlite' ? `SQLite (${driver})` : { mysql: 'MariaDB', postgres: 'PostgreSQL' }[dialect]}`, function () {
    this.timeout(60_000);
    let db: Database;
    let mysql: TestMysqlDatabase | TestPostgresDatabase | undefined;
    let dir: string;
    let journalDir: string;

    before(async function () {
      dir = makeTempDir('iotp-writer-it-');
      if (dialect !== 'sqlite') {
        await requireService(this, dialect);
        mysql = await createTestServerDatabase(dialect, 'iotp_writer');
        db = openDatabase(mysql.config);
      } else {
        requireSqliteDriver(this, driver!);
        db = openDatabase({ dialect: 'sqlite', file: join(dir, 'test.db'), busyTimeoutMs: 5000, driver });
      }
    });
    after(async () => {
      await db?.close();
      await mysql?.drop();
      if (dir) removeTempDir(dir);
    });
    beforeEach(async () => {
      await db.query('DROP TABLE IF EXISTS readings');
      await db.query(TABLE_SQL[dialect]);
      journalDir = makeTempDir('iotp-writer-journal-');
    });
    afterEach(() => removeTempDir(journalDir));

    const make = (options: Partial<RowWriterOptions> = {}): RowWriter =>
      new RowWriter({ db, table: 'readings', columns: ['n', 'label'], warn: () => undefined, ...options });

    const stored = async (): Promise<number[]> => (await db.query('SELECT n FROM readings ORDER BY id')).rows.map((row) => Number(row.n));

    it('writes many deliveries in batches, in order', async () => {
      const writer = make({ maxInFlight: 1 });
      const outcomes = await Promise.all(
        Array.from({ length: 500 }, (_, d) =>
          send(
            writer,
            Array.from({ length: 10 }, (_, i) => ({ n: d * 10 + i, label: 'ok' })),
          ),
        ),
      );
      assert.ok(outcomes.every((o) => o.err === null && o.result.committed === 10));
      assert.deepEqual(
        await stored(),
        Array.from({ length: 5000 }, (_, i) => i),
      );
      await writer.close(1000);
    });

    it('isolates the rows the database refuses (too long, NULL, duplicate) and commits the rest', async () => {
      const writer = make();
      const rows = Array.from({ length: 500 }, (_, i) => ({ n: i, label: 'ok' })) as { n: number | null; label: string }[];
      rows[10].label = 'much too long for eight';
      rows[200].n = null;
      rows[300].n = 299; // duplicate of the row before
      const { err, result } = await send(writer, rows);
      assert.equal(err, null);
      assert.deepEqual(
        result.rejected.map((r) => r.index),
        [10, 200, 300],
      );
      assert.equal(result.committed, 497);
      for (const rejected of result.rejected) assert.ok(rejected.reason.length > 0 && rejected.code, JSON.stringify(rejected));
      assert.equal((await stored()).length, 497);
      await writer.close(1000);
    });

    it('with conflict ignore, replaying already committed rows is idempotent', async () => {
      const writer = make({ conflict: 'ignore', keyColumns: ['n'] });
      const first = await send(
        writer,
        Array.from({ length: 50 }, (_, n) => ({ n, label: 'a' })),
      );
      const again = await send(
        writer,
        Array.from({ length: 60 }, (_, n) => ({ n, label: 'b' })),
      );
      assert.equal(first.result.committed, 50);
      assert.equal(again.result.committed, 60);
      assert.deepEqual(
        await stored(),
        Array.from({ length: 60 }, (_, i) => i),
      );
      await writer.close(1000);
    });

    it('fails deliveries for a missing table without retrying in a loop', async () => {
      const writer = new RowWriter({ db, table: 'no_such_table', columns: ['n'], warn: () => undefined });
      const { err, result } = await send(writer, [{ n: 1 }, { n: 2 }]);
      assert.ok(err);
      assert.equal(result.failed, 2);
      assert.equal(writer.stats().lastError?.kind, 'fatal');
      await writer.close(1000);
    });

    it('journals what is pending on close and replays it, once, from a new writer on the same directory', async () => {
      // The first writer's server is unreachable (nothing listens there), so close() journals.
      const unreachable: Database = {
        dialect,
        description: 'unreachable',
        query: () => Promise.reject(new DatabaseError('connect ECONNREFUSED', { kind: 'connection', code: 'ECONNREFUSED' })),
        select: () => Promise.reject(new DatabaseError('connect ECONNREFUSED', { kind: 'connection', code: 'ECONNREFUSED' })),
        transaction: () => Promise.reject(new DatabaseError('connect ECONNREFUSED', { kind: 'connection', code: 'ECONNREFUSED' })),
        atomic: () => Promise.reject(new DatabaseError('connect ECONNREFUSED', { kind: 'connection', code: 'ECONNREFUSED' })),
        withLock: () => Promise.reject(new DatabaseError('connect ECONNREFUSED', { kind: 'connection', code: 'ECONNREFUSED' })),
        ping: () => Promise.reject(new DatabaseError('connect ECONNREFUSED', { kind: 'connection', code: 'ECONNREFUSED' })),
        close: async () => undefined,
      };
      const first = new RowWriter({
        db: unreachable,
        table: 'readings',
        columns: ['n', 'label'],
        journalDir,
        maxBufferedRows: 100_000,
        warn: () => undefined,
      });
      const pending = Array.from({ length: 300 }, (_, n) => send(first, { n, label: 'x' }));
      const report = await first.close(1000);
      assert.equal(report.journalRows, 300);
      assert.ok((await Promise.all(pending)).every((o) => o.err === null && o.result.journaled === 1));
      const warnings: string[] = [];
      const second = make({ journalDir, warn: (m) => warnings.push(m) });
      await until(async () => (await stored()).length === 300, 'replay');
      assert.deepEqual(
        await stored(),
        Array.from({ length: 300 }, (_, i) => i),
      );
      await until(() => readdirSync(journalDir).length === 0, 'journal emptied');
      assert.deepEqual(warnings, [], 'no replayed row was refused (e.g. as a duplicate)');
      await second.close(1000);
    });

    if (dialect !== 'sqlite') {
      it('survives a real outage: journals while the server is unreachable, replays in order when it returns', async () => {
        const proxy = dialect === 'mysql' ? new TcpProxy(MYSQL_HOST, MYSQL_PORT) : new TcpProxy(POSTGRES_HOST, POSTGRES_PORT);
        await proxy.start();
        const viaProxy = openDatabase({
          ...(mysql as TestMysqlDatabase | TestPostgresDatabase).config,
          port: proxy.port,
          connectTimeoutMs: 1000,
        });
        const writer = new RowWriter({
          db: viaProxy,
          table: 'readings',
          columns: ['n', 'label'],
          journalDir,
          maxInFlight: 1,
          retryInitialMs: 50,
          retryMaxMs: 200,
          warn: () => undefined,
        });
        try {
          await until(() => writer.currentState === 'ok', 'connected');
          const before = await Promise.all(Array.from({ length: 100 }, (_, n) => send(writer, { n, label: 'a' })));
          assert.ok(before.every((o) => o.result.committed === 1));
          await proxy.cut();
          const during = await Promise.all(Array.from({ length: 400 }, (_, i) => send(writer, { n: 100 + i, label: 'b' })));
          assert.ok(during.every((o) => o.err === null && o.result.committed + o.result.journaled === 1));
          assert.ok(
            during.some((o) => o.result.journaled === 1),
            'rows were journaled during the outage',
          );
          assert.equal(writer.currentState === 'ok', false);
          await proxy.start(); // same port
          const after = send(writer, { n: 500, label: 'c' });
          await until(async () => (await stored()).length === 501, 'replay after the outage');
          assert.equal((await after).err, null);
          assert.deepEqual(
            await stored(),
            Array.from({ length: 501 }, (_, i) => i),
          );
          assert.equal(writer.currentState, 'ok');
          await until(() => readdirSync(journalDir).length === 0, 'journal emptied');
        } finally {
          await writer.close(1000);
          await viaProxy.close();
          await proxy.cut();
        }
      });
    }
  });
}

suite('mysql');
suite('postgres');
for (const driver of SQLITE_DRIVERS) suite('sqlite', driver);
