/**
 * A Database whose statements wait for a one-time preparation (e.g. applying a migration set)
 * to succeed first. A failed preparation fails the statement with the same error (a connection
 * error while the database is down), and the next statement tries again; after the first success
 * the gate costs one resolved-promise check per call.
 */
import type { Database, SelectResult, SqlExecutor, SqlParams, SqlStatement, QueryResult } from './types';

export function gateDatabase(db: Database, prepare: () => Promise<void>): Database {
  let ready = false;
  let pending: Promise<void> | undefined;
  const open = async (): Promise<void> => {
    if (ready) return;
    pending ??= prepare().then(
      () => {
        ready = true;
      },
      (err: unknown) => {
        pending = undefined;
        throw err;
      },
    );
    await pending;
  };
  return {
    get dialect() {
      return db.dialect;
    },
    get description() {
      return db.description;
    },
    async query(sql: string, params?: SqlParams): Promise<QueryResult> {
      await open();
      return db.query(sql, params);
    },
    async select(sql: string, params: SqlParams | undefined, maxRows: number): Promise<SelectResult> {
      await open();
      return db.select(sql, params, maxRows);
    },
    async transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
      await open();
      return db.transaction(work);
    },
    async atomic(statements: readonly SqlStatement[]): Promise<void> {
      await open();
      return db.atomic(statements);
    },
    async withLock<T>(name: string, timeoutMs: number, work: (executor: SqlExecutor) => Promise<T>): Promise<T> {
      await open();
      return db.withLock(name, timeoutMs, work);
    },
    async ping(): Promise<void> {
      await open();
      return db.ping();
    },
    close: () => db.close(),
  };
}
