/**
 * Taking over the original ISEMS collector's table (CONTRACTS §6.3): SQLAlchemy's `measurement`
 * with the camelCase columns, every column nullable, `timestamp` DATETIME holding naive
 * Europe/Berlin local time (SQLite text `YYYY-MM-DD HH:MM:SS.ffffff`), the unique key
 * `node_timestamp` (nodeId, timestamp) and the index `latest_by_node_id` (nodeId, timestamp DESC).
 * Alembic's `alembic_version` is left as it is.
 *
 * Every row and id is kept; `timestamp` becomes what ours holds, the instant in Unix epoch seconds,
 * and both indexes stay (same names, same columns, now over the instants). How a local time
 * becomes an instant:
 *
 * - an ordinary local time: minus Berlin's offset at that time (+01:00 winter, +02:00 summer);
 * - a local time in the repeated hour (the last Sunday of October, 02:00-02:59, which happened
 *   twice): the original inserted a node's lines in the order it read them, so within that hour,
 *   in id order, a node's rows up to the point where its local time steps back are the first
 *   pass (+02:00), that row and the node's later rows in the hour the second pass (+01:00). When
 *   the time never steps back, all of them are the first pass;
 * - a local time that never happened (the last Sunday of March, 02:00-02:59): read with the
 *   offset before the change (+01:00), as if the clock had not been moved yet, so 02:30 is
 *   01:30 UTC. Should that be the instant of another row of the same node (03:30 summer time),
 *   the adoption refuses and names both rows: the unique key allows only one of them.
 *
 * Fractions of a second are dropped (the logs have whole seconds). SQLite converts the values in
 * place (its DATETIME column holds integers as they are); MySQL fills a new BIGINT column in
 * chunks, then swaps it for `timestamp` in one ALTER, which also recreates the two indexes. Either
 * resumes where it stopped if interrupted: SQLite rolls back as a whole, and MySQL finds its
 * half-filled column and continues. PostgreSQL (SQLAlchemy's DateTime is `timestamp without time
 * zone` there) fills a new BIGINT column, drops `timestamp` (which takes its key and index with
 * it), renames the new column and recreates both by name, all in the migration's one transaction:
 * taken over whole or not at all. Its local times are read as text (to_char) and converted by
 * the same rules as on MySQL and SQLite, not by PostgreSQL's own `AT TIME ZONE 'Europe/Berlin'`,
 * which resolves the repeated and the missing hour differently.
 */
import { columnProblems, refuse, type AdoptionPlan, type ExpectedColumn, type SchemaAdoption } from '../db/adopt';
import { column, readSchema, type IndexInfo, type TableInfo } from '../db/introspect';
import type { Dialect, SqlExecutor, SqlValue } from '../db/types';
import { isoFormat, newIsoDateTime, parseIsoDateTime } from '../time/iso8601';
import { localSegments, zoneTransitions, type LocalSegment } from '../time/zone';
import { ISEMS_FIELDS } from './parse';

/** The zone the original wrote its naive timestamps in. */
export const ORIGINAL_TIME_ZONE = 'Europe/Berlin';
const TABLE = 'measurement';
/** MySQL: the converted instants are filled in here before it replaces `timestamp`. */
const EPOCH_COLUMN = 'iotp_timestamp_epoch';
const MYSQL_CHUNK_ROWS = 50_000;

const NUMBER = ['real', 'decimal', 'integer'] as const;

function expected(): ExpectedColumn[] {
  return [
    { name: 'id', family: 'integer' },
    ...ISEMS_FIELDS.map((name): ExpectedColumn => {
      switch (name) {
        case 'nodeId':
        case 'openMPPTFirmwareVersion':
          return { name, family: 'text' };
        case 'isemsRevision':
          return { name, family: ['text', 'integer'] };
        case 'timestamp':
          return { name, family: ['datetime', 'integer'] };
        case 'isPowerSaveMode':
          return { name, family: ['boolean', 'integer'] };
        case 'status':
          return { name, family: 'integer' };
        default:
          return { name, family: NUMBER };
      }
    }),
    { name: EPOCH_COLUMN, family: 'integer', optional: true },
  ];
}

const REMEDY =
  "Point this flow at the ISEMS collector's database as it created it (DATABASE_URL of the original) or at an empty one, " +
  'or fix what is listed, then deploy the flow again. docs/switching.md describes what is taken over.';

