/**
 * The one database layer of the package: open a Database for a DatabaseConfig and talk to it
 * through the dialect-neutral interfaces in ./types. Nothing outside lib/db imports a driver.
 */
import { MysqlDatabase, type MysqlOpenOptions } from './mysql';
import { PostgresDatabase, type PostgresOpenOptions } from './postgres';
import { SqliteDatabase } from './sqlite';
import type { Database, DatabaseConfig } from './types';

export type OpenDatabaseOptions = MysqlOpenOptions & PostgresOpenOptions;

/**
 * A Database for `config`. MySQL, PostgreSQL: a pool that connects on first use (this never throws
 * for an unreachable server; the first statement does, with kind `connection`). SQLite: opens the
 * file now, creating its directory; throws SqliteUnavailableError if better-sqlite3 cannot load.
 */
export function openDatabase(config: DatabaseConfig, options: OpenDatabaseOptions = {}): Database {
  if (config.dialect === 'mysql') return new MysqlDatabase(config, options);
  if (config.dialect === 'postgres') return new PostgresDatabase(config, options);
  return new SqliteDatabase(config);
}

export * from './types';
export {
  DatabaseError,
  DatabaseConfigError,
  SqlParameterError,
  IdentifierError,
  classifyError,
  isDatabaseError,
  isUniqueViolation,
  kindOf,
  redact,
} from './errors';
export {
  parseDatabaseUrl,
  databaseConfigFromEnv,
  describeConfig,
  DEFAULT_BUSY_TIMEOUT_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_MYSQL_PORT,
  DEFAULT_POSTGRES_PORT,
  DEFAULT_POOL_SIZE,
  DEFAULT_SQLITE_FILENAME,
  type Env,
  type ParseDatabaseUrlOptions,
} from './url';
export {
  toPositional,
  findPlaceholders,
  compileNamed,
  compilePositional,
  compilePostgres,
  namedValues,
  type Placeholder,
  type PositionalSql,
  type PostgresSql,
} from './params';
export { quoteIdentifier, quoteIdentifierList, validateIdentifier, MAX_IDENTIFIER_LENGTH } from './identifiers';
export {
  InsertPlan,
  planInsert,
  buildInsertStatements,
  insertRows,
  PLACEHOLDER_LIMITS,
  DEFAULT_MAX_ROWS_PER_STATEMENT,
  DEFAULT_MAX_STATEMENT_BYTES,
  type ConflictPolicy,
  type InsertSpec,
  type InsertRow,
  type InsertStatement,
  type InsertOutcome,
} from './insert';
export { MysqlDatabase, mysqlLockName, formatMysqlQuery, packStatements, DEFAULT_QUEUE_LIMIT, type MysqlOpenOptions } from './mysql';
export { PostgresDatabase, postgresLockKey, DEFAULT_POSTGRES_QUEUE_LIMIT, type PostgresOpenOptions } from './postgres';
export { SqliteDatabase, SqliteUnavailableError } from './sqlite';
export {
  runMigrations,
  MigrationError,
  AdoptionError,
  MIGRATIONS_TABLE,
  MIGRATIONS_LOCK,
  migrationChecksum,
  type MigrationLog,
  type MigrationReport,
  type RunMigrationsOptions,
} from './migrate';
