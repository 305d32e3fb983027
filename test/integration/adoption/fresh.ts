/**
 * A new, empty database per test (MariaDB: a throwaway database; SQLite: a new file), so each test
 * builds its own original's database from scratch. `each` runs a suite once per dialect.
 */
import { join } from 'node:path';
import { openDatabase } from '../../../lib/db';
import type { Database, DatabaseConfig, Dialect } from '../../../lib/db/types';
import { createTestMysqlDatabase, requireService, type TestMysqlDatabase } from '../../support/services';
import { makeTempDir, removeTempDir } from '../../support/tmp';

export interface Fresh {
  dialect: Dialect;
  config: DatabaseConfig;
  db: Database;
  /** Another connection (pool) to the same database. */
  open(): Database;
}

export function eachDialect(title: string, body: (fresh: () => Promise<Fresh>) => void): void {
  for (const dialect of ['mysql', 'sqlite'] as const) {
    describe(`${title} [${dialect === 'mysql' ? 'MariaDB' : 'SQLite'}]`, function () {
      const cleanups: Array<() => Promise<void>> = [];
      let dir: string | undefined;
      before(async function () {
        if (dialect === 'mysql') await requireService(this, 'mysql');
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
        let mysql: TestMysqlDatabase | undefined;
        if (dialect === 'mysql') {
          mysql = await createTestMysqlDatabase('iotp_adopt');
          config = mysql.config;
        } else {
          config = { dialect: 'sqlite', file: join(dir!, `db-${++n}.db`), busyTimeoutMs: 5000 };
        }
        const opened: Database[] = [];
        const open = (): Database => {
          const db = openDatabase(config);
          opened.push(db);
          return db;
        };
        cleanups.push(async () => {
          await Promise.all(opened.map((db) => db.close()));
          await mysql?.drop();
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
      "SELECT TABLE_NAME AS t, COLUMN_NAME AS c, COLUMN_TYPE AS ty, COLLATION_NAME AS co FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, ORDINAL_POSITION",
    );
    const indexes = await db.query('SELECT TABLE_NAME AS t, INDEX_NAME AS i, COLUMN_NAME AS c FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1, 2, SEQ_IN_INDEX');
    const triggers = await db.query('SELECT TRIGGER_NAME AS n FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY 1');
    return JSON.stringify([columns.rows, indexes.rows, triggers.rows]);
  }
  const { rows } = await db.query("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name");
  return JSON.stringify(rows);
}

/** Every row of a table ordered by id, for "every old row kept" comparisons. */
export async function allRows(db: Database, table: string, columns: string): Promise<Record<string, unknown>[]> {
  return (await db.query(`SELECT ${columns} FROM ${table} ORDER BY id`)).rows;
}