/** The original's stored times: a wall-clock time without a zone (which is Berlin's, not said in the text). */
const STORED_LOCAL_TIME = isoFormat({ offset: 'forbidden', trim: true });
const stored = newIsoDateTime();

/** `YYYY-MM-DD HH:MM:SS[.ffffff]` (MySQL CAST AS CHAR, SQLAlchemy's SQLite text) → local ms, the fraction dropped. */
export function parseLocal(text: string): number | undefined {
  return parseIsoDateTime(text, STORED_LOCAL_TIME, stored) === undefined ? stored.epochSeconds * 1000 : undefined;
}

/** local ms → `YYYY-MM-DD HH:MM:SS`, the literal both dialects compare their local timestamps with. */
export function formatLocal(localMs: number): string {
  return new Date(localMs).toISOString().slice(0, 19).replace('T', ' ');
}

interface Window {
  from: number;
  to: number;
}

interface Gap extends Window {
  /** Local time after the gap that names the same instant: local + shift. */
  shift: number;
}

function gapsBetween(fromLocal: number, toLocal: number): Gap[] {
  return zoneTransitions(ORIGINAL_TIME_ZONE, fromLocal - 2 * 86_400_000, toLocal + 2 * 86_400_000)
    .filter((t) => t.after > t.before)
    .map((t) => ({ from: t.at + t.before, to: t.at + t.after, shift: t.after - t.before }));
}

interface Stored {
  id: number;
  nodeId: string | null;
  local: number;
  text: string;
}

/** How each dialect reads and compares the original's timestamps. */
interface TimestampSql {
  /** SQL giving `timestamp` as text (MySQL: CAST, so the driver does not convert it through a zone). */
  asText: string;
  /** Only rows still holding a local time. */
  notConverted: string;
}

const MYSQL: TimestampSql = { asText: 'CAST(`timestamp` AS CHAR)', notConverted: '`timestamp` IS NOT NULL' };
const SQLITE: TimestampSql = { asText: '"timestamp"', notConverted: `typeof("timestamp") = 'text'` };
// Fixed width, so the text sorts (MIN/MAX) as the times do.
const POSTGRES: TimestampSql = { asText: `to_char("timestamp", 'YYYY-MM-DD HH24:MI:SS.US')`, notConverted: '"timestamp" IS NOT NULL' };
const TIMESTAMP_SQL: Record<Dialect, TimestampSql> = { mysql: MYSQL, sqlite: SQLITE, postgres: POSTGRES };

const q = (executor: SqlExecutor, name: string): string => (executor.dialect === 'mysql' ? `\`${name}\`` : `"${name}"`);

/** A piece of SQL with its `?` placeholders' values. */
interface SqlCondition {
  sql: string;
  params: SqlValue[];
}

function inWindows(executor: SqlExecutor, windows: readonly Window[]): SqlCondition {
  const ts = q(executor, 'timestamp');
  return {
    sql: windows.map(() => `(${ts} >= ? AND ${ts} < ?)`).join(' OR ') || '0 = 1',
    params: windows.flatMap((w) => [formatLocal(w.from), formatLocal(w.to)]),
  };
}

/** The local timestamps stored in `windows`, per node in id order (one index range scan per node). */
async function storedIn(executor: SqlExecutor, d: TimestampSql, windows: readonly Window[]): Promise<Stored[]> {
  if (windows.length === 0) return [];
  const nodeId = q(executor, 'nodeId');
  const nodes = await executor.query(`SELECT DISTINCT ${nodeId} AS node FROM ${q(executor, TABLE)}`);
  const range = inWindows(executor, windows);
  const rows: Stored[] = [];
  for (const { node } of nodes.rows) {
    const which = node === null || node === undefined ? `${nodeId} IS NULL` : `${nodeId} = ?`;
    const params = node === null || node === undefined ? range.params : [String(node), ...range.params];
    const found = await executor.query(
      `SELECT id, ${nodeId} AS node, ${d.asText} AS ts FROM ${q(executor, TABLE)} WHERE ${which} AND ${d.notConverted} AND (${range.sql}) ORDER BY id`,
      params,
    );
    for (const row of found.rows) {
      const local = parseLocal(String(row.ts));
      if (local !== undefined)
        rows.push({
          id: Number(row.id),
          nodeId: row.node === null || row.node === undefined ? null : String(row.node),
          local,
          text: String(row.ts),
        });
    }
  }
  return rows;
}

/**
 * The instants of the rows stored in repeated hours, by the rule at the top: per node and hour,
 * in id order, first pass until the local time steps back.
 */
