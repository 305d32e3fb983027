/**
 * What the server dialects (MySQL/MariaDB, PostgreSQL) share around one reserved connection:
 * rolling back after a failure, deciding whether the connection may go back to the pool, and the
 * BEGIN … COMMIT procedure of a transaction; and around their pools, closing them once the
 * running work is done. SQLite has one connection and no pool.
 */
import type { DatabaseError } from './errors';
import type { SqlExecutor } from './types';

/** A driver's connection pool, as far as closing it goes. */
interface EndablePool {
  end(): Promise<void>;
}

/**
 * The life of a server database's pools: running operations are counted so close() lets them
 * finish, and errors a pool meets with no caller waiting (an idle connection the server dropped)
 * go to the owner's listener.
 */
export class PoolLifetime {
  private inflight = 0;
  private drained: (() => void) | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly closedError: () => DatabaseError,
    private readonly classify: (err: unknown) => DatabaseError,
    private readonly onBackgroundError?: (err: DatabaseError) => void,
  ) {}

  /** Runs `operation`, counted; refused once close() has begun. */
  async track<T>(operation: () => Promise<T>): Promise<T> {
    if (this.closing) throw this.closedError();
    this.inflight++;
    try {
      return await operation();
    } finally {
      this.inflight--;
      if (this.inflight === 0) this.drained?.();
    }
  }

  /** An error with no caller to take it; classified only when someone listens. */
  backgroundError(err: unknown): void {
    if (!this.onBackgroundError) return;
    try {
      this.onBackgroundError(this.classify(err));
    } catch {
      // A failing listener must not turn a handled error into a crash.
    }
  }

  /**
   * Refuses new work, lets running statements, transactions and locks finish, then ends the pools
   * `pools()` names at that point. Idempotent.
   */
  close(pools: () => ReadonlyArray<EndablePool | undefined>): Promise<void> {
    this.closing ??= (async () => {
      if (this.inflight > 0) await new Promise<void>((resolve) => (this.drained = resolve));
      for (const pool of pools()) {
        try {
          await pool?.end();
        } catch {
          // Ending a pool whose connections already dropped: they are gone either way.
        }
      }
    })();
    return this.closing;
  }
}

/** A dialect's executor bound to one reserved connection. */
export interface ServerScope extends SqlExecutor {
  /** Cleared when the work is over: a statement the work left running cannot reach the connection later. */
  active: boolean;
  /** Set when a statement failed with a connection error: the connection must not go back to the pool. */
  readonly broken: boolean;
}

/** Runs one statement on the scope's connection, whatever `active` says (BEGIN, COMMIT, ROLLBACK). */
export type RunStatement = (sql: string) => Promise<unknown>;

/**
 * Runs `body` on a reserved connection and gives the connection back. After a failure the open
 * transaction is rolled back first; a connection that was cut, or whose ROLLBACK failed, is given
 * back as not reusable (the pool then destroys it).
 */
export async function onServerConnection<T>(
  scope: ServerScope,
  run: RunStatement,
  body: () => Promise<T>,
  giveBack: (reusable: boolean) => void,
): Promise<T> {
  let reusable = true;
  try {
    return await body();
  } catch (err) {
    reusable =
      !scope.broken &&
      (await run('ROLLBACK').then(
        () => true,
        () => false,
      ));
    throw err;
  } finally {
    giveBack(reusable && !scope.broken);
  }
}

/** `begin`, the caller's work on the scope (closed when the work returns), COMMIT. */
export async function serverTransaction<T>(
  scope: ServerScope,
  run: RunStatement,
  begin: string,
  work: (tx: SqlExecutor) => Promise<T>,
): Promise<T> {
  await run(begin);
  let result: T;
  try {
    result = await work(scope);
  } finally {
    scope.active = false;
  }
  await run('COMMIT');
  return result;
}

/**
 * A session lock held on a reserved connection: `acquire` (throws when the lock is not granted),
 * the caller's work on that connection (closed when the work returns), then `release`. The server
 * frees a session lock when its connection dies, so a connection whose release failed is given
 * back as not reusable rather than trusted.
 */
export async function serverLock<T>(
  scope: ServerScope,
  acquire: () => Promise<void>,
  release: () => Promise<void>,
  work: (executor: SqlExecutor) => Promise<T>,
  giveBack: (reusable: boolean) => void,
): Promise<T> {
  let reusable = true;
  try {
    await acquire();
    try {
      return await work(scope);
    } finally {
      scope.active = false;
      if (!scope.broken) {
        try {
          await release();
        } catch {
          reusable = false;
        }
      }
    }
  } finally {
    giveBack(reusable && !scope.broken);
  }
}
