/**
 * Runs a suite once per dialect: MariaDB and PostgreSQL (a throwaway database per suite) and
 * SQLite (a file in a temp dir) once per SQLite driver (node:sqlite, better-sqlite3). `ctx()`
 * gives the current dialect's config and an `open()` that tracks databases so
 * `after` closes every one of them.
 */
import { join } from 'node:path';
import { openDatabase } from '../../../lib/db';
import type { Database, DatabaseConfig, Dialect } from '../../../lib/db/types';
import { createTestServerDatabase, requireService, type TestMysqlDatabase, type TestPostgresDatabase } from '../../support/services';
import { makeTempDir, removeTempDir } from '../../support/tmp';
import { requireSqliteDriver, SQLITE_DRIVERS } from '../../support/sqlite-drivers';
import type { SqliteDriverName } from '../../../lib/db/sqlite-driver';

export interface DialectContext {
  dialect: Dialect;
  /** The SQLite driver of this run (undefined for MariaDB). */
  driver?: SqliteDriverName;
  config: DatabaseConfig;
  /** Opens another Database on the same storage (closed after the suite). */
  open(overrides?: Partial<DatabaseConfig>): Database;
  /** A database opened for the suite. */
  db: Database;
}

export const DIALECT_LABELS: Record<Dialect, string> = { mysql: 'MariaDB', sqlite: 'SQLite', postgres: 'PostgreSQL' };

export function describeEachDialect(title: string, body: (ctx: () => DialectContext) => void): void {
  const runs = [
    { dialect: 'mysql' as const, driver: undefined },
    { dialect: 'postgres' as const, driver: undefined },
    ...SQLITE_DRIVERS.map((driver) => ({ dialect: 'sqlite' as const, driver })),
  ];
  for (const { dialect, driver } of runs) {
    describe(`${title} [${dialect === 'sqlite' ? `SQLite ${driver}` : DIALECT_LABELS[dialect]}]`, function () {
      let current: DialectContext | undefined;
      let serverDb: TestMysqlDatabase | TestPostgresDatabase | undefined;
      let tempDir: string | undefined;
      const opened: Database[] = [];

      before(async function () {
        let config: DatabaseConfig;
        if (dialect !== 'sqlite') {
          await requireService(this, dialect);
          serverDb = await createTestServerDatabase(dialect, 'iotp_db');
          config = serverDb.config;
        } else {
          requireSqliteDriver(this, driver!);
          tempDir = makeTempDir('iotp-db-');
          config = { dialect: 'sqlite', file: join(tempDir, 'nested', 'test.db'), busyTimeoutMs: 2000, driver };
        }
        const open = (overrides: Partial<DatabaseConfig> = {}): Database => {
          const db = openDatabase({ ...config, ...overrides } as DatabaseConfig);
          opened.push(db);
          return db;
        };
        current = { dialect, driver, config, open, db: open() };
      });

      after(async () => {
        await Promise.all(opened.map((db) => db.close()));
        await serverDb?.drop();
        if (tempDir) removeTempDir(tempDir);
      });

      body(() => {
        if (!current) throw new Error('suite not set up');
        return current;
      });
    });
  }
}

/** Column types per dialect, so one test body creates equivalent tables (PostgreSQL: its own text, else SQLite's). */
export function ddl(dialect: Dialect, mysql: string, sqlite: string, postgres = sqlite): string {
  return dialect === 'mysql' ? mysql : dialect === 'postgres' ? postgres : sqlite;
}