export function resolveRepeated(rows: readonly Stored[], segments: readonly LocalSegment[]): Map<number, number> {
  const instants = new Map<number, number>();
  const passes = new Map<string, { max: number; second: boolean }>();
  for (const row of rows) {
    const segment = segments.find((s) => s.kind === 'repeated' && row.local >= s.from && row.local < s.to);
    if (!segment || segment.kind !== 'repeated') continue;
    const key = `${row.nodeId ?? '\u0000null'}\u0000${segment.from}`;
    let pass = passes.get(key);
    if (!pass) passes.set(key, (pass = { max: row.local, second: false }));
    if (row.local < pass.max) pass.second = true;
    pass.max = Math.max(pass.max, row.local);
    instants.set(row.id, Math.floor((row.local - (pass.second ? segment.second : segment.first)) / 1000));
  }
  return instants;
}

interface Range {
  min: number;
  max: number;
}

async function localRange(executor: SqlExecutor, d: TimestampSql): Promise<Range | undefined> {
  const { rows } = await executor.query(
    `SELECT MIN(${d.asText}) AS lo, MAX(${d.asText}) AS hi FROM ${q(executor, TABLE)} WHERE ${d.notConverted}`,
  );
  if (rows[0]?.lo === null || rows[0]?.lo === undefined) return undefined;
  const min = parseLocal(String(rows[0].lo));
  const max = parseLocal(String(rows[0].hi));
  if (min === undefined || max === undefined) return undefined;
  return { min, max };
}

/** `naive seconds - offset` for every local time outside the repeated hours, as one CASE over the segments. */
function offsetCase(executor: SqlExecutor, segments: readonly LocalSegment[]): SqlCondition {
  const ts = q(executor, 'timestamp');
  const branches: string[] = [];
  const params: SqlValue[] = [];
  for (const segment of segments) {
    if (segment.kind !== 'fixed') continue;
    if (Number.isFinite(segment.to)) {
      branches.push(`WHEN ${ts} < ? THEN ${segment.offset / 1000}`);
      params.push(formatLocal(segment.to));
    } else {
      branches.push(`ELSE ${segment.offset / 1000}`);
    }
  }
  return { sql: `CASE ${branches.join(' ')} END`, params };
}

/**
 * The conversion of the local times in `range`: the offset to subtract outside the repeated hours,
 * and the condition that picks the repeated hours, which convertRepeated resolves row by row.
 */
function localTimeSql(executor: SqlExecutor, range: Range): { offset: SqlCondition; repeated: SqlCondition } {
  const segments = localSegments(ORIGINAL_TIME_ZONE, range.min, range.max + 1000);
  return {
    offset: offsetCase(executor, segments),
    repeated: inWindows(
      executor,
      segments.filter((s) => s.kind === 'repeated'),
    ),
  };
}

