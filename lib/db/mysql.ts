/**
 * Database on a mysql2 pool, for MySQL 5.7+/8 and MariaDB 10.3+.
 *
 * Statements are formatted client-side (values escaped into the SQL text, see values.ts) and sent
 * with pool.query: one round trip, no server-side prepare, which is what makes multi-row INSERTs
 * fast. atomic() sends a whole transaction as one multi-statement text, on a second pool whose
 * connections allow that (created on first use). Every session runs in UTC with utf8mb4 and
 * without NO_BACKSLASH_ESCAPES.
 *
 * Failure handling: every driver error is re-thrown as a classified DatabaseError; a connection
 * that failed (or whose transaction could not be rolled back) is destroyed instead of returned
 * to the pool; 'error' events of idle pooled connections are caught, so a server restart never
 * crashes the process: the next statement simply opens a new connection.
 */
import { createHash } from 'node:crypto';
import type { Pool, PoolConnection, PoolOptions } from 'mysql2/promise';
import { DatabaseError, classifyError } from './errors';
import { compileNamed, compilePositional, namedValues } from './params';
import { describeConfig } from './url';
import { escapeMysqlString, formatMysql } from './values';
import { DEFAULT_MAX_STATEMENT_BYTES } from './insert';
import { onServerConnection, PoolLifetime, serverLock, serverTransaction } from './server-scope';
import type { Database, MysqlConfig, QueryResult, SelectResult, SqlExecutor, SqlParams, SqlStatement, SqlValue } from './types';

type MysqlDriver = typeof import('mysql2/promise');

/** Callers waiting for a pooled connection beyond this get a transient error instead of queueing without bound. */
export const DEFAULT_QUEUE_LIMIT = 1000;
/** Idle pooled connections are closed after this, so a quiet flow does not pin server connections. */
const IDLE_TIMEOUT_MS = 60_000;
/** MySQL's limit on GET_LOCK names. */
const MAX_LOCK_NAME_LENGTH = 64;

const SESSION_SETUP =
  "SET SESSION time_zone = '+00:00', " +
  "sql_mode = TRIM(BOTH ',' FROM REPLACE(CONCAT(',', @@SESSION.sql_mode, ','), ',NO_BACKSLASH_ESCAPES,', ','))";

export interface MysqlOpenOptions {
  /** Errors no caller is waiting for (an idle connection dropped by the server); default: ignored. */
  onBackgroundError?: (err: DatabaseError) => void;
  /** Overrides DEFAULT_QUEUE_LIMIT. */
  queueLimit?: number;
}

let driver: MysqlDriver | undefined;
function loadDriver(): MysqlDriver {
  // Required lazily so SQLite-only installs and unit tests never load mysql2.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  driver ??= require('mysql2/promise') as MysqlDriver;
  return driver;
}

/** The SQL text for `sql` + `params` with values escaped in (named parameters resolved first). */
export function formatMysqlQuery(sql: string, params?: SqlParams): string {
  if (params === undefined) return sql;
  if (Array.isArray(params)) return formatMysql(compilePositional(sql, 'mysql'), params as readonly SqlValue[]);
  const compiled = compileNamed(sql, 'mysql');
  return formatMysql(compiled, namedValues(compiled.names, params as Readonly<Record<string, SqlValue | undefined>>));
}

/**
 * GET_LOCK names are server-wide, so they are scoped to the database (two databases on one server
 * must not block each other) and hashed when longer than MySQL's 64 characters.
 */
export function mysqlLockName(database: string, name: string): string {
  const plain = `${database}.${name}`;
  if (plain.length <= MAX_LOCK_NAME_LENGTH) return plain;
  return `iotp.${createHash('sha256').update(`${database}\u0000${name}`).digest('hex').slice(0, 48)}`;
}

function toQueryResult(result: unknown): QueryResult {
  if (Array.isArray(result)) {
    // CALL answers [rows, header]; a SELECT answers rows.
    const rows = result.length > 0 && Array.isArray(result[0]) ? result[0] : result;
    return { rows: rows as Record<string, unknown>[], affectedRows: 0 };
  }
  const header = (result ?? {}) as { affectedRows?: number; insertId?: number | string };
  const out: QueryResult = { rows: [], affectedRows: Number(header.affectedRows ?? 0) };
  const insertId = Number(header.insertId ?? 0);
  if (insertId > 0) out.insertId = insertId;
  return out;
}

/**
 * Joins statements into as few multi-statement texts as possible, each at most `maxBytes` long
 * (a statement longer than that goes alone), keeping their order.
 */
export function packStatements(texts: readonly string[], maxBytes: number): string[] {
  const scripts: string[] = [];
  let current = '';
  let currentBytes = 0;
  for (const text of texts) {
    const bytes = Buffer.byteLength(text) + 2;
    if (current !== '' && currentBytes + bytes > maxBytes) {
      scripts.push(current);
      current = '';
      currentBytes = 0;
    }
    // A newline after the separator, so a statement ending in a `--` comment cannot swallow the next.
    current = current === '' ? text : `${current};\n${text}`;
    currentBytes += bytes;
  }
  if (current !== '') scripts.push(current);
  return scripts;
}

