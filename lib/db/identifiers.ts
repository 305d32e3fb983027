/**
 * Table and column names that come from configuration (a user may name the table their data goes
 * to): validated and quoted, never pasted into SQL raw. MySQL quotes with backticks, SQLite and
 * PostgreSQL with double quotes; a quote inside a name is escaped by doubling it.
 */
import { IdentifierError } from './errors';
import type { Dialect } from './types';

/** MySQL's limit for table and column names; SQLite has none, so the same bound keeps names portable. */
export const MAX_IDENTIFIER_LENGTH = 64;

/** PostgreSQL's NAMEDATALEN - 1: it silently truncates longer names, so two long names could become one. */
export const MAX_POSTGRES_IDENTIFIER_BYTES = 63;

const QUOTE: Record<Dialect, string> = { mysql: '`', sqlite: '"', postgres: '"' };

function printable(name: string): string {
  const shown = name.length > 40 ? `${name.slice(0, 40)}...` : name;
  return JSON.stringify(shown);
}

/** Throws IdentifierError (code `DB_IDENTIFIER_INVALID`) unless `name` can be a table or column name in `dialect`. */
export function validateIdentifier(name: unknown, dialect: Dialect): string {
  if (typeof name !== 'string') throw new IdentifierError(`An identifier must be text, not ${name === null ? 'null' : typeof name}`);
  if (name.length === 0) throw new IdentifierError('An identifier (table or column name) must not be empty');
  if (name.length > MAX_IDENTIFIER_LENGTH) {
    throw new IdentifierError(
      `Identifier ${printable(name)} is ${name.length} characters long; at most ${MAX_IDENTIFIER_LENGTH} are allowed`,
    );
  }
  if (name.includes('\u0000')) throw new IdentifierError(`Identifier ${printable(name)} contains a NUL character`);
  // Lone surrogates cannot be encoded as UTF-8; MySQL also rejects characters beyond the BMP in names.
  if (/[\uD800-\uDFFF]/.test(name))
    throw new IdentifierError(`Identifier ${printable(name)} contains characters outside the Basic Multilingual Plane`);
  if (dialect === 'mysql' && name.endsWith(' '))
    throw new IdentifierError(`Identifier ${printable(name)} ends with a space, which MySQL does not allow`);
  if (dialect === 'postgres' && Buffer.byteLength(name) > MAX_POSTGRES_IDENTIFIER_BYTES) {
    throw new IdentifierError(
      `Identifier ${printable(name)} is longer than PostgreSQL's ${MAX_POSTGRES_IDENTIFIER_BYTES} bytes (it would be truncated silently)`,
    );
  }
  return name;
}

/** `name` validated and quoted for `dialect`: `` `a``b` `` (MySQL), `"a""b"` (SQLite, PostgreSQL). */
export function quoteIdentifier(name: string, dialect: Dialect): string {
  validateIdentifier(name, dialect);
  const q = QUOTE[dialect];
  return q + name.split(q).join(q + q) + q;
}

/** Each name validated and quoted, joined with `, `. Duplicate names are rejected (a column listed twice is a bug). */
export function quoteIdentifierList(names: readonly string[], dialect: Dialect): string {
  if (names.length === 0) throw new IdentifierError('At least one column name is needed');
  const seen = new Set<string>();
  for (const name of names) {
    // MySQL and SQLite compare column names case-insensitively.
    const folded = typeof name === 'string' ? name.toLowerCase() : name;
    if (seen.has(folded)) throw new IdentifierError(`Column ${printable(name)} is listed twice`);
    seen.add(folded);
  }
  return names.map((name) => quoteIdentifier(name, dialect)).join(', ');
}
