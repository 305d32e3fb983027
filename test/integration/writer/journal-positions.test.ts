/**
 * Journal positions on every dialect: a batch records the receive-journal positions of the
 * deliveries it completes in the same transaction as their rows, and a replayed delivery whose
 * position is recorded is answered as committed without writing its rows again (a keyless table
 * stays free of duplicates after our own crash).
 */
import assert from 'node:assert/strict';
import { RowWriter, type DeliveryResult } from '../../../lib/writer';
import { JOURNAL_POSITION_TABLE, parsePosition, positionRanges } from '../../../lib/writer/journal-positions';
import { ddl, describeEachDialect } from '../db/harness';

function write(writer: RowWriter, rows: unknown, origin?: { position?: unknown; replayed?: boolean }): Promise<DeliveryResult> {
  return new Promise((resolve, reject) => writer.write(rows, (err, result) => (err ? reject(err) : resolve(result)), origin));
}

async function count(
  db: { query(sql: string, values?: never[]): Promise<{ rows: Record<string, unknown>[] }> },
  sql: string,
): Promise<number> {
  const { rows } = await db.query(sql);
  return Number(Object.values(rows[0])[0]);
}

describe('journal positions: parsing and ranges', () => {
  it('parses `<journal>:<seq>` and folds consecutive positions', () => {
    assert.deepEqual(parsePosition('0123abcd:42'), { journal: '0123abcd', seq: 42 });
    assert.equal(parsePosition('nocolon'), undefined);
    assert.equal(parsePosition('a:-1'), undefined);
    assert.equal(parsePosition(42), undefined);
    assert.deepEqual(
      positionRanges([
        { journal: 'b', seq: 1 },
        { journal: 'a', seq: 3 },
        { journal: 'a', seq: 2 },
        { journal: 'a', seq: 7 },
      ]),
      [
        { journal: 'a', first: 2, last: 3 },
        { journal: 'a', first: 7, last: 7 },
        { journal: 'b', first: 1, last: 1 },
      ],
    );
  });
});

describeEachDialect('journal positions', (ctx) => {
  it('records positions with the rows and skips a replay already stored', async () => {
    const { db, dialect } = ctx();
    await db.query('DROP TABLE IF EXISTS keyless_readings');
    await db.query(
      ddl(dialect, 'CREATE TABLE keyless_readings (n INT, label VARCHAR(20))', 'CREATE TABLE keyless_readings (n INTEGER, label TEXT)'),
    );
    await db.query(`DROP TABLE IF EXISTS ${JOURNAL_POSITION_TABLE}`);
    const writer = new RowWriter({ db, table: 'keyless_readings', columns: ['n', 'label'], warn: () => undefined });
    try {
      await Promise.all([1, 2, 3].map((n) => write(writer, { n, label: 'first' }, { position: `feedc0de00000001:${n}` })));
      assert.equal(await count(db, 'SELECT COUNT(*) FROM keyless_readings'), 3);
      assert.ok((await count(db, `SELECT COUNT(*) FROM ${JOURNAL_POSITION_TABLE}`)) >= 1);

      // After a crash the journal replays 2 and 3 (committed) and 4 (never reached the writer).
      const replays = await Promise.all(
        [2, 3, 4].map((n) => write(writer, { n, label: 'replay' }, { position: `feedc0de00000001:${n}`, replayed: true })),
      );
      assert.deepEqual(
        replays.map((r) => r.committed),
        [1, 1, 1],
      );
      assert.equal(await count(db, 'SELECT COUNT(*) FROM keyless_readings'), 4);
      assert.equal(await count(db, "SELECT COUNT(*) FROM keyless_readings WHERE label = 'replay'"), 1);
      assert.equal(writer.stats().alreadyStored, 2);

      // Another journal (another instance) with the same sequence numbers is not confused with it.
      await write(writer, { n: 5, label: 'other' }, { position: `0000000000000002:2`, replayed: true });
      assert.equal(await count(db, "SELECT COUNT(*) FROM keyless_readings WHERE label = 'other'"), 1);
    } finally {
      await writer.close();
    }
  });
});
