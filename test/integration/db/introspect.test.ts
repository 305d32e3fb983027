/**
 * The catalog readers (lib/db/introspect.ts) on every dialect: one table with the kinds of column,
 * index and trigger schema adoption decides by, read back in the dialect-neutral shape.
 */
import assert from 'node:assert/strict';
import { column, indexOn, readSchema } from '../../../lib/db/introspect';
import type { Dialect } from '../../../lib/db/types';
import { describeEachDialect } from './harness';

const TABLE: Record<Dialect, string[]> = {
  mysql: [
    `CREATE TABLE Probe (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, nodeId VARCHAR(20) NOT NULL, taken DATETIME(3) NOT NULL,
      reading DOUBLE NULL, note TEXT NULL, flag TINYINT(1) NOT NULL DEFAULT 0, amount DECIMAL(10,2) NULL, raw BLOB NULL,
      UNIQUE KEY probe_node_taken (nodeId, taken DESC), KEY probe_taken (taken)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    'CREATE TRIGGER probe_guard BEFORE UPDATE ON Probe FOR EACH ROW SET NEW.note = COALESCE(NEW.note, OLD.note)',
  ],
  sqlite: [
    `CREATE TABLE Probe (id INTEGER PRIMARY KEY AUTOINCREMENT, nodeId VARCHAR(20) NOT NULL, taken DATETIME NOT NULL,
      reading DOUBLE NULL, note TEXT NULL, flag BOOLEAN NOT NULL DEFAULT 0, amount DECIMAL(10,2) NULL, raw BLOB NULL)`,
    'CREATE UNIQUE INDEX probe_node_taken ON Probe (nodeId, taken DESC)',
    'CREATE INDEX probe_taken ON Probe (taken)',
    'CREATE TRIGGER probe_guard BEFORE UPDATE ON Probe FOR EACH ROW BEGIN SELECT 1; END',
  ],
  postgres: [
    // Quoted, mixed-case names as SQLAlchemy writes them for a camelCase model.
    `CREATE TABLE "Probe" (id SERIAL PRIMARY KEY, "nodeId" VARCHAR(20) NOT NULL, taken TIMESTAMP(3) NOT NULL,
      reading DOUBLE PRECISION NULL, note TEXT NULL, flag BOOLEAN NOT NULL DEFAULT FALSE, amount NUMERIC(10,2) NULL, raw BYTEA NULL)`,
    'CREATE UNIQUE INDEX probe_node_taken ON "Probe" ("nodeId", taken DESC)',
    'CREATE INDEX probe_taken ON "Probe" (taken)',
    // A partial unique index promises nothing for the whole table.
    'CREATE UNIQUE INDEX probe_partial ON "Probe" (reading) WHERE reading > 0',
    `CREATE FUNCTION probe_guard() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.note := COALESCE(NEW.note, OLD.note); RETURN NEW; END $$`,
    'CREATE TRIGGER probe_guard BEFORE INSERT OR UPDATE ON "Probe" FOR EACH ROW EXECUTE FUNCTION probe_guard()',
  ],
};

describeEachDialect('db: catalog reader', (ctx) => {
  before(async () => {
    const { db, dialect } = ctx();
    for (const sql of TABLE[dialect]) await db.query(sql);
  });

  it('reads columns by type family, with auto-increment, defaults and case as written', async () => {
    const { db, dialect } = ctx();
    const snapshot = await readSchema(db, ['PROBE', 'missing_table']);
    assert.equal(snapshot.dialect, dialect);
    assert.deepEqual([...snapshot.tables.keys()], ['probe']);
    const table = snapshot.tables.get('probe')!;
    assert.equal(table.name, 'Probe');
    assert.deepEqual(
      table.columns.map((c) => c.name),
      ['id', 'nodeId', 'taken', 'reading', 'note', 'flag', 'amount', 'raw'],
    );
    const families = Object.fromEntries(table.columns.map((c) => [c.name, c.family]));
    assert.deepEqual(families, {
      id: 'integer',
      nodeId: 'text',
      taken: 'datetime',
      reading: 'real',
      note: 'text',
      flag: 'boolean',
      amount: 'decimal',
      raw: 'blob',
    });
    const id = column(table, 'ID')!;
    assert.equal(id.autoIncrement, true);
    assert.equal(id.hasDefault, true);
    const node = column(table, 'nodeid')!;
    assert.equal(node.nullable, false);
    assert.equal(node.hasDefault, false);
    assert.equal(node.autoIncrement, false);
    if (dialect !== 'sqlite') assert.equal(node.maxLength, 20);
    if (dialect !== 'sqlite') assert.equal(column(table, 'taken')!.fractionDigits, 3);
    assert.equal(column(table, 'flag')!.hasDefault, true);
    assert.equal(column(table, 'note')!.nullable, true);
  });

  it('reads indexes in key order with their direction, and triggers with timing and event', async () => {
    const { db, dialect } = ctx();
    const table = (await readSchema(db, ['probe'])).tables.get('probe')!;
    const unique = indexOn(table, ['nodeId', 'taken'], { unique: true });
    assert.ok(unique, JSON.stringify(table.indexes));
    assert.equal(unique.name, 'probe_node_taken');
    assert.deepEqual(unique.descending, [false, true]);
    assert.equal(unique.primary, false);
    assert.ok(indexOn(table, ['taken'], { unique: false }));
    const primary = table.indexes.find((i) => i.primary);
    assert.deepEqual(primary?.columns, ['id']);
    assert.equal(primary?.unique, true);
    if (dialect === 'postgres') assert.equal(table.indexes.find((i) => i.name === 'probe_partial')?.unique, false);

    const { triggers } = await readSchema(db, ['probe']);
    assert.equal(triggers.length, 1);
    assert.equal(triggers[0].name, 'probe_guard');
    assert.equal(triggers[0].table, 'Probe');
    assert.equal(triggers[0].timing, 'BEFORE');
    assert.equal(triggers[0].event, dialect === 'postgres' ? 'INSERT OR UPDATE' : 'UPDATE');
    // The definition shows what the trigger does (PostgreSQL: the function's source too).
    assert.match(triggers[0].definition, dialect === 'sqlite' ? /SELECT 1/ : /COALESCE\(NEW\.note, OLD\.note\)/);
  });

  it('finds nothing where nothing is, and no foreign-key machinery as triggers', async () => {
    const { db, dialect } = ctx();
    const empty = await readSchema(db, ['no_such_table']);
    assert.equal(empty.tables.size, 0);
    assert.deepEqual(empty.triggers, []);
    const fk = {
      mysql:
        'CREATE TABLE probe_child (id INT PRIMARY KEY, probe_id INT NOT NULL, FOREIGN KEY (probe_id) REFERENCES Probe (id)) ENGINE=InnoDB',
      sqlite: 'CREATE TABLE probe_child (id INTEGER PRIMARY KEY, probe_id INTEGER NOT NULL REFERENCES Probe (id))',
      postgres: 'CREATE TABLE probe_child (id INT PRIMARY KEY, probe_id INT NOT NULL REFERENCES "Probe" (id))',
    }[dialect];
    await db.query(fk);
    const both = await readSchema(db, ['probe', 'probe_child']);
    assert.deepEqual(
      both.triggers.map((t) => t.name),
      ['probe_guard'],
    );
    assert.ok(both.tables.has('probe_child'));
  });
});
