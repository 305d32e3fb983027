/**
 * One fixed order of rows by their key columns, so that writers upserting overlapping keys lock
 * the rows in the same order. InnoDB locks a multi-row upsert's rows one by one in statement
 * order (and, through triggers, the rows they write): two instances whose batches hold the same
 * keys in different orders can each wait for the other, a deadlock that costs a rollback and a
 * retry. Sorted the same way, the one that comes second waits for the first and then goes on.
 *
 * The order only has to be the same everywhere, not the database's own: numbers by value, text by
 * UTF-16 code units, then by type. Rows with equal keys keep their order (Array#sort is stable),
 * so the later of two upserts of one key still wins.
 */
import type { SqlValue } from '../db/types';

type Values = readonly SqlValue[];

function rank(value: SqlValue): number {
  if (value === null) return 0;
  switch (typeof value) {
    case 'number':
    case 'bigint':
    case 'boolean':
      return 1;
    case 'string':
      return 2;
    default:
      return value instanceof Date ? 3 : 4;
  }
}

export function compareSqlValues(a: SqlValue, b: SqlValue): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  switch (ra) {
    case 0:
      return 0;
    case 1: {
      // number, bigint and boolean compare with < across each other (true > false, 2n > 1.5).
      const x = a as number | bigint | boolean;
      const y = b as number | bigint | boolean;
      return x < y ? -1 : x > y ? 1 : 0;
    }
    case 2:
      return (a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0;
    case 3:
      return (a as Date).getTime() - (b as Date).getTime();
    default:
      return Buffer.compare(a as Buffer, b as Buffer);
  }
}

/** A comparator of rows (values in `columns` order) by `keyColumns` (names matched case-insensitively, as the insert plan does). */
export function keyOrder(columns: readonly string[], keyColumns: readonly string[]): (a: Values, b: Values) => number {
  const indexes = keyColumns.map((key) => {
    const i = columns.findIndex((c) => c.toLowerCase() === key.toLowerCase());
    if (i < 0) throw new RangeError(`key column ${JSON.stringify(key)} is not one of the columns`);
    return i;
  });
  return (a, b) => {
    for (const i of indexes) {
      const c = compareSqlValues(a[i], b[i]);
      if (c !== 0) return c;
    }
    return 0;
  };
}
