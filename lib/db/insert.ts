/**
 * Multi-row INSERT statements for N rows, split into chunks that stay under the driver's
 * placeholder limit, a row cap and (for MySQL) an estimated statement size, with a conflict policy:
 *
 * | policy   | MySQL / MariaDB                                         | SQLite                                         |
 * |----------|---------------------------------------------------------|------------------------------------------------|
 * | `error`  | plain INSERT: a duplicate key fails the statement       | plain INSERT                                   |
 * | `ignore` | `ON DUPLICATE KEY UPDATE k = k` (a no-op update)        | `ON CONFLICT DO NOTHING`                       |
 * | `upsert` | `ON DUPLICATE KEY UPDATE c = VALUES(c)`                 | `ON CONFLICT (keys) DO UPDATE SET c = excluded.c` |
 *
 * PostgreSQL: `error` is a `COPY ... FROM STDIN` whose one parameter is the rows in COPY's text
 * format (lib/db/postgres.ts streams it; measured against multi-row INSERT and unnest() in
 * bench/writer.bench.ts and docs/postgresql.md); `ignore`/`upsert` are multi-row INSERTs with
 * SQLite's ON CONFLICT clauses. An upsert statement cannot touch one key twice on PostgreSQL
 * ("ON CONFLICT DO UPDATE command cannot affect row a second time"), so rows repeating a key in one
 * statement are merged first, into what upserting them one after another leaves.
 *
 * Why not `INSERT IGNORE` for `ignore`: on MySQL it also turns data errors (too long, NULL into
 * NOT NULL, bad values) into warnings and stores truncated or default values, i.e. silently
 * corrupts data. The no-op ODKU only swallows duplicate keys; every other error still fails the
 * statement, so the caller can isolate the bad row. Same for SQLite's upsert clause, which only
 * applies to uniqueness constraints.
 *
 * affectedRows of `ignore`/`upsert` statements differs by dialect (MySQL counts 1 per inserted row
 * and, with mysql2's default FOUND_ROWS flag, 1 per duplicate or 2 per changed row; SQLite counts
 * each inserted or updated row once). Do not derive "rows inserted" from it.
 */
import { IdentifierError, SqlParameterError } from './errors';
import { quoteIdentifier, quoteIdentifierList } from './identifiers';
import { LruMap } from './lru';
import type { Dialect, QueryResult, SqlExecutor, SqlValue } from './types';
import { copyField } from './values';

export type ConflictPolicy = 'error' | 'ignore' | 'upsert';

/** Most bound parameters one statement may carry: mysql2 prepared statements 65535, SQLite's SQLITE_MAX_VARIABLE_NUMBER 32766. */
export const PLACEHOLDER_LIMITS: Readonly<Record<Dialect, number>> = { mysql: 65535, sqlite: 32766, postgres: 65535 };
export const DEFAULT_MAX_ROWS_PER_STATEMENT = 1000;
/**
 * Estimated size cap of one MySQL statement. mysql2 inlines escaped values into the SQL text,
 * which must fit max_allowed_packet (4 MiB on MySQL 5.7, 16 MiB on MariaDB 10.11, 64 MiB on
 * MySQL 8). The estimate is an upper bound (3 bytes per UTF-16 unit), so real statements are smaller.
 * SQLite and PostgreSQL bind values separately (or stream them, COPY), so they have no such cap.
 */
export const DEFAULT_MAX_STATEMENT_BYTES: Readonly<Record<Dialect, number>> = {
  mysql: 4 * 1024 * 1024,
  sqlite: Infinity,
  postgres: Infinity,
};

export interface InsertSpec {
  table: string;
  columns: readonly string[];
  /** Default `error`. */
  conflict?: ConflictPolicy;
  /**
   * The unique key the conflict is on. Required for `upsert` (SQLite names it in ON CONFLICT);
   * optional for `ignore` (MySQL's no-op update then assigns its first column; else the first column).
   */
  keyColumns?: readonly string[];
  /** Columns an `upsert` overwrites; default every column that is not a key column. */
  updateColumns?: readonly string[];
  /** Cap on rows per statement (default 1000), further limited by the placeholder limit. */
  maxRowsPerStatement?: number;
  /** Cap on the estimated statement size in bytes (default DEFAULT_MAX_STATEMENT_BYTES[dialect]). */
  maxStatementBytes?: number;
}

/** One row: values in `columns` order, or an object keyed by column name (missing/undefined -> NULL). */
export type InsertRow = readonly SqlValue[] | Readonly<Record<string, SqlValue | undefined>>;

