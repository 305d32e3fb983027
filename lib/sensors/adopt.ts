/**
 * Taking over the original IoT sensors pipeline's tables (CONTRACTS §6.4): `sensor_data` and
 * `aggregated_sensor_data`, both `id` INT auto-increment, `sensor_id` INT, `timestamp` DATETIME
 * (naive UTC for readings, the original's local insert time for its means), `value`/`lat`/`lng`
 * FLOAT, `unit`/`type` VARCHAR(255), `description` TEXT, no unique keys: duplicates may be there.
 *
 * Every row and id stays. The tables get what ours have, without narrowing anything:
 * - `timestamp` DATETIME(6), `value`/`lat`/`lng` DOUBLE (the FLOAT values are kept exactly: a value
 *   the original stored as 23.1 was 23.100000381469727 all along and now reads so; the sensors'
 *   integer readings read as before), utf8mb4, ids BIGINT, and our indexes;
 * - `aggregated_sensor_data` gets `samples` (0: the original did not count them) and
 *   `original_row` = the row's id. Its rows are stamped with the original server's local time and
 *   may be duplicates, so they cannot join the one-row-per-sensor-and-minute key: with their id in
 *   `original_row`, the unique key (sensor_id, timestamp, original_row) holds for them as they are,
 *   and the merge triggers never update or delete them (migration 4 of the `sensors` set).
 * Then the set's migrations 3 and 4 run as everywhere: the parts table and its triggers.
 */
import { columnProblems, listing, refuse, type AdoptionPlan, type ExpectedColumn, type SchemaAdoption } from '../db/adopt';
import { column, indexOn, readSchema, type ColumnInfo, type SchemaSnapshot, type TableInfo } from '../db/introspect';
import type { SqlExecutor } from '../db/types';
import {
  AGGREGATED_SENSOR_DATA_TABLE,
  AGGREGATED_SENSOR_PARTS_TABLE,
  ORIGINAL_ROW,
  partsTriggersV4,
  SENSOR_DATA_TABLE,
  sensorsMigrations,
  ORIGINAL_ROW_KEY,
} from './schema';

const ADOPTED_VERSION = 4;
const NUMBER = ['real', 'decimal', 'integer'] as const;

function expected(dialect: SqlExecutor['dialect'], aggregated: boolean): ExpectedColumn[] {
  return [
    { name: 'id', family: 'integer' },
    { name: 'sensor_id', family: 'integer' },
    { name: 'timestamp', family: dialect === 'sqlite' ? ['datetime', 'text'] : ['datetime'] },
    { name: 'value', family: NUMBER },
    { name: 'lat', family: NUMBER },
    { name: 'lng', family: NUMBER },
    { name: 'unit', family: 'text' },
    { name: 'type', family: 'text' },
    { name: 'description', family: 'text' },
    ...(aggregated
      ? [
          { name: 'samples', family: 'integer', optional: true } as const,
          { name: ORIGINAL_ROW, family: 'integer', optional: true } as const,
        ]
      : []),
  ];
}

const KNOWN_TRIGGER = /^aggregated_sensor_parts_after_/i;

const REMEDY =
  "Point this flow at the original sensors pipeline's database as it created its tables (or at an empty one), " +
  'or fix what is listed, then deploy the flow again. docs/switching.md describes what is taken over.';

async function inspect(executor: SqlExecutor): Promise<AdoptionPlan> {
  const snapshot = await readSchema(executor, [SENSOR_DATA_TABLE, AGGREGATED_SENSOR_DATA_TABLE, AGGREGATED_SENSOR_PARTS_TABLE]);
  const raw = snapshot.tables.get(SENSOR_DATA_TABLE);
  const aggregated = snapshot.tables.get(AGGREGATED_SENSOR_DATA_TABLE);
  if (!raw && !aggregated) return { action: 'none' };
  const problems: string[] = [];
  if (raw) problems.push(...columnProblems(raw, expected(executor.dialect, false)));
  if (aggregated) problems.push(...columnProblems(aggregated, expected(executor.dialect, true)));
  for (const trigger of snapshot.triggers) {
    if (!KNOWN_TRIGGER.test(trigger.name))
      problems.push(`a trigger ${trigger.name} (${trigger.timing} ${trigger.event} on ${trigger.table})`);
  }
  if (problems.length > 0) return refuse(problems.join('; '), REMEDY);
  const present = [raw, aggregated].filter((t): t is TableInfo => t !== undefined).map((t) => t.name);
  return {
    action: 'adopt',
    record: 'adopt-original',
    version: ADOPTED_VERSION,
    summary: `the original pipeline's ${listing(present)}, its means kept apart as original rows`,
    run: (ex) => adopt(ex, snapshot),
  };
}

