import assert from 'node:assert/strict';
import { compareSqlValues, keyOrder } from '../../../lib/writer/key-order';
import { FakeDatabase } from './fake-db';
import { makeWriter, writerFixture } from './helpers';

describe('writer engine: key order', () => {
  const t = writerFixture('iotp-writer-order-');

  it('orders values one fixed way: NULL, numbers by value, text by code units, dates, buffers', () => {
    const values = [Buffer.from('b'), 'b', new Date(2), 2n, null, 'a', 1.5, new Date(1), false, Buffer.from('a'), 10];
    const sorted = [...values].sort(compareSqlValues);
    assert.deepEqual(sorted, [null, false, 1.5, 2n, 10, 'a', 'b', new Date(1), new Date(2), Buffer.from('a'), Buffer.from('b')]);
    assert.equal(
      compareSqlValues('2024-06-14 16:01:00.000000', '2024-06-14 16:00:59.999999') > 0,
      true,
      'SQL timestamps sort chronologically',
    );
  });

  it('compares rows by the key columns in key order, whatever the column order', () => {
    const compare = keyOrder(['value', 'Timestamp', 'sensor_id', 'instance'], ['sensor_id', 'timestamp', 'instance']);
    const rows = [
      [1, 't2', 2, 'a'],
      [2, 't1', 2, 'b'],
      [3, 't1', 2, 'a'],
      [4, 't9', 1, 'z'],
    ];
    assert.deepEqual(
      [...rows].sort(compare).map((r) => r[0]),
      [4, 3, 2, 1],
    );
    assert.throws(() => keyOrder(['a'], ['b']), /key column "b"/);
  });

  it('an upsert batch goes out sorted by key on MySQL; equal keys keep their order, so the later one wins', async () => {
    const db = new FakeDatabase({ uniqueKey: ['n'] });
    const writer = t.track(makeWriter(db, { conflict: 'upsert', keyColumns: ['n'], batchSize: 10, maxLatencyMs: 5 }));
    const { result } = await t.deliveries.send(writer, [{ n: 3, label: 'first' }, { n: 1 }, { n: 3, label: 'second' }, { n: 2 }]);
    assert.equal(result.committed, 4);
    assert.deepEqual(db.statements, [4]);
    assert.deepEqual(
      db.rows.map((r) => [r.n, r.label]),
      [
        [1, null],
        [2, null],
        [3, 'second'],
      ],
    );
  });

  it('keeps arrival order where order cannot deadlock (SQLite), for plain inserts, and when switched off', async () => {
    for (const options of [
      { db: new FakeDatabase({ dialect: 'sqlite', uniqueKey: ['n'] }), conflict: 'upsert' as const, keyColumns: ['n'] },
      { db: new FakeDatabase(), conflict: 'error' as const, keyColumns: ['n'] },
      { db: new FakeDatabase({ uniqueKey: ['n'] }), conflict: 'upsert' as const, keyColumns: ['n'], sortByKey: false },
    ]) {
      const { db, ...rest } = options;
      const writer = t.track(makeWriter(db, { ...rest, batchSize: 10, maxLatencyMs: 5, commitMarkers: false }));
      await t.deliveries.send(writer, [{ n: 3 }, { n: 1 }, { n: 2 }]);
      assert.deepEqual(
        db.rows.map((r) => r.n),
        [3, 1, 2],
        JSON.stringify(rest),
      );
    }
  });
});
