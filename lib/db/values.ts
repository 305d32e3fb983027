/**
 * How SqlValues reach each driver.
 *
 * MySQL: values are escaped client-side into the SQL text (one round trip, no server-side
 * prepare; this is what makes 500-row INSERTs fast). Strings use backslash escapes, which is
 * only safe while the session's sql_mode lacks NO_BACKSLASH_ESCAPES; lib/db/mysql.ts removes that
 * mode on every new connection, so a server configured with it cannot turn data into SQL.
 *
 * SQLite: values are bound; booleans become 1/0, Dates ISO-8601 text, undefined NULL.
 *
 * Both: NaN and +-Infinity are refused as a `data` error instead of being stored as NULL
 * (SQLite's choice) or failing as a syntax error (MySQL's), so a writer can isolate the row.
 */
import { DatabaseError, SqlParameterError } from './errors';
import type { CompiledPositional } from './params';
import type { Dialect, SqlValue } from './types';

function invalidValue(dialect: Dialect, what: string): DatabaseError {
  return new DatabaseError(`Cannot store ${what}: it has no SQL representation`, { kind: 'data', code: 'DB_VALUE_INVALID', dialect });
}

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));
const pad3 = (n: number): string => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : String(n));

/** `YYYY-MM-DD HH:MM:SS.mmm` in UTC: what a DATETIME(3)/TIMESTAMP(3) column accepts (the session time zone is +00:00). */
export function mysqlDateTime(date: Date): string {
  const ms = date.getTime();
  if (Number.isNaN(ms)) throw invalidValue('mysql', 'an invalid Date');
  const year = date.getUTCFullYear();
  if (year < 1000 || year > 9999) throw invalidValue('mysql', `a Date in year ${year}`);
  return `${year}-${pad2(date.getUTCMonth() + 1)}-${pad2(date.getUTCDate())} ${pad2(date.getUTCHours())}:${pad2(date.getUTCMinutes())}:${pad2(date.getUTCSeconds())}.${pad3(date.getUTCMilliseconds())}`;
}

