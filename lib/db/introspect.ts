/**
 * What a database already holds, read from its catalog (read-only), in one dialect-neutral shape:
 * tables with their columns, indexes and triggers. Schema adoption (./adopt.ts) decides from this
 * whether an existing schema is one it knows how to take over.
 *
 * One reader per dialect (`SCHEMA_READERS`), so another dialect plugs in by adding its reader:
 * MySQL/MariaDB read information_schema, SQLite reads sqlite_master and the table pragmas,
 * PostgreSQL reads information_schema for columns and pg_catalog for indexes and triggers (in the
 * connection's current schema, the one unqualified table names resolve to).
 */
import type { Dialect, SqlExecutor } from './types';

/** The broad kind of a column's type, the same words in every dialect. */
export type TypeFamily = 'integer' | 'real' | 'decimal' | 'text' | 'datetime' | 'boolean' | 'blob' | 'other';

export interface ColumnInfo {
  name: string;
  /**
   * The type as the catalog spells it, lower case: `varchar(255)`, `int(11)`, `datetime`, `text`;
   * PostgreSQL's SQL names: `character varying(255)`, `timestamp without time zone`.
   */
  type: string;
  family: TypeFamily;
  nullable: boolean;
  /** A default is declared (or the value is generated / auto-incremented), so an INSERT may leave it out. */
  hasDefault: boolean;
  autoIncrement: boolean;
  generated: boolean;
  /** Text columns on MySQL: the character set (`utf8mb3`, `utf8mb4`, `latin1`...). */
  charset?: string;
  collation?: string;
  /** Longest value in characters (VARCHAR/CHAR/TEXT), when the dialect has one. */
  maxLength?: number;
  /** Fractional-second digits of a datetime column (MySQL, PostgreSQL). */
  fractionDigits?: number;
}

export interface IndexInfo {
  name: string;
  unique: boolean;
  primary: boolean;
  /** Column names in key order (expressions appear as `<expression>`). */
  columns: string[];
  /** Per column: descending. */
  descending: boolean[];
}

export interface TriggerInfo {
  name: string;
  table: string;
  /** `BEFORE` / `AFTER` / `INSTEAD OF`. */
  timing: string;
  /** `INSERT` / `UPDATE` / `DELETE` (PostgreSQL: several joined by ` OR `, e.g. `INSERT OR UPDATE`). */
  event: string;
  /** The trigger's body or full definition, for recognising it. */
  definition: string;
}

export interface TableInfo {
  name: string;
  columns: ColumnInfo[];
  indexes: IndexInfo[];
  /** MySQL: InnoDB, MyISAM... */
  engine?: string;
  /** MySQL: the table's default collation. */
  collation?: string;
  /** MySQL: Dynamic, Compact... */
  rowFormat?: string;
}

export interface SchemaSnapshot {
  dialect: Dialect;
  /** Tables that exist among those asked for, keyed by lower-case name. */
  tables: Map<string, TableInfo>;
  /** Every trigger on the tables asked for. */
  triggers: TriggerInfo[];
}

/** What a catalog reader is asked for: distinct lower-case table names (at least one), their placeholders. */
interface CatalogQuery {
  names: string[];
  inList: string;
  /** The reader adds the tables and triggers it finds and returns it. */
  snapshot: SchemaSnapshot;
}

export type SchemaReader = (executor: SqlExecutor, query: CatalogQuery) => Promise<SchemaSnapshot>;

const text = (value: unknown): string => (value === null || value === undefined ? '' : String(value));

/**
 * The index a catalog row (one column of one index: `tbl`, `name`, `col`) belongs to, created on
 * its first column with what `describe` says of it, and that column appended; undefined for a
 * table not asked about.
 */
function indexOfRow(
  snapshot: SchemaSnapshot,
  row: Record<string, unknown>,
  describe: (name: string) => Pick<IndexInfo, 'unique' | 'primary'>,
): IndexInfo | undefined {
  const table = snapshot.tables.get(text(row.tbl).toLowerCase());
  if (!table) return undefined;
  const name = text(row.name);
  let index = table.indexes.find((i) => i.name === name);
  if (!index) {
    index = { name, ...describe(name), columns: [], descending: [] };
    table.indexes.push(index);
  }
  index.columns.push(row.col === null || row.col === undefined ? '<expression>' : text(row.col));
  return index;
}
const num = (value: unknown): number | undefined => (value === null || value === undefined || value === '' ? undefined : Number(value));

