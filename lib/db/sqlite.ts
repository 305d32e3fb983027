/**
 * Database on SQLite, through lib/db/sqlite-driver.ts: Node's built-in node:sqlite or the optional
 * better-sqlite3, the same code for both.
 *
 * Both drivers are synchronous while this API is async, and a transaction spans awaits. So:
 * - one connection per file per process, shared by every SqliteDatabase opened on that file
 *   (reference-counted; the driver of the first opener serves them all). Two connections in one
 *   process would deadlock: the second's write would busy-wait synchronously for the first's
 *   lock, blocking the event loop the first needs to commit;
 * - one async mutex per connection serialises transaction() and withLock(); a plain query() made
 *   while a transaction holds the mutex waits for it, so it never lands inside someone else's
 *   transaction;
 * - transactions start with BEGIN IMMEDIATE: the cross-process write lock is taken up front
 *   (waiting up to busy_timeout), so a transaction never fails half-way with SQLITE_BUSY.
 * Calling db.query()/db.transaction() from inside a transaction's own work (instead of using the
 * `tx` executor) would wait forever for itself; that is detected and refused with DB_NESTED_USE.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdirSync, realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { DatabaseError, classifyError } from './errors';
import { LruMap } from './lru';
import { AsyncMutex } from './mutex';
import { toPositional } from './params';
import { openSqliteConnection, type SqliteConnection, type SqliteDriverName, type SqliteStatement } from './sqlite-driver';
import { describeConfig } from './url';
import { toSqliteValues } from './values';
import type { Database, QueryResult, SelectResult, SqlExecutor, SqlParams, SqlStatement, SqliteConfig } from './types';

export { SqliteUnavailableError, sqliteDriverAvailability, type SqliteDriverChoice, type SqliteDriverName } from './sqlite-driver';

type Statement = SqliteStatement;

const STATEMENT_CACHE_SIZE = 256;
/** withLock's BEGIN attempts busy-wait at most this long (blocking), then pause asynchronously. */
const BEGIN_SLICE_MS = 50;
const BEGIN_PAUSE_MS = 50;

/** One driver connection, shared by the SqliteDatabase objects of one file. */
interface SharedConnection {
  key: string | undefined;
  connection: SqliteConnection;
  mutex: AsyncMutex;
  statements: LruMap<string, Statement>;
  /** Marks the async context of a transaction's work, to detect db.query() from inside it. */
  owner: object;
  refs: number;
}

const sharedByFile = new Map<string, SharedConnection>();
const transactionContext = new AsyncLocalStorage<object>();

/** Identity of a file across spellings of its path (symlinked directories included). */
function fileKey(file: string): string {
  const dir = dirname(file);
  try {
    return join(realpathSync(dir), basename(file));
  } catch {
    return file;
  }
}

