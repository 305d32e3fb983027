import assert from 'node:assert/strict';
import { join } from 'node:path';
import { BookmarkStore, connectorMigrations } from '../../../lib/connector/bookmark';
import type { Database } from '../../../lib/db/types';
import {
  createTestMysqlDatabase,
  createTestPostgresDatabase,
  requireService,
  type TestMysqlDatabase,
  type TestPostgresDatabase,
} from '../../support/services';
import { makeTempDir, removeTempDir } from '../../support/tmp';
import { applyMigrations, openMysql, openPostgres, openSqlite } from './test-db';

function bookmarkSuite(
  name: string,
  open: () => Promise<{ db: Database; cleanup: () => Promise<void> }>,
  needs: 'mysql' | 'postgres' | false,
): void {
  describe(`connector bookmark and lease on ${name}`, () => {
    let db: Database;
    let cleanup: () => Promise<void> = async () => undefined;

    before(async function () {
      if (needs) await requireService(this, needs);
      ({ db, cleanup } = await open());
      await applyMigrations(db, connectorMigrations);
      await applyMigrations(db, connectorMigrations); // idempotent
    });
    after(async () => {
      await db?.close();
      await cleanup();
    });

    it('starts without a bookmark, and ensure() is idempotent', async () => {
      const store = new BookmarkStore(db, 'fresh');
      assert.equal(await store.read(), null);
      await store.ensure(1000);
      await store.ensure(2000);
      assert.deepEqual(await store.read(), { windowEnd: null, leaseOwner: null, leaseUntil: null });
    });

    it('gives the lease to one owner at a time; it expires and can be released', async () => {
      const store = new BookmarkStore(db, 'lease');
      await store.ensure(0);
      assert.equal(await store.acquireLease('A', 1000, 500), true);
      assert.equal(await store.acquireLease('B', 1200, 500), false, 'held by A');
      assert.equal(await store.acquireLease('A', 1200, 500), true, 'A renews');
      assert.equal(await store.acquireLease('A', 1200, 500), true, 'a same-millisecond renewal still counts');
      assert.equal(await store.acquireLease('B', 1700, 500), true, 'expired at 1700: B takes over');
      assert.equal(await store.acquireLease('A', 1800, 500), false);
      await store.releaseLease('A');
      assert.equal((await store.read())?.leaseOwner, 'B', 'A cannot release B');
      await store.releaseLease('B');
      assert.equal(await store.acquireLease('A', 1900, 500), true, 'released: free at once');
    });

    it('advances only from the expected value and only for the lease holder (no double advance)', async () => {
      const store = new BookmarkStore(db, 'cas');
      await store.ensure(0);
      await store.acquireLease('A', 0, 1_000_000);
      assert.equal(await store.advance('B', null, 300_000, 1), false, 'not the lease holder');
      assert.equal(await store.advance('A', null, 300_000, 1), true);
      assert.equal(await store.advance('A', null, 300_000, 2), false, 'already moved');
      assert.equal(await store.advance('A', 300_000, 600_000, 3), true);
      assert.equal(await store.advance('A', 300_000, 600_000, 4), false, 'a second instance with a stale view cannot advance again');
      const [first, second] = await Promise.all([store.advance('A', 600_000, 900_000, 5), store.advance('A', 600_000, 900_000, 5)]);
      assert.equal(Number(first) + Number(second), 1, 'of two concurrent identical advances exactly one wins');
      assert.equal((await store.read())?.windowEnd, 900_000);
    });

    it('keeps epoch-ms values beyond 32 bits exactly', async () => {
      const store = new BookmarkStore(db, 'big');
      await store.ensure(0);
      await store.acquireLease('A', 0, 10);
      const end = Date.parse('2038-01-19T03:15:00Z');
      assert.equal(await store.advance('A', null, end, 1), true);
      assert.equal((await store.read())?.windowEnd, end);
    });
  });
}

bookmarkSuite(
  'MariaDB',
  async () => {
    const test: TestMysqlDatabase = await createTestMysqlDatabase('iotp_conn');
    const db = await openMysql(test.config);
    return { db, cleanup: () => test.drop() };
  },
  'mysql',
);

bookmarkSuite(
  'PostgreSQL',
  async () => {
    const test: TestPostgresDatabase = await createTestPostgresDatabase('iotp_conn');
    const db = await openPostgres(test.config);
    return { db, cleanup: () => test.drop() };
  },
  'postgres',
);

bookmarkSuite(
  'SQLite',
  async () => {
    const dir = makeTempDir('iotp-conn-bm-');
    const db = await openSqlite(join(dir, 'bookmarks.db'));
    return { db, cleanup: async () => removeTempDir(dir) };
  },
  false,
);
