/**
 * The writer node through a database outage, on real MariaDB behind a TCP proxy the test cuts:
 * a cut mid-stream loses and duplicates nothing, with or without a unique key (a batch whose
 * COMMIT answer the cut swallowed is settled from its commit marker, not written again); rows
 * journaled while the database was unreachable survive a runtime restart and are replayed once.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import databaseNode from '../../nodes/iotp-database/iotp-database';
import writerNode from '../../nodes/iotp-db-write/iotp-db-write';
import { openDatabase } from '../../lib/db';
import type { Database } from '../../lib/db/types';
import { flow, helper } from '../support/helper';
import { createTestMysqlDatabase, MYSQL_HOST, MYSQL_PORT, requireService, TestMysqlDatabase } from '../support/services';
import { TcpProxy } from '../support/tcp-proxy';
import { makeTempDir, removeTempDir } from '../support/tmp';

const SET = JSON.stringify({
  name: 'outage-test',
  migrations: [
    {
      version: 1,
      name: 'create-events',
      // No unique key on purpose: a duplicate would be stored and counted.
      mysql: ['CREATE TABLE IF NOT EXISTS events (id BIGINT AUTO_INCREMENT PRIMARY KEY, seq INT NOT NULL, body VARCHAR(64))'],
      sqlite: ['CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, body TEXT)'],
    },
    {
      version: 2,
      name: 'create-keyed-events',
      mysql: [
        'CREATE TABLE IF NOT EXISTS keyed_events (id BIGINT AUTO_INCREMENT PRIMARY KEY, seq INT NOT NULL, body VARCHAR(64), UNIQUE KEY keyed_events_seq (seq))',
      ],
      sqlite: ['CREATE TABLE IF NOT EXISTS keyed_events (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, body TEXT)'],
    },
  ],
});

describe('iotp-db-write through a MariaDB outage', function () {
  this.timeout(240000);
  let mysql: TestMysqlDatabase;
  let proxy: TcpProxy;
  let dir: string;
  let db: Database;

  before(async function () {
    await requireService(this, 'mysql');
    mysql = await createTestMysqlDatabase();
    proxy = await new TcpProxy(MYSQL_HOST, MYSQL_PORT).start();
    dir = makeTempDir();
    helper.settings({ iotpJournalDir: join(dir, 'journal'), nodeCloseTimeout: 8000 } as never);
    db = openDatabase(mysql.config);
  });

  afterEach(() => helper.unload());

  after(async () => {
    helper.settings({});
    await db?.close();
    await proxy?.stop();
    await mysql?.drop();
    removeTempDir(dir);
  });

  const BATCH_SIZE = 200;
  const IN_FLIGHT = 2;
  const writerFlow = (table = 'events', conflict = 'error') =>
    flow([
      {
        id: 'db',
        type: 'iotp-database',
        connection: 'url',
        url: `mysql://root@127.0.0.1:${proxy.port}/${mysql.config.database}?connectTimeout=2000`,
        version: 1,
      },
      {
        id: 'w',
        type: 'iotp-db-write',
        database: 'db',
        table,
        columns: 'seq\nbody',
        conflict,
        migrationSet: 'custom',
        customMigrations: SET,
        batchSize: BATCH_SIZE,
        maxInFlight: IN_FLIGHT,
        maxLatency: 20,
        maxBuffered: 500,
        overflow: 'backpressure',
        journal: true,
        wires: [['out']],
      },
      { id: 'out', type: 'helper' },
    ]);

  async function counts(table = 'events'): Promise<{ rows: number; distinct: number }> {
    const result = await db.query(`SELECT COUNT(*) AS n, COUNT(DISTINCT seq) AS d FROM ${table}`);
    return { rows: Number(result.rows[0].n), distinct: Number(result.rows[0].d) };
  }

  async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    // A check may throw while the database catches up (e.g. the table is created by the replay).
    while (!(await check().catch(() => false))) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async function streamThroughCut(table: string, conflict: string): Promise<number> {
    await helper.load([databaseNode, writerNode], writerFlow(table, conflict));
    const w = helper.getNode('w');
    let completed = 0;
    helper.getNode('out').on('input', () => (completed += 1));
    const total = 3000;
    for (let seq = 0; seq < total; seq++) {
      w.receive({ payload: { seq, body: `event ${seq}` } });
      if (seq === 1000) proxy.cut();
      if (seq === 2000) {
        await new Promise((r) => setTimeout(r, 4000));
        proxy.restore();
      }
      // A steady stream, not one synchronous burst: the cut lands after commits have happened.
      if (seq % 50 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    await waitFor(async () => completed === total, 90000, `${total} messages completed (have ${completed})`);
    // Rows journaled during the cut are replayed after the writer's backoff finds the database again.
    await waitFor(async () => (await counts(table)).distinct === total, 90000, 'every row stored').catch(async (err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(await counts(table))} of ${total}`);
    });
    await new Promise((r) => setTimeout(r, 500));
    return total;
  }

  it('loses and duplicates nothing when the connection is cut for several seconds mid-stream, without a unique key', async () => {
    const total = await streamThroughCut('events', 'error');
    assert.deepEqual(await counts('events'), { rows: total, distinct: total });
  });

  it('loses and duplicates nothing through the same cut with a unique key and the ignore policy', async () => {
    const total = await streamThroughCut('keyed_events', 'ignore');
    assert.deepEqual(await counts('keyed_events'), { rows: total, distinct: total });
  });

  it('replays rows journaled during an outage after the runtime restarts, once', async () => {
    await db.query('DELETE FROM events');
    proxy.cut();
    await helper.load([databaseNode, writerNode], writerFlow());
    const w = helper.getNode('w');
    const journaled: unknown[] = [];
    helper.getNode('out').on('input', (msg: unknown) => journaled.push((msg as { stored?: unknown }).stored));
    for (let seq = 0; seq < 800; seq++) w.receive({ payload: { seq, body: 'while down' } });
    // Everything is accepted: beyond the memory buffer the journal takes the rows (and acknowledges them).
    await waitFor(async () => journaled.length === 800, 30000, '800 messages journaled');
    await helper.unload(); // the runtime stops while the database is still unreachable (afterEach unloads again: harmless)
    assert.equal((await counts()).rows, 0);

    proxy.restore();
    await helper.load([databaseNode, writerNode], writerFlow());
    await waitFor(async () => (await counts()).rows === 800, 90000, 'journal replayed');
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(await counts(), { rows: 800, distinct: 800 });
  });
});
