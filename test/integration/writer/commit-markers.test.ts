/**
 * Commit markers against the real MariaDB and PostgreSQL, through a TCP proxy that cuts the
 * writer's connection at an exact point of the protocol: after the server answered a COMMIT (the
 * answer never reaches the writer) or before the COMMIT reached the server. A keyless table counts
 * every duplicate.
 */
import assert from 'node:assert/strict';
import { openDatabase } from '../../../lib/db';
import type { Database } from '../../../lib/db/types';
import { COMMIT_MARKER_TABLE, RowWriter, type DeliveryResult, type RowWriterOptions } from '../../../lib/writer';
import {
  MYSQL_HOST,
  MYSQL_PORT,
  POSTGRES_HOST,
  POSTGRES_PORT,
  createTestServerDatabase,
  requireService,
  type ServerDialect,
  type TestMysqlDatabase,
  type TestPostgresDatabase,
} from '../../support/services';
import { TcpProxy } from '../../support/tcp-proxy';
import { makeTempDir, removeTempDir } from '../../support/tmp';

interface Outcome {
  err: Error | null;
  result: DeliveryResult;
}

function send(writer: RowWriter, rows: unknown): Promise<Outcome> {
  return new Promise((resolve) => writer.write(rows, (err, result) => resolve({ err, result })));
}

const rowsOf = (from: number, count: number): { n: number; label: string }[] =>
  Array.from({ length: count }, (_, i) => ({ n: from + i, label: `r${from + i}` }));
const range = (from: number, count: number): number[] => Array.from({ length: count }, (_, i) => from + i);

async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Where a one-statement batch's COMMIT is cut. MySQL: the COMMIT statement. PostgreSQL sends
 * BEGIN, the marker, the COPY and COMMIT as one query text whose COPY data follows after the
 * server asked for it: the cut waits for CopyDone (the client's end-of-data message, bytes no
 * COPY text contains), after which the server runs the COPY and the COMMIT.
 */
const COPY_DONE = Buffer.from([0x63, 0, 0, 0, 4]);

