/**
 * The migration runner: applies each pending migration of each MigrationSet exactly once, in order,
 * and records it in the table `migrations`.
 *
 * That table name and its first four columns come from the original statestream schema, which
 * created `migrations(id, name, inserted, last_updated)` and never used it; reusing it keeps a
 * user's existing database working. We add `set_name`, `version` and `checksum` (sha256 of the
 * dialect's statements), with ALTER TABLE when an old table lacks them. A row's name is
 * `<set>/<version>-<name>`.
 *
 * Concurrency: everything runs under db.withLock(MIGRATIONS_LOCK), so several Node-RED instances
 * starting together apply each migration once; the others wait, then find it recorded.
 *
 * Atomicity: on SQLite each migration runs in a savepoint inside the lock's transaction and is
 * rolled back as a whole if a statement fails. MySQL commits DDL implicitly, so a migration that
 * fails half-way leaves its earlier statements applied: write MySQL statements that can be re-run
 * (CREATE TABLE IF NOT EXISTS, ...). A failed migration is never recorded, and the ones before it
 * stay recorded.
 */
import { createHash } from 'node:crypto';
import { DatabaseError } from './errors';
import type { Database, DbErrorKind, Dialect, Migration, MigrationSet, SqlExecutor } from './types';

export const MIGRATIONS_TABLE = 'migrations';
export const MIGRATIONS_LOCK = 'iotp_migrations';
const DEFAULT_LOCK_TIMEOUT_MS = 5 * 60_000;
const MAX_RECORD_NAME_LENGTH = 255;
const SAVEPOINT = 'iotp_migration';

export interface MigrationLog {
  info?(message: string): void;
  warn(message: string): void;
}

export interface RunMigrationsOptions {
  log?: MigrationLog;
  /** How long to wait for another instance that is migrating the same database (default 5 min). */
  lockTimeoutMs?: number;
}

export interface MigrationReport {
  /** Record names (`<set>/<version>-<name>`) applied by this run, in order. */
  applied: string[];
  /** Already-applied migrations whose statements changed since; reported, not re-run. */
  changed: string[];
  /** Already-applied migrations left alone. */
  skipped: number;
}

export class MigrationError extends DatabaseError {
  /** The record name of the migration that failed, when one did. */
  readonly migration?: string;
  constructor(message: string, options: { code: string; kind?: DbErrorKind; migration?: string; cause?: unknown; errno?: number; sqlState?: string }) {
    super(message, { kind: options.kind ?? 'fatal', code: options.code, cause: options.cause, errno: options.errno, sqlState: options.sqlState });
    this.name = 'MigrationError';
    if (options.migration !== undefined) this.migration = options.migration;
  }
}

/** sha256 (hex) of the statements one dialect runs for `migration`. */
export function migrationChecksum(migration: Migration, dialect: Dialect): string {
  return createHash('sha256').update(JSON.stringify(migration[dialect] ?? null)).digest('hex');
}

export function migrationRecordName(set: MigrationSet, migration: Migration): string {
  return `${set.name}/${migration.version}-${migration.name}`;
}

function invalid(message: string): MigrationError {
  return new MigrationError(message, { code: 'DB_MIGRATION_INVALID' });
}

function validateSets(sets: readonly MigrationSet[], dialect: Dialect): void {
  const setNames = new Set<string>();
  for (const set of sets) {
    if (typeof set?.name !== 'string' || set.name === '' || set.name.includes('/')) throw invalid(`A migration set needs a non-empty name without "/" (got ${JSON.stringify(set?.name)})`);
    if (setNames.has(set.name)) throw invalid(`Migration set "${set.name}" is listed twice`);
    setNames.add(set.name);
    if (!Array.isArray(set.migrations)) throw invalid(`Migration set "${set.name}" has no migrations array`);
    let previous = 0;
    for (const m of set.migrations) {
      if (!Number.isInteger(m?.version) || m.version <= previous) {
        throw invalid(`Migration set "${set.name}": versions must be whole numbers increasing from 1 in order (found ${JSON.stringify(m?.version)} after ${previous})`);
      }
      previous = m.version;
      if (typeof m.name !== 'string' || m.name === '') throw invalid(`Migration ${set.name}/${m.version} has no name`);
      for (const listed of ['mysql', 'sqlite', 'postgres'] as const) {
        const statements = m[listed];
        // PostgreSQL statements are optional in a set (custom sets, sets older than PostgreSQL support), required to run on it.
        if (statements === undefined && listed === 'postgres' && dialect !== 'postgres') continue;
        if (statements === undefined && listed === 'postgres') {
          throw invalid(`Migration ${set.name}/${m.version}-${m.name} has no PostgreSQL statements (a "postgres" list), so the set cannot run on PostgreSQL`);
        }
        if (!Array.isArray(statements) || statements.some((s) => typeof s !== 'string' || s.trim() === '')) {
          throw invalid(`Migration ${set.name}/${m.version}-${m.name}: ${listed} must be an array of non-empty SQL statements`);
        }
      }
      if (migrationRecordName(set, m).length > MAX_RECORD_NAME_LENGTH) throw invalid(`Migration name ${set.name}/${m.version}-${m.name} is longer than ${MAX_RECORD_NAME_LENGTH} characters`);
    }
  }
}