export function column(table: TableInfo | undefined, name: string): ColumnInfo | undefined {
  return table?.columns.find((c) => c.name.toLowerCase() === name.toLowerCase());
}

/** The index whose key is exactly `columns` (in order), if any. */
export function indexOn(
  table: TableInfo | undefined,
  columns: readonly string[],
  options: { unique?: boolean } = {},
): IndexInfo | undefined {
  const wanted = columns.map((c) => c.toLowerCase());
  return table?.indexes.find(
    (i) =>
      (options.unique === undefined || i.unique === options.unique) &&
      i.columns.length === wanted.length &&
      i.columns.every((c, k) => c.toLowerCase() === wanted[k]),
  );
}

/** A short, readable description of a column for messages: `topic varchar(255)`. */
export function describeColumn(c: ColumnInfo): string {
  return `${c.name} ${c.type}${c.nullable ? '' : ' not null'}`;
}

export function describeTable(t: TableInfo): string {
  return `${t.name}(${t.columns.map((c) => c.name).join(', ')})`;
}

// ------------------------------------------------------------------------------------- MySQL

function mysqlFamily(dataType: string, columnType: string): TypeFamily {
  const t = dataType.toLowerCase();
  if (t === 'tinyint' && /^tinyint\(1\)/.test(columnType)) return 'boolean';
  if (['tinyint', 'smallint', 'mediumint', 'int', 'integer', 'bigint', 'year'].includes(t)) return 'integer';
  if (['float', 'double', 'real'].includes(t)) return 'real';
  if (t === 'decimal' || t === 'numeric') return 'decimal';
  if (['char', 'varchar', 'tinytext', 'text', 'mediumtext', 'longtext', 'enum', 'set', 'json'].includes(t)) return 'text';
  if (['datetime', 'timestamp', 'date', 'time'].includes(t)) return 'datetime';
  if (['binary', 'varbinary', 'tinyblob', 'blob', 'mediumblob', 'longblob'].includes(t)) return 'blob';
  if (t === 'bit') return 'boolean';
  return 'other';
}

function placeholders(n: number): string {
  return new Array(n).fill('?').join(', ');
}

const readMysql: SchemaReader = async (executor, { names, inList, snapshot }) => {
  // information_schema compares TABLE_NAME by the file system's case rules; LOWER() makes the match explicit.
  const tables = await executor.query(
    `SELECT TABLE_NAME AS name, ENGINE AS engine, TABLE_COLLATION AS collation, ROW_FORMAT AS row_format
     FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' AND LOWER(TABLE_NAME) IN (${inList})`,
    names,
  );
  for (const row of tables.rows) {
    snapshot.tables.set(text(row.name).toLowerCase(), {
      name: text(row.name),
      columns: [],
      indexes: [],
      engine: text(row.engine) || undefined,
      collation: text(row.collation) || undefined,
      rowFormat: text(row.row_format) || undefined,
    });
  }
  if (snapshot.tables.size === 0) return snapshot;
  const columns = await executor.query(
    `SELECT TABLE_NAME AS tbl, COLUMN_NAME AS name, DATA_TYPE AS data_type, COLUMN_TYPE AS column_type, IS_NULLABLE AS nullable,
            COLUMN_DEFAULT AS dflt, EXTRA AS extra, CHARACTER_SET_NAME AS charset, COLLATION_NAME AS coll,
            CHARACTER_MAXIMUM_LENGTH AS max_length, DATETIME_PRECISION AS fsp
     FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND LOWER(TABLE_NAME) IN (${inList}) ORDER BY TABLE_NAME, ORDINAL_POSITION`,
    names,
  );
  for (const row of columns.rows) {
    const table = snapshot.tables.get(text(row.tbl).toLowerCase());
    if (!table) continue;
    const extra = text(row.extra).toLowerCase();
    const columnType = text(row.column_type).toLowerCase();
    const generated = /generated/.test(extra);
    const autoIncrement = extra.includes('auto_increment');
    table.columns.push({
      name: text(row.name),
      type: columnType,
      family: mysqlFamily(text(row.data_type), columnType),
      nullable: text(row.nullable).toUpperCase() === 'YES',
      // MariaDB reports a declared DEFAULT NULL as the text 'NULL'; no default at all is SQL NULL.
      hasDefault: row.dflt !== null && row.dflt !== undefined ? true : autoIncrement || generated,
      autoIncrement,
      generated,
      charset: text(row.charset).toLowerCase() || undefined,
      collation: text(row.coll).toLowerCase() || undefined,
      maxLength: num(row.max_length),
      fractionDigits: num(row.fsp),
    });
  }
  const indexes = await executor.query(
    `SELECT TABLE_NAME AS tbl, INDEX_NAME AS name, NON_UNIQUE AS non_unique, COLUMN_NAME AS col, COLLATION AS coll
     FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND LOWER(TABLE_NAME) IN (${inList}) ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX`,
    names,
  );
  for (const row of indexes.rows) {
    const index = indexOfRow(snapshot, row, (name) => ({ unique: Number(row.non_unique) === 0, primary: name === 'PRIMARY' }));
    if (!index) continue;
    index.descending.push(text(row.coll).toUpperCase() === 'D');
  }
  const triggers = await executor.query(
    `SELECT TRIGGER_NAME AS name, EVENT_OBJECT_TABLE AS tbl, ACTION_TIMING AS timing, EVENT_MANIPULATION AS event, ACTION_STATEMENT AS body
     FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND LOWER(EVENT_OBJECT_TABLE) IN (${inList}) ORDER BY TRIGGER_NAME`,
    names,
  );
  for (const row of triggers.rows) {
    snapshot.triggers.push({
      name: text(row.name),
      table: text(row.tbl),
      timing: text(row.timing).toUpperCase(),
      event: text(row.event).toUpperCase(),
      definition: text(row.body),
    });
  }
  return snapshot;
};

