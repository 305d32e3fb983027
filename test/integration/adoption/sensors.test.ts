/**
 * Taking over the original IoT sensors pipeline's tables (CONTRACTS §6.4) on MariaDB and SQLite:
 * every reading and mean kept, duplicates included, our keys added without failing on them, and
 * the per-minute merge of parts (migration 3) working beside the original's rows without
 * touching them. The original ran on MySQL only: on PostgreSQL (and everywhere) migration 4
 * upgrades this product's own tables.
 */
import assert from 'node:assert/strict';
import { runMigrations } from '../../../lib/db';
import type { Database } from '../../../lib/db/types';
import {
  AGGREGATED_PART_COLUMNS,
  insertSensorDataSql,
  SENSOR_DATA_COLUMNS,
  sensorsMigrations,
  upsertAggregatedPartSql,
} from '../../../lib/sensors/schema';
import { createSensorsOriginal, sensorsHistory } from '../../support/originals';
import { eachDialect } from './fresh';

const text = (db: Database, column: string): string =>
  ({ mysql: `CAST(${column} AS CHAR)`, sqlite: column, postgres: `to_char(${column}, 'YYYY-MM-DD HH24:MI:SS.US')` })[db.dialect];

async function rows(db: Database, table: string): Promise<Array<[number, number, string, number]>> {
  const { rows: found } = await db.query(`SELECT id, sensor_id, ${text(db, 'timestamp')} AS ts, value FROM ${table} ORDER BY id`);
  // SQLite keeps the original's text as written; MySQL shows DATETIME(6).
  return found.map((r) => [Number(r.id), Number(r.sensor_id), String(r.ts).replace(/\.000000$/, ''), Number(r.value)]);
}

eachDialect(
  'adoption: sensors',
  (fresh) => {
    it('keeps every reading and mean with its id, duplicates included, and records the adoption', async () => {
      const { db, dialect } = await fresh();
      const history = sensorsHistory();
      await createSensorsOriginal(db, history);
      const report = await runMigrations(db, [sensorsMigrations]);
      assert.deepEqual(report.applied, [
        'sensors/0-adopt-original',
        'sensors/1-create-sensor-data',
        'sensors/2-create-aggregated-sensor-data',
        'sensors/3-create-aggregated-sensor-parts',
        'sensors/4-original-rows',
      ]);
      assert.deepEqual(
        await rows(db, 'sensor_data'),
        history.raw.map((r, i) => [i + 1, r.sensor_id, r.timestamp, r.value]),
      );
      assert.deepEqual(
        await rows(db, 'aggregated_sensor_data'),
        history.aggregated.map((r, i) => [i + 1, r.sensor_id, r.timestamp, r.value]),
      );
      const marks = await db.query('SELECT id, original_row, samples FROM aggregated_sensor_data ORDER BY id');
      assert.deepEqual(
        marks.rows.map((r) => [Number(r.id), Number(r.original_row), Number(r.samples)]),
        history.aggregated.map((_r, i) => [i + 1, i + 1, 0]),
      );
      if (dialect === 'mysql') {
        const types = await db.query(
          "SELECT CONCAT(TABLE_NAME, '.', COLUMN_NAME) AS c, COLUMN_TYPE AS t FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND COLUMN_NAME IN ('timestamp', 'value') ORDER BY 1",
        );
        assert.deepEqual(
          types.rows.map((r) => [r.c, r.t]),
          [
            ['aggregated_sensor_data.timestamp', 'datetime(6)'],
            ['aggregated_sensor_data.value', 'double'],
            ['aggregated_sensor_parts.timestamp', 'datetime(6)'],
            ['aggregated_sensor_parts.value', 'double'],
            ['sensor_data.timestamp', 'datetime(6)'],
            ['sensor_data.value', 'double'],
          ],
        );
      }
    });

    it("merges new parts into per-minute means beside the original's rows, never touching them", async () => {
      const { db, dialect } = await fresh();
      const history = sensorsHistory();
      await createSensorsOriginal(db, history);
      await runMigrations(db, [sensorsMigrations]);
      const original = await rows(db, 'aggregated_sensor_data');
      // A minute of ours whose stamp equals one the original wrote (18:02:00, in its local time).
      const part = (value: number, samples: number, instance: string) => ({
        sensor_id: 1,
        timestamp: '2024-06-14 18:02:00.000000',
        value,
        lat: 10,
        lng: 10,
        unit: 'C',
        type: 'temperature',
        description: 'Main Entrance',
        samples,
        instance,
      });
      const upsert = async (p: ReturnType<typeof part>): Promise<void> => {
        await db.query(
          upsertAggregatedPartSql(dialect, 1),
          AGGREGATED_PART_COLUMNS.map((c) => p[c]),
        );
      };
      await upsert(part(30, 10, 'a'));
      await upsert(part(40, 10, 'b'));
      await upsert(part(20, 10, 'a')); // instance a re-emits its window
      await db.query(`DELETE FROM aggregated_sensor_parts WHERE instance = 'b'`);
      await upsert(part(40, 30, 'b'));
      const all = await rows(db, 'aggregated_sensor_data');
      assert.deepEqual(
        all.slice(0, original.length),
        original,
        "the original's rows, duplicates and the one at 18:02:00 included, are untouched",
      );
      assert.deepEqual(
        all.slice(original.length).map((r) => [r[1], r[2], r[3]]),
        [[1, '2024-06-14 18:02:00', 35]],
        'our minute: (20·10 + 40·30) / 40',
      );

      // New raw readings go in beside the old ones.
      const reading = [1, '2024-06-14 18:03:00.250000', 25, 10, 10, 'C', 'temperature', 'Main Entrance'];
      await db.query(insertSensorDataSql(dialect, 2), [...reading, ...reading]);
      assert.equal((await rows(db, 'sensor_data')).length, history.raw.length + 2);
      assert.equal(SENSOR_DATA_COLUMNS.length, 8);
    });
  },
  ['mysql', 'sqlite'],
);

