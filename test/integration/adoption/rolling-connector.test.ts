/**
 * Taking over the rolling averages' `messages(number, epochtime)` (CONTRACTS §6.2) and carrying on
 * the data connector's schedule from its `bookmarks` row (§6.5), on MariaDB, PostgreSQL (the
 * connector original's own example database) and SQLite.
 */
import assert from 'node:assert/strict';
import { AdoptionError, openDatabase, runMigrations } from '../../../lib/db';
import type { DatabaseConfig } from '../../../lib/db/types';
import { BookmarkStore, connectorMigrations } from '../../../lib/connector/bookmark';
import { ORIGINAL_BOOKMARK } from '../../../lib/connector/adopt';
import { dueWindows } from '../../../lib/connector/windows';
import { rollingAveragesMigrations } from '../../../lib/rolling/schema';
import { statestreamMigrations } from '../../../lib/statestream/schema';
import { createStatestreamOriginal, createRollingOriginal, createConnectorOriginal } from '../../support/originals';
import { eachDialect, schemaFingerprint } from './fresh';

eachDialect('adoption: rolling averages', (fresh) => {
  it("keeps the original's numbers and adds the retention index", async () => {
    const { db } = await fresh();
    const stored = await createRollingOriginal(db, Math.floor(Date.now() / 1000));
    const report = await runMigrations(db, [rollingAveragesMigrations]);
    assert.deepEqual(report.applied, ['rolling-averages/0-adopt-original', 'rolling-averages/1-create-messages']);
    const { rows } = await db.query('SELECT number, epochtime FROM messages ORDER BY epochtime, number');
    assert.deepEqual(
      rows.map((r) => [Number(r.number), Number(r.epochtime)]),
      stored.map((r) => [r.number, r.epochtime]).sort((a, b) => a[1] - b[1] || a[0] - b[0]),
    );
  });

  it("refuses the statestream pipeline's messages table by name, changing nothing", async () => {
    const { db } = await fresh();
    // PostgreSQL never held the original statestream's tables: ours, as flow 1 leaves them there.
    if (db.dialect === 'postgres') await runMigrations(db, [statestreamMigrations]);
    else await createStatestreamOriginal(db);
    const fingerprint = await schemaFingerprint(db);
    const err = await runMigrations(db, [rollingAveragesMigrations]).catch((e: unknown) => e);
    assert.ok(err instanceof AdoptionError);
    assert.match(err.message, /is the statestream pipeline's, not the rolling averages' messages\(number, epochtime\).*set DB_FILE/);
    assert.equal(await schemaFingerprint(db), fingerprint);
  });
});

eachDialect('adoption: data connector', (fresh) => {
  it('starts the first window exactly where the original bookmark stopped, once', async () => {
    const { db } = await fresh();
    const bookmark = '2024-06-14 12:30:00.000000';
    await createConnectorOriginal(db, bookmark);
    const report = await runMigrations(db, [connectorMigrations]);
    assert.deepEqual(report.applied, ['connector/0-adopt-original', 'connector/1-create-connector-bookmarks']);
    const store = new BookmarkStore(db, 'data-connector');
    await store.ensure(Date.now());
    const state = await store.read();
    assert.equal(state?.windowEnd, Date.parse('2024-06-14T12:30:00Z'));
    const plan = { intervalMs: 60_000, settleMs: 30_000, maxWindowsPerTick: 3 };
    const windows = dueWindows(state!.windowEnd, Date.parse('2024-06-14T13:00:00Z'), plan);
    assert.deepEqual(
      windows[0],
      { start: Date.parse('2024-06-14T12:30:00Z'), end: Date.parse('2024-06-14T12:31:00Z') },
      'no window sent twice, none skipped',
    );
    // Our row, once it exists, is ours: neither the original's table nor the copy moves it again.
    await store.acquireLease('me', 1, 1_000_000);
    assert.equal(await store.advance('me', state!.windowEnd, Date.parse('2024-06-14T12:31:00Z'), 2), true);
    await store.ensure(3);
    assert.equal((await store.read())?.windowEnd, Date.parse('2024-06-14T12:31:00Z'));
    const original = await db.query('SELECT name, window_end FROM connector_bookmarks WHERE name = ?', [ORIGINAL_BOOKMARK]);
    assert.equal(Number(original.rows[0].window_end), Date.parse('2024-06-14T12:30:00Z'));
    const kept = await db.query('SELECT COUNT(*) AS n FROM bookmarks');
    assert.equal(Number(kept.rows[0].n), 1, "the original's table is left as it was");
  });

  it('cuts a bookmark with microseconds to the millisecond (a reading at the boundary is sent again, none skipped)', async () => {
    const { db } = await fresh();
    await createConnectorOriginal(db, '2024-06-14 12:30:00.123456');
    await runMigrations(db, [connectorMigrations]);
    const store = new BookmarkStore(db, 'data-connector');
    await store.ensure(0);
    assert.equal((await store.read())?.windowEnd, Date.parse('2024-06-14T12:30:00.123Z'));
  });

  it('leaves a bookmarks table of another application alone and starts as on a new database', async () => {
    const { db } = await fresh();
    await db.query('CREATE TABLE bookmarks (url VARCHAR(200), title VARCHAR(200))');
    assert.deepEqual((await runMigrations(db, [connectorMigrations])).applied, ['connector/1-create-connector-bookmarks']);
    const store = new BookmarkStore(db, 'data-connector');
    await store.ensure(0);
    assert.equal((await store.read())?.windowEnd, null);
  });
});

eachDialect(
  'adoption: data connector, a hand-made timestamptz bookmark',
  (fresh) => {
    it('reads a bookmark in a timestamptz column as the instant it is, whatever the session time zone', async () => {
      const { db, config } = await fresh();
      await createConnectorOriginal(db, '2024-06-14 12:30:00.250000', { timestamptz: true });
      // One connection whose zone is not UTC (lib/db's sessions are UTC; this one is changed behind
      // its back), so the bookmark would be read hours off if it were rendered in the session's zone.
      const single = openDatabase({ ...config, poolSize: 1 } as DatabaseConfig);
      try {
        await single.query("SELECT set_config('timezone', 'America/New_York', false)");
        await runMigrations(single, [connectorMigrations]);
      } finally {
        await single.close();
      }
      const store = new BookmarkStore(db, 'data-connector');
      await store.ensure(0);
      assert.equal((await store.read())?.windowEnd, Date.parse('2024-06-14T12:30:00.250Z'));
    });
  },
  ['postgres'],
);
