import assert from 'node:assert/strict';
import fc from 'fast-check';
import { IdentifierError, SqlParameterError } from '../../../lib/db/errors';
import { buildInsertStatements, insertRows, PLACEHOLDER_LIMITS, planInsert, type InsertSpec } from '../../../lib/db/insert';
import type { QueryResult, SqlExecutor, SqlParams, SqlValue } from '../../../lib/db/types';

const spec: InsertSpec = { table: 'readings', columns: ['sensor', 'ts', 'value'] };
const rows: SqlValue[][] = [
  ['a', 1, 1.5],
  ['b', 2, null],
];

describe('db/insert: SQL per dialect and conflict policy', () => {
  it('error (plain insert)', () => {
    assert.deepEqual(buildInsertStatements('mysql', spec, rows), [
      { sql: 'INSERT INTO `readings` (`sensor`, `ts`, `value`) VALUES (?, ?, ?), (?, ?, ?)', values: ['a', 1, 1.5, 'b', 2, null], rows: 2 },
    ]);
    assert.equal(
      buildInsertStatements('sqlite', spec, rows)[0].sql,
      'INSERT INTO "readings" ("sensor", "ts", "value") VALUES (?, ?, ?), (?, ?, ?)',
    );
  });

  it('ignore: MySQL no-op ODKU on the first key column (not INSERT IGNORE), SQLite ON CONFLICT DO NOTHING', () => {
    const s: InsertSpec = { ...spec, conflict: 'ignore', keyColumns: ['ts'] };
    const mysql = buildInsertStatements('mysql', s, rows)[0].sql;
    assert.equal(mysql, 'INSERT INTO `readings` (`sensor`, `ts`, `value`) VALUES (?, ?, ?), (?, ?, ?) ON DUPLICATE KEY UPDATE `ts` = `ts`');
    assert.doesNotMatch(mysql, /INSERT IGNORE/);
    assert.match(buildInsertStatements('mysql', { ...spec, conflict: 'ignore' }, rows)[0].sql, /UPDATE `sensor` = `sensor`$/);
    assert.equal(
      buildInsertStatements('sqlite', s, rows)[0].sql,
      'INSERT INTO "readings" ("sensor", "ts", "value") VALUES (?, ?, ?), (?, ?, ?) ON CONFLICT DO NOTHING',
    );
  });

  it('upsert: MySQL VALUES(), SQLite excluded., default update columns = non-key columns', () => {
    const s: InsertSpec = { ...spec, conflict: 'upsert', keyColumns: ['sensor', 'ts'] };
    assert.match(buildInsertStatements('mysql', s, rows)[0].sql, / ON DUPLICATE KEY UPDATE `value` = VALUES\(`value`\)$/);
    assert.match(
      buildInsertStatements('sqlite', s, rows)[0].sql,
      / ON CONFLICT \("sensor", "ts"\) DO UPDATE SET "value" = excluded\."value"$/,
    );
    const explicit: InsertSpec = { table: 't', columns: ['k', 'a', 'b'], conflict: 'upsert', keyColumns: ['k'], updateColumns: ['a', 'b'] };
    assert.match(buildInsertStatements('mysql', explicit, [[1, 2, 3]])[0].sql, /UPDATE `a` = VALUES\(`a`\), `b` = VALUES\(`b`\)$/);
    assert.match(buildInsertStatements('sqlite', explicit, [[1, 2, 3]])[0].sql, /DO UPDATE SET "a" = excluded\."a", "b" = excluded\."b"$/);
  });

  it('upsert whose every column is a key degrades to ignore', () => {
    const s: InsertSpec = { table: 't', columns: ['k'], conflict: 'upsert', keyColumns: ['k'] };
    assert.match(buildInsertStatements('mysql', s, [[1]])[0].sql, /ON DUPLICATE KEY UPDATE `k` = `k`$/);
    assert.match(buildInsertStatements('sqlite', s, [[1]])[0].sql, /ON CONFLICT \("k"\) DO NOTHING$/);
  });

  it('refuses bad specs with typed errors', () => {
    const cases: Array<[InsertSpec, RegExp]> = [
      [{ ...spec, conflict: 'upsert' }, /needs keyColumns/],
      [{ ...spec, conflict: 'upsert', keyColumns: ['nope'] }, /Key column "nope"/],
      [{ ...spec, conflict: 'upsert', keyColumns: ['ts'], updateColumns: ['zzz'] }, /Update column "zzz"/],
      [{ ...spec, conflict: 'upsert', keyColumns: ['ts'], updateColumns: ['ts'] }, /also a key column/],
      [{ ...spec, conflict: 'merge' as never }, /Unknown conflict policy/],
      [{ ...spec, maxRowsPerStatement: 0 }, /maxRowsPerStatement/],
      [{ ...spec, table: 'x`y\u0000' }, /NUL/],
      [{ ...spec, columns: [] }, /At least one column/],
      [{ ...spec, columns: ['a', 'a'] }, /listed twice/],
    ];
    for (const [bad, pattern] of cases) {
      assert.throws(
        () => planInsert('mysql', bad),
        (err: unknown) => (err instanceof SqlParameterError || err instanceof IdentifierError) && pattern.test((err as Error).message),
        String(pattern),
      );
    }
  });

  it('maps object rows by column name (missing -> NULL) and refuses rows of the wrong width', () => {
    const [statement] = buildInsertStatements('sqlite', spec, [
      { sensor: 's', ts: 5 },
      { value: 2, sensor: 't', ts: 6, other: 'ignored' },
    ]);
    assert.deepEqual(statement.values, ['s', 5, null, 't', 6, 2]);
    assert.throws(
      () => buildInsertStatements('mysql', spec, [['a', 1]]),
      (err: unknown) =>
        err instanceof SqlParameterError && err.code === 'DB_INSERT_ROW_SHAPE' && /Row 0 has 2 values for 3 columns/.test(err.message),
    );
    assert.throws(() => buildInsertStatements('mysql', spec, [null as never]), /Row 0 is null/);
  });

  it('returns no statement for no rows', () => {
    assert.deepEqual(buildInsertStatements('mysql', spec, []), []);
  });
});

