/**
 * Turns incoming rows (plain objects) into positional values for the table's columns.
 *
 * Each column reads a property path of the row (`a.b.0.c`, default: the column's own name). Only
 * own properties are followed, so hostile paths such as `__proto__.x` read nothing; a missing
 * value is NULL. Objects and arrays become JSON text; values no column can take (NaN, Infinity,
 * functions, circular objects, nesting deeper than MAX_JSON_DEPTH) reject the row up front instead
 * of failing a whole batch.
 */
import type { SqlValue } from '../db/types';
import { MAX_JSON_DEPTH, TOO_DEEP, jsonTextWithinDepth } from '../json-depth';
import { WriterError } from './errors';

/** Column name → property path of the row; an array lists columns read from same-named properties. */
export type ColumnMapping = readonly string[] | Readonly<Record<string, string>>;

export interface RowMapper {
  readonly columns: readonly string[];
  /** The row's values in column order, or a WriterError (`WRITER_BAD_ROW`) saying why it cannot be stored. */
  map(row: unknown): SqlValue[] | WriterError;
}

/** Rough in-memory size of a mapped row, for the byte budgets (strings count 2 bytes a character). */
export function estimateBytes(values: readonly SqlValue[]): number {
  let bytes = 32 + 8 * values.length;
  for (const value of values) {
    if (typeof value === 'string') bytes += 16 + 2 * value.length;
    else if (Buffer.isBuffer(value)) bytes += 48 + value.length;
    else bytes += 16;
  }
  return bytes;
}

function toSqlValue(value: unknown): SqlValue | undefined | WriterError {
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'bigint':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : new WriterError('WRITER_BAD_ROW', `${value} cannot be stored`);
    case 'undefined':
      return null;
    case 'object':
      if (value === null || value instanceof Date || Buffer.isBuffer(value)) {
        if (value instanceof Date && Number.isNaN(value.getTime()))
          return new WriterError('WRITER_BAD_ROW', 'invalid Date cannot be stored');
        return value;
      }
      try {
        const text = jsonTextWithinDepth(value);
        return text === TOO_DEEP ? new WriterError('WRITER_BAD_ROW', `object nests deeper than ${MAX_JSON_DEPTH} levels`) : text;
      } catch (err) {
        return new WriterError('WRITER_BAD_ROW', `object cannot be stored as JSON: ${(err as Error).message}`);
      }
    default:
      return new WriterError('WRITER_BAD_ROW', `a ${typeof value} cannot be stored`);
  }
}

export function compileMapping(mapping: ColumnMapping): RowMapper {
  const entries: [string, string][] = Array.isArray(mapping)
    ? (mapping as readonly string[]).map((column) => [column, column])
    : Object.entries(mapping as Record<string, string>).map(([column, path]) => [column, path === '' || path == null ? column : path]);
  if (entries.length === 0) throw new WriterError('WRITER_CONFIG', 'the column mapping names no column');
  const columns = entries.map(([column]) => column);
  if (new Set(columns).size !== columns.length) throw new WriterError('WRITER_CONFIG', 'the column mapping names a column twice');
  const paths = entries.map(([column, path]) => {
    if (typeof path !== 'string') throw new WriterError('WRITER_CONFIG', `the path of column ${column} must be a string`);
    return path.split('.');
  });
  return {
    columns,
    map(row: unknown): SqlValue[] | WriterError {
      if (row === null || typeof row !== 'object' || Array.isArray(row)) {
        return new WriterError(
          'WRITER_BAD_ROW',
          `a row must be an object, got ${row === null ? 'null' : Array.isArray(row) ? 'an array' : typeof row}`,
        );
      }
      const values: SqlValue[] = new Array(paths.length);
      for (let c = 0; c < paths.length; c++) {
        const path = paths[c];
        let current: unknown = row;
        for (let i = 0; i < path.length && current !== undefined; i++) {
          current =
            current !== null && typeof current === 'object' && Object.prototype.hasOwnProperty.call(current, path[i])
              ? (current as Record<string, unknown>)[path[i]]
              : undefined;
        }
        const value = toSqlValue(current);
        if (value instanceof WriterError) {
          value.message = `column ${columns[c]}: ${value.message}`;
          return value;
        }
        values[c] = value ?? null;
      }
      return values;
    },
  };
}