eachDialect('sensors: migration 4', (fresh) => {
  it("upgrades this product's own tables (migration 4) keeping the merge of parts", async () => {
    const { db, dialect } = await fresh();
    const upTo3 = { name: sensorsMigrations.name, description: 'before migration 4', migrations: sensorsMigrations.migrations.slice(0, 3) };
    await runMigrations(db, [upTo3]);
    const part = (value: number, instance: string) => [
      1,
      '2024-06-14 16:00:00.000000',
      value,
      10,
      10,
      'C',
      'temperature',
      'x',
      10,
      instance,
    ];
    await db.query(upsertAggregatedPartSql(dialect, 1), part(10, 'a'));
    assert.deepEqual((await runMigrations(db, [sensorsMigrations])).applied, ['sensors/4-original-rows']);
    await db.query(upsertAggregatedPartSql(dialect, 1), part(30, 'b'));
    const merged = await db.query('SELECT value, samples, original_row FROM aggregated_sensor_data');
    assert.deepEqual(
      merged.rows.map((r) => [Number(r.value), Number(r.samples), Number(r.original_row)]),
      [[20, 20, 0]],
    );
  });
  it('merges parts written while migration 4 runs (an instance still on the previous release), every minute exact', async () => {
    const { db, open, dialect } = await fresh();
    const upTo3 = { name: sensorsMigrations.name, description: 'before migration 4', migrations: sensorsMigrations.migrations.slice(0, 3) };
    await runMigrations(db, [upTo3]);
    const writer = open();
    let running = true;
    let sent = 0;
    const minute = (n: number): string => new Date(Date.UTC(2024, 5, 14, 0, n)).toISOString().replace('T', ' ').replace('Z', '000');
    const writing = (async () => {
      while (running) {
        // Two instances' parts of the same minute.
        for (const [instance, value] of [
          ['a', 10],
          ['b', 30],
        ] as const) {
          await writer.query(upsertAggregatedPartSql(dialect, 1), [1, minute(sent), value, 10, 10, 'C', 'temperature', 'x', 10, instance]);
        }
        sent++;
        if (dialect === 'sqlite') await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual((await runMigrations(db, [sensorsMigrations])).applied, ['sensors/4-original-rows']);
    await new Promise((resolve) => setTimeout(resolve, 50));
    running = false;
    await writing;
    assert.ok(sent > 1);
    const merged = await db.query('SELECT value, samples, original_row FROM aggregated_sensor_data ORDER BY timestamp');
    assert.deepEqual(
      merged.rows.map((r) => [Number(r.value), Number(r.samples), Number(r.original_row)]),
      Array.from({ length: sent }, () => [20, 20, 0]),
      `${sent} minutes`,
    );
  });

  it('creates the same tables on an empty database, with nothing to take over', async () => {
    const { db, dialect } = await fresh();
    assert.deepEqual((await runMigrations(db, [sensorsMigrations])).applied, [
      'sensors/1-create-sensor-data',
      'sensors/2-create-aggregated-sensor-data',
      'sensors/3-create-aggregated-sensor-parts',
      'sensors/4-original-rows',
    ]);
    const part = (value: number, instance: string) => [
      2,
      '2024-06-14 16:01:00.000000',
      value,
      null,
      null,
      'C',
      'temperature',
      'y',
      5,
      instance,
    ];
    await db.query(upsertAggregatedPartSql(dialect, 1), part(1, 'a'));
    await db.query(upsertAggregatedPartSql(dialect, 1), part(3, 'b'));
    assert.deepEqual(await rows(db, 'aggregated_sensor_data'), [[1, 2, '2024-06-14 16:01:00', 2]]);
  });
});
