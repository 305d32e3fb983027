/**
 * iotp-window starting from stored readings (the rolling averages' switch from the original: the
 * numbers of the last 30 minutes in DB_FILE), with a real SQLite database behind an iotp-database
 * node: seeded only without saved state, a message stored meanwhile counted once, a failing seed
 * reported and survived; and from a MariaDB or PostgreSQL database holding the original's table.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import databaseNode from '../../../nodes/iotp-database/iotp-database';
import windowNode from '../../../nodes/iotp-window/iotp-window';
import { collect, flow, helper, nextEvent } from '../../support/helper';
import { makeTempDir, removeTempDir } from '../../support/tmp';
import { openDatabase } from '../../../lib/db';
import { openSqliteConnection } from '../../../lib/db/sqlite-driver';
import { createTestServerDatabase, requireService, type TestMysqlDatabase, type TestPostgresDatabase } from '../../support/services';

type Msg = Record<string, unknown> & { payload: Record<string, number | null> };

let W = 'seedw';
let seq = 0;

/** The flow's window, as in flows/2-rolling-averages.json, with counts to see what was taken. */
function seededFlow(file: string, props: Record<string, unknown> = {}, url = `sqlite:${file}`) {
  return flow([
    { id: 'db', type: 'iotp-database', connection: 'url', url, version: 1 },
    {
      id: W,
      type: 'iotp-window',
      name: '',
      mode: 'sliding',
      windows: '1min, 5min, 30min',
      aggregates: 'mean,count',
      decimals: '4',
      value: 'payload.number',
      seriesFrom: 'single',
      timeSource: 'event',
      timeProperty: 'payload.epochtime',
      emit: 'message',
      seedDatabase: 'db',
      seedQuery: 'SELECT number, epochtime FROM messages WHERE epochtime >= :since_s',
      seedMigrationSet: 'rolling-averages',
      version: 1,
      wires: [['out']],
      ...props,
    },
    { id: 'out', type: 'helper' },
  ]);
}

/** Ages in seconds of the stored numbers, away from the bucket edges of every window. */
const STORED: Array<[number, number]> = [
  [11, 10],
  [22, 50],
  [33, 120],
  [44, 240],
  [55, 360],
  [66, 720],
  [77, 1200],
  [88, 1680],
  [99, 1980], // 33 minutes: the original kept 35, the 30-minute window does not count it
];

