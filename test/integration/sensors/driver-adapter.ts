/**
 * A minimal `SqlExecutor` over mysql2 and better-sqlite3 for the sensors integration tests, so
 * they exercise the sensors SQL against real engines while lib/db is written in parallel. It
 * mirrors what lib/db must do for these modules: DATETIME returned as text (`dateStrings`), so
 * microseconds survive the round trip and no driver time zone reinterprets the stored UTC.
 */
import type { Dialect, QueryResult, SqlExecutor, SqlParams, SqlValue } from '../../../lib/db/types';
import type { DatabaseConfig, MigrationSet, MysqlConfig, PostgresConfig } from '../../../lib/db/types';
import { driverConnection } from '../../support/services';

export interface TestExecutor extends SqlExecutor {
  close(): Promise<void>;
  /** Applies a migration set through lib/db's runner, on the same storage. */
  migrate(set: MigrationSet): Promise<string[]>;
}

async function migrateWith(config: DatabaseConfig, set: MigrationSet): Promise<string[]> {
  const { openDatabase, runMigrations } = await import('../../../lib/db');
  const db = openDatabase(config);
  try {
    return (await runMigrations(db, [set])).applied;
  } finally {
    await db.close();
  }
}

function positional(params: SqlParams | undefined): SqlValue[] {
  if (params === undefined) return [];
  if (!Array.isArray(params)) throw new Error('the test adapter supports positional parameters only');
  return params as SqlValue[];
}

export async function openMysql(config: MysqlConfig): Promise<TestExecutor> {
  const mysql = await import('mysql2/promise');
  const pool = mysql.createPool({
    ...driverConnection(config),
    connectionLimit: 2,
    timezone: 'Z',
    dateStrings: true,
    charset: 'utf8mb4',
  });
  return {
    dialect: 'mysql' as Dialect,
    async query(sql: string, params?: SqlParams): Promise<QueryResult> {
      const [result] = await pool.execute(sql, positional(params) as never);
      if (Array.isArray(result)) return { rows: result as Record<string, unknown>[], affectedRows: 0 };
      const header = result as { affectedRows: number; insertId: number };
      return { rows: [], affectedRows: header.affectedRows, insertId: header.insertId };
    },
    close: () => pool.end(),
    migrate: (set) => migrateWith(config, set),
  };
}

export async function openSqlite(file: string): Promise<TestExecutor> {
  const { default: Sqlite } = await import('better-sqlite3');
  const db = new Sqlite(file);
  db.pragma('journal_mode = WAL');
  return {
    dialect: 'sqlite' as Dialect,
    async query(sql: string, params?: SqlParams): Promise<QueryResult> {
      const statement = db.prepare(sql);
      const values = positional(params).map((v) => (typeof v === 'boolean' ? Number(v) : v instanceof Date ? v.toISOString() : v));
      if (statement.reader) return { rows: statement.all(...values) as Record<string, unknown>[], affectedRows: 0 };
      const info = statement.run(...values);
      return { rows: [], affectedRows: info.changes, insertId: Number(info.lastInsertRowid) };
    },
    async close() {
      db.close();
    },
    migrate: (set) => migrateWith({ dialect: 'sqlite', file, busyTimeoutMs: 5000 }, set),
  };
}

/**
 * PostgreSQL through pg with `timestamp` returned as text, as the MySQL adapter's `dateStrings`
 * does; placeholders numbered by lib/db's own compilePostgres.
 */
export async function openPostgres(config: PostgresConfig): Promise<TestExecutor> {
  const pg = await import('pg');
  const { compilePostgres } = await import('../../../lib/db/params');
  const TIMESTAMP_OID = 1114;
  const types = {
    getTypeParser: (oid: number, format?: string) =>
      oid === TIMESTAMP_OID ? (text: string) => text : pg.types.getTypeParser(oid, format as 'text'),
  };
  const pool = new pg.Pool({
    ...driverConnection(config),
    max: 2,
    types: types as never,
    options: '-c TimeZone=UTC',
  });
  // pool.end() resolves once its clients are removed, before their sockets have closed; the
  // suite's DROP DATABASE ... WITH (FORCE) then ends a closing connection, whose error would be
  // uncaught (the pool no longer listens). lib/db keeps a listener on every client for this.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return {
    dialect: 'postgres' as Dialect,
    async query(sql: string, params?: SqlParams): Promise<QueryResult> {
      const { text, values } = compilePostgres(sql, params);
      const result = params === undefined ? await pool.query(text) : await pool.query(text, values as unknown[]);
      return { rows: result.rows, affectedRows: result.command === 'SELECT' ? 0 : (result.rowCount ?? 0) };
    },
    close: () => pool.end(),
    migrate: (set) => migrateWith(config, set),
  };
}
