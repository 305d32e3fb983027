/**
 * Schema adoption: taking over tables that another program (the original pipeline a flow
 * replaces) created in the database, instead of failing on "table already exists".
 *
 * A migration set may carry a SchemaAdoption. Before the set's first migration runs in a
 * database, the migration runner (./migrate.ts) asks the adoption, under the migration lock, what
 * the database holds. The inspection only reads the catalog and answers with a plan:
 *
 * - `none`: nothing of the set is there; the migrations create it as usual;
 * - `adopt`: a schema it recognises; `run` brings it to the shape migration `version` of the set
 *   leaves behind (keeping every row), and the runner records the adoption and versions 1 to
 *   `version` as applied, so later migrations run on top as everywhere else;
 * - `refuse`: something it does not recognise (a column of another type, an unknown trigger):
 *   the runner stops before touching anything and reports what was found and what to do.
 *
 * Inspections are keyed by dialect. A dialect without an inspection (or without a catalog reader
 * in ./introspect.ts) skips adoption: its migrations run as they always did.
 */
import { column, type TableInfo, type TypeFamily } from './introspect';
import type { Dialect, SqlExecutor } from './types';

export type AdoptionPlan =
  | { action: 'none' }
  | {
      action: 'adopt';
      /** Slug for the record `<set>/0-<record>`, e.g. `adopt-original`. */
      record: string;
      /** The set's version whose schema `run` leaves behind. */
      version: number;
      /** One line for the log: what was found and taken over. */
      summary: string;
      /**
       * Brings the schema to `version`'s shape. Runs under the migration lock; on SQLite inside a
       * savepoint. May answer a line for the log (what it found in the rows, e.g. counts).
       */
      run(executor: SqlExecutor): Promise<string | void>;
    }
  | {
      action: 'refuse';
      /** What is there that the adoption does not recognise. */
      found: string;
      /** What the user can do about it. */
      remedy: string;
    };

export type AdoptionInspector = (executor: SqlExecutor) => Promise<AdoptionPlan>;

export interface SchemaAdoption {
  /** Per dialect: reads what is there (read-only) and plans the adoption. */
  inspect: Partial<Record<Dialect, AdoptionInspector>>;
}

/** A plan that refuses, with its two halves joined the way the error message shows them. */
export function refuse(found: string, remedy: string): AdoptionPlan {
  return { action: 'refuse', found, remedy };
}

/**
 * An executor that also keeps the text of every statement sent through it, for the adoption's
 * record (its checksum says exactly what ran) and for tests.
 */
export function recordingExecutor(executor: SqlExecutor): { executor: SqlExecutor; statements: string[] } {
  const statements: string[] = [];
  return {
    statements,
    executor: {
      get dialect() {
        return executor.dialect;
      },
      query(sql, params) {
        statements.push(sql);
        return executor.query(sql, params);
      },
    },
  };
}

/** A column a recognised schema must (or may) have, by type family. */
export interface ExpectedColumn {
  name: string;
  family: TypeFamily | readonly TypeFamily[];
  /** May be missing (a column a previous, interrupted adoption or an older release had added). */
  optional?: boolean;
}

/**
 * What does not match `expected` in `table`, one readable line each: a missing column, a column of
 * another type, and an extra column every INSERT would have to fill (NOT NULL without default).
 */
export function columnProblems(table: TableInfo, expected: readonly ExpectedColumn[]): string[] {
  const problems: string[] = [];
  for (const want of expected) {
    const found = column(table, want.name);
    const families = typeof want.family === 'string' ? [want.family] : want.family;
    if (!found) {
      if (!want.optional) problems.push(`${table.name}.${want.name} is missing`);
    } else if (!families.includes(found.family)) {
      problems.push(`${table.name}.${found.name} is ${found.type || 'untyped'} (expected ${families.join(' or ')})`);
    }
  }
  for (const extra of table.columns) {
    if (expected.some((want) => want.name.toLowerCase() === extra.name.toLowerCase())) continue;
    if (!extra.nullable && !extra.hasDefault) problems.push(`${table.name}.${extra.name} is an extra NOT NULL column without a default`);
  }
  return problems;
}

/** "a, b and c" */
export function listing(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

/**
 * SQLite cannot change a column's type, a table constraint or a column default in place, so it
 * takes over a table by rebuilding it: copy the rows aside, create the table with our statement,
 * copy them back (same ids, the rows' values converted by `copy`), then recreate the user's own
 * indexes on it and keep the AUTOINCREMENT counter where it was. Foreign keys pointing at the table
 * are deferred to the commit, which checks that every row still finds its parent (the ids are the
 * same, so they do). Runs inside the migration lock's transaction: all or nothing.
 */
export async function rebuildSqliteTable(
  executor: SqlExecutor,
  options: {
    table: string;
    /** Our CREATE TABLE statement for it (plus our indexes in `indexes`). */
    create: string;
    indexes?: readonly string[];
    /** Target column -> SQL expression over the old row (columns of the copy). */
    copy: Readonly<Record<string, string>>;
  },
): Promise<void> {
  const { table } = options;
  const aside = `iotp_adopt_${table}`;
  const own = await executor.query("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", [
    table,
  ]);
  const sequence = await executor
    .query('SELECT seq FROM sqlite_sequence WHERE name = ?', [table])
    .catch(() => ({ rows: [] as Record<string, unknown>[] }));
  await executor.query('PRAGMA defer_foreign_keys = ON');
  await executor.query(`CREATE TABLE "${aside}" AS SELECT * FROM "${table}"`);
  await executor.query(`DROP TABLE "${table}"`);
  await executor.query(options.create);
  // Columns the old table had beyond ours (a user's own) come along, as they were declared.
  const copy: Record<string, string> = { ...options.copy };
  const before = await executor.query(`SELECT name, type FROM pragma_table_info('${aside}')`);
  const after = new Set(
    (await executor.query(`SELECT name FROM pragma_table_xinfo('${table}')`)).rows.map((r) => String(r.name).toLowerCase()),
  );
  for (const row of before.rows) {
    const name = String(row.name);
    if (after.has(name.toLowerCase()) || Object.keys(copy).some((c) => c.toLowerCase() === name.toLowerCase())) continue;
    await executor.query(`ALTER TABLE "${table}" ADD COLUMN "${name.replace(/"/g, '""')}" ${String(row.type ?? '')}`);
    copy[name] = `"${name.replace(/"/g, '""')}"`;
  }
  const targets = Object.keys(copy);
  await executor.query(
    `INSERT INTO "${table}" (${targets.map((c) => `"${c.replace(/"/g, '""')}"`).join(', ')}) SELECT ${targets.map((c) => copy[c]).join(', ')} FROM "${aside}"`,
  );
  await executor.query(`DROP TABLE "${aside}"`);
  for (const statement of options.indexes ?? []) await executor.query(statement);
  // The user's own indexes, unless one of ours took the name.
  for (const index of own.rows) {
    const exists = await executor.query("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", [String(index.name)]);
    if (exists.rows.length === 0) await executor.query(String(index.sql));
  }
  const seq = Number(sequence.rows[0]?.seq);
  if (Number.isFinite(seq)) await executor.query('UPDATE sqlite_sequence SET seq = ? WHERE name = ? AND seq < ?', [seq, table, seq]);
}