async function inspect(executor: SqlExecutor): Promise<AdoptionPlan> {
  const snapshot = await readSchema(executor, [TABLE]);
  const table = snapshot.tables.get(TABLE);
  if (!table) return { action: 'none' };
  const problems = columnProblems(table, expected());
  for (const trigger of snapshot.triggers)
    problems.push(`a trigger ${trigger.name} (${trigger.timing} ${trigger.event} on ${trigger.table})`);
  if (problems.length > 0) return refuse(problems.join('; '), REMEDY);

  const d = TIMESTAMP_SQL[executor.dialect];
  // The original's DATETIME; ours (or one converted before) holds integers.
  const local = column(table, 'timestamp')!.family === 'datetime';
  if (executor.dialect === 'postgres' && /with time zone/.test(column(table, 'timestamp')!.type)) {
    // Naive Berlin times written into a timestamptz were read through the writer's session zone: not the collector's table.
    return refuse(
      `measurement.timestamp is ${column(table, 'timestamp')!.type} (the collector's model writes naive local times into timestamp without time zone)`,
      REMEDY,
    );
  }
  if (executor.dialect === 'sqlite') {
    // Text must be SQLAlchemy's `YYYY-MM-DD HH:MM:SS[.ffffff]`; integers are instants already.
    const odd = await executor.query(
      `SELECT "timestamp" AS ts, typeof("timestamp") AS kind FROM "${TABLE}" WHERE "timestamp" IS NOT NULL AND NOT (typeof("timestamp") = 'integer' OR ("timestamp" GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]*' AND length("timestamp") <= 26)) LIMIT 1`,
    );
    if (odd.rows.length > 0)
      return refuse(
        `measurement.timestamp holds ${String(odd.rows[0].kind)} ${JSON.stringify(String(odd.rows[0].ts))}, not a local time like 2024-03-31 02:30:00.000000`,
        REMEDY,
      );
  }
  const range = local ? await localRange(executor, d) : undefined;
  if (range) {
    // A local time that never happened lands on the instant of the local time an hour later.
    for (const row of await storedIn(executor, d, gapsBetween(range.min, range.max))) {
      const gap = gapsBetween(row.local, row.local + 1).find((g) => row.local >= g.from && row.local < g.to)!;
      const twin = formatLocal(row.local + gap.shift);
      const nodeId = q(executor, 'nodeId');
      const clash = await executor.query(
        `SELECT id FROM ${q(executor, TABLE)} WHERE ${row.nodeId === null ? `${nodeId} IS NULL` : `${nodeId} = ?`} AND ${q(executor, 'timestamp')} >= ? AND ${q(executor, 'timestamp')} < ?`,
        [...(row.nodeId === null ? [] : [row.nodeId]), twin, formatLocal(row.local + gap.shift + 1000)],
      );
      if (clash.rows.length > 0) {
        return refuse(
          `measurement row ${row.id} of node ${JSON.stringify(row.nodeId)} has the local time ${row.text}, which never happened in ${ORIGINAL_TIME_ZONE} ` +
            `(clocks went forward); read as ${formatLocal(row.local - gap.shift)} winter time it is the same instant as row ${String(clash.rows[0].id)} at ${twin}`,
          'Delete one of the two rows (the unique key on nodeId and timestamp allows only one), then deploy the flow again.',
        );
      }
    }
  }
  const keys = uniqueOnNodeTime(table);
  if (!keys) {
    const dupes = await executor.query(
      `SELECT ${q(executor, 'nodeId')} AS node, ${d.asText} AS ts, COUNT(*) AS n FROM ${q(executor, TABLE)} GROUP BY ${q(executor, 'nodeId')}, ${q(executor, 'timestamp')} HAVING COUNT(*) > 1 LIMIT 1`,
    );
    if (dupes.rows.length > 0) {
      const r = dupes.rows[0];
      return refuse(
        `measurement has no unique key on (nodeId, timestamp) and ${String(r.n)} rows of node ${JSON.stringify(r.node)} at ${String(r.ts)}`,
        'Remove the duplicate rows, then deploy the flow again.',
      );
    }
  }
  return {
    action: 'adopt',
    record: local ? 'adopt-original' : 'adopt-existing',
    version: 1,
    summary: local
      ? `the ISEMS collector's table measurement; its naive ${ORIGINAL_TIME_ZONE} timestamps converted to instants`
      : 'an existing measurement table with instants, without a record in migrations',
    run: (ex) => {
      if (!local) return addKey(ex, table);
      if (ex.dialect === 'mysql') return adoptMysql(ex, table, range);
      return ex.dialect === 'postgres' ? adoptPostgres(ex, table, range) : adoptSqlite(ex, range);
    },
  };
}

function uniqueOnNodeTime(table: TableInfo): IndexInfo | undefined {
  return table.indexes.find(
    (i) => i.unique && i.columns.length === 2 && i.columns[0].toLowerCase() === 'nodeid' && i.columns[1].toLowerCase() === 'timestamp',
  );
}

/** A table without the unique key (checked free of duplicates) gets ours. */
async function addKey(executor: SqlExecutor, table: TableInfo): Promise<void> {
  if (uniqueOnNodeTime(table)) return;
  await executor.query(
    executor.dialect === 'mysql'
      ? 'ALTER TABLE `measurement` ADD UNIQUE KEY `uq_measurement_node_timestamp` (`nodeId`, `timestamp`)'
      : 'CREATE UNIQUE INDEX "uq_measurement_node_timestamp" ON "measurement" ("nodeId", "timestamp")',
  );
}

async function convertRepeated(executor: SqlExecutor, d: TimestampSql, range: Range, target: string): Promise<number> {
  const segments = localSegments(ORIGINAL_TIME_ZONE, range.min, range.max + 1000);
  const repeated = segments.filter((s): s is Extract<LocalSegment, { kind: 'repeated' }> => s.kind === 'repeated');
  const instants = resolveRepeated(await storedIn(executor, d, repeated), segments);
  for (const [id, instant] of instants)
    await executor.query(`UPDATE ${q(executor, TABLE)} SET ${q(executor, target)} = ? WHERE id = ?`, [instant, id]);
  return instants.size;
}