const CREATE_TABLE: Record<Dialect, string> = {
  mysql:
    'CREATE TABLE IF NOT EXISTS `migrations` (' +
    '`id` INT NOT NULL AUTO_INCREMENT PRIMARY KEY, ' +
    '`name` VARCHAR(255) NOT NULL, ' +
    '`inserted` TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, ' +
    '`last_updated` TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, ' +
    '`set_name` VARCHAR(255) NULL, ' +
    '`version` INT NULL, ' +
    '`checksum` CHAR(64) NULL, ' +
    'UNIQUE KEY `migrations_name_unique` (`name`)' +
    ') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci',
  sqlite:
    'CREATE TABLE IF NOT EXISTS "migrations" (' +
    '"id" INTEGER PRIMARY KEY AUTOINCREMENT, ' +
    '"name" VARCHAR(255) NOT NULL UNIQUE, ' +
    '"inserted" TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, ' +
    '"last_updated" TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, ' +
    '"set_name" VARCHAR(255) NULL, ' +
    '"version" INTEGER NULL, ' +
    '"checksum" CHAR(64) NULL)',
  postgres:
    'CREATE TABLE IF NOT EXISTS "migrations" (' +
    '"id" SERIAL PRIMARY KEY, ' +
    '"name" VARCHAR(255) NOT NULL UNIQUE, ' +
    '"inserted" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, ' +
    '"last_updated" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, ' +
    '"set_name" VARCHAR(255) NULL, ' +
    '"version" INTEGER NULL, ' +
    '"checksum" CHAR(64) NULL)',
};

const ADDED_COLUMNS: ReadonlyArray<{ name: string; type: string }> = [
  { name: 'set_name', type: 'VARCHAR(255) NULL' },
  { name: 'version', type: 'INTEGER NULL' },
  { name: 'checksum', type: 'CHAR(64) NULL' },
];

async function tableColumns(executor: SqlExecutor): Promise<Set<string>> {
  const sql = {
    mysql: "SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'migrations'",
    sqlite: "SELECT name FROM pragma_table_info('migrations')",
    postgres: "SELECT column_name AS name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'migrations'",
  }[executor.dialect];
  const { rows } = await executor.query(sql);
  return new Set(rows.map((row) => String(row.name).toLowerCase()));
}

/** Creates `migrations`, or upgrades the original pipelines' unused table with our columns. */
async function ensureTable(executor: SqlExecutor): Promise<void> {
  await executor.query(CREATE_TABLE[executor.dialect]);
  const columns = await tableColumns(executor);
  if (!columns.has('name')) {
    throw new MigrationError(
      'The table `migrations` exists but has no `name` column, so it belongs to another application; rename it or use another database',
      { code: 'DB_MIGRATION_TABLE_FOREIGN' },
    );
  }
  const q = executor.dialect === 'mysql' ? '`' : '"';
  for (const column of ADDED_COLUMNS) {
    if (!columns.has(column.name)) await executor.query(`ALTER TABLE ${q}migrations${q} ADD COLUMN ${q}${column.name}${q} ${column.type}`);
  }
}

function isBinlogTriggerRefusal(err: unknown): boolean {
  const e = err as { errno?: unknown; code?: unknown };
  return e?.errno === 1419 || e?.code === 'ER_BINLOG_CREATE_ROUTINE_NEED_SUPER';
}

