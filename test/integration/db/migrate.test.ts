import assert from 'node:assert/strict';
import { migrationChecksum, MigrationError, runMigrations } from '../../../lib/db';
import { refuse, type AdoptionPlan } from '../../../lib/db/adopt';
import { readSchema } from '../../../lib/db/introspect';
import type { Migration, MigrationSet } from '../../../lib/db/types';
import { describeEachDialect } from './harness';

// Deliberately not idempotent (no IF NOT EXISTS): running a migration twice would fail loudly.
const createTopics: Migration = {
  version: 1,
  name: 'create-topics',
  mysql: ['CREATE TABLE topics (id INT AUTO_INCREMENT PRIMARY KEY, label VARCHAR(255) NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4'],
  sqlite: ['CREATE TABLE topics (id INTEGER PRIMARY KEY AUTOINCREMENT, label TEXT NOT NULL)'],
  postgres: ['CREATE TABLE topics (id SERIAL PRIMARY KEY, label VARCHAR(255) NOT NULL)'],
};
const createLog: Migration = {
  version: 2,
  name: 'create-log-with-trigger',
  mysql: [
    'CREATE TABLE topic_log (id INT AUTO_INCREMENT PRIMARY KEY, topic_id INT NOT NULL, label VARCHAR(255) NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4',
    'CREATE TRIGGER topics_after_insert AFTER INSERT ON topics FOR EACH ROW BEGIN INSERT INTO topic_log (topic_id, label) VALUES (NEW.id, NEW.label); END',
  ],
  sqlite: [
    'CREATE TABLE topic_log (id INTEGER PRIMARY KEY AUTOINCREMENT, topic_id INTEGER NOT NULL, label TEXT NOT NULL)',
    'CREATE TRIGGER topics_after_insert AFTER INSERT ON topics FOR EACH ROW BEGIN INSERT INTO topic_log (topic_id, label) VALUES (NEW.id, NEW.label); END',
  ],
  postgres: [
    'CREATE TABLE topic_log (id SERIAL PRIMARY KEY, topic_id INT NOT NULL, label VARCHAR(255) NOT NULL)',
    'CREATE FUNCTION topics_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO topic_log (topic_id, label) VALUES (NEW.id, NEW.label); RETURN NULL; END $$',
    'CREATE TRIGGER topics_after_insert AFTER INSERT ON topics FOR EACH ROW EXECUTE FUNCTION topics_after_insert()',
  ],
};
const addColumn: Migration = {
  version: 3,
  name: 'add-retain',
  mysql: ['ALTER TABLE topics ADD COLUMN retained TINYINT(1) NOT NULL DEFAULT 0'],
  sqlite: ['ALTER TABLE topics ADD COLUMN retained INTEGER NOT NULL DEFAULT 0'],
  postgres: ['ALTER TABLE topics ADD COLUMN retained SMALLINT NOT NULL DEFAULT 0'],
};

function set(name: string, migrations: Migration[]): MigrationSet {
  return { name, description: `test set ${name}`, migrations };
}

