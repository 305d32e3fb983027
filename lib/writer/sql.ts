/**
 * Multi-row INSERT generation for the writer.
 *
 * Deliberately minimal and private: lib/db/insert.ts (written alongside) is meant to own SQL
 * generation for the whole package; at merge this module can be replaced by a thin adapter to it
 * with the same `buildInsert` signature.
 */
import type { Dialect } from '../db/types';
import { WriterError } from './errors';

/**
 * What a duplicate on a unique key does:
 * - `error`: the database refuses the row (reported as rejected);
 * - `ignore`: the existing row wins, the new one is skipped (replay after a crash is then idempotent);
 * - `upsert`: the new row's `update` columns (default: all non-key columns) overwrite the existing row.
 *
 * `key` names the unique key's columns: required for `upsert`; for SQLite `ignore` it narrows
 * which conflict is ignored (without it, any uniqueness conflict is).
 */
export type ConflictPolicy =
  | { mode: 'error' }
  | { mode: 'ignore'; key?: readonly string[] }
  | { mode: 'upsert'; key: readonly string[]; update?: readonly string[] };

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,63}$/;

/** Validates and quotes `name` or `schema.name`; anything else is a configuration error, never SQL. */
export function quoteIdentifier(dialect: Dialect, name: string): string {
  const parts = typeof name === 'string' ? name.split('.') : [];
  if (parts.length === 0 || parts.length > 2 || !parts.every((part) => IDENTIFIER.test(part))) {
    throw new WriterError('WRITER_CONFIG', `invalid SQL identifier ${JSON.stringify(name)}: use letters, digits, _ and $ (at most 64), optionally schema.name`);
  }
  const quote = dialect === 'mysql' ? '`' : '"';
  return parts.map((part) => `${quote}${part}${quote}`).join('.');
}

/** The conflict clause appended after VALUES (empty for `error`). */
function conflictClause(dialect: Dialect, columns: readonly string[], conflict: ConflictPolicy): string {
  if (conflict.mode === 'error') return '';
  const q = (name: string): string => quoteIdentifier(dialect, name);
  const key = conflict.key ?? [];
  const update = conflict.mode === 'upsert' ? (conflict.update ?? columns.filter((c) => !key.includes(c))) : [];
  if (conflict.mode === 'upsert' && key.length === 0) {
    throw new WriterError('WRITER_CONFIG', 'conflict policy upsert needs the unique key columns (`key`)');
  }
  if (dialect === 'mysql') {
    // Not INSERT IGNORE: that would also turn data errors (truncation, NOT NULL) into silent warnings.
    if (update.length === 0) return ` ON DUPLICATE KEY UPDATE ${q(columns[0])} = ${q(columns[0])}`;
    return ` ON DUPLICATE KEY UPDATE ${update.map((c) => `${q(c)} = VALUES(${q(c)})`).join(', ')}`;
  }
  // Not INSERT OR IGNORE: that would also skip NOT NULL and CHECK violations silently.
  const target = key.length > 0 ? ` (${key.map(q).join(', ')})` : '';
  if (update.length === 0) return ` ON CONFLICT${target} DO NOTHING`;
  return ` ON CONFLICT${target} DO UPDATE SET ${update.map((c) => `${q(c)} = excluded.${q(c)}`).join(', ')}`;
}

/** `INSERT INTO t (a, b) VALUES (?, ?), (?, ?) <conflict>` with `rowCount` rows of positional parameters. */
export function buildInsert(
  dialect: Dialect,
  table: string,
  columns: readonly string[],
  rowCount: number,
  conflict: ConflictPolicy,
): string {
  if (columns.length === 0) throw new WriterError('WRITER_CONFIG', 'an INSERT needs at least one column');
  if (!Number.isInteger(rowCount) || rowCount < 1) throw new WriterError('WRITER_CONFIG', `invalid row count ${rowCount}`);
  const head = `INSERT INTO ${quoteIdentifier(dialect, table)} (${columns.map((c) => quoteIdentifier(dialect, c)).join(', ')}) VALUES `;
  const tuple = `(${'?, '.repeat(columns.length - 1)}?)`;
  return head + `${tuple}, `.repeat(rowCount - 1) + tuple + conflictClause(dialect, columns, conflict);
}
