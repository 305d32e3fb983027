/**
 * Taking over the original statestream pipeline's database (CONTRACTS §6.1) on MariaDB and
 * SQLite: its tables, rows and `formating` trigger as its migrate.py and trigger left them, then
 * the migration runner with the shipped `statestream` set, then traffic as our writer sends it.
 * The original ran on MySQL only, so PostgreSQL has nothing to take over; there, and everywhere,
 * migration 3 relabels what our earlier releases wrote.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { AdoptionError, MigrationError, runMigrations } from '../../../lib/db';
import type { Database, MigrationSet } from '../../../lib/db/types';
import { SEED_README_QUERY, statestreamMigrations } from '../../../lib/statestream/schema';
import { isemsMigrations } from '../../../lib/isems/schema';
import { packageRoot } from '../../support/node-red';
import { createStatestreamOriginal, STATESTREAM_HISTORY } from '../../support/originals';
import { allRows, eachDialect, schemaFingerprint } from './fresh';

/** Messages as the flow's writer inserts them (topic, qos, payload, retained, received_at). */
async function write(db: Database, messages: Array<[string, string]>, retained = false): Promise<void> {
  const at = db.dialect === 'sqlite' ? new Date().toISOString() : new Date();
  const values = messages.map(() => '(?, ?, ?, ?, ?)').join(', ');
  await db.query(
    `INSERT INTO messages (topic, qos, payload, retained, received_at) VALUES ${values}`,
    messages.flatMap(([t, p]) => [t, 1, p, retained ? 1 : 0, at]),
  );
}

async function triggersOnMessages(db: Database): Promise<string[]> {
  const sql = {
    mysql:
      "SELECT TRIGGER_NAME AS name FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = 'messages'",
    sqlite: "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'messages'",
    // Not the BEFORE UPDATE trigger that keeps last_updated current.
    postgres:
      "SELECT tgname AS name FROM pg_trigger WHERE tgrelid = 'messages'::regclass AND NOT tgisinternal AND tgname <> 'messages_touch'",
  }[db.dialect];
  return (await db.query(sql)).rows.map((r) => String(r.name));
}

const count = async (db: Database, table: string): Promise<number> =>
  Number((await db.query(`SELECT COUNT(*) AS n FROM ${table}`)).rows[0].n);

/** The seed README's query, old columns only (what a user's query sees). */
const seedRows = async (db: Database): Promise<Array<Record<string, unknown>>> =>
  (await db.query(`${SEED_README_QUERY} ORDER BY facts.id`)).rows;

/**
 * The statestream dashboard page's entity table (flows/6-dashboard-1-statestream.json) on this
 * database: the page's query as its db query node runs it, then the rows its function node makes
 * of the result (in a context that shares Date with the host, as Node-RED's function node does,
 * with a node context of its own), as [entity, domain, state].
 */
async function dashboardEntities(db: Database): Promise<string[][]> {
  const page = JSON.parse(readFileSync(join(packageRoot, 'flows', '6-dashboard-1-statestream.json'), 'utf8')) as Array<
    Record<string, unknown>
  >;
  const node = (id: string): Record<string, unknown> => page.find((n) => n.id === id)!;
  const { rows } = await db.query(String(node('iotp.dash.ss.entities').sql));
  // A fresh node context, as on the page's first poll: the function sends only what changed since its last run.
  const stored = new Map<string, unknown>();
  const context = { get: (key: string) => stored.get(key), set: (key: string, value: unknown) => void stored.set(key, value) };
  const toTable = runInNewContext(`(function (msg) {\n${String(node('iotp.dash.ss.rows').func)}\n})`, { Date, context }) as (msg: {
    payload: unknown;
  }) => [{ payload: Array<Record<string, string>> }];
  return toTable({ payload: rows })[0].payload.map((row) => [row.entity, row.domain, row.state]);
}