async function adoptSqlite(executor: SqlExecutor, range: Range | undefined): Promise<string> {
  if (!range) return 'No local timestamps to convert.';
  const { offset, repeated } = localTimeSql(executor, range);
  // Repeated hours first, while their values are still text: the per-row rule needs them all.
  const ambiguous = await convertRepeated(executor, SQLITE, range, 'timestamp');
  const bulk = await executor.query(
    `UPDATE "${TABLE}" SET "timestamp" = CAST(strftime('%s', "timestamp") AS INTEGER) - ${offset.sql} WHERE ${SQLITE.notConverted} AND NOT (${repeated.sql})`,
    [...offset.params, ...repeated.params],
  );
  return `Converted ${bulk.affectedRows + ambiguous} timestamps, ${ambiguous} of them in a repeated hour.`;
}

async function adoptMysql(executor: SqlExecutor, table: TableInfo, range: Range | undefined): Promise<string> {
  if (!column(table, EPOCH_COLUMN)) await executor.query(`ALTER TABLE \`${TABLE}\` ADD COLUMN \`${EPOCH_COLUMN}\` BIGINT NULL`);
  let converted = 0;
  let ambiguous = 0;
  if (range) {
    const { offset, repeated } = localTimeSql(executor, range);
    const bounds = await executor.query(`SELECT MIN(id) AS lo, MAX(id) AS hi FROM \`${TABLE}\``);
    const lo = Number(bounds.rows[0].lo);
    const hi = Number(bounds.rows[0].hi);
    // Chunks of ids: no single statement holds locks on years of history at once.
    for (let start = lo; start <= hi; start += MYSQL_CHUNK_ROWS) {
      const result = await executor.query(
        `UPDATE \`${TABLE}\` SET \`${EPOCH_COLUMN}\` = TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', \`timestamp\`) - ${offset.sql}
         WHERE id >= ? AND id < ? AND \`${EPOCH_COLUMN}\` IS NULL AND \`timestamp\` IS NOT NULL AND NOT (${repeated.sql})`,
        [...offset.params, start, start + MYSQL_CHUNK_ROWS, ...repeated.params],
      );
      converted += result.affectedRows;
    }
    ambiguous = await convertRepeated(executor, MYSQL, range, EPOCH_COLUMN);
  }
  const left = await executor.query(
    `SELECT COUNT(*) AS n FROM \`${TABLE}\` WHERE \`${EPOCH_COLUMN}\` IS NULL AND \`timestamp\` IS NOT NULL`,
  );
  if (Number(left.rows[0].n) > 0) throw new Error(`${String(left.rows[0].n)} timestamps of measurement could not be read as local times`);

  // One ALTER swaps the columns and rebuilds the indexes over the instants, with their names.
  const changes: string[] = [];
  const withTime = table.indexes.filter((i) => !i.primary && i.columns.some((c) => c.toLowerCase() === 'timestamp'));
  for (const index of withTime) changes.push(`DROP INDEX \`${index.name}\``);
  const position = table.columns.findIndex((c) => c.name.toLowerCase() === 'timestamp');
  const after = position > 0 ? ` AFTER \`${table.columns[position - 1].name}\`` : ' FIRST';
  changes.push('DROP COLUMN `timestamp`');
  changes.push(`CHANGE COLUMN \`${EPOCH_COLUMN}\` \`timestamp\` BIGINT NULL COMMENT 'instant: Unix epoch seconds (UTC)'${after}`);
  for (const index of withTime) {
    const keys = index.columns.map(
      (c, k) => `\`${c.toLowerCase() === 'timestamp' ? 'timestamp' : c}\`${index.descending[k] ? ' DESC' : ''}`,
    );
    changes.push(`ADD ${index.unique ? 'UNIQUE ' : ''}KEY \`${index.name}\` (${keys.join(', ')})`);
  }
  if (!uniqueOnNodeTime(table)) changes.push('ADD UNIQUE KEY `uq_measurement_node_timestamp` (`nodeId`, `timestamp`)');
  // 4-byte FLOAT would round new readings (13.1 -> 13.100000381): DOUBLE, holding old values exactly.
  for (const c of table.columns) {
    if (/^float/.test(c.type)) changes.push(`MODIFY \`${c.name}\` DOUBLE ${c.nullable ? 'NULL' : 'NOT NULL'}`);
  }
  if (table.collation !== 'utf8mb4_bin' || table.columns.some((c) => c.family === 'text' && c.collation !== 'utf8mb4_bin')) {
    changes.push('CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin');
  }
  if ((table.engine ?? '').toLowerCase() !== 'innodb') changes.push('ENGINE=InnoDB');
  await executor.query(`ALTER TABLE \`${TABLE}\` ${changes.join(', ')}`);
  return `Converted ${converted + ambiguous} timestamps, ${ambiguous} of them in a repeated hour.`;
}

