/**
 * The dialect-neutral database contract shared by every node and pipeline in this package.
 * One implementation per dialect (mysql2 for MySQL/MariaDB; pg for PostgreSQL; node:sqlite or
 * better-sqlite3 for SQLite); nothing outside lib/db may import a driver directly.
 */
import type { SchemaAdoption } from './adopt';

export type Dialect = 'mysql' | 'sqlite' | 'postgres';

/** A value that may be bound to a statement parameter. */
export type SqlValue = string | number | bigint | boolean | null | Date | Buffer;

/** Positional (`?`) or named (`:name`) parameters. */
export type SqlParams = readonly SqlValue[] | Readonly<Record<string, SqlValue | undefined>>;

export interface QueryResult {
  /** Rows of a SELECT (empty for other statements). */
  rows: Record<string, unknown>[];
  /** Rows changed by INSERT/UPDATE/DELETE. */
  affectedRows: number;
  /** Auto-increment id of the last inserted row, when the driver reports one. */
  insertId?: number;
}

/** One statement with its parameters, for Database.atomic. */
export interface SqlStatement {
  sql: string;
  values?: SqlParams;
}

/** Something statements can be run on: the database itself, or a transaction scope. */
export interface SqlExecutor {
  readonly dialect: Dialect;
  query(sql: string, params?: SqlParams): Promise<QueryResult>;
}

/** Rows of a row-returning statement read under a limit. */
export interface SelectResult {
  rows: Record<string, unknown>[];
  /** True when the statement had more than `maxRows` rows: `rows` holds the first `maxRows`. */
  truncated: boolean;
}

export interface Database extends SqlExecutor {
  /**
   * Runs a row-returning statement (SELECT, WITH, SHOW, PRAGMA...) and stops reading after
   * `maxRows` rows, so a huge result never has to fit in memory (MySQL: the connection that was
   * streaming it is discarded).
   */
  select(sql: string, params: SqlParams | undefined, maxRows: number): Promise<SelectResult>;
  /** Runs `work` inside one transaction on one connection; commits if it resolves, rolls back if it throws. */
  transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /**
   * Runs `statements` as one transaction in as few round trips as the driver allows and resolves
   * once it committed; on an error the transaction is rolled back and the error thrown.
   * MySQL/MariaDB: START TRANSACTION, the statements and COMMIT go as one multi-statement text
   * (split only where it would exceed the statement size cap), so a transaction costs what a
   * single autocommit statement costs. SQLite: an ordinary transaction.
   */
  atomic(statements: readonly SqlStatement[]): Promise<void>;
  /**
   * Runs `work` while holding a named, database-wide lock (MySQL GET_LOCK; SQLite an immediate
   * transaction), so several Node-RED instances sharing the database serialise on it.
   */
  withLock<T>(name: string, timeoutMs: number, work: (executor: SqlExecutor) => Promise<T>): Promise<T>;
  /** Resolves when the database answers a trivial statement. */
  ping(): Promise<void>;
  /** Releases every connection; pending statements finish first. */
  close(): Promise<void>;
  /** A description without secrets, for logs and status (e.g. `mysql://user@host:3306/db`). */
  readonly description: string;
}

/** Connection settings after URL/field parsing; secrets live only here, never in descriptions. */
export type DatabaseConfig = MysqlConfig | SqliteConfig | PostgresConfig;

/** What a MySQL/MariaDB or PostgreSQL connection is made of, whichever the dialect. */
export interface ServerConnectionConfig {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  /** Maximum pooled connections. */
  poolSize: number;
  connectTimeoutMs: number;
}

export interface MysqlConfig extends ServerConnectionConfig {
  dialect: 'mysql';
  /** TLS: undefined = plain TCP. */
  tls?: { rejectUnauthorized: boolean; ca?: string; cert?: string; key?: string };
}

/** libpq's sslmode values this package honours (`prefer`/`allow` are refused: they fall back to plain text silently). */
export type PostgresSslMode = 'disable' | 'require' | 'verify-ca' | 'verify-full';

export interface PostgresConfig extends ServerConnectionConfig {
  dialect: 'postgres';
  /**
   * TLS: undefined = plain TCP (`sslmode=disable`). `require` encrypts without verifying the
   * certificate (libpq's meaning); `verify-ca` checks the chain; `verify-full` also the host name.
   */
  tls?: { mode: Exclude<PostgresSslMode, 'disable'>; ca?: string; cert?: string; key?: string };
}

export interface SqliteConfig {
  dialect: 'sqlite';
  /** File path, or `:memory:`. */
  file: string;
  /** How long a writer waits for another connection's lock before SQLITE_BUSY. */
  busyTimeoutMs: number;
  /** `node:sqlite` (built into Node.js), `better-sqlite3` (optional dependency) or `auto` (default; lib/db/sqlite-driver.ts pickDriver). */
  driver?: 'auto' | 'node:sqlite' | 'better-sqlite3';
}

/** How the database failed, which decides what a caller does next. */
export type DbErrorKind =
  /** The server is unreachable or the connection dropped: retry later, keep the data. */
  | 'connection'
  /** This row's data is unacceptable (too long, wrong type, NOT NULL, constraint): isolate it. */
  | 'data'
  /** Lock wait timeout or deadlock: retry the same statement soon. */
  | 'transient'
  /** Anything else (syntax, missing table, permissions): report, do not retry blindly. */
  | 'fatal';

/** One versioned schema step, written per dialect. Statements are sent one by one (no DELIMITER). */
export interface Migration {
  /** Monotonic within its set, starting at 1. */
  version: number;
  /** Short slug, e.g. `create-messages`. */
  name: string;
  mysql: readonly string[];
  sqlite: readonly string[];
  /** PostgreSQL statements; a migration without them refuses to run on PostgreSQL (it is never skipped silently). */
  postgres?: readonly string[];
}

/** A named, ordered list of migrations that one pipeline (or a user) needs. */
export interface MigrationSet {
  name: string;
  description: string;
  migrations: readonly Migration[];
  /** How to take over an existing schema another program created, before the first migration runs (./adopt.ts). */
  readonly adoption?: SchemaAdoption;
}