export interface InsertStatement {
  sql: string;
  values: SqlValue[];
  /** How many rows this statement inserts. */
  rows: number;
}

function sameNames(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

function estimateBytes(value: SqlValue | undefined): number {
  if (typeof value === 'string') return value.length * 3 + 2;
  if (value === null || value === undefined) return 4;
  if (Buffer.isBuffer(value)) return value.length * 2 + 3;
  return 32; // numbers, bigints, booleans, dates
}

/** A validated INSERT shape for one table, reused for every batch: SQL text is built once per row count. */
export class InsertPlan {
  readonly dialect: Dialect;
  readonly table: string;
  readonly columns: readonly string[];
  readonly conflict: ConflictPolicy;
  /** Rows per statement after the placeholder limit and maxRowsPerStatement. */
  readonly rowsPerStatement: number;
  readonly maxStatementBytes: number;
  private readonly prefix: string;
  private readonly rowPlaceholders: string;
  private readonly suffix: string;
  private readonly sqlByRowCount = new LruMap<number, string>(16);
  /** PostgreSQL with policy `error`: the COPY statement every chunk of rows is sent with. */
  private readonly copySql: string | null;
  /** PostgreSQL upsert: positions of the key columns and of the columns an update overwrites, for merging repeated keys. */
  private readonly mergeKeys: { keys: number[]; updates: number[] } | null;

  constructor(dialect: Dialect, spec: InsertSpec) {
    this.dialect = dialect;
    this.table = spec.table;
    this.columns = [...spec.columns];
    this.conflict = spec.conflict ?? 'error';
    if (!['error', 'ignore', 'upsert'].includes(this.conflict)) {
      throw new SqlParameterError(
        `Unknown conflict policy ${JSON.stringify(this.conflict)} (use error, ignore or upsert)`,
        'DB_INSERT_SPEC_INVALID',
      );
    }
    const columnList = quoteIdentifierList(this.columns, dialect);
    const keys = [...(spec.keyColumns ?? [])];
    for (const key of keys) {
      if (!this.columns.some((c) => sameNames(c, key)))
        throw new IdentifierError(`Key column ${JSON.stringify(key)} is not one of the inserted columns`);
    }
    if (this.conflict === 'upsert' && keys.length === 0) {
      throw new SqlParameterError(
        'An upsert needs keyColumns: the unique key whose conflict turns the insert into an update',
        'DB_INSERT_SPEC_INVALID',
      );
    }
    const updates = [...(spec.updateColumns ?? this.columns.filter((c) => !keys.some((k) => sameNames(c, k))))];
    for (const column of updates) {
      if (!this.columns.some((c) => sameNames(c, column)))
        throw new IdentifierError(`Update column ${JSON.stringify(column)} is not one of the inserted columns`);
      if (keys.some((k) => sameNames(k, column))) throw new IdentifierError(`Update column ${JSON.stringify(column)} is also a key column`);
    }

    const limit = this.conflict === 'error' && dialect === 'postgres' ? Infinity : PLACEHOLDER_LIMITS[dialect];
    if (this.columns.length > limit)
      throw new SqlParameterError(
        `${this.columns.length} columns exceed the ${limit}-parameter limit of one statement`,
        'DB_INSERT_SPEC_INVALID',
      );
    const maxRows = spec.maxRowsPerStatement ?? DEFAULT_MAX_ROWS_PER_STATEMENT;
    if (!Number.isInteger(maxRows) || maxRows < 1)
      throw new SqlParameterError('maxRowsPerStatement must be a whole number of at least 1', 'DB_INSERT_SPEC_INVALID');
    this.rowsPerStatement = Math.max(1, Math.min(maxRows, Math.floor(limit / this.columns.length)));
    this.maxStatementBytes = spec.maxStatementBytes ?? DEFAULT_MAX_STATEMENT_BYTES[dialect];
    if (!(this.maxStatementBytes > 0)) throw new SqlParameterError('maxStatementBytes must be positive', 'DB_INSERT_SPEC_INVALID');

    this.prefix = `INSERT INTO ${quoteIdentifier(this.table, dialect)} (${columnList}) VALUES `;
    this.rowPlaceholders = `(${this.columns.map(() => '?').join(', ')})`;
    this.suffix = conflictClause(dialect, this.conflict, keys, updates, this.columns);
    this.copySql =
      dialect === 'postgres' && this.conflict === 'error'
        ? `COPY ${quoteIdentifier(this.table, dialect)} (${columnList}) FROM STDIN`
        : null;
    const position = (name: string): number => this.columns.findIndex((c) => sameNames(c, name));
    this.mergeKeys =
      dialect === 'postgres' && this.conflict === 'upsert' ? { keys: keys.map(position), updates: updates.map(position) } : null;
  }

  /** The statement text for `rowCount` rows. */
  sqlFor(rowCount: number): string {
    let sql = this.sqlByRowCount.get(rowCount);
    if (sql === undefined) {
      sql = this.prefix + new Array<string>(rowCount).fill(this.rowPlaceholders).join(', ') + this.suffix;
      this.sqlByRowCount.set(rowCount, sql);
    }
    return sql;
  }

  /** The statements inserting `rows`, in order. Throws SqlParameterError (`DB_INSERT_ROW_SHAPE`) for a row of the wrong width. */
  statements(rows: readonly InsertRow[]): InsertStatement[] {
    if (this.copySql !== null) return this.copyStatements(rows);
    if (this.mergeKeys !== null)
      rows = mergeRepeatedKeys(
        rows.map((row, r) => this.rowValues(row, r)),
        this.mergeKeys,
      );
    const out: InsertStatement[] = [];
    const width = this.columns.length;
    const byteCap = this.maxStatementBytes;
    const measure = Number.isFinite(byteCap);
    let values: SqlValue[] = [];
    let count = 0;
    let bytes = this.prefix.length + this.suffix.length;
    const flush = (): void => {
      if (count === 0) return;
      out.push({ sql: this.sqlFor(count), values, rows: count });
      values = [];
      count = 0;
      bytes = this.prefix.length + this.suffix.length;
    };
    for (let r = 0; r < rows.length; r++) {
      const row = rows[r];
      const start = values.length;
      if (Array.isArray(row)) {
        if (row.length !== width) {
          throw new SqlParameterError(`Row ${r} has ${row.length} values for ${width} columns`, 'DB_INSERT_ROW_SHAPE');
        }
        for (let c = 0; c < width; c++) values.push(row[c] === undefined ? null : row[c]);
      } else if (row !== null && typeof row === 'object') {
        const record = row as Readonly<Record<string, SqlValue | undefined>>;
        for (let c = 0; c < width; c++) values.push(record[this.columns[c]] ?? null);
      } else {
        throw new SqlParameterError(`Row ${r} is ${row === null ? 'null' : typeof row}, not an array or object`, 'DB_INSERT_ROW_SHAPE');
      }
      if (measure) {
        let rowBytes = this.rowPlaceholders.length;
        for (let i = start; i < values.length; i++) rowBytes += estimateBytes(values[i]);
        if (count > 0 && bytes + rowBytes > byteCap) {
          // This row would overflow: close the statement before it (a lone oversized row still goes alone).
          const rowValues = values.splice(start);
          flush();
          values = rowValues;
        }
        bytes += rowBytes;
      }
      count++;
      if (count >= this.rowsPerStatement) flush();
    }
    flush();
    return out;
  }

  /** One row's values in column order. */
  private rowValues(row: InsertRow, r: number): SqlValue[] {
    const width = this.columns.length;
    if (Array.isArray(row)) {
      if (row.length !== width)
        throw new SqlParameterError(`Row ${r} has ${row.length} values for ${width} columns`, 'DB_INSERT_ROW_SHAPE');
      const values = new Array<SqlValue>(width);
      for (let c = 0; c < width; c++) values[c] = row[c] === undefined ? null : row[c];
      return values;
    }
    if (row !== null && typeof row === 'object') {
      const record = row as Readonly<Record<string, SqlValue | undefined>>;
      return this.columns.map((column) => record[column] ?? null);
    }
    throw new SqlParameterError(`Row ${r} is ${row === null ? 'null' : typeof row}, not an array or object`, 'DB_INSERT_ROW_SHAPE');
  }

  /**
   * PostgreSQL, policy `error`: COPY statements of at most rowsPerStatement rows, the rows as
   * their one value (COPY text: tab-separated fields, a line per row), encoded straight from the
   * rows (the writer's hot path: no intermediate arrays).
   */
  private copyStatements(rows: readonly InsertRow[]): InsertStatement[] {
    const out: InsertStatement[] = [];
    const width = this.columns.length;
    for (let start = 0; start < rows.length; start += this.rowsPerStatement) {
      const end = Math.min(rows.length, start + this.rowsPerStatement);
      let text = '';
      for (let r = start; r < end; r++) {
        const row = rows[r];
        const values = Array.isArray(row) && row.length === width ? (row as readonly (SqlValue | undefined)[]) : this.rowValues(row, r);
        let line = copyField(values[0]);
        for (let c = 1; c < width; c++) line += `\t${copyField(values[c])}`;
        text += `${line}\n`;
      }
      out.push({ sql: this.copySql as string, values: [text], rows: end - start });
    }
    return out;
  }
}

/** A value's identity for comparing keys: type-tagged, so 1 and '1' stay apart as the database keeps them apart. */
function keyPart(value: SqlValue): string {
  if (value === null) return 'n';
  if (value instanceof Date) return `d${value.getTime()}`;
  if (Buffer.isBuffer(value)) return `b${value.toString('hex')}`;
  return `${typeof value}${String(value)}`;
}

/**
 * Rows with the same key merged into one, at the first one's position: the first row's values,
 * with the update columns of each later row applied in order, which is what upserting them one by
 * one leaves. Rows with a NULL key are never equal (as in a unique index) and pass unchanged.
 */
export function mergeRepeatedKeys(rows: SqlValue[][], positions: { keys: readonly number[]; updates: readonly number[] }): SqlValue[][] {
  if (rows.length < 2) return rows;
  const seen = new Map<string, SqlValue[]>();
  const out: SqlValue[][] = [];
  for (const row of rows) {
    if (positions.keys.some((k) => row[k] === null)) {
      out.push(row);
      continue;
    }
    const key = positions.keys.map((k) => keyPart(row[k])).join('\u0000');
    const first = seen.get(key);
    if (!first) {
      seen.set(key, row);
      out.push(row);
      continue;
    }
    for (const u of positions.updates) first[u] = row[u];
  }
  return out;
}

function conflictClause(
  dialect: Dialect,
  conflict: ConflictPolicy,
  keys: readonly string[],
  updates: readonly string[],
  columns: readonly string[],
): string {
  if (conflict === 'error') return '';
  // PostgreSQL and SQLite share the ON CONFLICT syntax.
  const q = (name: string): string => quoteIdentifier(name, dialect);
  if (dialect === 'mysql') {
    if (conflict === 'ignore' || updates.length === 0) {
      const anchor = q(keys[0] ?? columns[0]);
      return ` ON DUPLICATE KEY UPDATE ${anchor} = ${anchor}`;
    }
    // VALUES(col) works on MariaDB and MySQL 8 (deprecated there in favour of row aliases, which MariaDB lacks).
    return ` ON DUPLICATE KEY UPDATE ${updates.map((c) => `${q(c)} = VALUES(${q(c)})`).join(', ')}`;
  }
  if (conflict === 'ignore') return ' ON CONFLICT DO NOTHING';
  const target = `(${keys.map(q).join(', ')})`;
  if (updates.length === 0) return ` ON CONFLICT ${target} DO NOTHING`;
  return ` ON CONFLICT ${target} DO UPDATE SET ${updates.map((c) => `${q(c)} = excluded.${q(c)}`).join(', ')}`;
}

/** A reusable plan; build it once per table/config, not per batch. */
export function planInsert(dialect: Dialect, spec: InsertSpec): InsertPlan {
  return new InsertPlan(dialect, spec);
}

/** One-off: the statements inserting `rows` into `spec.table`. */
export function buildInsertStatements(dialect: Dialect, spec: InsertSpec, rows: readonly InsertRow[]): InsertStatement[] {
  return new InsertPlan(dialect, spec).statements(rows);
}

export interface InsertOutcome {
  statements: number;
  rows: number;
  /** Sum of the statements' affectedRows (see the dialect note at the top of this file). */
  affectedRows: number;
}

/**
 * Runs the statements inserting `rows` on `executor` one after another. For all-or-nothing,
 * pass a transaction's executor: `db.transaction((tx) => insertRows(tx, plan, rows))`.
 */
export async function insertRows(
  executor: SqlExecutor,
  planOrSpec: InsertPlan | InsertSpec,
  rows: readonly InsertRow[],
): Promise<InsertOutcome> {
  const plan = planOrSpec instanceof InsertPlan ? planOrSpec : new InsertPlan(executor.dialect, planOrSpec);
  if (plan.dialect !== executor.dialect) {
    throw new SqlParameterError(
      `An insert plan for ${plan.dialect} cannot run on a ${executor.dialect} database`,
      'DB_INSERT_SPEC_INVALID',
    );
  }
  let affectedRows = 0;
  const statements = plan.statements(rows);
  for (const statement of statements) {
    const result: QueryResult = await executor.query(statement.sql, statement.values);
    affectedRows += result.affectedRows;
  }
  return { statements: statements.length, rows: rows.length, affectedRows };
}
