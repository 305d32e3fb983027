/**
 * The data catalog (`/catalog`): the datasets this package manages, described from the LIVE
 * database rather than from a hand-written list that drifts: columns and types from
 * information_schema (MySQL/MariaDB) or pragma_table_info (SQLite), row count, and first/last
 * time by a configured column (MIN and MAX as separate subqueries so both dialects answer each
 * from the index instead of scanning). Descriptions and lineage are declared metadata.
 */
import type { Database, Dialect, MigrationSet, SqlExecutor } from '../db/types';
import { IotpError } from '../errors';
import { AGGREGATED_SENSOR_DATA_TABLE, AGGREGATED_SENSOR_PARTS_TABLE, SENSOR_DATA_TABLE } from './schema';
import { dbTimestampToIso, formatIsoMs } from './time';

export interface DatasetLineage {
  /** MQTT topic (or other source) the dataset is fed from. */
  topic?: string;
  /** Flow or node that writes it. */
  flow?: string;
  /** Datasets it is computed from. */
  derivedFrom?: readonly string[];
}

export interface DatasetDeclaration {
  /** Table name. */
  name: string;
  description: string;
  /** Column giving each row's time, for first/last; omit for tables without one. */
  timeColumn?: string;
  lineage?: DatasetLineage;
}

export interface CatalogColumn {
  name: string;
  /** As the database declares it, e.g. `datetime(6)`, `DOUBLE`. */
  type: string;
  nullable: boolean;
  primary_key: boolean;
}

export interface CatalogEntry {
  name: string;
  description: string;
  exists: boolean;
  columns: CatalogColumn[];
  row_count: number | null;
  /** True when `row_count` is an engine estimate (MySQL `countMode: 'estimate'`). */
  row_count_estimated: boolean;
  time_column: string | null;
  first_timestamp: string | null;
  last_timestamp: string | null;
  lineage: { source_topic: string | null; flow: string | null; derived_from: string[]; feeds: string[] };
  /** Problems met while describing this dataset (e.g. a time column that does not exist). */
  warnings: string[];
}

export interface Catalog {
  generated_at: string;
  dialect: Dialect;
  datasets: CatalogEntry[];
}

export type CatalogErrorCode = 'BAD_IDENTIFIER' | 'UNKNOWN_MIGRATION_SET';

export class CatalogError extends IotpError<CatalogErrorCode> {}

const IDENTIFIER_RE = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

function checkIdentifier(name: string, what: string): string {
  if (typeof name !== 'string' || !IDENTIFIER_RE.test(name)) {
    throw new CatalogError('BAD_IDENTIFIER', `${what} ${JSON.stringify(name)} is not a plain identifier (letters, digits, _; at most 64)`);
  }
  return name;
}

function quote(dialect: Dialect, identifier: string): string {
  return dialect === 'mysql' ? `\`${identifier}\`` : `"${identifier}"`;
}

/**
 * The datasets of the sensors pipeline, with the original's lineage (MQTT `sensors` -> raw ->
 * per-minute means), and the parts in between: each instance's per-minute means, which the
 * database merges into `aggregated_sensor_data`. The means stay derived from `sensor_data` too
 * (what they are the means of, and what a flow writing them directly derives them from).
 */
export function sensorDatasets(topic = 'sensors'): DatasetDeclaration[] {
  return [
    {
      name: SENSOR_DATA_TABLE,
      description: 'Raw sensor readings as published on MQTT, one row per message (UTC timestamps with microseconds).',
      timeColumn: 'timestamp',
      lineage: { topic, flow: 'sensors: raw ingest' },
    },
    {
      name: AGGREGATED_SENSOR_DATA_TABLE,
      description:
        'Mean value per sensor per UTC minute (timestamp = start of the minute), with the number of readings in `samples`. ' +
        'Means taken over from the original pipeline keep its stamps (its local insert time) and carry their id in `original_row` (0 for the means of this product).',
      timeColumn: 'timestamp',
      lineage: { topic, flow: 'sensors: per-minute aggregation', derivedFrom: [SENSOR_DATA_TABLE, AGGREGATED_SENSOR_PARTS_TABLE] },
    },
    {
      name: AGGREGATED_SENSOR_PARTS_TABLE,
      description:
        'Per-minute means per sensor and Node-RED instance (`instance`; empty for minutes stored before parts existed), with their `samples`: ' +
        'each instance stores the part of the minute it saw, and database triggers merge the parts into aggregated_sensor_data as the samples-weighted mean.',
      timeColumn: 'timestamp',
      lineage: { topic, flow: 'sensors: per-minute aggregation', derivedFrom: [SENSOR_DATA_TABLE] },
    },
  ];
}