// ------------------------------------------------------------------------------------- MySQL

function nullness(c: ColumnInfo): string {
  return c.nullable ? 'NULL' : 'NOT NULL';
}

function mysqlShape(table: TableInfo, aggregated: boolean): string[] {
  const changes: string[] = [];
  const id = column(table, 'id')!;
  if (!/^bigint(\(\d+\))? unsigned/.test(id.type)) changes.push('MODIFY `id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT');
  const ts = column(table, 'timestamp')!;
  if ((ts.fractionDigits ?? 0) < 6 || ts.type.startsWith('timestamp')) changes.push(`MODIFY \`${ts.name}\` DATETIME(6) ${nullness(ts)}`);
  for (const name of ['value', 'lat', 'lng']) {
    const c = column(table, name)!;
    if (!c.type.startsWith('double')) changes.push(`MODIFY \`${c.name}\` DOUBLE ${nullness(c)}`);
  }
  if (aggregated) {
    if (!column(table, 'samples')) changes.push('ADD COLUMN `samples` INT UNSIGNED NOT NULL DEFAULT 0');
    if (!column(table, ORIGINAL_ROW))
      changes.push(
        `ADD COLUMN \`${ORIGINAL_ROW}\` BIGINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'id of a row the original pipeline wrote, 0 for ours'`,
      );
  }
  if (table.collation !== 'utf8mb4_unicode_ci' || table.columns.some((c) => c.family === 'text' && c.charset !== 'utf8mb4')) {
    changes.push('CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci');
  }
  if ((table.engine ?? '').toLowerCase() !== 'innodb') changes.push('ENGINE=InnoDB');
  return changes;
}

/** Our time-range indexes, unless an index already starts with the same columns. */
function missingIndexes(table: TableInfo, wanted: Array<[string, string[]]>): Array<[string, string[]]> {
  return wanted.filter(([, columns]) => !table.indexes.some((i) => columns.every((c, k) => i.columns[k]?.toLowerCase() === c)));
}

/**
 * Adds the `wanted` indexes `table` lacks: on MySQL in one ALTER together with the column and
 * table changes of mysqlShape, elsewhere one CREATE INDEX each.
 */
async function reshape(executor: SqlExecutor, table: TableInfo, aggregated: boolean, wanted: Array<[string, string[]]>): Promise<void> {
  const indexes = missingIndexes(table, wanted);
  if (executor.dialect === 'mysql') {
    const changes = [
      ...mysqlShape(table, aggregated),
      ...indexes.map(([name, columns]) => `ADD KEY \`${name}\` (${columns.map((c) => `\`${c}\``).join(', ')})`),
    ];
    if (changes.length > 0) await executor.query(`ALTER TABLE \`${table.name}\` ${changes.join(', ')}`);
  } else {
    for (const [name, columns] of indexes)
      await executor.query(`CREATE INDEX "${name}" ON "${table.name}" (${columns.map((c) => `"${c}"`).join(', ')})`);
  }
}