const mean = (xs: number[]): number => Number((xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(4));

describe('iotp-window: starting from stored readings', function () {
  this.timeout(30000);
  let dir: string;
  let file: string;
  let now: number;

  beforeEach(() => {
    W = `seedw${++seq}`;
    dir = makeTempDir('iotp-window-seed-');
    file = join(dir, 'test.db');
    now = Math.floor(Date.now() / 1000);
    // The driver the node picks: two SQLite libraries in one process release each other's file
    // locks (SQLite's POSIX locks are per process), which WAL reports as "locking protocol".
    const db = openSqliteConnection(file, 'auto');
    db.exec('CREATE TABLE messages (number INTEGER, epochtime INTEGER)');
    const insert = db.prepare('INSERT INTO messages (number, epochtime) VALUES (?, ?)');
    for (const [number, age] of STORED) insert.run([number, now - age]);
    db.close();
  });
  afterEach(async () => {
    await helper.unload();
    removeTempDir(dir);
  });

  const expected = (live: number[]): Record<string, number> => {
    const within = (s: number) =>
      STORED.filter(([, age]) => age < s)
        .map(([n]) => n)
        .concat(live);
    return {
      avg_1min: mean(within(60)),
      count_1min: within(60).length,
      avg_5min: mean(within(300)),
      count_5min: within(300).length,
      avg_30min: mean(within(1800)),
      count_30min: within(1800).length,
    };
  };

  it("counts the original's stored numbers in its first output (windows measured from now)", async () => {
    await helper.load([databaseNode, windowNode], seededFlow(file));
    const out = collect<Msg>(helper.getNode('out'), 1);
    helper.getNode(W).receive({ payload: { number: 5, epochtime: String(now) } });
    assert.deepEqual((await out)[0].payload, expected([5]));
    // The test helper logs message keys, not the catalog's text.
    const logged = (helper.log().args as unknown[][]).map(([entry]) => String((entry as { msg?: unknown }).msg));
    assert.ok(logged.includes('iotp-window.seeded'), logged.join('\n'));
  });

  it('a window that restored its saved state is not seeded again (nothing counted twice)', async () => {
    await helper.load([databaseNode, windowNode], seededFlow(file));
    const first = collect<Msg>(helper.getNode('out'), 1);
    helper.getNode(W).receive({ payload: { number: 5, epochtime: String(now) } });
    await first;
    // A redeploy of the window (renamed): its state is carried over, the stored rows are not read again.
    await helper.setFlows(seededFlow(file, { name: 'renamed' }) as never, 'nodes');
    const second = collect<Msg>(helper.getNode('out'), 1);
    helper.getNode(W).receive({ payload: { number: 6, epochtime: String(now) } });
    assert.deepEqual((await second)[0].payload, expected([5, 6]));
  });

  it('a message arriving while the rows are read, which is one of them (stored meanwhile), is counted once', async () => {
    // Another writer holds the database: the seed waits, and so do the messages. (WAL, as after
    // the first start: switching the original's rollback journal to WAL needs the file unlocked.)
    const blocker = openSqliteConnection(file, 'auto');
    blocker.exec('PRAGMA journal_mode = WAL');
    blocker.exec('BEGIN IMMEDIATE');
    blocker.prepare('INSERT INTO messages (number, epochtime) VALUES (?, ?)').run([42, now - 3]); // our writer storing a live number
    await helper.load([databaseNode, windowNode], seededFlow(file));
    const out = collect<Msg>(helper.getNode('out'), 2);
    helper.getNode(W).receive({ payload: { number: 42, epochtime: String(now - 3) } }); // the same reading, live
    helper.getNode(W).receive({ payload: { number: 7, epochtime: String(now) } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    blocker.exec('COMMIT');
    blocker.close();
    const msgs = await out;
    assert.deepEqual(msgs[0].payload, expected([42]), 'the stored 42 and the live 42 are one reading');
    assert.deepEqual(msgs[1].payload, expected([42, 7]));
  });

  it('starts empty with a warning when the stored rows cannot be read', async () => {
    await helper.load(
      [databaseNode, windowNode],
      seededFlow(file, { seedQuery: 'SELECT number, epochtime FROM no_such_table', seedMigrationSet: '' }),
    );
    const out = collect<Msg>(helper.getNode('out'), 1);
    helper.getNode(W).receive({ payload: { number: 5, epochtime: String(now) } });
    assert.deepEqual((await out)[0].payload, { avg_1min: 5, count_1min: 1, avg_5min: 5, count_5min: 1, avg_30min: 5, count_30min: 1 });
    const warned = (helper.log().args as unknown[][]).some(
      ([entry]) => String((entry as { msg?: unknown }).msg) === 'iotp-window.errors.seed',
    );
    assert.ok(warned);
  });

  it('refuses a seed on tumbling windows as a configuration error', async () => {
    await helper.load([databaseNode, windowNode], seededFlow(file, { mode: 'tumbling', size: '1min' }));
    const errors = (helper.log().args as unknown[][]).map(([entry]) => String((entry as { msg?: unknown }).msg));
    assert.ok(errors.includes('iotp-window.errors.config'), errors.join('\n'));
    const refused = nextEvent<{ args: unknown[] }>(helper.getNode(W), 'call:error');
    helper.getNode(W).receive({ payload: { number: 1 } });
    await refused; // every message is refused with the reason
  });
});

// The same switch where the rolling averages' numbers live in a server database
// (ROLLING_AVERAGES_DATABASE_URL): the original's table taken over there, then counted.
for (const dialect of ['mysql', 'postgres'] as const) {
  describe(`iotp-window: starting from stored readings in ${dialect === 'mysql' ? 'MariaDB' : 'PostgreSQL'}`, function () {
    this.timeout(30000);
    let server: TestMysqlDatabase | TestPostgresDatabase | undefined;
    let now: number;

    before(async function () {
      await requireService(this, dialect);
    });
    beforeEach(async () => {
      W = `seedw${++seq}`;
      server = await createTestServerDatabase(dialect, 'iotp_seed');
      now = Math.floor(Date.now() / 1000);
      const db = openDatabase(server.config);
      try {
        // The original's table, as it is in its SQLite file (no index, no key).
        await db.query('CREATE TABLE messages (number INTEGER, epochtime INTEGER)');
        for (const [number, age] of STORED) await db.query('INSERT INTO messages (number, epochtime) VALUES (?, ?)', [number, now - age]);
      } finally {
        await db.close();
      }
    });
    afterEach(async () => {
      await helper.unload();
      await server?.drop();
    });

    it("takes the original's table over and counts its numbers in the first output", async () => {
      await helper.load([databaseNode, windowNode], seededFlow('', {}, server!.url));
      const out = collect<Msg>(helper.getNode('out'), 1);
      helper.getNode(W).receive({ payload: { number: 5, epochtime: String(now) } });
      const within = (s: number) =>
        STORED.filter(([, age]) => age < s)
          .map(([n]) => n)
          .concat([5]);
      assert.deepEqual((await out)[0].payload, {
        avg_1min: mean(within(60)),
        count_1min: within(60).length,
        avg_5min: mean(within(300)),
        count_5min: within(300).length,
        avg_30min: mean(within(1800)),
        count_30min: within(1800).length,
      });
      const db = openDatabase(server!.config);
      try {
        const { rows } = await db.query('SELECT name FROM migrations ORDER BY id');
        assert.deepEqual(
          rows.map((r) => r.name),
          ['rolling-averages/0-adopt-original', 'rolling-averages/1-create-messages'],
        );
      } finally {
        await db.close();
      }
    });
  });
}
