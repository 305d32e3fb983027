/**
 * The "statestream" migration set on real databases: the statements applied as they are, realistic
 * statestream messages inserted the way the sink writes them (multi-row INSERTs), then every table
 * and the seed README's query checked. lib/db is written concurrently, so the drivers are used
 * directly here.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Connection } from 'mysql2/promise';
import type BetterSqlite3 from 'better-sqlite3';
import { SEED_README_QUERY, statestreamMigrations, MYSQL_COLLATION } from '../../../lib/statestream';
import { openDatabase, planInsert, runMigrations } from '../../../lib/db';
import type { Database, SqlValue } from '../../../lib/db/types';
import {
  createTestMysqlDatabase,
  createTestPostgresDatabase,
  requireService,
  MYSQL_HOST,
  MYSQL_PASSWORD,
  MYSQL_PORT,
  MYSQL_USER,
  type TestMysqlDatabase,
  type TestPostgresDatabase,
} from '../../support/services';
import { makeTempDir, removeTempDir } from '../../support/tmp';

interface Message {
  topic: string;
  payload: string;
  retained?: boolean;
  qos?: number;
}

/** What the scenario needs from either database. */
interface Sql {
  insertMessages(messages: Message[], receivedAt: Date): Promise<void>;
  all(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
}

const BIG = JSON.stringify({
  samples: Array.from({ length: 20_000 }, (_, i) => `s${i % 97}`)
    .join(',')
    .padEnd(200_000, '.'),
});

const HALL = 'home/statestream/climate/hall';
const INITIAL: Message[] = [
  { topic: 'homeassistant/sensor/x/state', payload: '21.5', retained: true },
  { topic: 'homeassistant/binary_sensor/x/state', payload: 'on', retained: true },
  { topic: `${HALL}/state`, payload: 'heat', retained: true },
  { topic: `${HALL}/last_updated`, payload: '2017-10-01T23:20:30.920969+00:00', retained: true },
  { topic: `${HALL}/last_changed`, payload: '2017-10-01T23:20:30.920969+00:00', retained: true },
  { topic: `${HALL}/friendly_name`, payload: '"Flur 😀 Küche"', retained: true },
  { topic: `${HALL}/hvac_modes`, payload: '["off", "heat"]', retained: true },
  { topic: `${HALL}/current_temperature`, payload: '21.5', retained: true },
  { topic: `${HALL}/preset`, payload: '{"away": {"t": 16}, "eco": null}', retained: true },
  { topic: `${HALL}/state`, payload: '"attribute named state"', retained: true },
  { topic: 'homeassistant/sensor/blob/data', payload: BIG, retained: false },
  // Not statestream-shaped: kept in messages, not normalised, and the batch must not fail.
  { topic: 'a/b', payload: 'x' },
  { topic: 'homeassistant//x/state', payload: 'x' },
  { topic: `homeassistant/sensor/x/${'k'.repeat(300)}`, payload: '1' },
];

async function scenario(sql: Sql): Promise<void> {
  const receivedAt = new Date(Date.UTC(2024, 5, 1, 12, 0, 0, 123));
  await sql.insertMessages(INITIAL, receivedAt);

  const messages = await sql.all('SELECT COUNT(*) AS n FROM messages');
  assert.equal(Number(messages[0].n), INITIAL.length, 'every message is stored');

  const bases = await sql.all('SELECT label FROM base_topics ORDER BY label');
  assert.deepEqual(
    bases.map((r) => r.label),
    ['home/statestream', 'homeassistant'],
  );

  const entities = await sql.all(
    'SELECT e.label, e.domain, e.object_id, b.label AS base FROM entities e JOIN base_topics b ON b.id = e.base_topic_id ORDER BY e.label, e.domain',
  );
  assert.deepEqual(
    entities.map((r) => [r.label, r.domain, r.object_id, r.base]),
    [
      ['blob', 'sensor', 'blob', 'homeassistant'],
      ['hall', 'climate', 'hall', 'home/statestream'],
      ['x', 'binary_sensor', 'x', 'homeassistant'],
      ['x', 'sensor', 'x', 'homeassistant'],
    ],
    'labels as the original wrote them, the domain beside them: sensor.x and binary_sensor.x stay two entities; the multi-level base is split from the end',
  );

  const seed = await sql.all(`${SEED_README_QUERY} ORDER BY facts.id`);
  assert.deepEqual(
    seed.map((r) => [r.main_topic, r.entity, r.state, r.fact === BIG ? '<200 KB>' : r.fact]),
    [
      ['homeassistant', 'x', 'state', '21.5'],
      ['homeassistant', 'x', 'state', 'on'],
      ['home/statestream', 'hall', 'state', 'heat'],
      ['home/statestream', 'hall', 'last_updated', '2017-10-01T23:20:30.920969+00:00'],
      ['home/statestream', 'hall', 'last_changed', '2017-10-01T23:20:30.920969+00:00'],
      ['home/statestream', 'hall', 'friendly_name', '"Flur 😀 Küche"'],
      ['home/statestream', 'hall', 'hvac_modes', '["off", "heat"]'],
      ['home/statestream', 'hall', 'current_temperature', '21.5'],
      ['home/statestream', 'hall', 'preset', '{"away": {"t": 16}, "eco": null}'],
      ['home/statestream', 'hall', 'state', '"attribute named state"'],
      ['homeassistant', 'blob', 'data', '<200 KB>'],
    ],
  );
  const x = await sql.all(
    "SELECT DISTINCT entities.id, entities.domain FROM facts JOIN states ON facts.state_id = states.id JOIN entities ON states.entity_id = entities.id WHERE entities.label = 'x' ORDER BY entities.domain",
  );
  assert.deepEqual(
    x.map((r) => r.domain),
    ['binary_sensor', 'sensor'],
    'the two x are two entities, told apart by their domain',
  );
  for (const row of seed) {
    assert.equal(typeof row.id, 'number');
    assert.ok(row.state_id != null && row.entity_id != null && row.main_topic_id != null);
  }
  const blob = seed.find((r) => r.entity === 'blob');
  assert.equal(String(blob?.fact).length, BIG.length, 'a payload well beyond 64 KiB is stored whole');

  const facts = await sql.all('SELECT retained, received_at, message_id FROM facts ORDER BY id');
  assert.deepEqual(
    facts.map((r) => Number(r.retained)),
    [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0],
  );
  for (const fact of facts) {
    assert.equal(
      new Date(fact.received_at as string | Date).getTime(),
      receivedAt.getTime(),
      'received_at is the time given by the writer',
    );
    assert.ok(fact.message_id != null);
  }

  // Retained replay (a resubscribe): the same values add no facts; a changed value does.
  const before = Number((await sql.all('SELECT COUNT(*) AS n FROM facts'))[0].n);
  await sql.insertMessages(
    [
      { topic: 'homeassistant/sensor/x/state', payload: '21.5', retained: true },
      { topic: 'homeassistant/binary_sensor/x/state', payload: 'on', retained: true },
      { topic: `${HALL}/friendly_name`, payload: '"Flur 😀 Küche"', retained: true },
      { topic: 'homeassistant/sensor/blob/data', payload: BIG, retained: true },
    ],
    receivedAt,
  );
  assert.equal(Number((await sql.all('SELECT COUNT(*) AS n FROM facts'))[0].n), before, 'a retained replay adds no facts');

  await sql.insertMessages(
    [
      { topic: 'homeassistant/sensor/x/state', payload: '21.5', retained: false },
      { topic: 'homeassistant/binary_sensor/x/state', payload: 'off', retained: true },
      // A new topic twice within one multi-row statement: the second row finds what the first created.
      { topic: 'homeassistant/sensor/new_one/state', payload: '1', retained: false },
      { topic: 'homeassistant/sensor/new_one/state', payload: '1', retained: true },
    ],
    receivedAt,
  );
  const latest = await sql.all(
    `SELECT q.entity, e.domain, q.fact FROM (${SEED_README_QUERY} WHERE facts.id > ?) q JOIN entities e ON e.id = q.entity_id ORDER BY q.id`,
    [before],
  );
  assert.deepEqual(
    latest.map((r) => [`${r.domain}.${r.entity}`, r.fact]),
    [
      ['sensor.x', '21.5'],
      ['binary_sensor.x', 'off'],
      ['sensor.new_one', '1'],
    ],
    'a live message with the same value adds a fact; a changed retained value adds one; a retained repeat of the last value does not',
  );
  const states = await sql.all('SELECT COUNT(*) AS n FROM states');
  assert.equal(Number(states[0].n), 11);
}

describe('statestream schema on MariaDB', function () {
  let db: TestMysqlDatabase | undefined;
  let conn: Connection | undefined;

  before(async function () {
    await requireService(this, 'mysql');
    db = await createTestMysqlDatabase('iotp_ss');
    const mysql = await import('mysql2/promise');
    conn = await mysql.createConnection({
      host: MYSQL_HOST,
      port: MYSQL_PORT,
      user: MYSQL_USER,
      password: MYSQL_PASSWORD,
      database: db.config.database,
      charset: 'utf8mb4',
    });
    for (const migration of statestreamMigrations.migrations) {
      for (const statement of migration.mysql) await conn.query(statement);
    }
  });

  after(async () => {
    await conn?.end();
    await db?.drop();
  });

  it('normalises realistic statestream messages and keeps the seed query right', async () => {
    const c = conn as Connection;
    await scenario({
      async insertMessages(messages, receivedAt) {
        await c.beginTransaction();
        await c.query('INSERT INTO messages (topic, qos, payload, retained, received_at) VALUES ?', [
          messages.map((m) => [m.topic, m.qos ?? 1, m.payload, m.retained ? 1 : 0, receivedAt]),
        ]);
        await c.commit();
      },
      async all(sql, params) {
        const [rows] = await c.query(sql, params);
        return rows as Record<string, unknown>[];
      },
    });
  });

  it('lets two writers create the same new topics at once without duplicates (a deadlock InnoDB picks is retried, as the writer retries it)', async () => {
    const mysql = await import('mysql2/promise');
    const options = {
      host: MYSQL_HOST,
      port: MYSQL_PORT,
      user: MYSQL_USER,
      password: MYSQL_PASSWORD,
      database: db?.config.database,
      charset: 'utf8mb4',
    };
    const writers = await Promise.all([mysql.createConnection(options), mysql.createConnection(options)]);
    try {
      const rows = ['state', 'friendly_name', 'unit_of_measurement'].map((key) => ['racing/sensor/fresh/' + key, 1, '"v"', 0]);
      // Two transactions inserting the same new unique keys may deadlock in InnoDB (each holds a
      // shared lock the other's insert waits for); MariaDB rolls one back, and the writer retries
      // it (ER_LOCK_DEADLOCK is transient in lib/db/errors.ts). Any other error fails the test.
      await Promise.all(
        writers.map(async (w) => {
          for (let attempt = 1; ; attempt++) {
            try {
              await w.beginTransaction();
              await w.query('INSERT INTO messages (topic, qos, payload, retained) VALUES ?', [rows]);
              await w.commit();
              return;
            } catch (err) {
              await w.rollback().catch(() => undefined);
              if ((err as { code?: string }).code !== 'ER_LOCK_DEADLOCK' || attempt >= 5) throw err;
            }
          }
        }),
      );
    } finally {
      await Promise.all(writers.map((w) => w.end()));
    }
    const c = conn as Connection;
    const [counts] = await c.query(
      `SELECT (SELECT COUNT(*) FROM base_topics WHERE label = 'racing') AS bases,
              (SELECT COUNT(*) FROM entities WHERE domain = 'sensor' AND label = 'fresh') AS entities,
              (SELECT COUNT(*) FROM states s JOIN entities e ON e.id = s.entity_id WHERE e.domain = 'sensor' AND e.label = 'fresh') AS states,
              (SELECT COUNT(*) FROM facts f JOIN states s ON s.id = f.state_id JOIN entities e ON e.id = s.entity_id WHERE e.domain = 'sensor' AND e.label = 'fresh') AS facts`,
    );
    assert.deepEqual(
      (counts as Array<Record<string, unknown>>).map((r) => Object.values(r).map(Number)),
      [[1, 1, 3, 6]],
    );
  });

  it('uses one character set and collation for every table and text column', async () => {
    const c = conn as Connection;
    const [tables] = await c.query('SELECT TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()');
    const tableRows = tables as Array<{ TABLE_NAME: string; TABLE_COLLATION: string }>;
    assert.deepEqual(tableRows.map((t) => t.TABLE_NAME).sort(), ['base_topics', 'entities', 'facts', 'messages', 'states']);
    for (const t of tableRows) assert.equal(t.TABLE_COLLATION, MYSQL_COLLATION, t.TABLE_NAME);
    const [columns] = await c.query(
      'SELECT TABLE_NAME, COLUMN_NAME, CHARACTER_SET_NAME, COLLATION_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND CHARACTER_SET_NAME IS NOT NULL',
    );
    for (const col of columns as Array<Record<string, string>>) {
      assert.equal(col.CHARACTER_SET_NAME, 'utf8mb4', `${col.TABLE_NAME}.${col.COLUMN_NAME}`);
      assert.equal(col.COLLATION_NAME, MYSQL_COLLATION, `${col.TABLE_NAME}.${col.COLUMN_NAME}`);
    }
  });

  it('resolves a known topic through the unique indexes (no scan), as the trigger does', async () => {
    const c = conn as Connection;
    const [plan] = await c.query(
      `EXPLAIN SELECT s.id FROM base_topics b JOIN entities e ON e.base_topic_id = b.id AND e.domain = ? AND e.label = ?
       JOIN states s ON s.entity_id = e.id AND s.label = ? WHERE b.label = ?`,
      ['sensor', 'x', 'state', 'homeassistant'],
    );
    for (const step of plan as Array<Record<string, unknown>>) {
      assert.ok(['const', 'eq_ref', 'ref'].includes(String(step.type)), `${step.table}: ${step.type} via ${step.key}`);
    }
  });
});

describe('statestream schema on SQLite', function () {
  let dir: string | undefined;
  let sqlite: BetterSqlite3.Database | undefined;

  before(async function () {
    let Database: typeof BetterSqlite3;
    try {
      ({ default: Database } = await import('better-sqlite3'));
    } catch (err) {
      console.log(`      [skip] better-sqlite3 is not installed (${(err as Error).message})`);
      this.skip();
    }
    dir = makeTempDir('iotp-ss-');
    sqlite = new Database(join(dir, 'statestream.db'));
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('foreign_keys = ON');
    for (const migration of statestreamMigrations.migrations) {
      for (const statement of migration.sqlite) sqlite.exec(statement);
    }
  });

  after(() => {
    sqlite?.close();
    if (dir) removeTempDir(dir);
  });

  it('normalises realistic statestream messages and keeps the seed query right', async () => {
    const s = sqlite as BetterSqlite3.Database;
    await scenario({
      async insertMessages(messages, receivedAt) {
        const placeholders = messages.map(() => '(?, ?, ?, ?, ?)').join(', ');
        const params = messages.flatMap((m) => [m.topic, m.qos ?? 1, m.payload, m.retained ? 1 : 0, receivedAt.toISOString()]);
        s.transaction(() =>
          s.prepare(`INSERT INTO messages (topic, qos, payload, retained, received_at) VALUES ${placeholders}`).run(params),
        )();
      },
      async all(sql, params) {
        return s.prepare(sql).all(...(params ?? [])) as Record<string, unknown>[];
      },
    });
  });

  it('splits topics from the end in the generated columns', () => {
    const s = sqlite as BetterSqlite3.Database;
    const row = s
      .prepare('SELECT topic_base, topic_domain, topic_object_id, topic_key FROM messages WHERE topic = ?')
      .get(`${HALL}/friendly_name`);
    assert.deepEqual(row, { topic_base: 'home/statestream', topic_domain: 'climate', topic_object_id: 'hall', topic_key: 'friendly_name' });
  });
});

// The statement trigger (the default) and the row trigger TimescaleDB hypertables get instead.
for (const variant of ['statement trigger', 'row trigger'] as const) {
  describe(`statestream schema on PostgreSQL (${variant})`, function () {
    let pg: TestPostgresDatabase | undefined;
    let db: Database | undefined;
    const others: Database[] = [];
    const columns = ['topic', 'qos', 'payload', 'retained', 'received_at'];

    before(async function () {
      await requireService(this, 'postgres');
      pg = await createTestPostgresDatabase('iotp_ss');
      db = openDatabase(pg.config);
      await runMigrations(db, [statestreamMigrations]);
      if (variant === 'row trigger') {
        const { HYPERTABLES } = await import('../../../lib/db/timescale');
        for (const statement of HYPERTABLES.statestream[0].prepare ?? []) await db.query(statement);
      }
    });

    after(async () => {
      await Promise.all([db, ...others].map((d) => d?.close()));
      await pg?.drop();
    });

    /** Rows as the sink writes them: one COPY batch through lib/db's insert plan, in one transaction. */
    async function insertBatch(target: Database, messages: Message[], receivedAt?: Date): Promise<void> {
      const plan = planInsert('postgres', { table: 'messages', columns });
      await target.atomic(
        plan.statements(messages.map((m) => [m.topic, m.qos ?? 1, m.payload, m.retained ? 1 : 0, receivedAt ?? new Date()])),
      );
    }

    it('normalises realistic statestream messages and keeps the seed query right', async () => {
      const d = db as Database;
      await scenario({
        insertMessages: (messages, receivedAt) => insertBatch(d, messages, receivedAt),
        async all(sql, params) {
          return (await d.query(sql, params as SqlValue[] | undefined)).rows;
        },
      });
    });

    it('lets many writers create the same new topics at once: one row per level, one fact per message, no error', async () => {
      const writers = Array.from({ length: 6 }, () => openDatabase({ ...(pg as TestPostgresDatabase).config, poolSize: 1 }));
      others.push(...writers);
      for (let round = 0; round < 5; round++) {
        const base = `racing${round}/deep`;
        const rows: Message[] = ['state', 'friendly_name', 'unit_of_measurement'].flatMap((key) => [
          { topic: `${base}/sensor/fresh/${key}`, payload: '"v"' },
          { topic: `${base}/binary_sensor/fresh/${key}`, payload: '"w"' },
        ]);
        // Each writer sends the batch in its own order, so their transactions meet the new labels in different orders.
        await Promise.all(writers.map((w, i) => insertBatch(w, i % 2 === 0 ? rows : [...rows].reverse())));
        const {
          rows: [counts],
        } = await (db as Database).query(
          `SELECT (SELECT COUNT(*) FROM base_topics WHERE label = ?) AS bases,
                (SELECT COUNT(*) FROM entities e JOIN base_topics b ON b.id = e.base_topic_id WHERE b.label = ?) AS entities,
                (SELECT COUNT(*) FROM states s JOIN entities e ON e.id = s.entity_id JOIN base_topics b ON b.id = e.base_topic_id WHERE b.label = ?) AS states,
                (SELECT COUNT(*) FROM facts f JOIN states s ON s.id = f.state_id JOIN entities e ON e.id = s.entity_id JOIN base_topics b ON b.id = e.base_topic_id WHERE b.label = ?) AS facts`,
          [base, base, base, base],
        );
        assert.deepEqual(counts, { bases: 1, entities: 2, states: 6, facts: 6 * writers.length }, `round ${round}`);
      }
    });

    it('adds one fact for the same retained replay arriving from several instances at once', async () => {
      const writers = Array.from({ length: 4 }, () => openDatabase({ ...(pg as TestPostgresDatabase).config, poolSize: 1 }));
      others.push(...writers);
      const topic = 'replay/sensor/shared/state';
      await insertBatch(db as Database, [{ topic, payload: 'first' }]);
      for (const payload of ['second', 'third']) {
        await Promise.all(writers.map((w) => insertBatch(w, [{ topic, payload, retained: true }])));
      }
      const { rows } = await (db as Database).query(`${SEED_README_QUERY} WHERE base_topics.label = ? ORDER BY facts.id`, ['replay']);
      assert.deepEqual(
        rows.map((r) => r.fact),
        ['first', 'second', 'third'],
      );
      assert.equal(
        Number((await (db as Database).query('SELECT COUNT(*) AS n FROM messages WHERE topic = ?', [topic])).rows[0].n),
        1 + 2 * writers.length,
      );
    });

    it('resolves a known topic through indexes (no scan), labels in their own collation, as the trigger does', async () => {
      // Sequential scans off: on tables this small the planner would scan anyway; what matters is
      // that the trigger's lookup (labels in their own collation) can use each unique key.
      const plan = await (db as Database).withLock('iotp_test_explain', 10_000, async (ex) => {
        await ex.query('SET enable_seqscan = off');
        try {
          const { rows } = await ex.query(
            `EXPLAIN (FORMAT JSON) SELECT s.id FROM base_topics b
             JOIN entities e ON e.base_topic_id = b.id AND e.domain = 'sensor' COLLATE "C" AND e.label = 'x' COLLATE "C"
             JOIN states s ON s.entity_id = e.id AND s.label = 'state' COLLATE "C"
           WHERE b.label = 'homeassistant' COLLATE "C"`,
          );
          return JSON.stringify(rows[0]);
        } finally {
          await ex.query('RESET enable_seqscan');
        }
      });
      // A label compared in another collation could not use the indexes: only a scan would be left.
      assert.doesNotMatch(plan, /Seq Scan/);
      const scanned = [...plan.matchAll(/"Relation Name":"(\w+)"/g)].map((m) => m[1]).sort();
      assert.deepEqual(scanned, ['base_topics', 'entities', 'states']);
      for (const index of ['uq_base_topics_label', 'uq_states_entity_label']) assert.match(plan, new RegExp(index));
    });

    it('keeps last_updated current on update, like MySQL ON UPDATE', async () => {
      const d = db as Database;
      const [{ id, last_updated: before }] = (await d.query('SELECT id, last_updated FROM states ORDER BY id LIMIT 1')).rows;
      await new Promise((resolve) => setTimeout(resolve, 20));
      await d.query('UPDATE states SET label = label WHERE id = ?', [id as number]);
      const [{ last_updated: after }] = (await d.query('SELECT last_updated FROM states WHERE id = ?', [id as number])).rows;
      assert.ok((after as Date).getTime() > (before as Date).getTime());
    });
  });
}
