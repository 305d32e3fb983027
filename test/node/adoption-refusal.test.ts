/**
 * What a user sees when the database holds tables a flow does not recognise: the database node
 * logs the refusal once (what it found, what to do), the writer shows it in its status and keeps
 * the rows in its journal instead of failing them, nothing in the database changes, and once the
 * database is fixed a deploy writes the kept rows.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import databaseNode from '../../nodes/iotp-database/iotp-database';
import writerNode from '../../nodes/iotp-db-write/iotp-db-write';
import { openDatabase } from '../../lib/db';
import type { Database } from '../../lib/db/types';
import { collect, flow, helper } from '../support/helper';
import { makeTempDir, removeTempDir } from '../support/tmp';
import { schemaFingerprint } from '../integration/adoption/fresh';

describe('a database the flow does not recognise (adoption refused)', function () {
  this.timeout(30000);
  let dir: string;
  let file: string;
  let db: Database;

  beforeEach(async () => {
    dir = makeTempDir('iotp-refusal-');
    file = join(dir, 'foreign.db');
    helper.settings({ iotpJournalDir: join(dir, 'journal') } as never);
    db = openDatabase({ dialect: 'sqlite', file, busyTimeoutMs: 5000 });
    // Another application's `messages`, in the database DATABASE_URL points at.
    await db.query('CREATE TABLE messages (id INTEGER PRIMARY KEY, subject TEXT NOT NULL, body TEXT)');
    await db.query("INSERT INTO messages (subject, body) VALUES ('hello', 'world')");
  });
  afterEach(async () => {
    await helper.unload();
    helper.settings({});
    await db.close();
    removeTempDir(dir);
  });

  const statestreamWriter = (name = '') =>
    flow([
      { id: 'db', type: 'iotp-database', connection: 'url', url: `sqlite:${file}`, version: 1 },
      {
        id: 'w',
        type: 'iotp-db-write',
        name,
        database: 'db',
        table: 'messages',
        columns: 'topic\nqos\npayload\nretained',
        conflict: 'error',
        migrationSet: 'statestream',
        batchSize: 100,
        maxLatency: 20,
        maxBuffered: 10000,
        overflow: 'backpressure',
        journal: true,
        wires: [['out']],
      },
      { id: 'out', type: 'helper' },
    ]);

  const logged = (key: string): number =>
    (helper.log().args as unknown[][]).filter(([entry]) => String((entry as { msg?: unknown }).msg) === key).length;

  it('says so once, keeps the rows, changes nothing; after the fix a deploy writes them', async () => {
    const before = await schemaFingerprint(db);
    await helper.load([databaseNode, writerNode], statestreamWriter());
    const w = helper.getNode('w');
    const out = collect<Record<string, unknown>>(helper.getNode('out'), 3, 20000);
    for (let i = 0; i < 3; i++) w.receive({ payload: { topic: `ha/sensor/s${i}/state`, qos: 1, payload: String(i), retained: 0 } });
    const passed = await out;
    assert.deepEqual(
      passed.map((m) => m.stored),
      [0, 1, 2].map(() => ({ committed: 0, journaled: 1 })),
      'kept in the journal, not failed',
    );
    await new Promise((resolve) => setTimeout(resolve, 1500)); // retries meanwhile
    assert.equal(logged('iotp-database.errors.refused'), 1, 'the refusal is logged once');
    assert.equal(logged('iotp-database.errors.unreachable'), 0, 'and not as an unreachable database');
    const statuses = (w as unknown as { status: { getCalls(): Array<{ args: [{ text?: string }] }> } }).status
      .getCalls()
      .map((c) => c.args[0].text);
    assert.ok(statuses.includes('iotp-db-write.status.refused'), statuses.join(', '));
    assert.equal(await schemaFingerprint(db), before, 'nothing in the database changed');

    // The user moves the other application's table away and deploys again.
    await db.query('ALTER TABLE messages RENAME TO other_app_messages');
    await helper.setFlows(statestreamWriter('deployed again') as never, 'full');
    const deadline = Date.now() + 15000;
    for (;;) {
      const exists = await db.query("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'facts'");
      if (Number(exists.rows[0].n) === 1 && Number((await db.query('SELECT COUNT(*) AS n FROM facts')).rows[0].n) === 3) break;
      assert.ok(Date.now() < deadline, 'the journaled rows were written after the fix');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const stored = await db.query('SELECT topic, payload FROM messages ORDER BY id');
    assert.deepEqual(
      stored.rows.map((r) => r.payload),
      ['0', '1', '2'],
    );
  });
});
