/**
 * Named parameters (`:name`) -> positional (`?`) SQL plus a values array, for every dialect; for
 * PostgreSQL, whose protocol numbers its parameters, `?`/`:name` -> `$1, $2, ...` (compilePostgres).
 *
 * The scanner understands just enough SQL to know what is *not* a placeholder: string literals,
 * quoted identifiers, comments and `::`. Each distinct SQL text is scanned once and cached, so the
 * per-call cost on a hot path is a map lookup plus one array of values.
 */
import { SqlParameterError } from './errors';
import { LruMap } from './lru';
import type { Dialect, SqlParams, SqlValue } from './types';

export interface Placeholder {
  /** Offset of the `?` or `:` in the SQL text. */
  start: number;
  /** Offset just after the placeholder. */
  end: number;
  /** The parameter name of a `:name` placeholder; undefined for `?`. */
  name?: string;
}

export interface PositionalSql {
  sql: string;
  values: SqlValue[];
}

/** SQL split around its `?` placeholders: `pieces.length === placeholders + 1`. */
export interface CompiledPositional {
  pieces: readonly string[];
}

/** Named SQL rewritten to `?` form: `names[i]` supplies the i-th `?`. */
export interface CompiledNamed extends CompiledPositional {
  sql: string;
  names: readonly string[];
}

const CACHE_SIZE = 512;
const perDialect = <T>(): Record<Dialect, LruMap<string, T>> => ({
  mysql: new LruMap(CACHE_SIZE),
  sqlite: new LruMap(CACHE_SIZE),
  postgres: new LruMap(CACHE_SIZE),
});
const placeholderCache = perDialect<readonly Placeholder[]>();
const namedCache = perDialect<CompiledNamed>();
const positionalCache = perDialect<CompiledPositional>();

const isNameStart = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const isNameChar = (c: number): boolean => isNameStart(c) || (c >= 48 && c <= 57);

/** End offset (exclusive) of a quoted run that starts at `start` with `quote`; doubling escapes the quote. */
function skipQuoted(sql: string, start: number, quote: string, backslashEscapes: boolean): number {
  let i = start + 1;
  while (i < sql.length) {
    const ch = sql[i];
    if (backslashEscapes && ch === '\\') {
      i += 2;
      continue;
    }
    if (ch === quote) {
      if (sql[i + 1] === quote) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return sql.length; // unterminated: the server reports the syntax error
}

function skipToLineEnd(sql: string, start: number): number {
  const nl = sql.indexOf('\n', start);
  return nl < 0 ? sql.length : nl + 1;
}

/** End offset (exclusive) of a PostgreSQL dollar-quoted string starting at `start` (`$tag$...$tag$`), or -1 if `$` starts none. */
function skipDollarQuoted(sql: string, start: number): number {
  const open = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(start, start + 66));
  if (!open) return -1;
  // `$1` and `x$y` are not dollar quotes: a tag cannot follow a digit or a name character.
  if (start > 0 && isNameChar(sql.charCodeAt(start - 1))) return -1;
  const close = sql.indexOf(open[0], start + open[0].length);
  return close < 0 ? sql.length : close + open[0].length;
}

/**
 * Every `?` and `:name` outside literals, quoted identifiers and comments, in order.
 * MySQL: '..' and ".." are strings with backslash escapes; `--` needs a following space; `#` comments.
 * SQLite: ".." and [..] are identifiers; no backslash escapes; `--` always starts a comment.
 * PostgreSQL: '..' without backslash escapes, except E'..'; ".." identifiers; $tag$..$tag$ strings;
 * `--` always starts a comment. `?` is a placeholder even where jsonb would read an operator:
 * write jsonb_exists() instead of `?` in parameterised SQL.
 */
export function findPlaceholders(sql: string, dialect: Dialect): readonly Placeholder[] {
  const cached = placeholderCache[dialect].get(sql);
  if (cached) return cached;
  const found: Placeholder[] = [];
  const mysql = dialect === 'mysql';
  const postgres = dialect === 'postgres';
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const ch = sql[i];
    switch (ch) {
      case "'": {
        // PostgreSQL: E'..' (escape string) takes backslash escapes; a plain '..' does not.
        const escapeString =
          postgres && i > 0 && (sql[i - 1] === 'E' || sql[i - 1] === 'e') && (i < 2 || !isNameChar(sql.charCodeAt(i - 2)));
        i = skipQuoted(sql, i, "'", mysql || escapeString);
        break;
      }
      case '"':
        i = skipQuoted(sql, i, '"', mysql);
        break;
      case '`':
        i = postgres ? i + 1 : skipQuoted(sql, i, '`', false);
        break;
      case '$': {
        const end = postgres ? skipDollarQuoted(sql, i) : -1;
        i = end < 0 ? i + 1 : end;
        break;
      }
      case '[':
        if (mysql || postgres) i++;
        else {
          const close = sql.indexOf(']', i + 1);
          i = close < 0 ? n : close + 1;
        }
        break;
      case '#':
        i = mysql ? skipToLineEnd(sql, i) : i + 1;
        break;
      case '-':
        if (sql[i + 1] === '-' && (!mysql || i + 2 >= n || sql.charCodeAt(i + 2) <= 32)) i = skipToLineEnd(sql, i);
        else i++;
        break;
      case '/':
        if (sql[i + 1] === '*') {
          const close = sql.indexOf('*/', i + 2);
          i = close < 0 ? n : close + 2;
        } else i++;
        break;
      case '?':
        found.push({ start: i, end: i + 1 });
        i++;
        break;
      case ':':
        if (sql[i + 1] === ':') i += 2;
        else if (i + 1 < n && isNameStart(sql.charCodeAt(i + 1))) {
          let end = i + 2;
          while (end < n && isNameChar(sql.charCodeAt(end))) end++;
          found.push({ start: i, end, name: sql.slice(i + 1, end) });
          i = end;
        } else i++;
        break;
      default:
        i++;
    }
  }
  placeholderCache[dialect].set(sql, found);
  return found;
}