/** Table names a migration set creates (from its CREATE TABLE statements), for catalog coverage. */
export function tablesOfMigrationSet(set: MigrationSet, dialect: Dialect = 'mysql'): string[] {
  const names: string[] = [];
  for (const migration of set.migrations) {
    for (const sql of migration[dialect] ?? []) {
      const m = /^\s*CREATE\s+(?:TEMPORARY\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?[`"[]?([A-Za-z0-9_]+)/i.exec(sql);
      if (m && !names.includes(m[1])) names.push(m[1]);
    }
  }
  return names;
}

/**
 * Declarations for every table of `sets` plus `declared` ones; a declared entry wins over the
 * generic one of a migration-set table with the same name.
 */
export function catalogDeclarations(sets: readonly MigrationSet[], declared: readonly DatasetDeclaration[]): DatasetDeclaration[] {
  const byName = new Map<string, DatasetDeclaration>();
  for (const set of sets) {
    for (const table of tablesOfMigrationSet(set))
      byName.set(table, { name: table, description: `Table of migration set "${set.name}": ${set.description}` });
  }
  for (const d of declared) byName.set(d.name, d);
  return [...byName.values()];
}

async function readColumns(db: SqlExecutor, table: string): Promise<CatalogColumn[]> {
  if (db.dialect === 'mysql') {
    const { rows } = await db.query(
      `SELECT COLUMN_NAME AS name, COLUMN_TYPE AS type, IS_NULLABLE AS nullable, COLUMN_KEY AS column_key
       FROM information_schema.COLUMNS
       WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?
       ORDER BY ORDINAL_POSITION`,
      [table],
    );
    return rows.map((r) => ({
      name: String(r.name),
      type: String(r.type),
      nullable: r.nullable === 'YES',
      primary_key: r.column_key === 'PRI',
    }));
  }
  if (db.dialect === 'postgres') {
    // PostgreSQL's own catalog: the table as the search path finds it (quote_ident keeps the name's case).
    const { rows } = await db.query(
      `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable,
              COALESCE(a.attnum = ANY (i.indkey), FALSE) AS primary_key
       FROM pg_catalog.pg_attribute a
       LEFT JOIN pg_catalog.pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
       WHERE a.attrelid = to_regclass(quote_ident(?)) AND a.attnum > 0 AND NOT a.attisdropped
       ORDER BY a.attnum`,
      [table],
    );
    return rows.map((r) => ({
      name: String(r.name),
      type: String(r.type),
      nullable: r.nullable === true,
      primary_key: r.primary_key === true,
    }));
  }
  const { rows } = await db.query('SELECT name, type, "notnull" AS not_null, pk FROM pragma_table_info(?) ORDER BY cid', [table]);
  return rows.map((r) => ({
    name: String(r.name),
    type: String(r.type),
    // SQLite lets an INTEGER PRIMARY KEY hold NULL on insert (it assigns the rowid) but never stores one.
    nullable: Number(r.not_null) === 0 && Number(r.pk) === 0,
    primary_key: Number(r.pk) > 0,
  }));
}

async function countRows(db: SqlExecutor, table: string, mode: 'exact' | 'estimate'): Promise<{ count: number; estimated: boolean }> {
  if (mode === 'estimate' && db.dialect === 'mysql') {
    const { rows } = await db.query(
      'SELECT TABLE_ROWS AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?',
      [table],
    );
    return { count: Number(rows[0]?.n ?? 0), estimated: true };
  }
  if (mode === 'estimate' && db.dialect === 'postgres') {
    // The planner's statistics; -1 until the table was first vacuumed or analysed, then count.
    const { rows } = await db.query('SELECT reltuples AS n FROM pg_catalog.pg_class WHERE oid = to_regclass(quote_ident(?))', [table]);
    const n = Number(rows[0]?.n ?? -1);
    if (n >= 0) return { count: Math.round(n), estimated: true };
  }
  const { rows } = await db.query(`SELECT COUNT(*) AS n FROM ${quote(db.dialect, table)}`);
  return { count: Number(rows[0]?.n ?? 0), estimated: false };
}

export interface CatalogOptions {
  /**
   * `exact` (default) counts rows; `estimate` reads the server's statistics instead (InnoDB's on MySQL, pg_class.reltuples on PostgreSQL; COUNT(*)
   * walks a whole index: seconds on tables of tens of millions of rows). SQLite always counts.
   */
  countMode?: 'exact' | 'estimate';
  /** Clock for `generated_at`. */
  now?: () => number;
}

/** Describes one dataset from the live database. */
export async function describeDataset(
  db: SqlExecutor,
  declaration: DatasetDeclaration,
  feeds: string[] = [],
  options: CatalogOptions = {},
): Promise<CatalogEntry> {
  const table = checkIdentifier(declaration.name, 'dataset name');
  const timeColumn = declaration.timeColumn === undefined ? null : checkIdentifier(declaration.timeColumn, 'time column');
  const entry: CatalogEntry = {
    name: table,
    description: declaration.description,
    exists: false,
    columns: [],
    row_count: null,
    row_count_estimated: false,
    time_column: timeColumn,
    first_timestamp: null,
    last_timestamp: null,
    lineage: {
      source_topic: declaration.lineage?.topic ?? null,
      flow: declaration.lineage?.flow ?? null,
      derived_from: [...(declaration.lineage?.derivedFrom ?? [])],
      feeds,
    },
    warnings: [],
  };
  entry.columns = await readColumns(db, table);
  if (entry.columns.length === 0) {
    entry.warnings.push(`table ${table} does not exist in the database`);
    return entry;
  }
  entry.exists = true;
  const counted = await countRows(db, table, options.countMode ?? 'exact');
  entry.row_count = counted.count;
  entry.row_count_estimated = counted.estimated;
  if (timeColumn !== null) {
    if (!entry.columns.some((c) => c.name === timeColumn)) {
      entry.warnings.push(`time column ${timeColumn} does not exist in ${table}`);
    } else {
      const t = quote(db.dialect, table);
      const c = quote(db.dialect, timeColumn);
      // mysql2 and pg return DATETIME/TIMESTAMP as a JS Date (milliseconds only); as text the microseconds survive.
      const type = entry.columns.find((col) => col.name === timeColumn)?.type.toLowerCase() ?? '';
      const asText = db.dialect !== 'sqlite' && /^(datetime|timestamp)/.test(type);
      const bound = (fn: string): string => {
        const value = `(SELECT ${fn}(${c}) FROM ${t})`;
        if (!asText) return value;
        return db.dialect === 'postgres' ? `to_char(${value}, 'YYYY-MM-DD HH24:MI:SS.US')` : `CAST(${value} AS CHAR)`;
      };
      const { rows } = await db.query(`SELECT ${bound('MIN')} AS first_ts, ${bound('MAX')} AS last_ts`);
      entry.first_timestamp = dbTimestampToIso(rows[0]?.first_ts);
      entry.last_timestamp = dbTimestampToIso(rows[0]?.last_ts);
    }
  }
  return entry;
}

/** The whole catalog: every declared dataset, with `feeds` computed from the others' `derivedFrom`. */
export async function buildCatalog(
  db: Pick<Database, 'dialect' | 'query'>,
  declarations: readonly DatasetDeclaration[],
  options: CatalogOptions = {},
): Promise<Catalog> {
  const feeds = new Map<string, string[]>();
  for (const d of declarations) {
    for (const source of d.lineage?.derivedFrom ?? []) {
      const list = feeds.get(source) ?? [];
      if (!list.includes(d.name)) list.push(d.name);
      feeds.set(source, list);
    }
  }
  const datasets: CatalogEntry[] = [];
  for (const d of declarations) datasets.push(await describeDataset(db, d, feeds.get(d.name) ?? [], options));
  return { generated_at: formatIsoMs((options.now ?? Date.now)()), dialect: db.dialect, datasets };
}