function openShared(config: SqliteConfig): SharedConnection {
  const memory = config.file === ':memory:';
  const file = memory ? config.file : resolve(config.file);
  if (!memory) {
    try {
      mkdirSync(dirname(file), { recursive: true });
    } catch (err) {
      throw classifyError(err, 'sqlite');
    }
  }
  const key = memory ? undefined : fileKey(file);
  const existing = key === undefined ? undefined : sharedByFile.get(key);
  if (existing) {
    existing.refs++;
    return existing;
  }
  let connection: SqliteConnection;
  try {
    connection = openSqliteConnection(file, config.driver ?? 'auto');
  } catch (err) {
    throw classifyError(err, 'sqlite');
  }
  try {
    connection.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(config.busyTimeoutMs))}`);
    if (!memory) connection.exec('PRAGMA journal_mode = WAL');
    connection.exec('PRAGMA synchronous = NORMAL');
    connection.exec('PRAGMA foreign_keys = ON');
  } catch (err) {
    connection.close();
    throw classifyError(err, 'sqlite');
  }
  const shared: SharedConnection = {
    key,
    connection,
    mutex: new AsyncMutex(),
    statements: new LruMap(STATEMENT_CACHE_SIZE),
    owner: {},
    refs: 1,
  };
  if (key !== undefined) sharedByFile.set(key, shared);
  return shared;
}

function releaseShared(shared: SharedConnection): void {
  shared.refs--;
  if (shared.refs > 0) return;
  if (shared.key !== undefined) sharedByFile.delete(shared.key);
  shared.statements.clear();
  shared.connection.close();
}

function closedError(): DatabaseError {
  return new DatabaseError('The SQLite database has been closed', { kind: 'connection', code: 'DB_CLOSED', dialect: 'sqlite' });
}

function nestedUseError(): DatabaseError {
  return new DatabaseError(
    'db.query()/db.transaction()/db.withLock() was called inside a transaction or lock on the same SQLite database; ' +
      'use the executor passed to the work function instead (SQLite has one writer, so this would wait for itself)',
    { kind: 'fatal', code: 'DB_NESTED_USE', dialect: 'sqlite' },
  );
}

/** Statements of one transaction or lock scope; refuses work after the scope ended. */
class ScopeExecutor implements SqlExecutor {
  readonly dialect = 'sqlite' as const;
  active = true;
  constructor(private readonly database: SqliteDatabase) {}

  query(sql: string, params?: SqlParams): Promise<QueryResult> {
    if (!this.active) {
      return Promise.reject(
        new DatabaseError('This transaction has already finished; its executor cannot run statements', {
          kind: 'fatal',
          code: 'DB_SCOPE_FINISHED',
          dialect: 'sqlite',
        }),
      );
    }
    try {
      return Promise.resolve(this.database.runNow(sql, params));
    } catch (err) {
      return Promise.reject(err);
    }
  }
}

export class SqliteDatabase implements Database {
  readonly dialect = 'sqlite' as const;
  readonly description: string;
  private readonly shared: SharedConnection;
  private readonly busyTimeoutMs: number;
  private closing: Promise<void> | undefined;

  constructor(config: SqliteConfig) {
    this.description = describeConfig(config);
    this.busyTimeoutMs = config.busyTimeoutMs;
    this.shared = openShared(config);
  }

  /** The driver serving this file in this process (the first opener's choice; see openShared). */
  get driver(): SqliteDriverName {
    return this.shared.connection.driver;
  }

  query(sql: string, params?: SqlParams): Promise<QueryResult> {
    if (this.closing) return Promise.reject(closedError());
    const { mutex } = this.shared;
    if (!mutex.locked) {
      try {
        return Promise.resolve(this.runNow(sql, params));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    if (transactionContext.getStore() === this.shared.owner) return Promise.reject(nestedUseError());
    return this.queryAfterMutex(sql, params);
  }

  private async queryAfterMutex(sql: string, params?: SqlParams): Promise<QueryResult> {
    await this.shared.mutex.acquire();
    try {
      if (this.closing && this.shared.refs <= 0) throw closedError();
      return this.runNow(sql, params);
    } finally {
      this.shared.mutex.release();
    }
  }

  select(sql: string, params: SqlParams | undefined, maxRows: number): Promise<SelectResult> {
    if (this.closing) return Promise.reject(closedError());
    if (this.shared.mutex.locked && transactionContext.getStore() === this.shared.owner) return Promise.reject(nestedUseError());
    const read = (): SelectResult => {
      const { sql: text, values } = toPositional(sql, params, 'sqlite');
      try {
        const statement = this.prepare(text);
        const rows: Record<string, unknown>[] = [];
        if (!statement.reader) {
          statement.run(toSqliteValues(values));
          return { rows, truncated: false };
        }
        // iterate() steps the statement row by row; leaving the loop early finalises the step.
        for (const row of statement.iterate(toSqliteValues(values))) {
          if (rows.length === maxRows) return { rows, truncated: true };
          rows.push(row as Record<string, unknown>);
        }
        return { rows, truncated: false };
      } catch (err) {
        throw classifyError(err, 'sqlite');
      }
    };
    if (!this.shared.mutex.locked) {
      try {
        return Promise.resolve(read());
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return this.shared.mutex.acquire().then(() => {
      try {
        return read();
      } finally {
        this.shared.mutex.release();
      }
    });
  }

  /** Runs one statement synchronously. Internal: callers must hold the mutex or know it is free. */
  runNow(sql: string, params?: SqlParams): QueryResult {
    const { sql: text, values } = toPositional(sql, params, 'sqlite');
    const bound = toSqliteValues(values);
    try {
      const statement = this.prepare(text);
      if (statement.reader) {
        return { rows: statement.all(bound) as Record<string, unknown>[], affectedRows: 0 };
      }
      const info = statement.run(bound);
      const result: QueryResult = { rows: [], affectedRows: info.changes };
      // lastInsertRowid survives from earlier inserts, so report it only for a statement that inserted.
      if (info.changes > 0 && /^\s*(insert|replace)\b/i.test(text)) result.insertId = Number(info.lastInsertRowid);
      return result;
    } catch (err) {
      throw classifyError(err, 'sqlite');
    }
  }

  private prepare(sql: string): Statement {
    let statement = this.shared.statements.get(sql);
    if (!statement) {
      statement = this.shared.connection.prepare(sql);
      this.shared.statements.set(sql, statement);
    }
    return statement;
  }

  transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.exclusive(undefined, undefined, work);
  }

  /** In-process, so round trips cost nothing: an ordinary transaction. */
  atomic(statements: readonly SqlStatement[]): Promise<void> {
    return this.transaction(async (tx) => {
      for (const statement of statements) await tx.query(statement.sql, statement.values);
    });
  }

  /** SQLite has one writer per database, so any lock name maps to the same database-wide immediate transaction. */
  withLock<T>(name: string, timeoutMs: number, work: (executor: SqlExecutor) => Promise<T>): Promise<T> {
    return this.exclusive(`the SQLite lock "${name}"`, timeoutMs, work);
  }

  private async exclusive<T>(
    lockName: string | undefined,
    timeoutMs: number | undefined,
    work: (tx: SqlExecutor) => Promise<T>,
  ): Promise<T> {
    if (this.closing) throw closedError();
    if (this.shared.mutex.locked && transactionContext.getStore() === this.shared.owner) throw nestedUseError();
    const deadline = timeoutMs === undefined ? undefined : Date.now() + Math.max(0, timeoutMs);
    await this.shared.mutex.acquire(timeoutMs, lockName);
    try {
      if (this.closing) throw closedError();
      await this.begin(deadline);
      const scope = new ScopeExecutor(this);
      let result: T;
      try {
        result = await transactionContext.run(this.shared.owner, () => work(scope));
      } catch (err) {
        scope.active = false;
        this.rollbackQuietly();
        throw err;
      }
      scope.active = false;
      try {
        this.shared.connection.exec('COMMIT');
      } catch (err) {
        this.rollbackQuietly();
        throw classifyError(err, 'sqlite');
      }
      return result;
    } finally {
      this.shared.mutex.release();
    }
  }

  /**
   * BEGIN IMMEDIATE. Without a deadline: one attempt that waits up to busy_timeout for another
   * process's write lock. With one (withLock): short attempts with async pauses in between, because
   * SQLite's busy wait blocks the event loop and a lock may legitimately be awaited for minutes.
   */
  private async begin(deadline: number | undefined): Promise<void> {
    const { connection } = this.shared;
    if (deadline === undefined) {
      try {
        connection.exec('BEGIN IMMEDIATE');
        return;
      } catch (err) {
        throw classifyError(err, 'sqlite');
      }
    }
    for (;;) {
      const remaining = deadline - Date.now();
      const slice = Math.max(0, Math.min(remaining, BEGIN_SLICE_MS, this.busyTimeoutMs));
      let classified: DatabaseError;
      try {
        connection.exec(`PRAGMA busy_timeout = ${Math.floor(slice)}`);
        connection.exec('BEGIN IMMEDIATE');
        return;
      } catch (err) {
        classified = classifyError(err, 'sqlite');
      } finally {
        connection.exec(`PRAGMA busy_timeout = ${Math.floor(this.busyTimeoutMs)}`);
      }
      if (classified.kind !== 'transient') throw classified;
      if (Date.now() >= deadline) {
        throw new DatabaseError("Timed out waiting for another process's write lock on the SQLite database", {
          kind: 'transient',
          code: 'DB_LOCK_TIMEOUT',
          dialect: 'sqlite',
          cause: classified,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, BEGIN_PAUSE_MS));
    }
  }

  private rollbackQuietly(): void {
    const { connection } = this.shared;
    // Some errors (SQLITE_FULL, SQLITE_IOERR) already rolled the transaction back.
    if (!connection.inTransaction) return;
    try {
      connection.exec('ROLLBACK');
    } catch {
      // Nothing more to do: the connection reports the state on the next statement.
    }
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1');
  }

  /** Waits for a running transaction, then releases this handle's share of the connection. Idempotent. */
  close(): Promise<void> {
    if (!this.closing) {
      this.closing = (async () => {
        await this.shared.mutex.acquire();
        try {
          releaseShared(this.shared);
        } finally {
          this.shared.mutex.release();
        }
      })();
    }
    return this.closing;
  }
}
