/**
 * Taking over the ISEMS collector's `measurement` table (CONTRACTS §6.3) on MariaDB, PostgreSQL
 * (SQLAlchemy's DDL there) and SQLite:
 * naive Europe/Berlin timestamps across both DST changes become the instants they were, ids and
 * rows and both indexes stay, the API queries answer the whole history, and a log read again
 * after the switch stores nothing twice.
 */
import assert from 'node:assert/strict';
import { AdoptionError, runMigrations } from '../../../lib/db';
import { buildInserts, isemsMigrations, latestPerNodeQuery, nodeHistoryQuery, toApiRow } from '../../../lib/isems/schema';
import { parseLine } from '../../../lib/isems/parse';
import { createIsemsOriginal, isemsHistory } from '../../support/originals';
import { eachDialect, schemaFingerprint } from './fresh';

const iso = (epoch: number): string => new Date(epoch * 1000).toISOString().replace('.000Z', 'Z');

eachDialect('adoption: ISEMS', (fresh) => {
  it('turns naive Berlin times into instants (both DST changes), keeping ids, rows, node_timestamp and latest_by_node_id', async () => {
    const { db, dialect } = await fresh();
    const history = isemsHistory();
    await createIsemsOriginal(db, history);
    const report = await runMigrations(db, [isemsMigrations]);
    assert.deepEqual(report.applied, ['isems/0-adopt-original', 'isems/1-create-measurement']);
    const q = (c: string): string => (dialect === 'mysql' ? `\`${c}\`` : `"${c}"`);
    const { rows } = await db.query(`SELECT id, ${q('nodeId')} AS node, ${q('timestamp')} AS ts, status FROM measurement ORDER BY id`);
    assert.equal(rows.length, history.length, 'every row kept');
    assert.deepEqual(
      rows.map((r) => [Number(r.id), r.node, iso(Number(r.ts))]),
      history.map((h, i) => [i + 1, h.nodeId, iso(h.expected)]),
      'ids kept; each local time is the instant it was (repeated hour by insertion order, the March gap at winter offset)',
    );
    const indexes = (
      await db.query(
        {
          mysql:
            "SELECT DISTINCT INDEX_NAME AS name FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'measurement' ORDER BY 1",
          sqlite: "SELECT name FROM pragma_index_list('measurement') ORDER BY 1",
          postgres: "SELECT indexname AS name FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'measurement' ORDER BY 1",
        }[dialect],
      )
    ).rows;
    assert.deepEqual(
      indexes.map((r) => r.name).sort(),
      {
        mysql: ['PRIMARY', 'latest_by_node_id', 'node_timestamp'],
        sqlite: ['latest_by_node_id', 'sqlite_autoindex_measurement_1'],
        postgres: ['latest_by_node_id', 'measurement_pkey', 'node_timestamp'],
      }[dialect],
    );
    if (dialect === 'postgres') {
      // Recreated as they were: the unique constraint a constraint again, the index descending on the instants.
      const defs = await db.query("SELECT indexname AS name, indexdef AS def FROM pg_indexes WHERE tablename = 'measurement' ORDER BY 1");
      assert.match(String(defs.rows.find((r) => r.name === 'latest_by_node_id')?.def), /\("nodeId", "timestamp" DESC\)/);
      const constraint = await db.query("SELECT conname FROM pg_constraint WHERE conrelid = 'measurement'::regclass AND contype = 'u'");
      assert.deepEqual(constraint.rows, [{ conname: 'node_timestamp' }]);
      const types = await db.query(
        "SELECT column_name AS c, data_type AS t, collation_name AS co FROM information_schema.columns WHERE table_name = 'measurement' AND column_name IN ('timestamp', 'nodeId') ORDER BY 1",
      );
      assert.deepEqual(types.rows, [
        { c: 'nodeId', t: 'character varying', co: 'C' },
        { c: 'timestamp', t: 'bigint', co: null },
      ]);
    }
    const alembic = await db.query('SELECT version_num FROM alembic_version');
    assert.deepEqual(alembic.rows, [{ version_num: '3f1a2b9c8d7e' }], "Alembic's table is left as it was");
  });

  it('answers /measurements with the whole history at once, and a log read again stores nothing twice', async () => {
    const { db, dialect } = await fresh();
    const history = isemsHistory();
    await createIsemsOriginal(db, history);
    await runMigrations(db, [isemsMigrations]);
    const north = history.filter((h) => h.nodeId === 'Roof-North').sort((a, b) => b.expected - a.expected);
    const read = nodeHistoryQuery(dialect, 'Roof-North');
    const answer = (await db.query(read.sql, read.params)).rows.map(toApiRow);
    assert.deepEqual(
      answer.map((r) => r.timestamp),
      north.map((h) => iso(h.expected)),
      'newest first, with ISO instants',
    );
    assert.equal(answer.at(-1)!.status, '0x500');

    // The node's log still holds the last lines the original stored, and new ones.
    const last = north[0].expected;
    const lines = [last, last + 60, last + 120].map((t) =>
      parseLine(`Roof-North;1;${t};ESP_2.0;3592;0;19.21;17.9;13.1;87;95;21.5;11.6;14.1;9;30;52.52;13.40;500`),
    );
    for (let pass = 0; pass < 2; pass++)
      for (const statement of buildInserts(dialect, lines)) await db.query(statement.sql, statement.params);
    const after = (await db.query(read.sql, read.params)).rows.map(toApiRow);
    assert.equal(after.length, north.length + 2, 'the old line is not stored again, the two new ones once each');
    const latest = latestPerNodeQuery(dialect, { all: true });
    assert.deepEqual(
      (await db.query(latest.sql, latest.params)).rows.map(toApiRow).map((r) => [r.nodeId, r.timestamp]),
      [
        ['Roof-North', iso(last + 120)],
        ['Roof-South', iso(Date.parse('2024-03-31T01:30:00Z') / 1000)],
      ],
    );
  });

  it('refuses a local time that never happened when it lands on another row, naming both, and changes nothing', async () => {
    const { db } = await fresh();
    const rows = isemsHistory();
    // 03:30 summer time on 31 March 2024 is the same instant as the impossible 02:30 read at winter offset.
    rows.push({ nodeId: 'Roof-South', local: '2024-03-31 03:30:00', expected: Date.parse('2024-03-31T01:30:00Z') / 1000, status: 0x100 });
    await createIsemsOriginal(db, rows);
    const fingerprint = await schemaFingerprint(db);
    const err = await runMigrations(db, [isemsMigrations]).catch((e: unknown) => e);
    assert.ok(err instanceof AdoptionError, String(err));
    assert.match(
      err.message,
      /row 17 of node "Roof-South" has the local time 2024-03-31 02:30:00(\.000000)?, which never happened in Europe\/Berlin .* same instant as row 20 at 2024-03-31 03:30:00/,
    );
    assert.match(err.message, /Delete one of the two rows/);
    assert.equal(await schemaFingerprint(db), fingerprint);
  });

  it('refuses a measurement table of another shape', async () => {
    const { db, dialect } = await fresh();
    await db.query(
      {
        mysql: 'CREATE TABLE measurement (id INT PRIMARY KEY, node VARCHAR(20), t DATETIME)',
        sqlite: 'CREATE TABLE measurement (id INTEGER PRIMARY KEY, node TEXT, t DATETIME)',
        postgres: 'CREATE TABLE measurement (id INT PRIMARY KEY, node VARCHAR(20), t TIMESTAMP)',
      }[dialect],
    );
    const err = await runMigrations(db, [isemsMigrations]).catch((e: unknown) => e);
    assert.ok(err instanceof AdoptionError);
    assert.match(err.message, /measurement\.nodeId is missing; measurement\.isemsRevision is missing/);
  });
});

eachDialect(
  'adoption: ISEMS, a timestamptz column',
  (fresh) => {
    it('refuses it (naive Berlin times were read through some session zone on the way in), changing nothing', async () => {
      const { db } = await fresh();
      await createIsemsOriginal(db, isemsHistory().slice(0, 3));
      await db.query('ALTER TABLE measurement ALTER COLUMN timestamp TYPE TIMESTAMP WITH TIME ZONE');
      const fingerprint = await schemaFingerprint(db);
      const err = await runMigrations(db, [isemsMigrations]).catch((e: unknown) => e);
      assert.ok(err instanceof AdoptionError, String(err));
      assert.match(err.message, /measurement\.timestamp is timestamp with time zone \(the collector's model writes naive local times/);
      assert.equal(await schemaFingerprint(db), fingerprint);
    });
  },
  ['postgres'],
);