async function adopt(executor: SqlExecutor, snapshot: SchemaSnapshot): Promise<string> {
  const mysql = executor.dialect === 'mysql';
  const q = (name: string): string => (mysql ? `\`${name}\`` : `"${name}"`);
  const raw = snapshot.tables.get(SENSOR_DATA_TABLE);
  const aggregated = snapshot.tables.get(AGGREGATED_SENSOR_DATA_TABLE);
  const v1 = sensorsMigrations.migrations.find((m) => m.version === 1)!;
  const v2 = sensorsMigrations.migrations.find((m) => m.version === 2)!;
  const notes: string[] = [];

  if (raw) {
    await reshape(executor, raw, false, [
      ['idx_sensor_data_sensor_time', ['sensor_id', 'timestamp']],
      ['idx_sensor_data_time', ['timestamp']],
    ]);
    notes.push(`${SENSOR_DATA_TABLE}: ${await count(executor, raw.name)} rows`);
  } else {
    for (const sql of v1[executor.dialect]!) await executor.query(sql);
  }

  if (aggregated) {
    if (!mysql) {
      // MySQL adds them in reshape's ALTER (mysqlShape).
      if (!column(aggregated, 'samples'))
        await executor.query(`ALTER TABLE "${aggregated.name}" ADD COLUMN "samples" INTEGER NOT NULL DEFAULT 0`);
      if (!column(aggregated, ORIGINAL_ROW))
        await executor.query(`ALTER TABLE "${aggregated.name}" ADD COLUMN "${ORIGINAL_ROW}" INTEGER NOT NULL DEFAULT 0`);
    }
    await reshape(executor, aggregated, true, [['idx_aggregated_time', ['timestamp']]]);
    // Every mean the original wrote (no samples counted) becomes an original row, duplicates included.
    const marked = await executor.query(
      `UPDATE ${q(aggregated.name)} SET ${q(ORIGINAL_ROW)} = ${q('id')} WHERE ${q(ORIGINAL_ROW)} = 0 AND ${q('samples')} = 0`,
    );
    const key = [q('sensor_id'), q('timestamp'), q(ORIGINAL_ROW)].join(', ');
    const twoColumns = aggregated.indexes.find((i) => i.name === 'uq_aggregated_sensor_minute');
    if (!indexOn(aggregated, ['sensor_id', 'timestamp', ORIGINAL_ROW], { unique: true })) {
      if (mysql) {
        await executor.query(
          `ALTER TABLE \`${aggregated.name}\` ${twoColumns ? 'DROP INDEX `uq_aggregated_sensor_minute`, ' : ''}ADD UNIQUE KEY \`uq_aggregated_sensor_minute\` (${key})`,
        );
      } else {
        // The original's duplicates rule out the (sensor_id, timestamp) index: only the three-column key.
        if (twoColumns) await executor.query('DROP INDEX "uq_aggregated_sensor_minute"');
        await executor.query(`CREATE UNIQUE INDEX "${ORIGINAL_ROW_KEY}" ON "${aggregated.name}" (${key})`);
      }
    }
    notes.push(
      `${AGGREGATED_SENSOR_DATA_TABLE}: ${await count(executor, aggregated.name)} rows, ${marked.affectedRows} kept as original rows`,
    );
  } else {
    // No means yet: the table as migrations 2 and 4 make it.
    for (const sql of v2[executor.dialect]!) await executor.query(sql);
    await executor.query(
      mysql
        ? `ALTER TABLE \`${AGGREGATED_SENSOR_DATA_TABLE}\` ADD COLUMN \`${ORIGINAL_ROW}\` BIGINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'id of a row the original pipeline wrote, 0 for ours', DROP INDEX \`uq_aggregated_sensor_minute\`, ADD UNIQUE KEY \`uq_aggregated_sensor_minute\` (\`sensor_id\`, \`timestamp\`, \`${ORIGINAL_ROW}\`)`
        : `ALTER TABLE "${AGGREGATED_SENSOR_DATA_TABLE}" ADD COLUMN "${ORIGINAL_ROW}" INTEGER NOT NULL DEFAULT 0`,
    );
    if (!mysql)
      await executor.query(
        `CREATE UNIQUE INDEX "${ORIGINAL_ROW_KEY}" ON "${AGGREGATED_SENSOR_DATA_TABLE}" ("sensor_id", "timestamp", "${ORIGINAL_ROW}")`,
      );
  }

  // The parts table and its triggers, as migrations 3 and 4 make them (3 copies nothing: the
  // original's means have no samples).
  const v3 = sensorsMigrations.migrations.find((m) => m.version === 3)!;
  for (const sql of v3[executor.dialect]!) await executor.query(sql);
  for (const sql of partsTriggersV4(executor.dialect)) await executor.query(sql);
  return `${notes.join('; ')}.`;
}

async function count(executor: SqlExecutor, table: string): Promise<number> {
  const { rows } = await executor.query(`SELECT COUNT(*) AS n FROM ${executor.dialect === 'mysql' ? `\`${table}\`` : `"${table}"`}`);
  return Number(rows[0].n);
}

export const sensorsAdoption: SchemaAdoption = {
  inspect: { mysql: inspect, sqlite: inspect },
};
