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
 * (CREATE TABLE IF NOT EXISTS, ...). PostgreSQL's DDL is transactional: each migration runs in a
 * transaction that commits together with its record, so it is applied and recorded, or neither.
 * A failed migration is never recorded, and the ones before it stay recorded.
 *
 * Adoption (./adopt.ts): before a set's first migration runs in a database, its SchemaAdoption
 * (if any) inspects what is already there, read-only, before anything else is written. A refusal
 * stops the run with an AdoptionError and nothing touched; an adoption runs, then is recorded as
 * `<set>/0-<record>` (checksum: the statements it ran) together with the versions it stands for;
 * on SQLite and PostgreSQL all of that is one unit (savepoint, transaction) that applies whole or
 * not at all.
 */
import { createHash } from 'node:crypto';
import { recordingExecutor, type AdoptionPlan } from './adopt';
import { DatabaseError } from './errors';
import { readSchema, SCHEMA_READERS } from './introspect';
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
  constructor(
    message: string,
    options: { code: string; kind?: DbErrorKind; migration?: string; cause?: unknown; errno?: number; sqlState?: string },
  ) {
    super(message, {
      kind: options.kind ?? 'fatal',
      code: options.code,
      cause: options.cause,
      errno: options.errno,
      sqlState: options.sqlState,
    });
    this.name = 'MigrationError';
    if (options.migration !== undefined) this.migration = options.migration;
  }
}

/**
 * A database holds a schema that a set's adoption does not recognise; nothing was changed.
 * Kind `connection`: like an outage, writers keep their rows (journal) and try again later. The
 * database node remembers the refusal until the flow is redeployed, so retrying costs nothing.
 */
export class AdoptionError extends MigrationError {
  readonly set: string;
  readonly found: string;
  readonly remedy: string;
  constructor(set: string, database: string, found: string, remedy: string) {
    super(`Not taking over the ${set} tables in ${database}: ${found}. Nothing was changed. ${remedy}`, {
      code: 'DB_ADOPTION_REFUSED',
      kind: 'connection',
    });
    this.name = 'AdoptionError';
    this.set = set;
    this.found = found;
    this.remedy = remedy;
  }
}