// ------------------------------------------------------------------------------------ SQLite

/** SQLite's type affinity rules (datatype3.html §3.1), with the date and boolean names called out. */
export function sqliteFamily(declared: string): TypeFamily {
  const t = declared.toUpperCase();
  if (t.includes('INT')) return 'integer';
  if (t.includes('CHAR') || t.includes('CLOB') || t.includes('TEXT')) return 'text';
  if (t === '' || t.includes('BLOB')) return 'blob';
  if (t.includes('REAL') || t.includes('FLOA') || t.includes('DOUB')) return 'real';
  if (/DATE|TIME/.test(t)) return 'datetime';
  if (t.includes('BOOL')) return 'boolean';
  if (/DECIMAL|NUMERIC/.test(t)) return 'decimal';
  return 'other';
}

const TRIGGER_HEAD =
  /^\s*CREATE\s+(?:TEMP(?:ORARY)?\s+)?TRIGGER\s+(?:IF\s+NOT\s+EXISTS\s+)?\S+\s+(BEFORE|AFTER|INSTEAD\s+OF)?\s*(INSERT|UPDATE|DELETE)/i;

const readSqlite: SchemaReader = async (executor, { names, inList, snapshot }) => {
  const objects = await executor.query(
    `SELECT type, name, tbl_name, sql FROM sqlite_master WHERE type IN ('table', 'trigger') AND lower(tbl_name) IN (${inList}) ORDER BY name`,
    names,
  );
  for (const row of objects.rows) {
    if (row.type === 'table') snapshot.tables.set(text(row.name).toLowerCase(), { name: text(row.name), columns: [], indexes: [] });
  }
  for (const row of objects.rows) {
    if (row.type !== 'trigger') continue;
    const head = TRIGGER_HEAD.exec(text(row.sql));
    snapshot.triggers.push({
      name: text(row.name),
      table: text(row.tbl_name),
      timing: (head?.[1] ?? 'BEFORE').toUpperCase().replace(/\s+/g, ' '),
      event: (head?.[2] ?? '').toUpperCase(),
      definition: text(row.sql),
    });
  }
  for (const table of snapshot.tables.values()) {
    // Hidden 2/3 are generated columns (1 would be a virtual table's hidden column).
    const { rows } = await executor.query(
      'SELECT name, type, "notnull" AS not_null, dflt_value, pk, hidden FROM pragma_table_xinfo(?) ORDER BY cid',
      [table.name],
    );
    const primaryKey = rows.filter((r) => Number(r.pk) > 0);
    for (const row of rows) {
      const declared = text(row.type);
      const generated = Number(row.hidden) >= 2;
      // A lone INTEGER PRIMARY KEY is the rowid: it numbers itself.
      const rowid = primaryKey.length === 1 && Number(row.pk) === 1 && declared.toUpperCase() === 'INTEGER';
      table.columns.push({
        name: text(row.name),
        type: declared.toLowerCase(),
        family: sqliteFamily(declared),
        nullable: Number(row.not_null) === 0 && !rowid,
        hasDefault: row.dflt_value !== null || generated || rowid,
        autoIncrement: rowid,
        generated,
      });
    }
    const list = await executor.query('SELECT name, "unique" AS is_unique, origin FROM pragma_index_list(?)', [table.name]);
    for (const entry of list.rows) {
      const keys = await executor.query('SELECT name, "desc" AS descending, key FROM pragma_index_xinfo(?) ORDER BY seqno', [
        text(entry.name),
      ]);
      const key = keys.rows.filter((k) => Number(k.key) === 1);
      table.indexes.push({
        name: text(entry.name),
        unique: Number(entry.is_unique) === 1,
        primary: text(entry.origin) === 'pk',
        columns: key.map((k) => (k.name === null || k.name === undefined ? '<expression>' : text(k.name))),
        descending: key.map((k) => Number(k.descending) === 1),
      });
    }
    if (primaryKey.length > 0 && !table.indexes.some((i) => i.primary)) {
      // A rowid primary key has no index of its own in pragma_index_list.
      table.indexes.push({
        name: 'PRIMARY',
        unique: true,
        primary: true,
        columns: primaryKey.sort((a, b) => Number(a.pk) - Number(b.pk)).map((r) => text(r.name)),
        descending: primaryKey.map(() => false),
      });
    }
  }
  return snapshot;
};