function failure(recordName: string, index: number, total: number, err: unknown): MigrationError {
  const db = err instanceof DatabaseError ? err : undefined;
  if (isBinlogTriggerRefusal(err)) {
    return new MigrationError(
      `Migration ${recordName} could not create a trigger: MySQL has binary logging on and this account lacks SUPER (ERROR 1419). ` +
        'Fix one of: run mysqld with --log-bin-trust-function-creators=1 (or, as an admin, SET GLOBAL log_bin_trust_function_creators = 1); ' +
        'let an account with SUPER run the migrations; or disable binary logging (--skip-log-bin). Then restart the flow.',
      { code: 'DB_MIGRATION_TRIGGER_PRIVILEGE', migration: recordName, cause: err, errno: 1419, sqlState: db?.sqlState },
    );
  }
  const message = err instanceof Error ? err.message : String(err);
  return new MigrationError(`Migration ${recordName} failed at statement ${index + 1} of ${total}: ${message}`, {
    code: 'DB_MIGRATION_FAILED',
    kind: db?.kind ?? 'fatal',
    migration: recordName,
    cause: err,
    errno: db?.errno,
    sqlState: db?.sqlState,
  });
}

/**
 * Runs one migration's statements; on SQLite inside a savepoint so a failure undoes all of them.
 * On PostgreSQL (transactional DDL) inside a transaction that the caller commits together with
 * the migration's record: a migration is applied and recorded, or neither.
 */
async function applyOne(executor: SqlExecutor, recordName: string, statements: readonly string[]): Promise<void> {
  const sqlite = executor.dialect === 'sqlite';
  const postgres = executor.dialect === 'postgres';
  if (sqlite) await executor.query(`SAVEPOINT ${SAVEPOINT}`);
  if (postgres) await executor.query('BEGIN');
  for (let i = 0; i < statements.length; i++) {
    try {
      await executor.query(statements[i]);
    } catch (err) {
      if (sqlite) {
        await executor.query(`ROLLBACK TO ${SAVEPOINT}`);
        await executor.query(`RELEASE ${SAVEPOINT}`);
      }
      if (postgres) await executor.query('ROLLBACK');
      throw failure(recordName, i, statements.length, err);
    }
  }
  if (sqlite) await executor.query(`RELEASE ${SAVEPOINT}`);
}

/**
 * Applies pending migrations of `sets` (in the order given, each set's migrations by version).
 * Throws MigrationError: `DB_MIGRATION_INVALID` (malformed sets), `DB_MIGRATION_FAILED` (a statement
 * failed; `kind` is the statement's error kind), `DB_MIGRATION_TRIGGER_PRIVILEGE` (MySQL ERROR 1419),
 * `DB_MIGRATION_TABLE_FOREIGN`; or a transient DatabaseError `DB_LOCK_TIMEOUT`.
 */
export async function runMigrations(db: Database, sets: readonly MigrationSet[], options: RunMigrationsOptions = {}): Promise<MigrationReport> {
  validateSets(sets, db.dialect);
  const log = options.log;
  const dialect = db.dialect;
  const report: MigrationReport = { applied: [], changed: [], skipped: 0 };
  let failed: MigrationError | undefined;

  await db.withLock(MIGRATIONS_LOCK, options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS, async (executor) => {
    await ensureTable(executor);
    const recorded = new Map<string, string | null>();
    const { rows } = await executor.query('SELECT name, checksum FROM migrations');
    for (const row of rows) recorded.set(String(row.name), row.checksum == null ? null : String(row.checksum));

    for (const set of sets) {
      for (const migration of set.migrations) {
        const recordName = migrationRecordName(set, migration);
        const checksum = migrationChecksum(migration, dialect);
        if (recorded.has(recordName)) {
          const previous = recorded.get(recordName);
          if (previous === null) {
            // Recorded before checksums existed: adopt the current statements as the baseline.
            await executor.query('UPDATE migrations SET checksum = ?, set_name = ?, version = ? WHERE name = ?', [checksum, set.name, migration.version, recordName]);
            report.skipped++;
          } else if (previous !== checksum) {
            report.changed.push(recordName);
            log?.warn(`Migration ${recordName} was changed after it was applied; it is not re-run. Put schema changes in a new migration.`);
          } else {
            report.skipped++;
          }
          continue;
        }
        const statements = migration[dialect] ?? [];
        try {
          await applyOne(executor, recordName, statements);
        } catch (err) {
          // Stop here, but let the lock scope finish normally so the migrations before stay committed (SQLite).
          failed = err instanceof MigrationError ? err : failure(recordName, 0, statements.length, err);
          return;
        }
        await executor.query(
          'INSERT INTO migrations (name, set_name, version, checksum, inserted, last_updated) VALUES (?, ?, ?, ?, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)',
          [recordName, set.name, migration.version, checksum],
        );
        if (dialect === 'postgres') await executor.query('COMMIT');
        recorded.set(recordName, checksum);
        report.applied.push(recordName);
        log?.info?.(`Applied migration ${recordName}`);
      }
    }
  });
  if (failed) throw failed;
  return report;
}
