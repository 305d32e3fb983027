/**
 * A new, empty database per test (MariaDB, PostgreSQL: a throwaway database; SQLite: a new file),
 * so each test builds its own original's database from scratch. `eachDialect` runs a suite once
 * per dialect where the original could have lived (SQLite once per driver).
 */
import { join } from 'node:path';
import { openDatabase } from '../../../lib/db';
import type { SqliteDriverName } from '../../../lib/db/sqlite-driver';
import type { Database, DatabaseConfig, Dialect } from '../../../lib/db/types';
import { createTestServerDatabase, requireService, type TestMysqlDatabase, type TestPostgresDatabase } from '../../support/services';
import { requireSqliteDriver, SQLITE_DRIVERS } from '../../support/sqlite-drivers';
import { makeTempDir, removeTempDir } from '../../support/tmp';

export interface Fresh {
  dialect: Dialect;
  config: DatabaseConfig;
  db: Database;
  /** Another connection (pool) to the same database. */
  open(): Database;
}

const LABELS: Record<Dialect, string> = { mysql: 'MariaDB', postgres: 'PostgreSQL', sqlite: 'SQLite' };

/** Runs `body` once per dialect of `dialects` (default: all three), SQLite once per driver. */
export function eachDialect(
  title: string,
  body: (fresh: () => Promise<Fresh>) => void,
  dialects: readonly Dialect[] = ['mysql', 'postgres', 'sqlite'],
): void {
  type Run = { dialect: Dialect; driver?: SqliteDriverName };
  const runs = dialects.flatMap((dialect): Run[] =>
    dialect === 'sqlite' ? SQLITE_DRIVERS.map((driver) => ({ dialect, driver })) : [{ dialect }],
  );
  for (const { dialect, driver } of runs) {
    describe(`${title} [${driver ? `SQLite ${driver}` : LABELS[dialect]}]`, function () {
      const cleanups: Array<() => Promise<void>> = [];
      let dir: string | undefined;
      before(async function () {
        if (dialect === 'sqlite') requireSqliteDriver(this, driver!);
        else await requireService(this, dialect);
        dir = makeTempDir('iotp-adopt-');
      });
      afterEach(async () => {
        for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
      });
      after(() => {
        if (dir) removeTempDir(dir);
      });
      let n = 0;
      body(async () => {
        let config: DatabaseConfig;
        let server: TestMysqlDatabase | TestPostgresDatabase | undefined;
        if (dialect === 'sqlite') {
          config = { dialect: 'sqlite', file: join(dir!, `db-${++n}.db`), busyTimeoutMs: 5000, driver };
        } else {
          server = await createTestServerDatabase(dialect, 'iotp_adopt');
          config = server.config;
        }
        const opened: Database[] = [];
        const open = (): Database => {
          const db = openDatabase(config);
          opened.push(db);
          return db;
        };
        cleanups.push(async () => {
          await Promise.all(opened.map((db) => db.close()));
          await server?.drop();
        });
        return { dialect, config, db: open(), open };
      });
    });
  }
}

/** The names of the tables, triggers and indexes a database has (to show an adoption refusal touched nothing). */
export async function schemaFingerprint(db: Database): Promise<string> {
  if (db.dialect === 'mysql') {
    const columns = await db.query(
      'SELECT TABLE_NAME AS t, COLUMN_NAME AS c, COLUMN_TYPE AS ty, COLLATION_NAME AS co FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, ORDINAL_POSITION',
    );
    const indexes = await db.query(
      'SELECT TABLE_NAME AS t, INDEX_NAME AS i, COLUMN_NAME AS c FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1, 2, SEQ_IN_INDEX',
    );
    const triggers = await db.query(
      'SELECT TRIGGER_NAME AS n FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY 1',
    );
    return JSON.stringify([columns.rows, indexes.rows, triggers.rows]);
  }
  if (db.dialect === 'postgres') {
    const columns = await db.query(
      `SELECT table_name AS t, column_name AS c, data_type AS ty, character_maximum_length AS l, is_nullable AS n, column_default AS d
       FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`,
    );
    const indexes = await db.query(
      'SELECT tablename AS t, indexname AS i, indexdef AS d FROM pg_indexes WHERE schemaname = current_schema() ORDER BY 1, 2',
    );
    const triggers = await db.query(
      `SELECT tg.tgname AS n, pg_get_triggerdef(tg.oid) AS d FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid
       JOIN pg_namespace s ON s.oid = c.relnamespace WHERE NOT tg.tgisinternal AND s.nspname = current_schema() ORDER BY 1`,
    );
    const functions = await db.query(
      'SELECT p.proname AS n, md5(p.prosrc) AS src FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace WHERE s.nspname = current_schema() ORDER BY 1',
    );
    return JSON.stringify([columns.rows, indexes.rows, triggers.rows, functions.rows]);
  }
  const { rows } = await db.query("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name");
  return JSON.stringify(rows);
}

/** Every row of a table ordered by id, for "every old row kept" comparisons. */
export async function allRows(db: Database, table: string, columns: string): Promise<Record<string, unknown>[]> {
  return (await db.query(`SELECT ${columns} FROM ${table} ORDER BY id`)).rows;
}