// -------------------------------------------------------------------------------- PostgreSQL

/** information_schema's data_type (SQL names; a domain shows its base type) → family. */
export function postgresFamily(dataType: string): TypeFamily {
  const t = dataType.toLowerCase();
  if (['smallint', 'integer', 'bigint'].includes(t)) return 'integer';
  if (t === 'real' || t === 'double precision') return 'real';
  if (t === 'numeric') return 'decimal';
  if (['character varying', 'character', 'text', 'json', 'jsonb', 'name', '"char"'].includes(t)) return 'text';
  if (t.startsWith('timestamp') || t.startsWith('time ') || t === 'date') return 'datetime';
  if (t === 'boolean') return 'boolean';
  if (t === 'bytea') return 'blob';
  return 'other';
}

/** The type as a reader would write it: `character varying(255)`, `timestamp(3) with time zone`, `numeric(10,2)`. */
function postgresType(row: Record<string, unknown>): string {
  const dataType = text(row.data_type).toLowerCase();
  const length = num(row.max_length);
  if (length !== undefined) return `${dataType}(${length})`;
  const precision = num(row.numeric_precision);
  if (dataType === 'numeric' && precision !== undefined) return `numeric(${precision},${num(row.numeric_scale) ?? 0})`;
  const fsp = num(row.fsp);
  // A timestamp's default precision (6) is left out, as PostgreSQL's own format_type() does.
  if (fsp !== undefined && fsp !== 6 && /^(timestamp|time) /.test(dataType)) return dataType.replace(/^(timestamp|time) /, `$1(${fsp}) `);
  return dataType;
}