describe('db/insert: chunking', () => {
  const many = (n: number, width = 3): SqlValue[][] =>
    Array.from({ length: n }, (_, i) => Array.from({ length: width }, (_, c) => i * width + c));

  it('splits at maxRowsPerStatement, keeping order', () => {
    const statements = buildInsertStatements('mysql', { ...spec, maxRowsPerStatement: 2 }, many(5));
    assert.deepEqual(
      statements.map((s) => s.rows),
      [2, 2, 1],
    );
    assert.deepEqual(
      statements.flatMap((s) => s.values),
      many(5).flat(),
    );
    assert.equal((statements[2].sql.match(/\?/g) ?? []).length, 3);
  });

  it('stays under the placeholder limit of each driver', () => {
    for (const dialect of ['mysql', 'sqlite'] as const) {
      const width = 100;
      const plan = planInsert(dialect, {
        table: 't',
        columns: Array.from({ length: width }, (_, i) => `c${i}`),
        maxRowsPerStatement: 100_000,
      });
      assert.equal(plan.rowsPerStatement, Math.floor(PLACEHOLDER_LIMITS[dialect] / width));
      const statements = plan.statements(many(plan.rowsPerStatement * 2 + 1, width));
      assert.equal(statements.length, 3);
      for (const s of statements) assert.ok(s.values.length <= PLACEHOLDER_LIMITS[dialect]);
    }
  });

  it('splits MySQL statements by estimated size; an oversized row goes alone', () => {
    const big = 'x'.repeat(1000);
    const plan = planInsert('mysql', { table: 't', columns: ['a'], maxStatementBytes: 10_000 });
    const statements = plan.statements(Array.from({ length: 10 }, () => [big]));
    assert.ok(statements.length > 1);
    assert.equal(
      statements.reduce((n, s) => n + s.rows, 0),
      10,
    );
    for (const s of statements) assert.ok(s.values.length * 3002 <= 10_000);
    const lone = plan.statements([['a'], ['y'.repeat(50_000)], ['b']]);
    assert.deepEqual(
      lone.map((s) => s.rows),
      [1, 1, 1],
    );
  });

  it('SQLite has no size cap by default', () => {
    const statements = planInsert('sqlite', { table: 't', columns: ['a'] }).statements(
      Array.from({ length: 10 }, () => ['x'.repeat(100_000)]),
    );
    assert.equal(statements.length, 1);
  });

  it('reuses SQL text for equal row counts', () => {
    const plan = planInsert('sqlite', { ...spec, maxRowsPerStatement: 2 });
    const [a, b] = plan.statements(many(4));
    assert.equal(a.sql, b.sql);
    assert.equal(plan.sqlFor(2), a.sql);
  });

  it('property: every row lands exactly once, in order, in statements within limits', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 300 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 50 }),
        (n, width, maxRows) => {
          const columns = Array.from({ length: width }, (_, i) => `c${i}`);
          const input = many(n, width);
          const statements = buildInsertStatements('sqlite', { table: 't', columns, maxRowsPerStatement: maxRows }, input);
          assert.deepEqual(
            statements.flatMap((s) => s.values),
            input.flat(),
          );
          for (const s of statements) {
            assert.ok(s.rows >= 1 && s.rows <= maxRows);
            assert.equal(s.values.length, s.rows * width);
            assert.equal((s.sql.match(/\?/g) ?? []).length, s.values.length);
          }
        },
      ),
    );
  });
});

describe('db/insert: insertRows', () => {
  it('runs each chunk on the executor and sums affectedRows', async () => {
    const seen: Array<[string, SqlParams | undefined]> = [];
    const executor: SqlExecutor = {
      dialect: 'sqlite',
      async query(sql: string, params?: SqlParams): Promise<QueryResult> {
        seen.push([sql, params]);
        return { rows: [], affectedRows: (params as unknown[]).length / 3 };
      },
    };
    const outcome = await insertRows(executor, { ...spec, maxRowsPerStatement: 2 }, [
      [1, 2, 3],
      [4, 5, 6],
      [7, 8, 9],
    ]);
    assert.deepEqual(outcome, { statements: 2, rows: 3, affectedRows: 3 });
    assert.equal(seen.length, 2);
    await assert.rejects(insertRows(executor, planInsert('mysql', spec), []), /cannot run on a sqlite database/);
  });
});
