/**
 * A tiny Database (lib/db/types.ts) over mysql2 and better-sqlite3, only for the connector's tests
 * while lib/db is being written elsewhere: enough to run the migration set and the bookmark SQL on
 * the real engines. Positional `?` parameters only.
 */
import type { Database, MigrationSet, SqlExecutor, SqlParams, QueryResult } from '../../../lib/db/types';

type Positional = readonly unknown[];

function positional(params?: SqlParams): unknown[] {
  if (params === undefined) return [];
  if (!Array.isArray(params)) throw new Error('test adapter: positional parameters only');
  return [...(params as Positional)];
}

export async function openMysql(config: { host: string; port: number; user: string; password: string; database: string }): Promise<Database> {
  const mysql = await import('mysql2/promise');
  const { host, port, user, password, database } = config;
  const pool = mysql.createPool({ host, port, user, password, database, connectionLimit: 4, timezone: 'Z' });
  const run = async (executor: { query: typeof pool.query }, sql: string, params?: SqlParams): Promise<QueryResult> => {
    const [result] = await executor.query(sql, positional(params));
    if (Array.isArray(result)) return { rows: result as Record<string, unknown>[], affectedRows: 0 };
    const header = result as { affectedRows: number; insertId: number };
    return { rows: [], affectedRows: header.affectedRows, insertId: header.insertId };
  };
  const db: Database = {
    dialect: 'mysql',
    description: `mysql://${config.user}@${config.host}:${config.port}/${config.database}`,
    query: (sql, params) => run(pool as never, sql, params),
    async transaction(work) {
      const conn = await pool.getConnection();
      try {
        await conn.beginTransaction();
        const value = await work({ dialect: 'mysql', query: (sql, params) => run(conn as never, sql, params) });
        await conn.commit();
        return value;
      } catch (err) {
        await conn.rollback();
        throw err;
      } finally {
        conn.release();
      }
    },
    async withLock(_name, _timeoutMs, work) {
      return work(db);
    },
    async ping() {
      await pool.query('SELECT 1');
    },
    async close() {
      await pool.end();
    },
  };
  return db;
}

export async function openSqlite(file: string): Promise<Database> {
  const { default: BetterSqlite } = await import('better-sqlite3');
  const handle = new BetterSqlite(file);
  handle.pragma('journal_mode = WAL');
  const run = async (sql: string, params?: SqlParams): Promise<QueryResult> => {
    const statement = handle.prepare(sql);
    const values = positional(params);
    if (statement.reader) return { rows: statement.all(...values) as Record<string, unknown>[], affectedRows: 0 };
    const info = statement.run(...values);
    return { rows: [], affectedRows: info.changes, insertId: Number(info.lastInsertRowid) };
  };
  const executor: SqlExecutor = { dialect: 'sqlite', query: run };
  const db: Database = {
    ...executor,
    description: `sqlite:${file}`,
    async transaction(work) {
      handle.exec('BEGIN IMMEDIATE');
      try {
        const value = await work(executor);
        handle.exec('COMMIT');
        return value;
      } catch (err) {
        handle.exec('ROLLBACK');
        throw err;
      }
    },
    async withLock(_name, _timeoutMs, work) {
      return work(executor);
    },
    async ping() {
      handle.prepare('SELECT 1').get();
    },
    async close() {
      handle.close();
    },
  };
  return db;
}

/** Applies every migration of a set, statement by statement, for the database's dialect. */
export async function applyMigrations(db: Database, set: MigrationSet): Promise<void> {
  for (const migration of set.migrations) for (const statement of migration[db.dialect]) await db.query(statement);
}