const readPostgres: SchemaReader = async (executor, { names, inList, snapshot }) => {
  // Names are matched case-insensitively like MySQL's (a quoted "Measurement" is found as measurement).
  const tables = await executor.query(
    `SELECT c.relname AS name FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND lower(c.relname) IN (${inList})`,
    names,
  );
  for (const row of tables.rows) snapshot.tables.set(text(row.name).toLowerCase(), { name: text(row.name), columns: [], indexes: [] });
  if (snapshot.tables.size === 0) return snapshot;
  const columns = await executor.query(
    `SELECT table_name AS tbl, column_name AS name, data_type, is_nullable AS nullable, column_default AS dflt,
            is_identity AS identity, is_generated AS generated, collation_name AS coll,
            character_maximum_length AS max_length, numeric_precision, numeric_scale, datetime_precision AS fsp
     FROM information_schema.columns WHERE table_schema = current_schema() AND lower(table_name) IN (${inList})
     ORDER BY table_name, ordinal_position`,
    names,
  );
  for (const row of columns.rows) {
    const table = snapshot.tables.get(text(row.tbl).toLowerCase());
    if (!table) continue;
    const dflt = text(row.dflt);
    // SERIAL / BIGSERIAL are a sequence default; GENERATED ... AS IDENTITY is the standard form.
    const autoIncrement = text(row.identity).toUpperCase() === 'YES' || /^nextval\(/i.test(dflt);
    const generated = text(row.generated).toUpperCase() === 'ALWAYS';
    const family = postgresFamily(text(row.data_type));
    table.columns.push({
      name: text(row.name),
      type: postgresType(row),
      family,
      nullable: text(row.nullable).toUpperCase() === 'YES',
      hasDefault: dflt !== '' || autoIncrement || generated,
      autoIncrement,
      generated,
      collation: text(row.coll).toLowerCase() || undefined,
      maxLength: num(row.max_length),
      fractionDigits: family === 'datetime' ? num(row.fsp) : undefined,
    });
  }
  // One row per key column (INCLUDE columns left out); DESC is bit 0 of indoption. A partial index
  // (WHERE ...) guarantees nothing for the whole table, so it does not count as unique here.
  const indexes = await executor.query(
    `SELECT t.relname AS tbl, ic.relname AS name, (i.indisunique AND i.indpred IS NULL) AS is_unique, i.indisprimary AS is_primary,
            a.attname AS col, (i.indoption[k.ord - 1] & 1) = 1 AS descending
     FROM pg_catalog.pg_index i
     JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
     JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
     JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
     CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
     LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum AND k.attnum > 0
     WHERE n.nspname = current_schema() AND lower(t.relname) IN (${inList}) AND k.ord <= i.indnkeyatts
     ORDER BY t.relname, ic.relname, k.ord`,
    names,
  );
  for (const row of indexes.rows) {
    const index = indexOfRow(snapshot, row, () => ({ unique: row.is_unique === true, primary: row.is_primary === true }));
    if (!index) continue;
    index.descending.push(row.descending === true);
  }
  // pg_trigger rather than information_schema.triggers (one row per event there): one row per
  // trigger, its events from tgtype's bits, and the function's source beside the CREATE TRIGGER,
  // which alone names only the function. Internal triggers (foreign keys) are left out.
  const triggers = await executor.query(
    `SELECT tg.tgname AS name, t.relname AS tbl,
            CASE WHEN tg.tgtype & 2 <> 0 THEN 'BEFORE' WHEN tg.tgtype & 64 <> 0 THEN 'INSTEAD OF' ELSE 'AFTER' END AS timing,
            concat_ws(' OR ', CASE WHEN tg.tgtype & 4 <> 0 THEN 'INSERT' END, CASE WHEN tg.tgtype & 16 <> 0 THEN 'UPDATE' END,
                      CASE WHEN tg.tgtype & 8 <> 0 THEN 'DELETE' END, CASE WHEN tg.tgtype & 32 <> 0 THEN 'TRUNCATE' END) AS event,
            pg_catalog.pg_get_triggerdef(tg.oid) AS head, p.prosrc AS body
     FROM pg_catalog.pg_trigger tg
     JOIN pg_catalog.pg_class t ON t.oid = tg.tgrelid
     JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
     JOIN pg_catalog.pg_proc p ON p.oid = tg.tgfoid
     WHERE NOT tg.tgisinternal AND n.nspname = current_schema() AND lower(t.relname) IN (${inList})
     ORDER BY tg.tgname`,
    names,
  );
  for (const row of triggers.rows) {
    snapshot.triggers.push({
      name: text(row.name),
      table: text(row.tbl),
      timing: text(row.timing),
      event: text(row.event),
      definition: `${text(row.head)}\n${text(row.body)}`,
    });
  }
  return snapshot;
};

/**
 * Catalog readers by dialect. A dialect without one cannot be inspected, so schema adoption is
 * skipped for it (the migrations then run as they always did).
 */
export const SCHEMA_READERS: Partial<Record<Dialect, SchemaReader>> = {
  mysql: readMysql,
  sqlite: readSqlite,
  postgres: readPostgres,
};

/** Reads `tables` (and their triggers) from the catalog. Throws when the dialect has no reader. */
export async function readSchema(executor: SqlExecutor, tables: readonly string[]): Promise<SchemaSnapshot> {
  const reader = SCHEMA_READERS[executor.dialect];
  if (!reader) throw new Error(`No catalog reader for the ${executor.dialect} dialect`);
  const names = [...new Set(tables.map((t) => t.toLowerCase()))];
  const snapshot: SchemaSnapshot = { dialect: executor.dialect, tables: new Map(), triggers: [] };
  if (names.length === 0) return snapshot;
  return reader(executor, { names, inList: placeholders(names.length), snapshot });
}