for (const dialect of ['mysql', 'postgres'] as const satisfies readonly ServerDialect[]) {
  describe(`writer commit markers on ${dialect === 'mysql' ? 'MariaDB' : 'PostgreSQL'}, with the connection cut around COMMIT`, function () {
    this.timeout(60_000);
    let mysql: TestMysqlDatabase | TestPostgresDatabase;
    let direct: Database;
    let proxy: TcpProxy;
    let viaProxy: Database;
    let writer: RowWriter | null = null;

    before(async function () {
      await requireService(this, dialect);
      mysql = await createTestServerDatabase(dialect, 'iotp_markers');
      direct = openDatabase(mysql.config);
      proxy =
        dialect === 'mysql'
          ? await new TcpProxy(MYSQL_HOST, MYSQL_PORT).start()
          : await new TcpProxy(POSTGRES_HOST, POSTGRES_PORT, 'postgres').start();
    });
    after(async () => {
      await direct?.close();
      await proxy?.stop();
      await mysql?.drop();
    });
    beforeEach(async () => {
      // No unique key on purpose: a batch written twice is stored twice.
      await direct.query('DROP TABLE IF EXISTS events');
      await direct.query(
        `CREATE TABLE events (id ${dialect === 'mysql' ? 'INT AUTO_INCREMENT' : 'SERIAL'} PRIMARY KEY, n INT NOT NULL, label VARCHAR(8))`,
      );
      await direct.query(`DROP TABLE IF EXISTS ${COMMIT_MARKER_TABLE}`);
      viaProxy = openDatabase({ ...mysql.config, port: proxy.port, connectTimeoutMs: 2000 });
    });
    afterEach(async () => {
      await writer?.close(2000);
      writer = null;
      await viaProxy.close();
    });

    const start = async (options: Partial<RowWriterOptions> = {}): Promise<RowWriter> => {
      writer = new RowWriter({
        db: viaProxy,
        table: 'events',
        columns: ['n', 'label'],
        maxInFlight: 1,
        retryInitialMs: 50,
        retryMaxMs: 200,
        warn: () => undefined,
        ...options,
      });
      // A first batch creates the marker table and warms the connections up.
      const warm = await send(writer, rowsOf(1000, 1));
      assert.equal(warm.result.committed, 1);
      await direct.query('DELETE FROM events');
      return writer;
    };
    const stored = async (): Promise<number[]> =>
      (await direct.query('SELECT n FROM events ORDER BY n, id')).rows.map((row) => Number(row.n));
    const markerCount = async (): Promise<number> =>
      Number((await direct.query(`SELECT COUNT(*) AS c FROM ${COMMIT_MARKER_TABLE}`)).rows[0].c);

    const commitOfOneStatement = dialect === 'mysql' ? 'COMMIT' : COPY_DONE;

    it('stores a single-statement batch once when the cut swallows its COMMIT answer', async () => {
      const w = await start();
      const markersBefore = await markerCount();
      const cut = proxy.cutOn(commitOfOneStatement, 'after-answer');
      const { err, result } = await send(w, rowsOf(0, 100));
      await cut;
      assert.equal(err, null);
      assert.equal(result.committed, 100);
      assert.deepEqual(await stored(), range(0, 100), 'each row exactly once');
      assert.equal(w.stats().lastError?.kind, 'connection', 'the writer did see the cut');
      assert.equal(await markerCount(), markersBefore + 1, 'the claim found the committed marker');
      assert.equal(w.stats().committed, 101);
    });

    it('stores a multi-statement batch once when the cut swallows its COMMIT answer', async () => {
      const w = await start({ maxRowsPerStatement: 30 });
      const cut = proxy.cutOn('COMMIT', 'after-answer');
      const { err, result } = await send(w, rowsOf(0, 100)); // 4 INSERTs in one transaction
      await cut;
      assert.equal(err, null);
      assert.equal(result.committed, 100);
      assert.deepEqual(await stored(), range(0, 100));
      assert.equal(w.stats().lastError?.kind, 'connection');
    });

    // PostgreSQL sends COMMIT on its own, after the COPY, so no text tells one half's COMMIT from another's.
    if (dialect === 'mysql')
      it('keeps bisection exact when the COMMIT answer of a half is lost', async () => {
        const w = await start();
        // Row 99's label is too long: the whole batch fails, then the first half [0, 50) commits and
        // the cut swallows that answer (its text is the only one ending in row 49 and COMMIT).
        const rows = rowsOf(0, 100);
        rows[99].label = 'much too long';
        const cut = proxy.cutOn("'r49');\nCOMMIT", 'after-answer');
        const { err, result } = await send(w, rows);
        await cut;
        assert.equal(err, null);
        assert.equal(result.committed, 99);
        assert.deepEqual(
          result.rejected.map((r) => r.index),
          [99],
        );
        assert.deepEqual(await stored(), range(0, 99), 'each good row exactly once');
        assert.equal(w.stats().lastError?.kind, 'connection');
      });

    it('writes a batch again, once, when the cut came before the COMMIT reached the server', async () => {
      const w = await start();
      const markersBefore = await markerCount();
      const cut = proxy.cutOn(commitOfOneStatement, 'before-server');
      const { err, result } = await send(w, rowsOf(0, 100));
      await cut;
      assert.equal(err, null);
      assert.equal(result.committed, 100);
      assert.deepEqual(await stored(), range(0, 100), 'nothing lost, nothing twice');
      assert.equal(await markerCount(), markersBefore + 2, "the claimed token and the retry's own");
    });

    it('journals a batch whose COMMIT answer was lost while the server stays unreachable, then stores it once', async () => {
      const journalDir = makeTempDir('iotp-markers-journal-');
      try {
        const w = await start({ journalDir });
        // The answer is lost and the server then refuses connections for a while.
        const cut = proxy.cutOn(commitOfOneStatement, 'after-answer').then(() => proxy.cut());
        const first = await send(w, rowsOf(0, 100));
        await cut;
        assert.equal(first.result.journaled, 100, 'answered from the journal during the outage');
        const during = await send(w, rowsOf(100, 50));
        assert.equal(during.result.journaled, 50);
        proxy.restore();
        await until(async () => w.stats().journalRows === 0 && (await stored()).length >= 150, 'replayed');
        assert.deepEqual(await stored(), range(0, 150), 'each row exactly once');
      } finally {
        proxy.restore();
        await writer?.close(2000);
        writer = null;
        removeTempDir(journalDir);
      }
    });

    it('without markers the same cut stores the batch twice (the harness reproduces the problem)', async () => {
      const w = await start({ commitMarkers: false });
      // The autocommit INSERT (PostgreSQL: COPY) is the only statement; it ends with row 99.
      const cut = proxy.cutOn(dialect === 'mysql' ? "'r99')" : 'r99\n', 'after-answer');
      const { result } = await send(w, rowsOf(0, 100));
      await cut;
      assert.equal(result.committed, 100);
      assert.equal((await stored()).length, 200);
    });
  });
}