/** The text of `sql` before, between and after `placeholders` (in order): one piece more than them. */
function textAround(sql: string, placeholders: readonly Placeholder[]): string[] {
  const pieces: string[] = [];
  let from = 0;
  for (const p of placeholders) {
    pieces.push(sql.slice(from, p.start));
    from = p.end;
  }
  pieces.push(sql.slice(from));
  return pieces;
}

/** `sql` split around its `?` placeholders (named ones are left as text). Cached. */
export function compilePositional(sql: string, dialect: Dialect): CompiledPositional {
  const cached = positionalCache[dialect].get(sql);
  if (cached) return cached;
  const positional = findPlaceholders(sql, dialect).filter((p) => p.name === undefined);
  const compiled = { pieces: textAround(sql, positional) };
  positionalCache[dialect].set(sql, compiled);
  return compiled;
}

/** `sql` with each `:name` replaced by `?`, and the names in order. Throws if it also has `?`. Cached. */
export function compileNamed(sql: string, dialect: Dialect): CompiledNamed {
  const cached = namedCache[dialect].get(sql);
  if (cached) return cached;
  const placeholders = findPlaceholders(sql, dialect);
  const names: string[] = [];
  for (const p of placeholders) {
    if (p.name === undefined) {
      throw new SqlParameterError('SQL mixes ? placeholders with named parameters; use one style per statement', 'DB_PARAM_MIXED');
    }
    names.push(p.name);
  }
  const pieces = textAround(sql, placeholders);
  const compiled: CompiledNamed = { sql: pieces.join('?'), names, pieces };
  namedCache[dialect].set(sql, compiled);
  return compiled;
}

/** The values for `names` taken from `params`; a name without a property is an error naming it. */
export function namedValues(names: readonly string[], params: Readonly<Record<string, SqlValue | undefined>>): SqlValue[] {
  const values = new Array<SqlValue>(names.length);
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    if (!Object.prototype.hasOwnProperty.call(params, name)) {
      throw new SqlParameterError(
        `SQL parameter :${name} has no value (the parameters object has no property "${name}")`,
        'DB_PARAM_MISSING',
      );
    }
    // A property that is present but undefined binds NULL, so optional fields can be passed as-is.
    values[i] = params[name] ?? null;
  }
  return values;
}

/**
 * Positional form of `sql` + `params`:
 * - no params: the SQL unchanged, no values;
 * - an array: passed through unchanged (the SQL uses `?`);
 * - an object: `:name` -> `?`, values in placeholder order (a name used twice binds twice).
 */
export function toPositional(sql: string, params: SqlParams | undefined, dialect: Dialect): PositionalSql {
  if (params === undefined) return { sql, values: [] };
  if (Array.isArray(params)) return { sql, values: params as SqlValue[] };
  if (params === null || typeof params !== 'object') {
    throw new SqlParameterError('SQL parameters must be an array (for ?) or an object (for :name)', 'DB_PARAM_INVALID');
  }
  const compiled = compileNamed(sql, dialect);
  return { sql: compiled.sql, values: namedValues(compiled.names, params as Readonly<Record<string, SqlValue | undefined>>) };
}

/** SQL for PostgreSQL: `?`/`:name` placeholders numbered `$1...`, and the values in that order. */
export interface PostgresSql {
  text: string;
  values: SqlValue[];
}

const postgresTextCache = new LruMap<string, string>(CACHE_SIZE);

function numbered(pieces: readonly string[]): string {
  let text = pieces[0];
  for (let i = 1; i < pieces.length; i++) text += `$${i}${pieces[i]}`;
  return text;
}

/**
 * `sql` + `params` for the PostgreSQL protocol:
 * - no params: the SQL unchanged (so it may hold several statements and `$` freely);
 * - an array: each `?` becomes `$n`; SQL that already uses `$1...` and no `?` is passed as it is;
 * - an object: each `:name` becomes `$n` (a name used twice binds twice).
 */
export function compilePostgres(sql: string, params: SqlParams | undefined): PostgresSql {
  if (params === undefined) return { text: sql, values: [] };
  if (Array.isArray(params)) {
    const { pieces } = compilePositional(sql, 'postgres');
    const values = params as SqlValue[];
    if (pieces.length === 1) return { text: sql, values };
    if (values.length !== pieces.length - 1) {
      const expected = pieces.length - 1;
      throw new SqlParameterError(
        `The statement has ${expected} ? placeholder${expected === 1 ? '' : 's'} but ${values.length} value${values.length === 1 ? ' was' : 's were'} given`,
        'DB_PARAM_COUNT',
      );
    }
    let text = postgresTextCache.get(sql);
    if (text === undefined) {
      text = numbered(pieces);
      postgresTextCache.set(sql, text);
    }
    return { text, values };
  }
  if (params === null || typeof params !== 'object') {
    throw new SqlParameterError('SQL parameters must be an array (for ?) or an object (for :name)', 'DB_PARAM_INVALID');
  }
  const compiled = compileNamed(sql, 'postgres');
  const key = `:${sql}`;
  let text = postgresTextCache.get(key);
  if (text === undefined) {
    text = numbered(compiled.pieces);
    postgresTextCache.set(key, text);
  }
  return { text, values: namedValues(compiled.names, params as Readonly<Record<string, SqlValue | undefined>>) };
}
