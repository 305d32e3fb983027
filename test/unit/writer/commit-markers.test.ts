/**
 * Commit markers in the writer, against the in-memory FakeDatabase: a batch whose commit answer a
 * cut swallowed is settled from its marker instead of written again; a batch cut before its
 * commit is written again; bisection, journal replay, outages, close and pruning keep that.
 */
import assert from 'node:assert/strict';
import { MARKER_RETENTION_MS, PRUNE_CHUNK_ROWS, commitTokenFloor, commitTokenTime, newCommitToken } from '../../../lib/writer';
import { FakeDatabase } from './fake-db';
import { writerFixture, makeWriter, range, rowsOf, until } from './helpers';

describe('writer engine: commit markers', () => {
  const t = writerFixture('iotp-markers-');

  describe('tokens', () => {
    it('start with their creation time, so they sort by age and a time gives a floor below every later token', () => {
      const at = Date.UTC(2026, 10, 23, 12, 0, 0, 123);
      const token = newCommitToken(at);
      assert.equal(token.length, 16);
      assert.equal(commitTokenTime(token), at);
      assert.ok(Buffer.compare(commitTokenFloor(at), token) <= 0);
      assert.ok(Buffer.compare(commitTokenFloor(at + 1), token) > 0);
      assert.ok(Buffer.compare(newCommitToken(at - 1), token) < 0);
      assert.notDeepEqual(newCommitToken(at), newCommitToken(at), 'the rest is random');
    });
  });

  describe('deciding after a cut', () => {
    it('settles a batch whose commit answer was lost as committed, without writing it again', async () => {
      const db = new FakeDatabase();
      const writer = t.track(makeWriter(db, { maxInFlight: 1 }));
      await until(() => writer.currentState === 'ok', 'ping');
      db.commitThenCut = 1;
      const { err, result } = await t.deliveries.send(writer, rowsOf(range(50)));
      assert.equal(err, null);
      assert.equal(result.committed, 50);
      assert.deepEqual(db.column('n'), range(50), 'each row once');
      assert.equal(db.claims, 1, 'the token was claimed once before a retry');
      assert.equal(db.markers.size, 1, 'the claim found the committed marker and added none');
      assert.equal(writer.stats().committed, 50);
      assert.equal(writer.stats().lastError?.kind, 'connection');
      const later = await t.deliveries.send(writer, rowsOf([50]));
      assert.equal(later.result.committed, 1);
      assert.deepEqual(db.column('n'), range(51));
    });

    it('writes a batch cut before its commit again, once', async () => {
      const db = new FakeDatabase();
      const writer = t.track(makeWriter(db, { maxInFlight: 1 }));
      await until(() => writer.currentState === 'ok', 'ping');
      db.failNext.push('connection'); // the rows' statement fails: nothing committed
      const { err, result } = await t.deliveries.send(writer, rowsOf(range(30)));
      assert.equal(err, null);
      assert.equal(result.committed, 30);
      assert.deepEqual(db.column('n'), range(30));
      assert.equal(db.claims, 1);
      assert.equal(db.markers.size, 2, "the claimed token and the retry's new one");
    });

    it("does not mistake its own claim, whose answer a second cut swallowed, for the batch's commit", async () => {
      const db = new FakeDatabase();
      const writer = t.track(makeWriter(db, { maxInFlight: 1 }));
      await until(() => writer.currentState === 'ok', 'ping');
      db.failNext.push('connection'); // the batch never committed...
      db.claimThenCut = 1; // ...and the first claim committed unheard
      const { err, result } = await t.deliveries.send(writer, rowsOf(range(30)));
      assert.equal(err, null);
      assert.equal(result.committed, 30);
      assert.deepEqual(db.column('n'), range(30), 'written (once), not settled from the claim');
      assert.equal(db.claims, 2);
    });

    it('does not claim after a deadlock or a data error: the server answered, so nothing is ambiguous', async () => {
      const db = new FakeDatabase({ badRow: (row) => (row.n === 3 ? 'Data too long' : null) });
      const writer = t.track(makeWriter(db));
      await until(() => writer.currentState === 'ok', 'ping');
      db.failNext.push('transient');
      const { result } = await t.deliveries.send(writer, rowsOf(range(10)));
      assert.equal(result.committed, 9);
      assert.equal(result.rejected.length, 1);
      assert.equal(db.claims, 0);
    });

    it("keeps bisection exact when a half's commit answer is lost", async () => {
      const db = new FakeDatabase({ badRow: (row) => (row.n === 77 ? 'Data too long' : null) });
      const writer = t.track(makeWriter(db, { batchSize: 200, maxInFlight: 1 }));
      await until(() => writer.currentState === 'ok', 'ping');
      // The whole range fails on row 77; the next attempt (the first half, with row 77) fails too;
      // the one after that commits and its answer is lost.
      let atomics = 0;
      const atomic = db.atomic.bind(db);
      db.atomic = async (statements) => {
        if (++atomics === 3) db.commitThenCut = 1;
        return atomic(statements);
      };
      const { err, result } = await t.deliveries.send(writer, rowsOf(range(200)));
      assert.equal(err, null);
      assert.equal(result.committed, 199);
      assert.deepEqual(
        result.rejected.map((r) => r.index),
        [77],
      );
      assert.deepEqual(
        db.column('n'),
        range(200).filter((n) => n !== 77),
        'each good row once, in order',
      );
      assert.equal(db.claims, 1);
    });

    it('journals a batch whose commit is unknown during a longer outage (callers answered) and settles it from its marker at replay', async () => {
      const db = new FakeDatabase();
      const writer = t.track(makeWriter(db, { maxInFlight: 1, journalDir: t.dir, retryInitialMs: 10, retryMaxMs: 20 }));
      await until(() => writer.currentState === 'ok', 'ping');
      db.commitThenCut = 1;
      db.downAfterCut = true;
      const cut = await t.deliveries.send(writer, rowsOf(range(20)));
      assert.equal(cut.result.journaled, 20, 'acknowledged from the journal, not held until the database answers');
      const during = await Promise.all(range(30, 20).map((n) => t.deliveries.send(writer, { n, label: 'later' })));
      assert.ok(
        during.every((o) => o.result.journaled === 1),
        'newer rows are journaled behind it',
      );
      await new Promise((resolve) => setTimeout(resolve, 60)); // several failed claims
      db.down = false;
      await until(() => writer.stats().journalRows === 0, 'journal replayed');
      assert.deepEqual(db.column('n'), range(50), 'each row once, in order');
      assert.ok(db.claims >= 1);
    });

    it('settles journal rows replayed under a lost commit answer, so they are not replayed again', async () => {
      const db = new FakeDatabase();
      db.down = true;
      const writer = t.track(makeWriter(db, { journalDir: t.dir, maxInFlight: 1, retryInitialMs: 10, retryMaxMs: 20 }));
      await until(() => writer.currentState === 'down', 'down');
      const outcomes = await Promise.all(range(40).map((n) => t.deliveries.send(writer, { n })));
      assert.ok(outcomes.every((o) => o.result.journaled === 1));
      db.commitThenCut = 1;
      db.down = false;
      await until(() => writer.stats().journalRows === 0, 'journal drained');
      assert.deepEqual(db.column('n'), range(40));
      assert.equal(db.claims, 1);
    });

    it('without a journal, holds a batch whose commit is unknown and settles it at close when the database answers', async () => {
      const db = new FakeDatabase();
      const writer = makeWriter(db, { maxInFlight: 1, retryInitialMs: 60_000, retryMaxMs: 60_000 });
      await until(() => writer.currentState === 'ok', 'ping');
      db.commitThenCut = 1;
      const pending = t.deliveries.send(writer, rowsOf(range(10)));
      await until(() => writer.currentState === 'down', 'down');
      const report = await writer.close(2000);
      assert.equal((await pending).result.committed, 10);
      assert.equal(report.failed, 0);
      assert.deepEqual(db.column('n'), range(10));
    });

    it('settles journaled rows at close when the claim finds their commit, so the next start does not replay them', async () => {
      const db = new FakeDatabase();
      const writer = makeWriter(db, { maxInFlight: 1, journalDir: t.dir, retryInitialMs: 60_000, retryMaxMs: 60_000 });
      await until(() => writer.currentState === 'ok', 'ping');
      db.commitThenCut = 1;
      const pending = await t.deliveries.send(writer, rowsOf(range(10)));
      assert.equal(pending.result.journaled, 10);
      const report = await writer.close(2000);
      assert.equal(report.journalRows, 0);
      const next = t.track(makeWriter(db, { journalDir: t.dir }));
      await t.deliveries.send(next, rowsOf([10]));
      assert.deepEqual(db.column('n'), range(11), 'nothing replayed twice');
    });

    it('warns at close when the claim gets no answer, and leaves the rows in the journal for the next start', async () => {
      const db = new FakeDatabase();
      const warnings: string[] = [];
      const writer = makeWriter(db, {
        maxInFlight: 1,
        journalDir: t.dir,
        retryInitialMs: 60_000,
        retryMaxMs: 60_000,
        warn: (m) => warnings.push(m),
      });
      await until(() => writer.currentState === 'ok', 'ping');
      db.commitThenCut = 1;
      db.downAfterCut = true;
      const pending = await t.deliveries.send(writer, rowsOf(range(10)));
      assert.equal(pending.result.journaled, 10);
      const report = await writer.close(500);
      assert.equal(report.journalRows, 10);
      assert.ok(
        warnings.some((w) => /10 journaled rows whose commit is unknown/.test(w)),
        warnings.join('\n'),
      );
    });
  });

  describe('where markers are used', () => {
    it('puts marker and rows in one atomic call per batch on MySQL', async () => {
      const db = new FakeDatabase();
      const writer = t.track(makeWriter(db, { batchSize: 100, maxLatencyMs: 60_000, maxInFlight: 1, maxRowsPerStatement: 40 }));
      await t.deliveries.send(writer, rowsOf(range(100)));
      assert.deepEqual(db.statements, [40, 40, 20]);
      assert.equal(db.transactions, 1);
      assert.equal(db.markers.size, 1);
    });

    it('uses none on SQLite, nor when switched off', async () => {
      for (const db of [new FakeDatabase({ dialect: 'sqlite' }), new FakeDatabase()]) {
        const writer = t.track(makeWriter(db, db.dialect === 'mysql' ? { commitMarkers: false } : {}));
        await t.deliveries.send(writer, rowsOf(range(10)));
        assert.deepEqual(db.column('n'), range(10));
        assert.equal(db.markers.size, 0);
        assert.equal(db.claims + db.prunes, 0);
      }
    });

    it('uses none by default with the ignore and upsert policies (their unique key makes a retry idempotent), unless asked', async () => {
      const quiet = new FakeDatabase({ uniqueKey: ['n'] });
      const ignoring = t.track(makeWriter(quiet, { conflict: 'ignore' }));
      const upserting = new FakeDatabase({ uniqueKey: ['n'] });
      const upsertingWriter = t.track(makeWriter(upserting, { conflict: 'upsert', keyColumns: ['n'] }));
      const asked = new FakeDatabase({ uniqueKey: ['n'] });
      const forced = t.track(makeWriter(asked, { conflict: 'ignore', commitMarkers: true }));
      for (const [db, writer] of [
        [quiet, ignoring],
        [upserting, upsertingWriter],
        [asked, forced],
      ] as const) {
        await t.deliveries.send(writer, rowsOf(range(10)));
        assert.deepEqual(db.column('n'), range(10));
      }
      assert.equal(quiet.markers.size + upserting.markers.size, 0);
      assert.equal(asked.markers.size, 1);
    });

    it('warns once and writes without markers when the table can be neither created nor read', async () => {
      const db = new FakeDatabase();
      db.markersForbidden = true;
      const warnings: string[] = [];
      const writer = t.track(makeWriter(db, { batchSize: 10, maxLatencyMs: 1, warn: (m) => warnings.push(m) }));
      for (const n of range(3)) await t.deliveries.send(writer, rowsOf(range(10, n * 10)));
      assert.deepEqual(db.column('n'), range(30));
      assert.equal(warnings.filter((w) => /commit markers are off/.test(w)).length, 1, warnings.join('\n'));
    });
  });

  describe('pruning', () => {
    it('deletes markers older than the retention in chunks, keeps newer ones, and not again within the hour', async () => {
      const db = new FakeDatabase();
      const old = Date.now() - MARKER_RETENTION_MS - 60_000;
      const oldCount = 2 * PRUNE_CHUNK_ROWS + 500;
      for (let i = 0; i < oldCount; i++) db.markers.add(newCommitToken(old + i).toString('hex'));
      const recent = newCommitToken(Date.now() - MARKER_RETENTION_MS + 60_000).toString('hex');
      db.markers.add(recent);
      const writer = t.track(makeWriter(db, { maxLatencyMs: 1 }));
      await t.deliveries.send(writer, rowsOf(range(5)));
      await until(() => db.markers.size === 2, 'old markers pruned');
      assert.ok(db.markers.has(recent));
      assert.equal(db.prunes, 3, 'two full chunks and the rest');
      await t.deliveries.send(writer, rowsOf(range(5, 5)));
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(db.prunes, 3, 'at most once per interval');
    });
  });
});
