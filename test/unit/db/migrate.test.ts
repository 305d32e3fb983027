import assert from 'node:assert/strict';
import { DatabaseError } from '../../../lib/db/errors';
import { AdoptionError, migrationChecksum, MigrationError, runMigrations } from '../../../lib/db/migrate';
import { refuse } from '../../../lib/db/adopt';
import type { Database, Migration, MigrationSet, QueryResult, SqlExecutor, SqlParams } from '../../../lib/db/types';

/** A fake MySQL database: remembers statements, fails those matching `failOn` with `error`. */
function fakeMysql(failOn?: RegExp, error?: Error): Database & { statements: string[] } {
  const statements: string[] = [];
  const executor: SqlExecutor = {
    dialect: 'mysql',
    async query(sql: string, _params?: SqlParams): Promise<QueryResult> {
      statements.push(sql);
      if (failOn?.test(sql)) throw error;
      // The catalog as lib/db/introspect.ts reads it: our `migrations` table, complete.
      if (sql.includes('information_schema.TABLES'))
        return {
          rows: [{ name: 'migrations', engine: 'InnoDB', collation: 'utf8mb4_unicode_ci', row_format: 'Dynamic' }],
          affectedRows: 0,
        };
      if (sql.includes('information_schema.COLUMNS')) {
        const columns = ['id', 'name', 'inserted', 'last_updated', 'set_name', 'version', 'checksum'];
        return {
          rows: columns.map((name) => ({
            tbl: 'migrations',
            name,
            data_type: 'varchar',
            column_type: 'varchar(255)',
            nullable: 'NO',
            max_length: 255,
          })),
          affectedRows: 0,
        };
      }
      return { rows: [], affectedRows: 0 };
    },
  };
  return {
    dialect: 'mysql',
    description: 'fake',
    statements,
    query: executor.query,
    select: async (sql, params, maxRows) => {
      const result = await executor.query(sql, params);
      return { rows: result.rows.slice(0, maxRows), truncated: result.rows.length > maxRows };
    },
    transaction: (work) => work(executor),
    atomic: async (list) => {
      for (const statement of list) await executor.query(statement.sql, statement.values);
    },
    withLock: (_name, _timeout, work) => work(executor),
    ping: async () => undefined,
    close: async () => undefined,
  };
}

const withTrigger: Migration = {
  version: 1,
  name: 'trigger',
  mysql: ['CREATE TABLE a (id INT)', 'CREATE TRIGGER a_ai AFTER INSERT ON a FOR EACH ROW SET @x = 1'],
  sqlite: ['CREATE TABLE a (id INT)'],
};

