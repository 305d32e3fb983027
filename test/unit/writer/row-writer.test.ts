import assert from 'node:assert/strict';
import { appendFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RowWriter, WriterState } from '../../../lib/writer';
import { FakeDatabase } from './fake-db';
import { writerFixture, makeWriter, range, rowsOf, until } from './helpers';

describe('writer engine: RowWriter', () => {
  const t = writerFixture('iotp-writer-');

  describe('batching', () => {
    it('sends a batch as soon as batchSize rows wait, keeping the rest for later', async () => {
      const db = new FakeDatabase();
      const writer = t.track(makeWriter(db, { batchSize: 100, maxLatencyMs: 60_000, maxInFlight: 1 }));
      await until(() => writer.currentState === 'ok', 'ping');
      const pending = range(250).map((n) => t.deliveries.send(writer, { n, label: `r${n}` }));
      await until(() => db.rows.length === 200, 'two full batches');
      assert.deepEqual(db.statements, [100, 100]);
      assert.equal(writer.stats().backlogRows, 50);
      const report = await writer.close(1000);
      assert.equal(report.committed, 50);
      assert.deepEqual(db.statements, [100, 100, 50]);
      const outcomes = await Promise.all(pending);
      assert.ok(outcomes.every((o) => o.err === null && o.result.committed === 1));
      assert.deepEqual(db.column('n'), range(250));
      t.deliveries.assertAllAnsweredOnce();
    });

    it('sends a partial batch once the oldest row waited maxLatencyMs, in one statement', async () => {
      const db = new FakeDatabase();
      const writer = t.track(makeWriter(db, { batchSize: 500, maxLatencyMs: 15, commitMarkers: false }));
      const outcomes = await Promise.all([1, 2, 3].map((n) => t.deliveries.send(writer, { n, label: 'x' })));
      assert.deepEqual(
        outcomes.map((o) => o.result.committed),
        [1, 1, 1],
      );
      assert.deepEqual(db.statements, [3]);
      assert.equal(db.transactions, 0); // a single statement needs no explicit transaction
    });

    it('with flushWhenIdle, sends at once while no batch runs and batches what arrives meanwhile', async () => {
      const db = new FakeDatabase({ latencyMs: 5 });
      const writer = t.track(makeWriter(db, { batchSize: 500, maxLatencyMs: 60_000, maxInFlight: 1, flushWhenIdle: true }));
      await until(() => writer.currentState === 'ok', 'ping');
      const first = t.deliveries.send(writer, { n: 0 });
      const rest = range(50, 1).map((n) => t.deliveries.send(writer, { n }));
      await Promise.all([first, ...rest]);
      assert.deepEqual(db.statements, [1, 50]);
      assert.deepEqual(db.column('n'), range(51));
    });

    it('splits a batch into statements by parameter count, inside one transaction', async () => {
      const db = new FakeDatabase();
      const writer = t.track(makeWriter(db, { batchSize: 500, maxRowsPerStatement: 100 }));
      const { result } = await t.deliveries.send(writer, rowsOf(range(250)));
      assert.equal(result.committed, 250);
      assert.deepEqual(db.statements, [100, 100, 50]);
      assert.equal(db.transactions, 1);
      assert.deepEqual(db.column('n'), range(250));
    });

    it('keeps arrival order across many deliveries and batches, with mapping and NULLs', async () => {
      const db = new FakeDatabase({ latencyMs: 1 });
      const writer = t.track(
        makeWriter(db, { batchSize: 64, maxLatencyMs: 5, maxInFlight: 1, columns: { n: 'payload.n', label: 'meta.label' } }),
      );
      const sends = range(1000).map((n) =>
        t.deliveries.send(writer, n % 3 === 0 ? { payload: { n } } : { payload: { n }, meta: { label: `l${n}` } }),
      );
      await Promise.all(sends);
      assert.deepEqual(db.column('n'), range(1000));
      assert.equal(db.rows[0].label, null);
      assert.equal(db.rows[1].label, 'l1');
      assert.ok(db.statements.length > 1 && db.statements.every((count) => count <= 64));
      t.deliveries.assertAllAnsweredOnce();
    });

    it('never runs more than maxInFlight batches at once', async () => {
      const db = new FakeDatabase({ latencyMs: 3 });
      const writer = t.track(makeWriter(db, { batchSize: 10, maxInFlight: 2 }));
      await until(() => writer.currentState === 'ok', 'ping');
      await Promise.all(range(200).map((n) => t.deliveries.send(writer, { n })));
      assert.equal(db.maxConcurrent, 2);
    });
  });

  describe('bad input and data errors', () => {
    it('rejects unmappable rows up front and writes the others of the delivery', async () => {
      const db = new FakeDatabase();
      const writer = t.track(makeWriter(db));
      const { err, result } = await t.deliveries.send(writer, [{ n: 1 }, null, { n: NaN }, 'text', { n: 2 }]);
      assert.equal(err, null);
      assert.equal(result.committed, 2);
      assert.deepEqual(
        result.rejected.map((r) => [r.index, r.code]),
        [
          [1, 'WRITER_BAD_ROW'],
          [2, 'WRITER_BAD_ROW'],
          [3, 'WRITER_BAD_ROW'],
        ],
      );
      assert.equal(writer.stats().rejected, 3);
      const empty = await t.deliveries.send(writer, []);
      assert.deepEqual(empty.result, { committed: 0, journaled: 0, rejected: [], dropped: 0, failed: 0 });
    });

    it('takes one delivery larger than the whole buffer budget, in batches, answering it once', async () => {
      const db = new FakeDatabase();
      const writer = t.track(makeWriter(db, { batchSize: 500, maxBufferedRows: 1000 }));
      const { err, result } = await t.deliveries.send(writer, rowsOf(range(20_000)));
      assert.equal(err, null);
      assert.equal(result.committed, 20_000);
      assert.equal(db.statements.length, 40);
      assert.deepEqual(db.column('n'), range(20_000));
      t.deliveries.assertAllAnsweredOnce();
    });

    it('isolates one bad row in 500 by bisection: 499 commit, the bad one is reported with the reason', async () => {
      const db = new FakeDatabase({ badRow: (row) => (row.n === 137 ? "Data too long for column 'label'" : null) });
      const writer = t.track(makeWriter(db, { batchSize: 500 }));
      const { err, result } = await t.deliveries.send(writer, rowsOf(range(500)));
      assert.equal(err, null);
      assert.equal(result.committed, 499);
      assert.equal(result.rejected.length, 1);
      assert.equal(result.rejected[0].index, 137);
      assert.deepEqual(result.rejected[0].row, { n: 137, label: 'r137' });
      assert.match(result.rejected[0].reason, /Data too long/);
      assert.equal(result.rejected[0].code, 'ER_DATA_TOO_LONG');
      assert.deepEqual(
        db.column('n'),
        range(500).filter((n) => n !== 137),
      );
      assert.ok(db.attempts <= 2 + 2 * Math.ceil(Math.log2(500)), `${db.attempts} statements`);
    });

    it('isolates several bad rows across deliveries of one batch', async () => {
      const bad = new Set([0, 7, 8, 250, 499]);
      const db = new FakeDatabase({ badRow: (row) => (bad.has(row.n as number) ? 'NOT NULL violated' : null) });
      const writer = t.track(makeWriter(db, { batchSize: 500, maxLatencyMs: 20 }));
      const outcomes = await Promise.all(range(5).map((d) => t.deliveries.send(writer, rowsOf(range(100, d * 100)))));
      const rejected = outcomes.flatMap((o, d) => o.result.rejected.map((r) => d * 100 + r.index));
      assert.deepEqual(rejected, [...bad]);
      assert.equal(
        outcomes.reduce((sum, o) => sum + o.result.committed, 0),
        495,
      );
      assert.deepEqual(
        db.column('n'),
        range(500).filter((n) => !bad.has(n)),
      );
      assert.equal(writer.stats().rejected, 5);
    });

    it('retries a transient error (deadlock) with the same batch, writing each row once', async () => {
      const db = new FakeDatabase();
      const writer = t.track(makeWriter(db));
      await until(() => writer.currentState === 'ok', 'ping');
      db.failNext.push('transient', 'transient');
      const { err, result } = await t.deliveries.send(writer, rowsOf(range(20)));
      assert.equal(err, null);
      assert.equal(result.committed, 20);
      assert.deepEqual(db.column('n'), range(20));
      assert.equal(db.attempts, 3);
      assert.equal(writer.stats().lastError?.kind, 'transient');
      assert.equal(writer.currentState, 'ok');
    });

    it('fails the deliveries of a batch hitting a fatal error, without retrying it', async () => {
      const db = new FakeDatabase();
      const writer = t.track(makeWriter(db, { maxLatencyMs: 5 }));
      await until(() => writer.currentState === 'ok', 'ping');
      db.failNext.push('fatal');
      const [a, b] = await Promise.all([t.deliveries.send(writer, { n: 1 }), t.deliveries.send(writer, rowsOf([2, 3]))]);
      assert.match(a.err?.message ?? '', /injected fatal/);
      assert.equal(b.result.failed, 2);
      assert.equal(db.attempts, 1);
      await new Promise((resolve) => setTimeout(resolve, 30));
      assert.equal(db.attempts, 1, 'a fatal batch must not be retried');
      const later = await t.deliveries.send(writer, { n: 4 });
      assert.equal(later.result.committed, 1);
      assert.deepEqual(db.column('n'), [4]);
      assert.equal(writer.stats().failed, 3);
    });
  });

  describe('outages and the journal', () => {
    it('an unwritable journal during an outage: rows wait in memory unanswered (never failed), then commit in order', async () => {
      // Found by the soak suite: the failed journal write used to fail the deliveries, which an
      // at-least-once source acknowledges: every row of the outage was lost.
      const db = new FakeDatabase();
      db.down = true;
      const journalDir = join(t.dir, 'journal');
      const writer = t.track(makeWriter(db, { journalDir, maxBufferedRows: 20, maxInFlight: 1 }));
      await until(() => writer.currentState === 'down', 'down');
      // The directory replaced by a file (permissions do not stop root).
      renameSync(journalDir, `${journalDir}.aside`);
      writeFileSync(journalDir, 'not a directory');
      const sends = range(100).map((n) => t.deliveries.send(writer, { n }));
      let answered = 0;
      void Promise.all(sends.map((p) => p.then(() => answered++)));
      await until(() => writer.stats().lastError?.kind === 'journal', 'the journal failure reported');
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(answered, 0, 'neither journaled nor committed: nothing answered, nothing failed');
      db.down = false;
      const outcomes = await Promise.all(sends);
      assert.ok(
        outcomes.every((o) => o.err === null && o.result.committed === 1),
        JSON.stringify(outcomes.find((o) => o.err)),
      );
      assert.deepEqual(db.column('n'), range(100));
      t.deliveries.assertAllAnsweredOnce();
    });

    it('holds rows in memory during an outage without a journal, then commits them in order', async () => {
      const db = new FakeDatabase();
      db.down = true;
      const states: WriterState[] = [];
      const writer = t.track(makeWriter(db, { maxInFlight: 1 }));
      writer.on('state', (state: WriterState) => states.push(state));
      const sends = range(300).map((n) => t.deliveries.send(writer, { n }));
      await until(() => writer.currentState === 'down', 'down');
      let answered = 0;
      void Promise.all(sends.map((p) => p.then(() => answered++)));
      await new Promise((resolve) => setTimeout(resolve, 30));
      assert.equal(answered, 0, 'nothing is safe yet, so nothing is acknowledged');
      assert.equal(writer.stats().lastError?.kind, 'connection');
      db.down = false;
      await Promise.all(sends);
      assert.deepEqual(db.column('n'), range(300));
      assert.equal(writer.currentState, 'ok');
      assert.ok(states.includes('down') && states.at(-1) === 'ok', states.join(','));
    });

    it('journals rows during an outage (callbacks after fsync), then replays them in order before newer rows', async () => {
      const db = new FakeDatabase();
      db.down = true;
      const writer = t.track(
        makeWriter(db, { journalDir: t.dir, maxBufferedRows: 50, maxInFlight: 1, retryInitialMs: 20, retryMaxMs: 40 }),
      );
      const early = range(40).map((n) => t.deliveries.send(writer, { n })); // in memory while connecting
      await until(
        () => writer.currentState === 'down' || (writer.currentState === 'connecting' && writer.stats().lastError !== null),
        'outage noticed',
      );
      const late = range(200, 40).map((n) => t.deliveries.send(writer, { n }));
      const outcomes = await Promise.all([...early, ...late]);
      assert.ok(outcomes.every((o) => o.err === null && o.result.journaled === 1 && o.result.committed === 0));
      assert.equal(db.rows.length, 0);
      assert.equal(writer.stats().journalRows, 240);
      assert.ok(readdirSync(t.dir).length > 0);
      db.down = false;
      const newer = t.deliveries.send(writer, { n: 240 });
      await until(() => db.rows.length === 241, 'replay');
      assert.equal((await newer).result.committed + (await newer).result.journaled, 1);
      assert.deepEqual(db.column('n'), range(241));
      await until(() => readdirSync(t.dir).length === 0, 'segments deleted once committed');
      assert.equal(writer.stats().journalRows, 0);
      assert.equal(writer.stats().replayed >= 240, true);
      t.deliveries.assertAllAnsweredOnce();
    });

    it('spills to the journal when memory is full while the database is slow, keeping order', async () => {
      const db = new FakeDatabase({ latencyMs: 4 });
      const writer = t.track(makeWriter(db, { journalDir: t.dir, maxBufferedRows: 20, batchSize: 10, maxInFlight: 1 }));
      await until(() => writer.currentState === 'ok', 'ping');
      const outcomes = await Promise.all(range(300).map((n) => t.deliveries.send(writer, { n })));
      const journaled = outcomes.filter((o) => o.result.journaled === 1).length;
      assert.ok(journaled > 0, 'some rows spilled');
      await until(() => db.rows.length === 300, 'all committed');
      assert.deepEqual(db.column('n'), range(300));
      assert.equal(writer.stats().journaled, journaled);
    });

    it('replays a journal left by an earlier run on start, before new rows', async () => {
      const db = new FakeDatabase();
      db.down = true;
      const first = makeWriter(db, { journalDir: t.dir });
      await until(() => first.currentState === 'down', 'down');
      const outcomes = await Promise.all(range(100).map((n) => t.deliveries.send(first, { n })));
      assert.ok(outcomes.every((o) => o.result.journaled === 1));
      const report = await first.close(100);
      assert.equal(report.journalRows, 100);
      db.down = false;
      const second = t.track(makeWriter(db, { journalDir: t.dir }));
      const fresh = t.deliveries.send(second, { n: 100 });
      await until(() => db.rows.length === 101, 'replay of the leftover journal');
      await fresh;
      assert.deepEqual(db.column('n'), range(101));
      await until(() => readdirSync(t.dir).length === 0, 'journal emptied');
    });

    it('skips a torn last line of a leftover segment with a warning and replays the rest', async () => {
      const db = new FakeDatabase();
      db.down = true;
      const first = makeWriter(db, { journalDir: t.dir });
      await until(() => first.currentState === 'down', 'down');
      await Promise.all(range(10).map((n) => t.deliveries.send(first, { n })));
      await first.close(100);
      const segments = readdirSync(t.dir);
      appendFileSync(join(t.dir, segments[segments.length - 1]), '[10,"torn');
      db.down = false;
      const warnings: string[] = [];
      const second = t.track(makeWriter(db, { journalDir: t.dir, warn: (m) => warnings.push(m) }));
      await until(() => db.rows.length === 10 && readdirSync(t.dir).length === 0, 'replay');
      assert.deepEqual(db.column('n'), range(10));
      assert.match(warnings.join('\n'), /incomplete last line/);
      assert.equal(second.stats().journalCorruptLines, 1);
    });

    it('keeps journal rows the database refuses fatally on disk and backs off (they were acknowledged)', async () => {
      const db = new FakeDatabase();
      db.down = true;
      const first = makeWriter(db, { journalDir: t.dir });
      await until(() => first.currentState === 'down', 'down');
      await Promise.all(range(5).map((n) => t.deliveries.send(first, { n })));
      await first.close(100);
      db.down = false;
      db.failNext.push('fatal');
      const second = t.track(makeWriter(db, { journalDir: t.dir, retryMaxMs: 30 }));
      await until(() => db.rows.length === 5, 'replayed after the fatal error went away');
      assert.deepEqual(db.column('n'), range(5));
      assert.equal(second.stats().lastError?.kind, 'fatal');
    });
  });

  describe('overflow policies', () => {
    async function downWriter(db: FakeDatabase, overflow: 'backpressure' | 'reject-new' | 'drop-oldest'): Promise<RowWriter> {
      db.down = true;
      const writer = t.track(makeWriter(db, { overflow, maxBufferedRows: 10, maxInFlight: 1, retryInitialMs: 30, retryMaxMs: 30 }));
      await until(() => writer.currentState === 'down', 'down');
      return writer;
    }

    it('backpressure (default): holds callbacks beyond the budget and counts it', async () => {
      const db = new FakeDatabase();
      const writer = await downWriter(db, 'backpressure');
      const sends = range(30).map((n) => t.deliveries.send(writer, { n }));
      assert.equal(writer.stats().overflow.heldRows, 20);
      db.down = false;
      const outcomes = await Promise.all(sends);
      assert.ok(outcomes.every((o) => o.err === null && o.result.committed === 1));
      assert.deepEqual(db.column('n'), range(30));
    });

    it('reject-new: refuses deliveries beyond the budget with WRITER_OVERFLOW', async () => {
      const db = new FakeDatabase();
      const writer = await downWriter(db, 'reject-new');
      const sends = range(30).map((n) => t.deliveries.send(writer, { n }));
      const refused = await Promise.all(sends.slice(10));
      assert.ok(refused.every((o) => (o.err as { code?: string }).code === 'WRITER_OVERFLOW' && o.result.failed === 1));
      assert.equal(writer.stats().overflow.rejectedRows, 20);
      db.down = false;
      await Promise.all(sends.slice(0, 10));
      assert.deepEqual(db.column('n'), range(10));
    });

    it('drop-oldest: drops the oldest waiting deliveries, reporting each', async () => {
      const db = new FakeDatabase();
      const writer = await downWriter(db, 'drop-oldest');
      const sends = range(30).map((n) => t.deliveries.send(writer, { n }));
      const dropped = await Promise.all(sends.slice(0, 20));
      assert.ok(dropped.every((o) => (o.err as { code?: string }).code === 'WRITER_DROPPED' && o.result.dropped === 1));
      assert.equal(writer.stats().overflow.droppedRows, 20);
      db.down = false;
      await Promise.all(sends.slice(20));
      assert.deepEqual(db.column('n'), range(10, 20));
      t.deliveries.assertAllAnsweredOnce();
    });

    it('applies the policy once the journal is full too', async () => {
      const db = new FakeDatabase();
      db.down = true;
      const writer = t.track(makeWriter(db, { journalDir: t.dir, maxJournalBytes: 2000, overflow: 'reject-new', maxBufferedRows: 5 }));
      await until(() => writer.currentState === 'down', 'down');
      const outcomes = await Promise.all(range(100).map((n) => t.deliveries.send(writer, { n, label: 'x'.repeat(20) })));
      const journaled = outcomes.filter((o) => o.result.journaled === 1).length;
      const refused = outcomes.filter((o) => (o.err as { code?: string } | null)?.code === 'WRITER_OVERFLOW').length;
      assert.ok(journaled > 0 && refused > 0 && journaled + refused === 100, `${journaled} journaled, ${refused} refused`);
      assert.ok(writer.stats().journalBytes <= 2000);
      db.down = false;
      await until(() => db.rows.length === journaled, 'journal replayed');
      assert.deepEqual(db.column('n'), range(journaled));
    });
  });

  describe('close', () => {
    it('flushes waiting rows at once instead of waiting for the latency timer', async () => {
      const db = new FakeDatabase();
      const writer = makeWriter(db, { maxLatencyMs: 60_000 });
      const sends = range(10).map((n) => t.deliveries.send(writer, { n }));
      const report = await writer.close(2000);
      assert.equal(report.committed, 10);
      assert.equal(
        (await Promise.all(sends)).every((o) => o.result.committed === 1),
        true,
      );
      const after = await t.deliveries.send(writer, { n: 99 });
      assert.equal((after.err as { code?: string }).code, 'WRITER_CLOSED');
    });

    it('journals what is still pending at the timeout (database hanging), for the next start', async () => {
      const db = new FakeDatabase();
      const writer = makeWriter(db, { journalDir: t.dir, maxLatencyMs: 1 });
      await until(() => writer.currentState === 'ok', 'ping');
      db.hang = true;
      const sends = range(50).map((n) => t.deliveries.send(writer, { n }));
      const report = await writer.close(50);
      assert.equal(report.journaled, 50);
      const outcomes = await Promise.all(sends);
      assert.ok(outcomes.every((o) => o.result.journaled === 1));
      const healthy = new FakeDatabase();
      const next = t.track(makeWriter(healthy, { journalDir: t.dir }));
      await until(() => healthy.rows.length === 50, 'replay after restart');
      assert.deepEqual(healthy.column('n'), range(50));
      assert.equal(next.stats().replayed, 50);
    });

    it('without a journal, fails what could not be committed (so the source redelivers)', async () => {
      const db = new FakeDatabase();
      db.down = true;
      const writer = makeWriter(db);
      const sends = range(5).map((n) => t.deliveries.send(writer, { n }));
      const report = await writer.close(100);
      assert.equal(report.failed, 5);
      const outcomes = await Promise.all(sends);
      assert.ok(outcomes.every((o) => (o.err as { code?: string }).code === 'WRITER_CLOSED'));
    });
  });

  describe('configuration and status', () => {
    it('refuses bad options with WRITER_CONFIG', () => {
      const db = new FakeDatabase();
      for (const bad of [
        { table: '' },
        { table: 'x'.repeat(65) },
        { batchSize: 0 },
        { maxLatencyMs: -1 },
        { overflow: 'maybe' as never },
        { columns: [] },
        { conflict: 'upsert' as const },
        { conflict: 'maybe' as never },
        { keyColumns: ['nope'] },
      ]) {
        assert.throws(() => makeWriter(db, bad), { code: 'WRITER_CONFIG' }, JSON.stringify(bad));
      }
    });

    it('reports state, totals and a smoothed rate; a throwing callback does not break the engine', async () => {
      const db = new FakeDatabase();
      const writer = t.track(makeWriter(db));
      writer.write({ n: 1 }, () => {
        throw new Error('user bug');
      });
      await t.deliveries.send(writer, rowsOf(range(99, 2)));
      const stats = writer.stats();
      assert.equal(stats.state, 'ok');
      assert.equal(stats.committed, 100);
      assert.ok(stats.rowsPerSecond > 0);
      assert.equal(stats.backlogRows, 0);
      assert.equal(stats.lastError, null);
    });
  });
});
