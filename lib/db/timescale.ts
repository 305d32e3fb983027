/**
 * TimescaleDB: the database node's option to keep the time-series tables of the shipped migration
 * sets as hypertables (chunked by time: fast time-range reads and retention by dropping chunks).
 *
 * Refused, with one message and before anything is changed, where it cannot work: a database that
 * is not PostgreSQL, or a server without the timescaledb extension. Where it can, each table is
 * converted once, after its migration set: its primary key gains the time column (TimescaleDB
 * requires every unique index to include it), then create_hypertable() moves the existing rows
 * into chunks. Both run in one transaction under the migrations lock, so a second instance waits
 * and then finds the table converted.
 */
import { DatabaseConfigError, DatabaseError } from './errors';
import { MIGRATIONS_LOCK } from './migrate';
import type { Database, SqlExecutor } from './types';

export interface HypertableSpec {
  table: string;
  /** The partitioning column. */
  time: string;
  /** For an integer time column (epoch seconds): the chunk width in its unit. */
  integerChunk?: number;
  /** Statements run first, in the same transaction (e.g. what hypertables do not support, replaced). */
  prepare?: readonly string[];
}

/** The hypertables each shipped migration set asks for. */
export const HYPERTABLES: Readonly<Record<string, readonly HypertableSpec[]>> = {
  statestream: [
    {
      table: 'messages',
      time: 'received_at',
      // Hypertables take no statement triggers with transition tables: the row-by-row variant of
      // the normalisation (same rules, lib/statestream/schema.ts) takes over.
      prepare: [
        'DROP TRIGGER IF EXISTS statestream_normalise ON messages',
        'CREATE TRIGGER statestream_normalise AFTER INSERT ON messages FOR EACH ROW EXECUTE FUNCTION statestream_normalise_row()',
      ],
    },
  ],
  sensors: [{ table: 'sensor_data', time: 'timestamp' }],
  // `timestamp` is BIGINT epoch seconds here: one chunk per week.
  isems: [{ table: 'measurement', time: 'timestamp', integerChunk: 7 * 86_400 }],
};

const LOCK_TIMEOUT_MS = 5 * 60_000;

/**
 * Resolves when TimescaleDB can be used on `db` (creating the extension in the database if the
 * server offers it); throws DatabaseConfigError `DB_TIMESCALE_UNAVAILABLE` when it cannot, and the
 * database's own error (e.g. a connection error) when the question could not be asked.
 */
export async function requireTimescale(db: Database): Promise<void> {
  if (db.dialect !== 'postgres') {
    throw new DatabaseConfigError(
      'TimescaleDB',
      `TimescaleDB hypertables are switched on for ${db.description}, but TimescaleDB is a PostgreSQL extension; ` +
        'turn the option off or use a PostgreSQL database. Nothing was changed in the database.',
      'DB_TIMESCALE_UNAVAILABLE',
    );
  }
  const { rows } = await db.query("SELECT installed_version FROM pg_available_extensions WHERE name = 'timescaledb'");
  if (rows.length === 0) {
    throw new DatabaseConfigError(
      'TimescaleDB',
      `TimescaleDB hypertables are switched on for ${db.description}, but this PostgreSQL server does not have the ` +
        'timescaledb extension (it is not in pg_available_extensions); install TimescaleDB on the server ' +
        '(e.g. the timescale/timescaledb image) or turn the option off. Nothing was changed in the database.',
      'DB_TIMESCALE_UNAVAILABLE',
    );
  }
  if (rows[0].installed_version != null) return;
  try {
    await db.query('CREATE EXTENSION IF NOT EXISTS timescaledb');
  } catch (err) {
    if (err instanceof DatabaseError && (err.kind === 'connection' || err.kind === 'transient')) throw err;
    throw new DatabaseConfigError(
      'TimescaleDB',
      `TimescaleDB hypertables are switched on for ${db.description}, but CREATE EXTENSION timescaledb failed ` +
        `(${err instanceof Error ? err.message : String(err)}); the server may need timescaledb in shared_preload_libraries, ` +
        'or a superuser to create the extension once. Nothing was changed in the tables.',
      'DB_TIMESCALE_UNAVAILABLE',
    );
  }
}

/** The statements turning `spec.table` into a hypertable (the caller checks it is not one yet). */
export function hypertableStatements(spec: HypertableSpec, primaryKey: { name: string; columns: readonly string[] } | null): string[] {
  const q = (name: string): string => `"${name.replace(/"/g, '""')}"`;
  const statements: string[] = [...(spec.prepare ?? [])];
  if (primaryKey && !primaryKey.columns.includes(spec.time)) {
    statements.push(
      `ALTER TABLE ${q(spec.table)} DROP CONSTRAINT ${q(primaryKey.name)}, ADD PRIMARY KEY (${[...primaryKey.columns, spec.time].map(q).join(', ')})`,
    );
  }
  const chunk = spec.integerChunk === undefined ? '' : `, chunk_time_interval => ${Math.floor(spec.integerChunk)}`;
  statements.push(`SELECT create_hypertable('${q(spec.table)}', '${spec.time}'${chunk}, migrate_data => TRUE)`);
  return statements;
}

async function primaryKeyOf(executor: SqlExecutor, table: string): Promise<{ name: string; columns: string[] } | null> {
  const { rows } = await executor.query(
    `SELECT c.conname AS name, a.attname AS column_name
     FROM pg_catalog.pg_constraint c
     JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
     WHERE c.conrelid = to_regclass(quote_ident(?)) AND c.contype = 'p'
     ORDER BY array_position(c.conkey, a.attnum)`,
    [table],
  );
  if (rows.length === 0) return null;
  return { name: String(rows[0].name), columns: rows.map((r) => String(r.column_name)) };
}

/**
 * Makes the tables of migration set `setName` hypertables where they are not yet. Call after the
 * set's migrations and after requireTimescale(). Returns the tables it converted.
 */
export async function applyHypertables(db: Database, setName: string): Promise<string[]> {
  const specs = HYPERTABLES[setName] ?? [];
  if (specs.length === 0) return [];
  return db.withLock(MIGRATIONS_LOCK, LOCK_TIMEOUT_MS, async (executor) => {
    const converted: string[] = [];
    for (const spec of specs) {
      const { rows } = await executor.query(
        'SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = ? AND hypertable_schema = current_schema()',
        [spec.table],
      );
      if (rows.length > 0) continue;
      const statements = hypertableStatements(spec, await primaryKeyOf(executor, spec.table));
      await executor.query('BEGIN');
      try {
        for (const statement of statements) await executor.query(statement);
        await executor.query('COMMIT');
      } catch (err) {
        await executor.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
      converted.push(spec.table);
    }
    return converted;
  });
}