function closedError(): DatabaseError {
  return new DatabaseError('The MySQL/MariaDB database has been closed', { kind: 'connection', code: 'DB_CLOSED', dialect: 'mysql' });
}

/** Statements on one reserved connection (a transaction or a lock holder). */
class ConnectionScope implements SqlExecutor {
  readonly dialect = 'mysql' as const;
  active = true;
  /** Set when a statement failed with a connection error: the connection must not go back to the pool. */
  broken = false;

  constructor(
    private readonly connection: PoolConnection,
    private readonly secrets: readonly string[],
  ) {}

  async query(sql: string, params?: SqlParams): Promise<QueryResult> {
    if (!this.active) {
      throw new DatabaseError('This transaction or lock scope has already finished; its executor cannot run statements', {
        kind: 'fatal',
        code: 'DB_SCOPE_FINISHED',
        dialect: 'mysql',
      });
    }
    return this.raw(formatMysqlQuery(sql, params));
  }

  async raw(text: string): Promise<QueryResult> {
    try {
      const [result] = await this.connection.query(text);
      return toQueryResult(result);
    } catch (err) {
      const classified = classifyError(err, 'mysql', this.secrets);
      if (classified.kind === 'connection') this.broken = true;
      throw classified;
    }
  }
}

export class MysqlDatabase implements Database {
  readonly dialect = 'mysql' as const;
  readonly description: string;
  private readonly pool: Pool;
  private readonly poolOptions: PoolOptions;
  /**
   * Connections that accept multi-statement texts, for atomic() only: created on first use, so
   * only a writer pays for them. Kept apart from `pool` so statements written by users (the query
   * node) can never carry a second statement.
   */
  private scriptPool: Pool | undefined;
  private readonly secrets: readonly string[];
  private readonly database: string;
  private readonly lifetime: PoolLifetime;

  constructor(config: MysqlConfig, options: MysqlOpenOptions = {}) {
    this.description = describeConfig(config);
    this.secrets = config.password ? [config.password] : [];
    this.database = config.database;
    this.lifetime = new PoolLifetime(closedError, (err) => classifyError(err, 'mysql', this.secrets), options.onBackgroundError);
    this.poolOptions = {
      host: config.host,
      port: config.port,
      user: config.user,
      password: config.password,
      database: config.database,
      charset: 'UTF8MB4_UNICODE_CI',
      timezone: 'Z',
      multipleStatements: false,
      supportBigNumbers: true,
      bigNumberStrings: false,
      // DECIMAL (e.g. AVG()) as numbers, like SQLite returns them.
      decimalNumbers: true,
      enableKeepAlive: true,
      keepAliveInitialDelay: 10_000,
      connectTimeout: config.connectTimeoutMs,
      connectionLimit: config.poolSize,
      maxIdle: config.poolSize,
      idleTimeout: IDLE_TIMEOUT_MS,
      waitForConnections: true,
      queueLimit: options.queueLimit ?? DEFAULT_QUEUE_LIMIT,
    };
    if (config.tls) {
      this.poolOptions.ssl = {
        rejectUnauthorized: config.tls.rejectUnauthorized,
        ...(config.tls.ca !== undefined && { ca: config.tls.ca }),
        ...(config.tls.cert !== undefined && { cert: config.tls.cert }),
        ...(config.tls.key !== undefined && { key: config.tls.key }),
      };
    }
    this.pool = this.createPool(false);
  }

  private createPool(multipleStatements: boolean): Pool {
    const pool = loadDriver().createPool({ ...this.poolOptions, multipleStatements });
    pool.pool.on('connection', (connection) => {
      // A pooled connection only listens for its first 'error'; a second one (e.g. a write after
      // the server went away) would be unhandled and crash the process. Keep listening.
      connection.on('error', (err: unknown) => this.lifetime.backgroundError(err));
      // Queued before any caller's statement on this new connection.
      connection.query(SESSION_SETUP, (err: unknown) => {
        if (err) this.lifetime.backgroundError(err);
      });
    });
    return pool;
  }

  query(sql: string, params?: SqlParams): Promise<QueryResult> {
    return this.lifetime.track(async () => {
      const text = formatMysqlQuery(sql, params);
      try {
        const [result] = await this.pool.query(text);
        return toQueryResult(result);
      } catch (err) {
        throw classifyError(err, 'mysql', this.secrets);
      }
    });
  }