describeEachDialect('db: migrations', (ctx) => {
  async function dropAll(): Promise<void> {
    const { db } = ctx();
    for (const table of ['topic_log', 'topics', 'migrations', 'other_log']) await db.query(`DROP TABLE IF EXISTS ${table}`);
    if (db.dialect === 'postgres') await db.query('DROP FUNCTION IF EXISTS topics_after_insert()');
  }
  beforeEach(dropAll);

  it('applies pending migrations once, in order, recording names and checksums', async () => {
    const { db, dialect } = ctx();
    const sets = [set('core', [createTopics, createLog, addColumn])];
    const warnings: string[] = [];
    const first = await runMigrations(db, sets, { log: { warn: (m) => warnings.push(m) } });
    assert.deepEqual(first, {
      applied: ['core/1-create-topics', 'core/2-create-log-with-trigger', 'core/3-add-retain'],
      changed: [],
      skipped: 0,
    });
    const second = await runMigrations(db, sets);
    assert.deepEqual(second, { applied: [], changed: [], skipped: 3 });
    assert.deepEqual(warnings, []);

    const { rows } = await db.query('SELECT name, set_name, version, checksum FROM migrations ORDER BY id');
    assert.deepEqual(
      rows.map((r) => ({ ...r, version: Number(r.version) })),
      [createTopics, createLog, addColumn].map((m) => ({
        name: `core/${m.version}-${m.name}`,
        set_name: 'core',
        version: m.version,
        checksum: migrationChecksum(m, dialect),
      })),
    );
    // The trigger from migration 2 works (sent as one statement, no DELIMITER).
    await db.query('INSERT INTO topics (label) VALUES (?)', ['home/light/kitchen']);
    assert.deepEqual((await db.query('SELECT label FROM topic_log')).rows, [{ label: 'home/light/kitchen' }]);
  });

  it('adds later migrations of a set and other sets without touching applied ones', async () => {
    const { db } = ctx();
    await runMigrations(db, [set('core', [createTopics])]);
    const other = set('other', [
      {
        version: 1,
        name: 'create-other',
        mysql: ['CREATE TABLE other_log (id INT)'],
        sqlite: ['CREATE TABLE other_log (id INT)'],
        postgres: ['CREATE TABLE other_log (id INT)'],
      },
    ]);
    const report = await runMigrations(db, [set('core', [createTopics, createLog]), other]);
    assert.deepEqual(report, { applied: ['core/2-create-log-with-trigger', 'other/1-create-other'], changed: [], skipped: 1 });
  });

  it('two Database instances migrating concurrently apply each migration exactly once', async () => {
    const { open } = ctx();
    const sets = [set('core', [createTopics, createLog, addColumn])];
    const a = open();
    const b = open();
    const reports = await Promise.all([runMigrations(a, sets), runMigrations(b, sets), runMigrations(a, sets)]);
    const applied = reports.flatMap((r) => r.applied).sort();
    assert.deepEqual(applied, ['core/1-create-topics', 'core/2-create-log-with-trigger', 'core/3-add-retain']);
    assert.equal(
      reports.reduce((n, r) => n + r.skipped, 0),
      6,
    );
    assert.equal((await a.query('SELECT COUNT(*) AS n FROM migrations')).rows[0].n, 3);
  });

  it('reports a changed migration (and warns) instead of re-running it', async () => {
    const { db } = ctx();
    await runMigrations(db, [set('core', [createTopics])]);
    const edited: Migration = {
      ...createTopics,
      mysql: [`${createTopics.mysql[0]} COMMENT 'edited'`],
      sqlite: [`${createTopics.sqlite[0]} /* edited */`],
      postgres: [`${createTopics.postgres?.[0]} /* edited */`],
    };
    const warnings: string[] = [];
    const report = await runMigrations(db, [set('core', [edited])], { log: { warn: (m) => warnings.push(m) } });
    assert.deepEqual(report, { applied: [], changed: ['core/1-create-topics'], skipped: 0 });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /core\/1-create-topics was changed after it was applied; it is not re-run/);
  });

  it("upgrades the original pipeline's unused migrations(id, name, inserted, last_updated) table", async () => {
    const { db, dialect } = ctx();
    await db.query(
      {
        mysql:
          'CREATE TABLE migrations (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(255), inserted TIMESTAMP DEFAULT CURRENT_TIMESTAMP, last_updated TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP) CHARSET=utf8',
        sqlite:
          'CREATE TABLE migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, inserted TIMESTAMP DEFAULT CURRENT_TIMESTAMP, last_updated TIMESTAMP DEFAULT CURRENT_TIMESTAMP)',
        postgres:
          'CREATE TABLE migrations (id SERIAL PRIMARY KEY, name VARCHAR(255), inserted TIMESTAMP DEFAULT CURRENT_TIMESTAMP, last_updated TIMESTAMP DEFAULT CURRENT_TIMESTAMP)',
      }[dialect],
    );
    await db.query('INSERT INTO migrations (name) VALUES (?)', ['20230101_legacy']);
    const report = await runMigrations(db, [set('core', [createTopics])]);
    assert.deepEqual(report.applied, ['core/1-create-topics']);
    const { rows } = await db.query('SELECT name, set_name, checksum FROM migrations ORDER BY id');
    assert.equal(rows.length, 2);
    assert.deepEqual(rows[0], { name: '20230101_legacy', set_name: null, checksum: null });
    assert.equal(rows[1].set_name, 'core');
    assert.equal(rows[1].checksum, migrationChecksum(createTopics, dialect));
  });

  it('a failing migration is not recorded, earlier ones stay applied, and the error names it', async () => {
    const { db, dialect } = ctx();
    const broken: Migration = {
      version: 2,
      name: 'broken',
      mysql: ['CREATE TABLE topic_log (id INT)', 'ALTER TABLE no_such_table ADD COLUMN x INT'],
      sqlite: ['CREATE TABLE topic_log (id INT)', 'ALTER TABLE no_such_table ADD COLUMN x INT'],
      postgres: ['CREATE TABLE topic_log (id INT)', 'ALTER TABLE no_such_table ADD COLUMN x INT'],
    };
    await assert.rejects(runMigrations(db, [set('core', [createTopics, broken, addColumn])]), (err: unknown) => {
      assert.ok(err instanceof MigrationError);
      assert.equal(err.code, 'DB_MIGRATION_FAILED');
      assert.equal(err.migration, 'core/2-broken');
      assert.match(err.message, /core\/2-broken failed at statement 2 of 2/);
      return true;
    });
    assert.deepEqual((await db.query('SELECT name FROM migrations')).rows, [{ name: 'core/1-create-topics' }]);
    if (dialect === 'sqlite') {
      // The savepoint undid the migration's first statement too.
      assert.deepEqual((await db.query("SELECT name FROM sqlite_master WHERE name = 'topic_log'")).rows, []);
    }
    if (dialect === 'postgres') {
      // Transactional DDL: the migration's first statement was rolled back with it.
      assert.deepEqual((await db.query("SELECT to_regclass('topic_log') IS NULL AS gone")).rows, [{ gone: true }]);
    }
  });

  it("asks a set's adoption only in a dialect it has an inspection for; elsewhere the migrations run as always", async () => {
    const { db, dialect } = ctx();
    const asked: string[] = [];
    const elsewhere = (['mysql', 'sqlite', 'postgres'] as const).filter((d) => d !== dialect);
    const inspect = Object.fromEntries(
      elsewhere.map((d) => [
        d,
        async () => {
          asked.push(d);
          return refuse('something', 'nothing');
        },
      ]),
    );
    const report = await runMigrations(db, [{ ...set('core', [createTopics]), adoption: { inspect } }]);
    assert.deepEqual(report.applied, ['core/1-create-topics']);
    assert.deepEqual(asked, []);
    assert.deepEqual((await db.query('SELECT name FROM migrations')).rows, [{ name: 'core/1-create-topics' }]);
  });

  it('records an adoption with the versions it stands for, and runs later ones on top; a failed one leaves no record', async () => {
    const { db, dialect } = ctx();
    await db.query('CREATE TABLE topics (id INT PRIMARY KEY, label VARCHAR(255) NOT NULL)');
    const failing = async (): Promise<AdoptionPlan> => ({
      action: 'adopt',
      record: 'adopt-original',
      version: 1,
      summary: 'a topics table',
      run: async (ex) => {
        await ex.query('CREATE TABLE topic_log (id INT)');
        await ex.query('ALTER TABLE no_such_table ADD COLUMN x INT');
      },
    });
    const err = await runMigrations(db, [
      { ...set('core', [createTopics, createLog]), adoption: { inspect: { [dialect]: failing } } },
    ]).catch((e: unknown) => e);
    assert.ok(err instanceof MigrationError, String(err));
    assert.match(err.message, /core\/0-adopt-original failed at statement 2 of 2: .* \(taking over an existing schema: a topics table\)/);
    assert.deepEqual((await db.query('SELECT name FROM migrations')).rows, [], 'nothing recorded');
    // SQLite (savepoint) and PostgreSQL (transaction) undo the adoption's first statement too.
    const logLeft = (await readSchema(db, ['topic_log'])).tables.has('topic_log');
    assert.equal(logLeft, dialect === 'mysql');
    if (logLeft) await db.query('DROP TABLE topic_log');

    const adopting = async (): Promise<AdoptionPlan> => ({
      action: 'adopt',
      record: 'adopt-original',
      version: 1,
      summary: 'a topics table',
      run: async (ex) => {
        await ex.query(dialect === 'mysql' ? 'ALTER TABLE topics MODIFY id INT NOT NULL AUTO_INCREMENT' : 'SELECT 1');
        return 'Kept its rows.';
      },
    });
    const logged: string[] = [];
    const report = await runMigrations(
      db,
      [{ ...set('core', [createTopics, createLog]), adoption: { inspect: { [dialect]: adopting } } }],
      {
        log: { info: (m) => logged.push(m), warn: (m) => logged.push(m) },
      },
    );
    assert.deepEqual(report.applied, ['core/0-adopt-original', 'core/1-create-topics', 'core/2-create-log-with-trigger']);
    assert.match(logged.join('\n'), /Took over an existing schema for core: a topics table\. Kept its rows\./);
    assert.deepEqual(
      (await db.query('SELECT name, version FROM migrations ORDER BY id')).rows.map((r) => [r.name, Number(r.version)]),
      [
        ['core/0-adopt-original', 0],
        ['core/1-create-topics', 1],
        ['core/2-create-log-with-trigger', 2],
      ],
    );
    // Recorded: not asked again.
    assert.deepEqual(
      (await runMigrations(db, [{ ...set('core', [createTopics, createLog]), adoption: { inspect: { [dialect]: failing } } }])).applied,
      [],
    );
  });

  it('refuses a migrations table that belongs to another application', async () => {
    const { db } = ctx();
    await db.query('CREATE TABLE migrations (id INT, migration VARCHAR(255), batch INT)');
    await assert.rejects(
      runMigrations(db, [set('core', [createTopics])]),
      (err: unknown) => err instanceof MigrationError && err.code === 'DB_MIGRATION_TABLE_FOREIGN',
    );
  });
});
