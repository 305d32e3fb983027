/**
 * RowWriter.pendingSince(): when the oldest accepted, uncommitted row was accepted. The
 * connector's schedule waits for it (lib/arrivals.ts), so it must cover rows in memory, in the
 * retry queue, in the journal (this run's spills and an earlier run's leftovers), and be null
 * only once everything is committed.
 */
import assert from 'node:assert/strict';
import { FakeDatabase } from './fake-db';
import { writerFixture, makeWriter, range, until } from './helpers';

describe('writer engine: pendingSince (rows still on their way in)', () => {
  const t = writerFixture('iotp-pending-');

  it('is null while idle, the acceptance time of the oldest row during an outage, null again once committed', async () => {
    const db = new FakeDatabase();
    const writer = t.track(makeWriter(db, { maxInFlight: 1 }));
    await until(() => writer.currentState === 'ok', 'ping');
    assert.equal(writer.pendingSince(), null);
    db.down = true;
    const before = Date.now();
    const first = t.deliveries.send(writer, { n: 0 });
    const after = Date.now();
    await until(() => writer.currentState === 'down' || writer.stats().lastError !== null, 'outage noticed');
    await new Promise((resolve) => setTimeout(resolve, 20));
    const later = range(20, 1).map((n) => t.deliveries.send(writer, { n }));
    const since = writer.pendingSince();
    assert.ok(since !== null && since >= before && since <= after, `the first row's acceptance time (${before}..${after}), got ${since}`);
    db.down = false;
    await Promise.all([first, ...later]);
    await until(() => writer.pendingSince() === null, 'everything committed');
    assert.deepEqual(db.column('n'), range(21));
  });

  it('keeps holding for rows spilled to the journal after their deliveries were answered, until they are committed', async () => {
    const db = new FakeDatabase();
    db.down = true;
    const writer = t.track(makeWriter(db, { journalDir: t.dir, maxBufferedRows: 10, maxInFlight: 1, retryInitialMs: 20, retryMaxMs: 40 }));
    const before = Date.now();
    const outcomes = await Promise.all(range(50).map((n) => t.deliveries.send(writer, { n })));
    assert.ok(
      outcomes.every((o) => o.err === null && o.result.journaled === 1),
      'answered as journaled',
    );
    const since = writer.pendingSince();
    assert.ok(since !== null && since >= before && since <= Date.now(), `held since the first row was accepted, got ${since}`);
    db.down = false;
    await until(() => db.rows.length === 50, 'replayed');
    await until(() => writer.pendingSince() === null, 'nothing left in the journal');
  });

  it('holds since 0 for rows an earlier run left in the journal (when they arrived is unknown) until they are replayed', async () => {
    const db = new FakeDatabase();
    db.down = true;
    const first = makeWriter(db, { journalDir: t.dir, maxBufferedRows: 5, maxInFlight: 1 });
    await Promise.all(range(30).map((n) => t.deliveries.send(first, { n })));
    await first.close(200);
    const second = t.track(makeWriter(db, { journalDir: t.dir, maxInFlight: 1, retryInitialMs: 20, retryMaxMs: 40 }));
    assert.equal(second.pendingSince(), 0);
    db.down = false;
    await until(() => db.rows.length === 30, 'replayed by the next run');
    await until(() => second.pendingSince() === null, 'replay committed');
  });
});