  select(sql: string, params: SqlParams | undefined, maxRows: number): Promise<SelectResult> {
    return this.lifetime.track(async () => {
      const text = formatMysqlQuery(sql, params);
      const connection = await this.reserve();
      const rows: Record<string, unknown>[] = [];
      let reusable = true;
      try {
        return await new Promise<SelectResult>((resolve, reject) => {
          // The callback connection streams rows one by one instead of buffering the result.
          const stream = (connection.connection as unknown as import('mysql2').Connection).query(text);
          let finished = false;
          stream.on('result', (row: unknown) => {
            if (finished || Array.isArray(row) || typeof row !== 'object' || row === null || 'affectedRows' in row) return;
            if (rows.length === maxRows) {
              // Stop reading: the rest of the result is never transferred; the connection is dropped.
              finished = true;
              reusable = false;
              resolve({ rows, truncated: true });
              return;
            }
            rows.push(row as Record<string, unknown>);
          });
          stream.on('error', (err: unknown) => {
            if (finished) return;
            finished = true;
            reject(classifyError(err, 'mysql', this.secrets));
          });
          stream.on('end', () => {
            if (finished) return;
            finished = true;
            resolve({ rows, truncated: false });
          });
        });
      } catch (err) {
        if ((err as DatabaseError).kind === 'connection') reusable = false;
        throw err;
      } finally {
        MysqlDatabase.giveBack(connection, reusable);
      }
    });
  }

  private async reserve(): Promise<PoolConnection> {
    try {
      return await this.pool.getConnection();
    } catch (err) {
      throw classifyError(err, 'mysql', this.secrets);
    }
  }

  private static giveBack(connection: PoolConnection, reusable: boolean): void {
    try {
      if (reusable) connection.release();
      else connection.destroy();
    } catch {
      // Releasing into a pool that is ending: nothing left to do.
    }
  }

  transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.lifetime.track(async () => {
      const connection = await this.reserve();
      const scope = new ConnectionScope(connection, this.secrets);
      const run = (sql: string) => scope.raw(sql);
      return onServerConnection(
        scope,
        run,
        () => serverTransaction(scope, run, 'START TRANSACTION', work),
        (reusable) => MysqlDatabase.giveBack(connection, reusable),
      );
    });
  }

  atomic(statements: readonly SqlStatement[]): Promise<void> {
    if (statements.length === 0) return Promise.resolve();
    return this.lifetime.track(async () => {
      const texts = ['START TRANSACTION', ...statements.map((statement) => formatMysqlQuery(statement.sql, statement.values)), 'COMMIT'];
      const scripts = packStatements(texts, DEFAULT_MAX_STATEMENT_BYTES.mysql);
      this.scriptPool ??= this.createPool(true);
      let connection: PoolConnection;
      try {
        connection = await this.scriptPool.getConnection();
      } catch (err) {
        throw classifyError(err, 'mysql', this.secrets);
      }
      const scope = new ConnectionScope(connection, this.secrets);
      const run = (sql: string) => scope.raw(sql);
      // The server stops a multi-statement text at its first error, so nothing after a failed
      // statement runs (COMMIT included); onServerConnection rolls back the transaction it leaves open.
      await onServerConnection(
        scope,
        run,
        async () => {
          for (const script of scripts) await run(script);
        },
        (reusable) => MysqlDatabase.giveBack(connection, reusable),
      );
    });
  }

  /**
   * GET_LOCK on a reserved connection, `work` on that same connection, RELEASE_LOCK. The server
   * frees the lock by itself if the connection dies, so a crashed holder never blocks others.
   * Timeouts are rounded up to whole seconds (GET_LOCK's unit).
   */
  withLock<T>(name: string, timeoutMs: number, work: (executor: SqlExecutor) => Promise<T>): Promise<T> {
    return this.lifetime.track(async () => {
      const lockName = escapeMysqlString(mysqlLockName(this.database, name));
      const seconds = Math.max(0, Math.ceil(timeoutMs / 1000));
      const connection = await this.reserve();
      const scope = new ConnectionScope(connection, this.secrets);
      const acquire = async (): Promise<void> => {
        const answer = await scope.raw(`SELECT GET_LOCK(${lockName}, ${seconds}) AS acquired`);
        const acquired = answer.rows[0]?.acquired;
        if (Number(acquired) === 1) return;
        if (acquired === 0 || acquired === '0') {
          throw new DatabaseError(`Timed out after ${timeoutMs} ms waiting for the database lock "${name}" (another instance holds it)`, {
            kind: 'transient',
            code: 'DB_LOCK_TIMEOUT',
            dialect: 'mysql',
          });
        }
        throw new DatabaseError(`The server refused the database lock "${name}"`, {
          kind: 'fatal',
          code: 'DB_LOCK_FAILED',
          dialect: 'mysql',
        });
      };
      const release = async (): Promise<void> => {
        await scope.raw(`SELECT RELEASE_LOCK(${lockName})`);
      };
      return serverLock(scope, acquire, release, work, (reusable) => MysqlDatabase.giveBack(connection, reusable));
    });
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1');
  }

  /** Refuses new work, lets running statements, transactions and locks finish, then ends the pools. Idempotent. */
  close(): Promise<void> {
    return this.lifetime.close(() => [this.pool, this.scriptPool]);
  }
}