/** A PostgreSQL identifier, quoted. */
const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;

async function adoptPostgres(executor: SqlExecutor, table: TableInfo, range: Range | undefined): Promise<string> {
  if (!column(table, EPOCH_COLUMN)) await executor.query(`ALTER TABLE "${TABLE}" ADD COLUMN "${EPOCH_COLUMN}" BIGINT NULL`);
  let converted = 0;
  let ambiguous = 0;
  if (range) {
    const { offset, repeated } = localTimeSql(executor, range);
    // EXTRACT(EPOCH) of a timestamp without time zone counts its wall time as UTC: naive seconds.
    const result = await executor.query(
      `UPDATE "${TABLE}" SET "${EPOCH_COLUMN}" = floor(EXTRACT(EPOCH FROM "timestamp"))::bigint - ${offset.sql}
       WHERE "${EPOCH_COLUMN}" IS NULL AND "timestamp" IS NOT NULL AND NOT (${repeated.sql})`,
      [...offset.params, ...repeated.params],
    );
    converted = result.affectedRows;
    ambiguous = await convertRepeated(executor, POSTGRES, range, EPOCH_COLUMN);
  }
  const left = await executor.query(`SELECT COUNT(*) AS n FROM "${TABLE}" WHERE "${EPOCH_COLUMN}" IS NULL AND "timestamp" IS NOT NULL`);
  if (Number(left.rows[0].n) > 0) throw new Error(`${String(left.rows[0].n)} timestamps of measurement could not be read as local times`);

  // The key and index over `timestamp` go with the column; they come back by name over the instants.
  const withTime = table.indexes.filter((i) => !i.primary && i.columns.some((c) => c.toLowerCase() === 'timestamp'));
  const constraints = new Set(
    (
      await executor.query(`SELECT conname FROM pg_catalog.pg_constraint WHERE conrelid = to_regclass(?) AND contype = 'u'`, [
        ident(table.name),
      ])
    ).rows.map((r) => String(r.conname)),
  );
  await executor.query(`ALTER TABLE "${TABLE}" DROP COLUMN "timestamp"`);
  await executor.query(`ALTER TABLE "${TABLE}" RENAME COLUMN "${EPOCH_COLUMN}" TO "timestamp"`);
  await executor.query(`COMMENT ON COLUMN "${TABLE}"."timestamp" IS 'instant: Unix epoch seconds (UTC)'`);
  // As ours: text compared byte-wise (COLLATE "C"), and no 4-byte REAL that would round new readings.
  for (const c of table.columns) {
    if (/^(character|text)/.test(c.type) && c.collation !== 'c')
      await executor.query(`ALTER TABLE "${TABLE}" ALTER COLUMN ${ident(c.name)} TYPE ${c.type} COLLATE "C"`);
    if (c.type === 'real') await executor.query(`ALTER TABLE "${TABLE}" ALTER COLUMN ${ident(c.name)} TYPE DOUBLE PRECISION`);
  }
  for (const index of withTime) {
    const keys = index.columns
      .map((c, k) => `${ident(c.toLowerCase() === 'timestamp' ? 'timestamp' : c)}${index.descending[k] ? ' DESC' : ''}`)
      .join(', ');
    await executor.query(
      constraints.has(index.name)
        ? `ALTER TABLE "${TABLE}" ADD CONSTRAINT ${ident(index.name)} UNIQUE (${keys})`
        : `CREATE ${index.unique ? 'UNIQUE ' : ''}INDEX ${ident(index.name)} ON "${TABLE}" (${keys})`,
    );
  }
  if (!uniqueOnNodeTime(table))
    await executor.query(`CREATE UNIQUE INDEX "uq_measurement_node_timestamp" ON "${TABLE}" ("nodeId", "timestamp")`);
  return `Converted ${converted + ambiguous} timestamps, ${ambiguous} of them in a repeated hour.`;
}

export const isemsAdoption: SchemaAdoption = {
  inspect: { mysql: inspect, sqlite: inspect, postgres: inspect },
};
