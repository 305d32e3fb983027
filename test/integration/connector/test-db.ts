/**
 * The connector's integration tests run on the package's real database layer (lib/db).
 */
import { openDatabase } from '../../../lib/db';
import type { Database, MigrationSet } from '../../../lib/db/types';

export async function openMysql(config: {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}): Promise<Database> {
  return openDatabase({ dialect: 'mysql', ...config, poolSize: 4, connectTimeoutMs: 5000 });
}

export async function openPostgres(config: {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}): Promise<Database> {
  return openDatabase({ dialect: 'postgres', ...config, poolSize: 4, connectTimeoutMs: 5000 });
}

export async function openSqlite(file: string): Promise<Database> {
  return openDatabase({ dialect: 'sqlite', file, busyTimeoutMs: 5000 });
}

/**
 * Runs every statement of a set for the database's dialect directly (not through the migration
 * runner), so a test can check that the statements themselves are safe to run twice.
 */
export async function applyMigrations(db: Database, set: MigrationSet): Promise<void> {
  for (const migration of set.migrations) for (const statement of migration[db.dialect] ?? []) await db.query(statement);
}