// eslint-disable-next-line no-control-regex
const MYSQL_SPECIAL = /[\u0000\u0008\u0009\u000a\u000d\u001a"'\\]/g;
// eslint-disable-next-line no-control-regex
const MYSQL_SPECIAL_TEST = /[\u0000\u0008\u0009\u000a\u000d\u001a"'\\]/;
const MYSQL_ESCAPES: Record<string, string> = {
  '\u0000': '\\0',
  '\u0008': '\\b',
  '\u0009': '\\t',
  '\u000a': '\\n',
  '\u000d': '\\r',
  '\u001a': '\\Z',
  '"': '\\"',
  "'": "\\'",
  '\\': '\\\\',
};

export function escapeMysqlString(text: string): string {
  if (!MYSQL_SPECIAL_TEST.test(text)) return `'${text}'`;
  return `'${text.replace(MYSQL_SPECIAL, (ch) => MYSQL_ESCAPES[ch])}'`;
}

/** One value as a MySQL literal. */
export function escapeMysqlValue(value: SqlValue | undefined): string {
  switch (typeof value) {
    case 'string':
      return escapeMysqlString(value);
    case 'number':
      if (!Number.isFinite(value)) throw invalidValue('mysql', String(value));
      return String(value);
    case 'bigint':
      return value.toString();
    case 'boolean':
      return value ? '1' : '0';
    case 'undefined':
      return 'NULL';
    case 'object':
      if (value === null) return 'NULL';
      if (value instanceof Date) return `'${mysqlDateTime(value)}'`;
      if (Buffer.isBuffer(value)) return `X'${value.toString('hex')}'`;
      throw invalidValue('mysql', `a value of type ${Object.prototype.toString.call(value).slice(8, -1)}`);
    default:
      throw invalidValue('mysql', `a value of type ${typeof value}`);
  }
}

/** `pieces` (SQL split around its `?`s) with the escaped `values` spliced in. */
export function formatMysql(compiled: CompiledPositional, values: readonly (SqlValue | undefined)[]): string {
  const { pieces } = compiled;
  const expected = pieces.length - 1;
  if (values.length !== expected) {
    throw new SqlParameterError(
      `The statement has ${expected} ? placeholder${expected === 1 ? '' : 's'} but ${values.length} value${values.length === 1 ? ' was' : 's were'} given`,
      'DB_PARAM_COUNT',
    );
  }
  if (expected === 0) return pieces[0];
  let sql = pieces[0];
  for (let i = 0; i < expected; i++) sql += escapeMysqlValue(values[i]) + pieces[i + 1];
  return sql;
}

/**
 * One value as a driver that binds native values takes it (SQLite's, pg): NULL for undefined,
 * 1/0 for booleans, dates as ISO-8601 UTC text, Buffers as they are; bigints as the dialect wants.
 */
function toBoundValue<B>(
  dialect: 'sqlite' | 'postgres',
  value: SqlValue | undefined,
  bigint: (value: bigint) => B,
): string | number | Buffer | null | B {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw invalidValue(dialect, String(value));
      return value;
    case 'bigint':
      return bigint(value);
    case 'boolean':
      return value ? 1 : 0;
    case 'undefined':
      return null;
    case 'object':
      if (value === null) return null;
      if (value instanceof Date) {
        if (Number.isNaN(value.getTime())) throw invalidValue(dialect, 'an invalid Date');
        return value.toISOString();
      }
      if (Buffer.isBuffer(value)) return value;
      throw invalidValue(dialect, `a value of type ${Object.prototype.toString.call(value).slice(8, -1)}`);
    default:
      throw invalidValue(dialect, `a value of type ${typeof value}`);
  }
}

const keepBigint = (value: bigint): bigint => value;
const bigintDigits = (value: bigint): string => value.toString();

/** One value as the SQLite drivers bind it (a bigint stays one: both bind it as INTEGER). */
export function toSqliteValue(value: SqlValue | undefined): string | number | bigint | Buffer | null {
  return toBoundValue('sqlite', value, keepBigint);
}

/** The values converted for better-sqlite3 (a new array; the caller's stays untouched). */
export function toSqliteValues(values: readonly (SqlValue | undefined)[]): Array<string | number | bigint | Buffer | null> {
  const out = new Array<string | number | bigint | Buffer | null>(values.length);
  for (let i = 0; i < values.length; i++) out[i] = toSqliteValue(values[i]);
  return out;
}

/** What pg sends for one value: text it lets the server parse by the column's type, or a Buffer (bytea). */
export type PostgresParam = string | number | Buffer | null;

/**
 * One value as it is bound on PostgreSQL. Dates go as ISO-8601 UTC text (pg's default would use
 * the process's local zone, which a `timestamp` column stores as wall time); booleans as 1/0,
 * which integer and boolean columns both accept (the same stored value as on MySQL); bigints as
 * their digits.
 */
export function toPostgresValue(value: SqlValue | undefined): PostgresParam {
  return toBoundValue('postgres', value, bigintDigits);
}

export function toPostgresValues(values: readonly (SqlValue | undefined)[]): PostgresParam[] {
  const out = new Array<PostgresParam>(values.length);
  for (let i = 0; i < values.length; i++) out[i] = toPostgresValue(values[i]);
  return out;
}

// eslint-disable-next-line no-control-regex
const COPY_SPECIAL = /[\\\n\r\t]/;
// eslint-disable-next-line no-control-regex
const COPY_SPECIAL_ALL = /[\\\n\r\t]/g;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * One value as a field of COPY's text format: the same text a bound parameter carries, with
 * backslash, tab and line breaks escaped; NULL is `\N`. The server parses each field with its
 * column's input function, exactly as it parses a parameter.
 */
export function copyField(value: SqlValue | undefined): string {
  const param = toPostgresValue(value);
  if (param === null) return '\\N';
  if (typeof param === 'number') return String(param);
  if (Buffer.isBuffer(param)) return `\\\\x${param.toString('hex')}`;
  return COPY_SPECIAL.test(param) ? param.replace(COPY_SPECIAL_ALL, (ch) => COPY_ESCAPES[ch]) : param;
}

/** Rows (values in column order) as COPY text: tab-separated fields, one line per row. */
export function copyText(rows: readonly (readonly (SqlValue | undefined)[])[]): string {
  let text = '';
  for (const row of rows) {
    let line = '';
    for (let c = 0; c < row.length; c++) line += (c === 0 ? '' : '\t') + copyField(row[c]);
    text += `${line}\n`;
  }
  return text;
}