describe('db/migrate: runner rules', () => {
  it('turns MySQL ERROR 1419 into an error that says exactly what to change', async () => {
    const refusal = new DatabaseError('You do not have the SUPER privilege and binary logging is enabled', {
      kind: 'fatal',
      code: 'ER_BINLOG_CREATE_ROUTINE_NEED_SUPER',
      errno: 1419,
    });
    const db = fakeMysql(/CREATE TRIGGER/, refusal);
    await assert.rejects(runMigrations(db, [{ name: 'core', description: '', migrations: [withTrigger] }]), (err: unknown) => {
      assert.ok(err instanceof MigrationError);
      assert.equal(err.code, 'DB_MIGRATION_TRIGGER_PRIVILEGE');
      assert.equal(err.migration, 'core/1-trigger');
      assert.match(err.message, /--log-bin-trust-function-creators=1/);
      assert.match(err.message, /SET GLOBAL log_bin_trust_function_creators = 1/);
      assert.match(err.message, /SUPER/);
      assert.match(err.message, /--skip-log-bin/);
      return true;
    });
    assert.ok(!db.statements.some((s) => s.startsWith('INSERT INTO migrations')), 'the failed migration is not recorded');
  });

  it('keeps the kind of the failing statement (a dropped connection stays retryable)', async () => {
    const dropped = new DatabaseError('Connection lost', { kind: 'connection', code: 'PROTOCOL_CONNECTION_LOST' });
    await assert.rejects(
      runMigrations(fakeMysql(/CREATE TABLE a/, dropped), [{ name: 'core', description: '', migrations: [withTrigger] }]),
      (err: unknown) => err instanceof MigrationError && err.kind === 'connection' && err.code === 'DB_MIGRATION_FAILED',
    );
  });

  it('validates sets before touching the database', async () => {
    const db = fakeMysql();
    const m = (version: number, name = 'x'): Migration => ({ version, name, mysql: ['SELECT 1'], sqlite: ['SELECT 1'] });
    const bad: Array<[MigrationSet[], RegExp]> = [
      [[{ name: '', description: '', migrations: [] }], /non-empty name/],
      [[{ name: 'a/b', description: '', migrations: [] }], /without "\/"/],
      [
        [
          { name: 'a', description: '', migrations: [] },
          { name: 'a', description: '', migrations: [] },
        ],
        /listed twice/,
      ],
      [[{ name: 'a', description: '', migrations: [m(2), m(1)] }], /increasing/],
      [[{ name: 'a', description: '', migrations: [m(1), m(1)] }], /increasing/],
      [[{ name: 'a', description: '', migrations: [m(1.5)] }], /whole numbers/],
      [[{ name: 'a', description: '', migrations: [m(1, '')] }], /has no name/],
      [[{ name: 'a', description: '', migrations: [{ ...m(1), mysql: [''] }] }], /non-empty SQL/],
      [[{ name: 'a', description: '', migrations: [m(1, 'n'.repeat(300))] }], /longer than 255/],
    ];
    for (const [sets, pattern] of bad) {
      await assert.rejects(
        runMigrations(db, sets),
        (err: unknown) => err instanceof MigrationError && err.code === 'DB_MIGRATION_INVALID' && pattern.test(err.message),
      );
    }
    assert.deepEqual(db.statements, []);
  });

  it('checksums differ per dialect and per statement text', () => {
    assert.notEqual(migrationChecksum(withTrigger, 'mysql'), migrationChecksum(withTrigger, 'sqlite'));
    assert.match(migrationChecksum(withTrigger, 'mysql'), /^[0-9a-f]{64}$/);
    assert.notEqual(
      migrationChecksum(withTrigger, 'sqlite'),
      migrationChecksum({ ...withTrigger, sqlite: ['CREATE TABLE a (id  INT)'] }, 'sqlite'),
    );
  });

  it('an adoption that refuses stops the run before anything is written, naming what it found', async () => {
    const db = fakeMysql();
    const set: MigrationSet = {
      name: 'core',
      description: '',
      migrations: [withTrigger],
      adoption: { inspect: { mysql: async () => refuse('a column a.id of type text', 'Fix it.') } },
    };
    await assert.rejects(runMigrations(db, [set]), (err: unknown) => {
      assert.ok(err instanceof AdoptionError);
      assert.equal(err.code, 'DB_ADOPTION_REFUSED');
      assert.equal(err.kind, 'connection');
      assert.equal(err.message, 'Not taking over the core tables in fake: a column a.id of type text. Nothing was changed. Fix it.');
      return true;
    });
    assert.deepEqual(
      db.statements.filter((s) => !/^\s*SELECT/i.test(s)),
      [],
      'only catalog reads',
    );
  });

  it('an adoption runs once, is recorded with the versions it stands for, and later migrations run on top', async () => {
    const db = fakeMysql();
    const ran: string[] = [];
    const later: Migration = { version: 2, name: 'later', mysql: ['ALTER TABLE a ADD COLUMN b INT'], sqlite: ['SELECT 1'] };
    const set: MigrationSet = {
      name: 'core',
      description: '',
      migrations: [withTrigger, later],
      adoption: {
        inspect: {
          mysql: async () => ({
            action: 'adopt',
            record: 'adopt-original',
            version: 1,
            summary: 'the original a',
            run: async (ex) => {
              ran.push('run');
              await ex.query('ALTER TABLE a CONVERT TO CHARACTER SET utf8mb4');
              return 'It holds 3 rows.';
            },
          }),
        },
      },
    };
    const logged: string[] = [];
    const report = await runMigrations(db, [set], { log: { info: (m) => logged.push(m), warn: (m) => logged.push(m) } });
    assert.deepEqual(report.applied, ['core/0-adopt-original', 'core/1-trigger', 'core/2-later']);
    assert.deepEqual(ran, ['run']);
    assert.ok(!db.statements.some((s) => s.includes('CREATE TRIGGER')), 'migration 1 is recorded, not run');
    assert.ok(db.statements.includes('ALTER TABLE a ADD COLUMN b INT'), 'migration 2 runs');
    assert.ok(logged.includes('Took over an existing schema for core: the original a. It holds 3 rows.'), logged.join('\n'));
  });

  it('a dialect without an inspection runs the migrations as before', async () => {
    const db = fakeMysql();
    const set: MigrationSet = { name: 'core', description: '', migrations: [withTrigger], adoption: { inspect: {} } };
    assert.deepEqual((await runMigrations(db, [set])).applied, ['core/1-trigger']);
  });
});