eachDialect(
  'adoption: statestream',
  (fresh) => {
    it('takes over the original: every row and id kept, the seed query unchanged, labels as written, formating replaced by our trigger, recorded', async () => {
      const { db, dialect } = await fresh();
      const stored = await createStatestreamOriginal(db);
      const before = {
        seed: await seedRows(db),
        messages: await allRows(db, 'messages', 'id, topic, payload'),
        entities: await allRows(db, 'entities', 'id, label, base_topic_id'),
      };
      assert.equal(before.seed.length, stored.facts);

      const logged: string[] = [];
      const report = await runMigrations(db, [statestreamMigrations], {
        log: { info: (m) => logged.push(m), warn: (m) => logged.push(`WARN ${m}`) },
      });
      assert.deepEqual(report.applied, [
        'statestream/0-adopt-original',
        'statestream/1-create-tables',
        'statestream/2-create-normalise-trigger',
        'statestream/3-entity-labels-as-written',
      ]);
      assert.match(
        logged.join('\n'),
        /Took over an existing schema for statestream: the original pipeline's tables .*Entities: 4, of which 2 got their domain from the stored messages and 2 have none/,
      );

      assert.deepEqual(await seedRows(db), before.seed, "the seed README's query returns the original's rows unchanged");
      assert.deepEqual(await allRows(db, 'messages', 'id, topic, payload'), before.messages, 'every message kept with its id');
      const entities = await allRows(db, 'entities', 'id, label, domain, object_id, base_topic_id');
      assert.deepEqual(
        entities.map((e) => [e.id, e.label, e.domain, e.object_id]),
        before.entities.map((e) => {
          // kitchen_temp and hall: their messages name one domain; x: sensor and binary_sensor, merged
          // by the original; climate: the original's wrong split of home/statestream (its messages have five levels).
          const domain = ({ kitchen_temp: 'sensor', hall: 'light' } as Record<string, string>)[String(e.label)] ?? '';
          return [e.id, e.label, domain, e.label];
        }),
        'labels as the original wrote them; the domain beside them where the stored messages tell it',
      );
      assert.deepEqual(await triggersOnMessages(db), ['statestream_normalise'], 'formating replaced, never two triggers on messages');

      const migrations = await db.query('SELECT name, set_name, version FROM migrations ORDER BY id');
      assert.deepEqual(
        migrations.rows.map((r) => [r.name, r.set_name, Number(r.version)]),
        [
          ['statestream/0-adopt-original', 'statestream', 0],
          ['statestream/1-create-tables', 'statestream', 1],
          ['statestream/2-create-normalise-trigger', 'statestream', 2],
          ['statestream/3-entity-labels-as-written', 'statestream', 3],
        ],
        "recorded in the original's own migrations table",
      );
      assert.deepEqual((await runMigrations(db, [statestreamMigrations])).applied, [], 'runs once');

      if (dialect === 'mysql') {
        const text = await db.query(
          "SELECT TABLE_NAME AS t, COLUMN_NAME AS c, CHARACTER_SET_NAME AS cs, DATA_TYPE AS dt FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('messages', 'base_topics', 'entities', 'states', 'facts') AND CHARACTER_SET_NAME IS NOT NULL",
        );
        for (const c of text.rows) assert.equal(c.cs, 'utf8mb4', `${String(c.t)}.${String(c.c)}`);
        const types = Object.fromEntries(text.rows.map((c) => [`${String(c.t)}.${String(c.c)}`, c.dt]));
        assert.equal(types['messages.payload'], 'longtext');
        assert.equal(types['facts.fact'], 'longtext');
        // received_at of the old rows is when the original stored them.
        const mismatched = await db.query('SELECT COUNT(*) AS n FROM messages WHERE received_at <> inserted');
        assert.equal(Number(mismatched.rows[0].n), 0);
      }
    });

    it('after the switch: one fact per message, old and new facts under the label, sensor.x and binary_sensor.x apart, emoji stored', async () => {
      const { db } = await fresh();
      await createStatestreamOriginal(db);
      await runMigrations(db, [statestreamMigrations]);
      const oldFacts = await count(db, 'facts');
      const oldMessages = await count(db, 'messages');
      const live: Array<[string, string]> = [
        ['homeassistant/sensor/kitchen_temp/state', '22.0'],
        ['homeassistant/sensor/kitchen_temp/friendly_name', '"Küche 😀"'],
        ['homeassistant/sensor/x/state', '19.5'],
        ['homeassistant/binary_sensor/x/state', 'on'],
        ['home/statestream/climate/office/state', 'cool'],
      ];
      await write(db, live);
      assert.equal(await count(db, 'messages'), oldMessages + live.length);
      assert.equal(await count(db, 'facts'), oldFacts + live.length, 'every new message exactly one fact');

      // A user's query on the label as the original wrote it finds the old facts and the new ones.
      const kitchen = await db.query(
        "SELECT facts.fact, entities.id AS entity FROM facts JOIN states ON facts.state_id = states.id JOIN entities ON states.entity_id = entities.id WHERE entities.label = 'kitchen_temp' AND states.label = 'state' ORDER BY facts.id",
      );
      assert.deepEqual(
        kitchen.rows.map((r) => r.fact),
        ['21.5', '21.7', '22.0'],
      );
      assert.equal(
        new Set(kitchen.rows.map((r) => r.entity)).size,
        1,
        'the new facts join the adopted entity (its domain was told by the messages)',
      );

      const x = await db.query(
        "SELECT entities.domain, facts.fact FROM facts JOIN states ON facts.state_id = states.id JOIN entities ON states.entity_id = entities.id WHERE entities.label = 'x' ORDER BY facts.id",
      );
      assert.deepEqual(
        x.rows.map((r) => [r.domain, r.fact]),
        [
          ['', '20.0'],
          ['', 'on'],
          ['', 'off'],
          ['sensor', '19.5'],
          ['binary_sensor', 'on'],
        ],
        'the merged history stays together (domain unknown); from the switch on, sensor.x and binary_sensor.x are two entities',
      );
      const emoji = await db.query("SELECT fact FROM facts WHERE fact LIKE '%Küche 😀%'");
      assert.equal(emoji.rows.length, 1, 'a 4-byte character fits (the original utf8 refused it)');
      const office = await db.query(
        "SELECT base_topics.label AS base, entities.label AS entity FROM entities JOIN base_topics ON base_topics.id = entities.base_topic_id WHERE entities.label = 'office'",
      );
      assert.deepEqual(office.rows, [{ base: 'home/statestream', entity: 'office' }], 'a base with / is split from the end from now on');

      // The dashboard page names entities as Home Assistant does; the merged one keeps its label and
      // shows its last state from before the switch.
      assert.deepEqual(await dashboardEntities(db), [
        ['light.hall', 'light', 'off'],
        ['sensor.kitchen_temp', 'sensor', '22.0'],
        ['climate.office', 'climate', 'cool'],
        ['x', '\u2014', 'off'],
        ['binary_sensor.x', 'binary_sensor', 'on'],
        ['sensor.x', 'sensor', '19.5'],
      ]);
    });

    it('gives a message inserted while the adoption runs exactly one fact', async function () {
      const { db, open, dialect } = await fresh();
      await createStatestreamOriginal(db);
      // A writer that is still running (the original, not yet stopped) inserts as it always did.
      const writer = open();
      let running = true;
      let sent = 0;
      const refused: string[] = [];
      const inserting = (async () => {
        while (running) {
          try {
            await writer.query('INSERT INTO messages (topic, qos, payload) VALUES (?, ?, ?)', [
              `homeassistant/sensor/busy_${sent % 7}/state`,
              1,
              String(sent),
            ]);
            sent++;
          } catch (err) {
            // MariaDB can refuse an INSERT that waited on the lock while the trigger was replaced
            // ("Table '<db>.b' doesn't exist": it resolved the old trigger's aliases): the writer
            // hears it and the row is not stored, so no fact is owed. Anything else fails the test.
            if (dialect !== 'mysql' || !/doesn't exist/.test((err as Error).message) || refused.length > 2) throw err;
            refused.push((err as Error).message);
          }
          if (dialect === 'sqlite') await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      await new Promise((resolve) => setTimeout(resolve, 50));
      await runMigrations(db, [statestreamMigrations]);
      await new Promise((resolve) => setTimeout(resolve, 50));
      running = false;
      await inserting;
      assert.ok(sent > 0);
      assert.equal(
        await count(db, 'facts'),
        await count(db, 'messages'),
        `each of ${await count(db, 'messages')} messages has exactly one fact (${sent} written during the switch)`,
      );
    });

    it('refuses what it does not recognise, naming it, and changes nothing', async () => {
      const { db, dialect } = await fresh();
      await createStatestreamOriginal(db);
      await db.query(
        dialect === 'mysql'
          ? 'CREATE TRIGGER audit_entities AFTER UPDATE ON entities FOR EACH ROW SET @n = 1'
          : 'CREATE TRIGGER audit_entities AFTER UPDATE ON entities BEGIN SELECT 1; END',
      );
      await db.query(
        dialect === 'mysql'
          ? 'ALTER TABLE messages MODIFY qos VARCHAR(8) NOT NULL'
          : "ALTER TABLE facts ADD COLUMN owner TEXT NOT NULL DEFAULT 'x'",
      );
      if (dialect === 'sqlite') await db.query('ALTER TABLE states ADD COLUMN weight BLOB NOT NULL DEFAULT 0'); // harmless: has a default
      const fingerprint = await schemaFingerprint(db);
      const migrationsBefore = await db.query('SELECT COUNT(*) AS n FROM migrations');
      const err = await runMigrations(db, [statestreamMigrations]).catch((e: unknown) => e);
      assert.ok(err instanceof AdoptionError, String(err));
      assert.equal(err.code, 'DB_ADOPTION_REFUSED');
      assert.match(err.message, /Not taking over the statestream tables in .*: .*a trigger audit_entities \(AFTER UPDATE on entities\)/);
      if (dialect === 'mysql') assert.match(err.message, /messages\.qos is varchar\(8\) \(expected integer\)/);
      assert.match(err.message, /Nothing was changed\. Point this flow at/);
      assert.equal(await schemaFingerprint(db), fingerprint, 'not one table, column, index or trigger changed (migrations included)');
      assert.deepEqual((await db.query('SELECT COUNT(*) AS n FROM migrations')).rows, migrationsBefore.rows);
    });

    it("keeps our own migrations table's records when the original's tables sit beside it", async () => {
      const { db } = await fresh();
      await runMigrations(db, [isemsMigrations]); // our table exists, with another set recorded
      await db.query('DROP TABLE migrations');
      await runMigrations(db, [isemsMigrations]);
      const ours = await db.query('SELECT name FROM migrations ORDER BY id');
      for (const sql of (await import('../../support/originals'))
        .statestreamOriginalStatements(db.dialect)
        .filter((s) => !/CREATE TABLE migrations/.test(s)))
        await db.query(sql);
      await db.query('INSERT INTO messages (topic, qos, payload) VALUES (?, ?, ?)', ['homeassistant/sensor/a/state', 1, '1']);
      const report = await runMigrations(db, [statestreamMigrations, isemsMigrations]);
      assert.equal(report.applied[0], 'statestream/0-adopt-original');
      const after = await db.query('SELECT name FROM migrations ORDER BY id');
      assert.deepEqual(after.rows.slice(0, ours.rows.length), ours.rows, 'earlier records untouched');
      assert.equal(await count(db, 'facts'), 1);
    });

    it('continues an adoption that stopped half-way (MySQL commits each ALTER at once)', async function () {
      const { db, dialect } = await fresh();
      if (dialect !== 'mysql') return this.skip(); // SQLite adopts in one transaction: nothing half-way
      await createStatestreamOriginal(db);
      const seed = await seedRows(db);
      // What a first attempt had done before it failed: messages converted, facts half-way.
      await db.query(
        'ALTER TABLE messages CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin, ADD COLUMN retained TINYINT(1) NOT NULL DEFAULT 0, ADD COLUMN received_at TIMESTAMP(3) NULL',
      );
      await db.query('ALTER TABLE facts ADD COLUMN message_id BIGINT UNSIGNED NULL');
      await runMigrations(db, [statestreamMigrations]);
      assert.deepEqual(await seedRows(db), seed);
      assert.deepEqual(await triggersOnMessages(db), ['statestream_normalise']);
      assert.equal(Number((await db.query('SELECT COUNT(*) AS n FROM messages WHERE received_at IS NULL')).rows[0].n), 0);
      await write(db, [['homeassistant/sensor/x/state', '5']]);
      assert.equal(await count(db, 'facts'), STATESTREAM_HISTORY.length + 1);
    });

    it('a refusal is a MigrationError a writer treats like an outage (kind connection)', async () => {
      const { db } = await fresh();
      await db.query('CREATE TABLE messages (id INTEGER PRIMARY KEY, topic TEXT)');
      const err = (await runMigrations(db, [statestreamMigrations]).catch((e: unknown) => e)) as MigrationError;
      assert.ok(err instanceof MigrationError);
      assert.equal(err.kind, 'connection');
      assert.match(err.message, /the table messages exists but base_topics, entities, states and facts do not/);
    });
  },
  ['mysql', 'sqlite'],
);

eachDialect('statestream: migration 3', (fresh) => {
  it("turns our earlier releases' sensor.x labels into x (migration 3) without losing or duplicating a fact", async () => {
    const { db } = await fresh();
    const upTo2: MigrationSet = {
      name: statestreamMigrations.name,
      description: 'before migration 3',
      migrations: statestreamMigrations.migrations.slice(0, 2),
    };
    await runMigrations(db, [upTo2]);
    // One statement each, so the entities' ids follow the messages' order on every dialect
    // (PostgreSQL's batch trigger creates a statement's new labels in sorted order).
    for (const message of [
      ['homeassistant/sensor/x/state', '1'],
      ['homeassistant/binary_sensor/x/state', 'on'],
      ['home/ha/light/hall/state', 'off'],
    ] as Array<[string, string]>) {
      await write(db, [message]);
    }
    const before = await allRows(db, 'entities', 'id, label, domain, object_id');
    assert.deepEqual(
      before.map((e) => e.label),
      ['sensor.x', 'binary_sensor.x', 'light.hall'],
    );
    const facts = await allRows(db, 'facts', 'id, fact, state_id');
    const report = await runMigrations(db, [statestreamMigrations]);
    assert.deepEqual(report.applied, ['statestream/3-entity-labels-as-written']);
    assert.deepEqual(
      (await allRows(db, 'entities', 'id, label, domain, object_id')).map((e) => [e.id, e.label, e.domain]),
      [
        [before[0].id, 'x', 'sensor'],
        [before[1].id, 'x', 'binary_sensor'],
        [before[2].id, 'hall', 'light'],
      ],
    );
    assert.deepEqual(await allRows(db, 'facts', 'id, fact, state_id'), facts, 'facts untouched');
    await write(db, [
      ['homeassistant/sensor/x/state', '2'],
      ['home/ha/light/hall/state', 'on'],
    ]);
    const after = await db.query(
      'SELECT entities.id FROM facts JOIN states ON facts.state_id = states.id JOIN entities ON states.entity_id = entities.id ORDER BY facts.id',
    );
    assert.deepEqual(
      after.rows.map((r) => r.id),
      [before[0].id, before[1].id, before[2].id, before[0].id, before[2].id],
      'new facts join the same entities',
    );
  });

  it('gives messages written during migration 3 (an instance still on the previous release) one fact each, and no entity twice', async () => {
    const { db, open, dialect } = await fresh();
    const upTo2: MigrationSet = {
      name: statestreamMigrations.name,
      description: 'before migration 3',
      migrations: statestreamMigrations.migrations.slice(0, 2),
    };
    await runMigrations(db, [upTo2]);
    const topics = ['sensor/x', 'binary_sensor/x', 'light/hall', 'sensor/kitchen'].map((t) => `homeassistant/${t}/state`);
    await write(
      db,
      topics.map((t) => [t, '0']),
    );
    const writer = open();
    let running = true;
    let sent = 0;
    const inserting = (async () => {
      while (running) {
        // Known entities (relabelled under the writer's feet) and new ones.
        await write(writer, [
          [topics[sent % topics.length], String(sent)],
          [`homeassistant/sensor/new_${sent % 5}/state`, String(sent)],
        ]);
        sent++;
        if (dialect === 'sqlite') await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await runMigrations(db, [statestreamMigrations]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    running = false;
    await inserting;
    assert.ok(sent > 0);
    assert.equal(await count(db, 'facts'), await count(db, 'messages'), `one fact per message (${sent * 2} written during the switch)`);
    const entities = await allRows(db, 'entities', 'id, label, domain, object_id');
    assert.deepEqual(
      entities.filter((e) => e.label !== e.object_id),
      [],
      'every label as written',
    );
    const keys = entities.map((e) => `${String(e.domain)}.${String(e.label)}`);
    assert.equal(new Set(keys).size, keys.length, `no entity twice: ${keys.join(', ')}`);
    assert.equal(keys.length, topics.length + 5);
  });

  it('creates the same shape on an empty database, with nothing to take over', async () => {
    const { db } = await fresh();
    const report = await runMigrations(db, [statestreamMigrations]);
    assert.deepEqual(report.applied, [
      'statestream/1-create-tables',
      'statestream/2-create-normalise-trigger',
      'statestream/3-entity-labels-as-written',
    ]);
    for (const message of [
      ['homeassistant/sensor/x/state', '1'],
      ['homeassistant/binary_sensor/x/state', 'on'],
      ['homeassistant/sensor/x/state', '2'],
    ] as Array<[string, string]>) {
      await write(db, [message]);
    }
    const entities = await allRows(db, 'entities', 'id, label, domain, object_id');
    assert.deepEqual(
      entities.map((e) => [e.label, e.domain, e.object_id]),
      [
        ['x', 'sensor', 'x'],
        ['x', 'binary_sensor', 'x'],
      ],
    );
    assert.equal(await count(db, 'facts'), 3);
    assert.deepEqual(
      await dashboardEntities(db),
      [
        ['binary_sensor.x', 'binary_sensor', 'on'],
        ['sensor.x', 'sensor', '2'],
      ],
      "the dashboard page's entity table",
    );
    assert.deepEqual(await triggersOnMessages(db), ['statestream_normalise']);
  });
});