/** sha256 (hex) of the statements one dialect runs for `migration`. */
export function migrationChecksum(migration: Migration, dialect: Dialect): string {
  return createHash('sha256')
    .update(JSON.stringify(migration[dialect] ?? null))
    .digest('hex');
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
    if (typeof set?.name !== 'string' || set.name === '' || set.name.includes('/'))
      throw invalid(`A migration set needs a non-empty name without "/" (got ${JSON.stringify(set?.name)})`);
    if (setNames.has(set.name)) throw invalid(`Migration set "${set.name}" is listed twice`);
    setNames.add(set.name);
    if (!Array.isArray(set.migrations)) throw invalid(`Migration set "${set.name}" has no migrations array`);
    let previous = 0;
    for (const m of set.migrations) {
      if (!Number.isInteger(m?.version) || m.version <= previous) {
        throw invalid(
          `Migration set "${set.name}": versions must be whole numbers increasing from 1 in order (found ${JSON.stringify(m?.version)} after ${previous})`,
        );
      }
      previous = m.version;
      if (typeof m.name !== 'string' || m.name === '') throw invalid(`Migration ${set.name}/${m.version} has no name`);
      for (const listed of ['mysql', 'sqlite', 'postgres'] as const) {
        const statements = m[listed];
        // PostgreSQL statements are optional in a set (custom sets, sets older than PostgreSQL support), required to run on it.
        if (statements === undefined && listed === 'postgres' && dialect !== 'postgres') continue;
        if (statements === undefined && listed === 'postgres') {
          throw invalid(
            `Migration ${set.name}/${m.version}-${m.name} has no PostgreSQL statements (a "postgres" list), so the set cannot run on PostgreSQL`,
          );
        }
        if (!Array.isArray(statements) || statements.some((s) => typeof s !== 'string' || s.trim() === '')) {
          throw invalid(`Migration ${set.name}/${m.version}-${m.name}: ${listed} must be an array of non-empty SQL statements`);
        }
      }
      if (migrationRecordName(set, m).length > MAX_RECORD_NAME_LENGTH)
        throw invalid(`Migration name ${set.name}/${m.version}-${m.name} is longer than ${MAX_RECORD_NAME_LENGTH} characters`);
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

/** What each migration row records beside its name and times: the same on every dialect. */
const BOOKKEEPING_COLUMNS = [
  { name: 'set_name', type: 'VARCHAR(255) NULL' },
  { name: 'version', type: 'INTEGER NULL' },
  { name: 'checksum', type: 'CHAR(64) NULL' },
];

/** Columns we add to an older `migrations` table (the original pipelines' has only some of them). */
const ADDED_COLUMNS: Record<Dialect, ReadonlyArray<{ name: string; type: string }>> = {
  mysql: [
    { name: 'inserted', type: 'TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP' },
    { name: 'last_updated', type: 'TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP' },
    ...BOOKKEEPING_COLUMNS,
  ],
  sqlite: [
    // SQLite cannot add a column whose default is not a constant.
    { name: 'inserted', type: 'TEXT NULL' },
    { name: 'last_updated', type: 'TEXT NULL' },
    ...BOOKKEEPING_COLUMNS,
  ],
  postgres: [
    // Existing rows get the time of the ALTER: PostgreSQL fills a new column's default into them.
    { name: 'inserted', type: 'TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP' },
    { name: 'last_updated', type: 'TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP' },
    ...BOOKKEEPING_COLUMNS,
  ],
};

/**
 * Creates `migrations`, or takes over an existing one with a `name` column (the original
 * statestream pipeline's `migrations(id, name, inserted, last_updated)`, never written): adds our
 * columns and widens a short `name`, keeping any rows it has.
 */
async function ensureTable(executor: SqlExecutor): Promise<void> {
  await executor.query(CREATE_TABLE[executor.dialect]);
  const table = (await readSchema(executor, [MIGRATIONS_TABLE])).tables.get(MIGRATIONS_TABLE);
  const columns = new Map((table?.columns ?? []).map((c) => [c.name.toLowerCase(), c]));
  const name = columns.get('name');
  if (!name) {
    throw new MigrationError(
      'The table `migrations` exists but has no `name` column, so it belongs to another application; rename it or use another database',
      { code: 'DB_MIGRATION_TABLE_FOREIGN' },
    );
  }
  const q = executor.dialect === 'mysql' ? '`' : '"';
  if (executor.dialect === 'mysql' && (name.family !== 'text' || (name.maxLength ?? 0) < MAX_RECORD_NAME_LENGTH)) {
    await executor.query(
      `ALTER TABLE \`migrations\` MODIFY \`name\` VARCHAR(${MAX_RECORD_NAME_LENGTH}) ${name.nullable ? 'NULL' : 'NOT NULL'}`,
    );
  }
  if (
    executor.dialect === 'postgres' &&
    name.family === 'text' &&
    name.maxLength !== undefined &&
    name.maxLength < MAX_RECORD_NAME_LENGTH
  ) {
    await executor.query(`ALTER TABLE "migrations" ALTER COLUMN "name" TYPE VARCHAR(${MAX_RECORD_NAME_LENGTH})`);
  }
  for (const column of ADDED_COLUMNS[executor.dialect]) {
    if (!columns.has(column.name)) await executor.query(`ALTER TABLE ${q}migrations${q} ADD COLUMN ${q}${column.name}${q} ${column.type}`);
  }
}

/** Names recorded in `migrations`, without creating it (empty when it does not exist yet). */
async function recordedNames(executor: SqlExecutor): Promise<Set<string>> {
  const schema = await readSchema(executor, [MIGRATIONS_TABLE]);
  const table = schema.tables.get(MIGRATIONS_TABLE);
  if (!table || !table.columns.some((c) => c.name.toLowerCase() === 'name')) return new Set();
  const { rows } = await executor.query('SELECT name FROM migrations');
  return new Set(rows.map((row) => String(row.name)));
}

/** The adoption plans of the sets that have not run here yet and can be inspected in this dialect. */
async function inspectAdoptions(executor: SqlExecutor, sets: readonly MigrationSet[]): Promise<Map<string, AdoptionPlan>> {
  const plans = new Map<string, AdoptionPlan>();
  const candidates = sets.filter((set) => set.adoption?.inspect[executor.dialect]);
  if (candidates.length === 0 || !SCHEMA_READERS[executor.dialect]) return plans;
  const recorded = await recordedNames(executor);
  for (const set of candidates) {
    if (set.migrations.some((m) => recorded.has(migrationRecordName(set, m)))) continue;
    plans.set(set.name, await set.adoption!.inspect[executor.dialect]!(executor));
  }
  return plans;
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
 * MySQL: a migration may hold LOCK TABLES around a trigger swap; should it fail in between, the
 * lock connection must not go back to the pool with tables still locked.
 */
async function releaseTableLocks(executor: SqlExecutor): Promise<void> {
  if (executor.dialect !== 'mysql') return;
  await executor.query('UNLOCK TABLES').catch(() => undefined);
}

/**
 * Runs an adoption; on SQLite inside a savepoint so a failure undoes all of it. On PostgreSQL
 * inside a transaction that the caller commits together with the adoption's records (its DDL is
 * transactional: taken over and recorded, or neither). Returns the statements it ran.
 */
async function applyAdoption(
  executor: SqlExecutor,
  recordName: string,
  plan: Extract<AdoptionPlan, { action: 'adopt' }>,
): Promise<{ statements: string[]; note: string }> {
  const sqlite = executor.dialect === 'sqlite';
  const postgres = executor.dialect === 'postgres';
  const recording = recordingExecutor(executor);
  let note: string | void;
  if (sqlite) await executor.query(`SAVEPOINT ${SAVEPOINT}`);
  if (postgres) await executor.query('BEGIN');
  try {
    note = await plan.run(recording.executor);
  } catch (err) {
    await undoMigration(executor);
    const failed = failure(recordName, Math.max(0, recording.statements.length - 1), recording.statements.length, err);
    throw new MigrationError(`${failed.message} (taking over an existing schema: ${plan.summary})`, {
      code: failed.code,
      kind: failed.kind,
      migration: recordName,
      cause: err,
      errno: failed.errno,
      sqlState: failed.sqlState,
    });
  }
  if (sqlite) await executor.query(`RELEASE ${SAVEPOINT}`);
  return { statements: recording.statements, note: note ? ` ${note}` : '' };
}

/**
 * Undoes a migration that failed half-way: SQLite rolls back to the savepoint and PostgreSQL the
 * transaction its statements ran in; MySQL's DDL commits as it goes, so there only the table locks
 * are released.
 */
async function undoMigration(executor: SqlExecutor): Promise<void> {
  if (executor.dialect === 'sqlite') {
    await executor.query(`ROLLBACK TO ${SAVEPOINT}`);
    await executor.query(`RELEASE ${SAVEPOINT}`);
  } else if (executor.dialect === 'postgres') {
    await executor.query('ROLLBACK');
  } else {
    await releaseTableLocks(executor);
  }
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
      await undoMigration(executor);
      throw failure(recordName, i, statements.length, err);
    }
  }
  if (sqlite) await executor.query(`RELEASE ${SAVEPOINT}`);
}

/**
 * Applies pending migrations of `sets` (in the order given, each set's migrations by version).
 * Throws MigrationError: `DB_MIGRATION_INVALID` (malformed sets), `DB_MIGRATION_FAILED` (a statement
 * failed; `kind` is the statement's error kind), `DB_MIGRATION_TRIGGER_PRIVILEGE` (MySQL ERROR 1419),
 * `DB_MIGRATION_TABLE_FOREIGN`; AdoptionError `DB_ADOPTION_REFUSED` (nothing changed); or a
 * transient DatabaseError `DB_LOCK_TIMEOUT`.
 */
export async function runMigrations(
  db: Database,
  sets: readonly MigrationSet[],
  options: RunMigrationsOptions = {},
): Promise<MigrationReport> {
  validateSets(sets, db.dialect);
  const log = options.log;
  const dialect = db.dialect;
  const report: MigrationReport = { applied: [], changed: [], skipped: 0 };
  let failed: MigrationError | undefined;

  await db.withLock(MIGRATIONS_LOCK, options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS, async (executor) => {
    // Read-only: a refusal must leave the database exactly as it was, `migrations` included.
    const plans = await inspectAdoptions(executor, sets);
    for (const [setName, plan] of plans) {
      if (plan.action === 'refuse') {
        failed = new AdoptionError(setName, db.description, plan.found, plan.remedy);
        return;
      }
    }
    await ensureTable(executor);
    const recorded = new Map<string, string | null>();
    const { rows } = await executor.query('SELECT name, checksum FROM migrations');
    for (const row of rows) recorded.set(String(row.name), row.checksum == null ? null : String(row.checksum));

    const record = async (name: string, set: MigrationSet, version: number, checksum: string): Promise<void> => {
      await executor.query(
        'INSERT INTO migrations (name, set_name, version, checksum, inserted, last_updated) VALUES (?, ?, ?, ?, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)',
        [name, set.name, version, checksum],
      );
      recorded.set(name, checksum);
    };

    /** Versions an adoption recorded in this run: applied, not skipped. */
    const adopted = new Set<string>();
    for (const set of sets) {
      const plan = plans.get(set.name);
      if (plan?.action === 'adopt') {
        const adoptionName = `${set.name}/0-${plan.record}`;
        let outcome: { statements: string[]; note: string };
        try {
          outcome = await applyAdoption(executor, adoptionName, plan);
        } catch (err) {
          failed = err as MigrationError;
          return;
        }
        await record(adoptionName, set, 0, createHash('sha256').update(JSON.stringify(outcome.statements)).digest('hex'));
        const standsFor = set.migrations.filter((m) => m.version <= plan.version && !recorded.has(migrationRecordName(set, m)));
        for (const migration of standsFor) {
          await record(migrationRecordName(set, migration), set, migration.version, migrationChecksum(migration, dialect));
        }
        if (dialect === 'postgres') await executor.query('COMMIT');
        report.applied.push(adoptionName);
        log?.info?.(`Took over an existing schema for ${set.name}: ${plan.summary}.${outcome.note}`);
        for (const migration of standsFor) {
          report.applied.push(migrationRecordName(set, migration));
          adopted.add(migrationRecordName(set, migration));
        }
      }
      for (const migration of set.migrations) {
        const recordName = migrationRecordName(set, migration);
        const checksum = migrationChecksum(migration, dialect);
        if (adopted.has(recordName)) continue;
        if (recorded.has(recordName)) {
          const previous = recorded.get(recordName);
          if (previous === null) {
            // Recorded before checksums existed: adopt the current statements as the baseline.
            await executor.query('UPDATE migrations SET checksum = ?, set_name = ?, version = ? WHERE name = ?', [
              checksum,
              set.name,
              migration.version,
              recordName,
            ]);
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
        await record(recordName, set, migration.version, checksum);
        if (dialect === 'postgres') await executor.query('COMMIT');
        report.applied.push(recordName);
        log?.info?.(`Applied migration ${recordName}`);
      }
    }
  });
  if (failed) throw failed;
  return report;
}
