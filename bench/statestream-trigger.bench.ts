/**
 * Rows/s into `messages` with the normalising AFTER INSERT trigger, written as the sink writes:
 * 500-row multi-row INSERT statements, one transaction each. Our trigger (lookup first, insert only
 * what is missing, retained-replay dedupe) next to the original pipeline's trigger (upserts into
 * base_topics, entities and states for every row, then a fact), reproduced from its migrate.py,
 * measured in the same run on MariaDB and on SQLite; and ours on PostgreSQL (PL/pgSQL), written as
 * the writer writes there: one 500-row COPY per transaction. Target: PostgreSQL at least as fast
 * as ours on MariaDB.
 *
 * Data: ~500 entities × 10 keys (state, two timestamps, seven attributes) across several domains,
 * live messages (retain=0) in Home Assistant's burst order; a warm-up pass creates every label,
 * then the measured pass only looks them up (the steady state of a running installation).
 */
import { performance } from 'node:perf_hooks';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { statestreamMigrations } from '../lib/statestream/schema';
import { makeTempDir, removeTempDir } from '../test/support/tmp';
import {
  MYSQL_HOST,
  MYSQL_PASSWORD,
  MYSQL_PORT,
  MYSQL_USER,
  POSTGRES_HOST,
  POSTGRES_PORT,
  createTestPostgresDatabase,
  portOpen,
} from '../test/support/services';
import { openDatabase, planInsert, runMigrations } from '../lib/db';
import { ENTITIES, makeRows, type Row } from './support/statestream-rows';

const ROWS_PER_STATEMENT = 500;
const MEASURED_ROWS = Number(process.env.BENCH_ROWS ?? 30_000);

// The original schema and trigger (Ohmtimize/pipeline migrations/migrate.py), as they were.
const ORIGINAL_MYSQL = [
  `CREATE TABLE messages (id int(11) NOT NULL AUTO_INCREMENT, topic varchar(255) NOT NULL, qos int(11) NOT NULL, payload TEXT NOT NULL,
    inserted timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP, last_updated timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    PRIMARY KEY (id)) ENGINE=InnoDB DEFAULT CHARSET=utf8`,
  `CREATE TABLE base_topics (id int(11) NOT NULL AUTO_INCREMENT, label varchar(255) NOT NULL,
    inserted timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP, last_updated timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    PRIMARY KEY (id), UNIQUE KEY (label)) ENGINE=InnoDB DEFAULT CHARSET=utf8`,
  `CREATE TABLE entities (id int(11) NOT NULL AUTO_INCREMENT, label varchar(255) NOT NULL, base_topic_id int(11) NOT NULL,
    inserted timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP, last_updated timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    PRIMARY KEY (id), UNIQUE KEY (base_topic_id, label), FOREIGN KEY (base_topic_id) REFERENCES base_topics(id)) ENGINE=InnoDB DEFAULT CHARSET=utf8`,
  `CREATE TABLE states (id int(11) NOT NULL AUTO_INCREMENT, entity_id int(11) NOT NULL, label varchar(255) NOT NULL,
    inserted timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP, last_updated timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    PRIMARY KEY (id), UNIQUE KEY (entity_id, label), FOREIGN KEY (entity_id) REFERENCES entities(id)) ENGINE=InnoDB DEFAULT CHARSET=utf8`,
  `CREATE TABLE facts (id int(11) NOT NULL AUTO_INCREMENT, state_id int(11) NOT NULL, fact TEXT NOT NULL,
    inserted timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP, last_updated timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    PRIMARY KEY (id), FOREIGN KEY (state_id) REFERENCES states(id)) ENGINE=InnoDB DEFAULT CHARSET=utf8`,
  `CREATE TRIGGER formating AFTER INSERT ON messages FOR EACH ROW BEGIN
    INSERT INTO base_topics (label) SELECT substring_index(substring_index(NEW.topic, '/', 1), '/', -1) as label ON DUPLICATE KEY UPDATE last_updated=NOW();
    INSERT INTO entities (label, base_topic_id) SELECT substring_index(substring_index(NEW.topic, '/', 3), '/', -1) AS label, base_topics.id AS base_topic_id FROM base_topics
      WHERE base_topics.label=substring_index(substring_index(NEW.topic, '/', 1), '/', -1) ON DUPLICATE KEY UPDATE last_updated=NOW();
    INSERT INTO states (label, entity_id) SELECT substring_index(substring_index(NEW.topic, '/', 4), '/', -1) AS label, entities.id AS entity_id FROM entities
      WHERE entities.label=substring_index(substring_index(NEW.topic, '/', 3), '/', -1)
      AND entities.base_topic_id=(SELECT base_topics.id FROM base_topics WHERE base_topics.label=substring_index(substring_index(NEW.topic, '/', 1), '/', -1))
      ON DUPLICATE KEY UPDATE last_updated=NOW();
    INSERT INTO facts (fact, state_id) SELECT NEW.payload AS fact, states.id AS state_id FROM states
      WHERE states.label=substring_index(substring_index(NEW.topic, '/', 4), '/', -1)
      AND states.entity_id=(SELECT entities.id FROM entities WHERE entities.label=substring_index(substring_index(NEW.topic, '/', 3), '/', -1)
        AND entities.base_topic_id=(SELECT base_topics.id FROM base_topics WHERE base_topics.label=substring_index(substring_index(NEW.topic, '/', 1), '/', -1)));
  END`,
];

// The original never ran on SQLite; this is its trigger translated literally (same upserts per row).
const ORIGINAL_SQLITE = [
  `CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, qos INTEGER NOT NULL, payload TEXT NOT NULL,
    inserted TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, last_updated TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)`,
  `CREATE TABLE base_topics (id INTEGER PRIMARY KEY AUTOINCREMENT, label TEXT NOT NULL UNIQUE,
    inserted TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, last_updated TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)`,
  `CREATE TABLE entities (id INTEGER PRIMARY KEY AUTOINCREMENT, label TEXT NOT NULL, base_topic_id INTEGER NOT NULL REFERENCES base_topics(id),
    inserted TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, last_updated TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, UNIQUE (base_topic_id, label))`,
  `CREATE TABLE states (id INTEGER PRIMARY KEY AUTOINCREMENT, entity_id INTEGER NOT NULL REFERENCES entities(id), label TEXT NOT NULL,
    inserted TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, last_updated TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, UNIQUE (entity_id, label))`,
  `CREATE TABLE facts (id INTEGER PRIMARY KEY AUTOINCREMENT, state_id INTEGER NOT NULL REFERENCES states(id), fact TEXT NOT NULL,
    inserted TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, last_updated TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)`,
  `CREATE TRIGGER formating AFTER INSERT ON messages BEGIN
    INSERT INTO base_topics (label) VALUES (substr(NEW.topic, 1, instr(NEW.topic, '/') - 1))
      ON CONFLICT (label) DO UPDATE SET last_updated = CURRENT_TIMESTAMP;
    INSERT INTO entities (label, base_topic_id)
      SELECT NEW.object_level, b.id FROM base_topics b WHERE b.label = substr(NEW.topic, 1, instr(NEW.topic, '/') - 1)
      ON CONFLICT (base_topic_id, label) DO UPDATE SET last_updated = CURRENT_TIMESTAMP;
    INSERT INTO states (label, entity_id)
      SELECT NEW.key_level, e.id FROM entities e JOIN base_topics b ON e.base_topic_id = b.id
      WHERE e.label = NEW.object_level AND b.label = substr(NEW.topic, 1, instr(NEW.topic, '/') - 1)
      ON CONFLICT (entity_id, label) DO UPDATE SET last_updated = CURRENT_TIMESTAMP;
    INSERT INTO facts (fact, state_id)
      SELECT NEW.payload, s.id FROM states s JOIN entities e ON s.entity_id = e.id JOIN base_topics b ON e.base_topic_id = b.id
      WHERE s.label = NEW.key_level AND e.label = NEW.object_level AND b.label = substr(NEW.topic, 1, instr(NEW.topic, '/') - 1);
  END`,
];

interface Target {
  name: string;
  insert(rows: Row[]): Promise<void>;
  count(): Promise<{ facts: number; states: number }>;
  /** MySQL only: the session's storage-engine operation counters (deterministic, unlike timings on a busy host). */
  handlerCounters?(): Promise<Record<string, number>>;
  close(): Promise<void>;
}

async function mysqlTarget(name: string, statements: string[], ours: boolean): Promise<Target> {
  const mysql = await import('mysql2/promise');
  const database = `iotp_bench_${process.pid}_${randomBytes(3).toString('hex')}`;
  const conn = await mysql.createConnection({
    host: MYSQL_HOST,
    port: MYSQL_PORT,
    user: MYSQL_USER,
    password: MYSQL_PASSWORD,
    charset: 'utf8mb4',
  });
  await conn.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await conn.query(`USE \`${database}\``);
  for (const sql of statements) await conn.query(sql);
  return {
    name,
    async insert(rows) {
      const now = new Date();
      await conn.query('START TRANSACTION');
      if (ours) {
        await conn.query('INSERT INTO messages (topic, qos, payload, retained, received_at) VALUES ?', [
          rows.map((r) => [r.topic, 1, r.payload, 0, now]),
        ]);
      } else {
        await conn.query('INSERT INTO messages (topic, qos, payload) VALUES ?', [rows.map((r) => [r.topic, 1, r.payload])]);
      }
      await conn.query('COMMIT');
    },
    async count() {
      const [rows] = (await conn.query(
        'SELECT (SELECT COUNT(*) FROM facts) AS facts, (SELECT COUNT(*) FROM states) AS states',
      )) as unknown as [Array<{ facts: number; states: number }>];
      return { facts: Number(rows[0].facts), states: Number(rows[0].states) };
    },
    async handlerCounters() {
      const [rows] = (await conn.query("SHOW SESSION STATUS LIKE 'Handler_%'")) as unknown as [
        Array<{ Variable_name: string; Value: string }>,
      ];
      return Object.fromEntries(rows.map((r) => [r.Variable_name, Number(r.Value)]));
    },
    async close() {
      await conn.query(`DROP DATABASE \`${database}\``);
      await conn.end();
    },
  };
}

async function sqliteTarget(name: string, dir: string, statements: string[], ours: boolean): Promise<Target> {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(join(dir, `${name.replace(/\W+/g, '_')}.db`));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  for (const sql of statements) db.exec(sql);
  const columns = ours ? '(topic, qos, payload, retained, received_at)' : '(topic, qos, payload)';
  const placeholders = ours ? '(?, ?, ?, ?, ?)' : '(?, ?, ?)';
  const statement = db.prepare(`INSERT INTO messages ${columns} VALUES ${Array(ROWS_PER_STATEMENT).fill(placeholders).join(', ')}`);
  return {
    name,
    async insert(rows) {
      const now = new Date().toISOString();
      const params = ours ? rows.flatMap((r) => [r.topic, 1, r.payload, 0, now]) : rows.flatMap((r) => [r.topic, 1, r.payload]);
      db.transaction(() => statement.run(params))();
    },
    async count() {
      return db.prepare('SELECT (SELECT COUNT(*) FROM facts) AS facts, (SELECT COUNT(*) FROM states) AS states').get() as {
        facts: number;
        states: number;
      };
    },
    async close() {
      db.close();
    },
  };
}

/** Ours on PostgreSQL through lib/db, rows sent as the writer sends them (COPY, one transaction per batch). */
async function postgresTarget(name: string): Promise<Target> {
  const test = await createTestPostgresDatabase('iotp_bench_ss');
  const db = openDatabase({ ...test.config, poolSize: 1 });
  await runMigrations(db, [statestreamMigrations]);
  const plan = planInsert('postgres', { table: 'messages', columns: ['topic', 'qos', 'payload', 'retained', 'received_at'] });
  return {
    name,
    async insert(rows) {
      const now = new Date();
      await db.atomic(plan.statements(rows.map((r) => [r.topic, 1, r.payload, 0, now])));
    },
    async count() {
      const { rows } = await db.query('SELECT (SELECT COUNT(*) FROM facts) AS facts, (SELECT COUNT(*) FROM states) AS states');
      return { facts: Number(rows[0].facts), states: Number(rows[0].states) };
    },
    async close() {
      await db.close();
      await test.drop();
    },
  };
}

interface Measured {
  rowsPerSecond: number;
  facts: number;
  states: number;
  /** Index lookups / row writes / row updates per source row, when the database reports them. */
  perRow?: { lookups: number; writes: number; updates: number };
}

async function measure(target: Target, base: string): Promise<Measured> {
  const warmup = makeRows(ENTITIES * 10, base, 0);
  for (let i = 0; i < warmup.length; i += ROWS_PER_STATEMENT) await target.insert(warmup.slice(i, i + ROWS_PER_STATEMENT));
  const rows = makeRows(MEASURED_ROWS, base, ENTITIES);
  const batches: Row[][] = [];
  for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) batches.push(rows.slice(i, i + ROWS_PER_STATEMENT));
  const before = await target.handlerCounters?.();
  const started = performance.now();
  for (const batch of batches) await target.insert(batch);
  const seconds = (performance.now() - started) / 1000;
  const after = await target.handlerCounters?.();
  const counts = await target.count();
  let perRow: Measured['perRow'];
  if (before && after) {
    const delta = (name: string): number => ((after[name] ?? 0) - (before[name] ?? 0)) / rows.length;
    perRow = {
      lookups: delta('Handler_read_key') + delta('Handler_read_next') + delta('Handler_read_prev') + delta('Handler_read_last'),
      writes: delta('Handler_write'),
      updates: delta('Handler_update'),
    };
  }
  return { rowsPerSecond: rows.length / seconds, ...counts, perRow };
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

async function main(): Promise<void> {
  const results: Array<Measured & { db: string; trigger: string }> = [];
  // The original only understands a one-level base (its level 1); the same base keeps the comparison fair.
  const base = 'homeassistant';
  const only = process.env.BENCH_ONLY; // 'mariadb', 'postgres' or 'sqlite' while iterating
  if ((!only || only === 'mariadb') && (await portOpen(MYSQL_HOST, MYSQL_PORT))) {
    for (const [trigger, statements, ours] of [
      ['original (3 upserts/row)', ORIGINAL_MYSQL, false],
      ['statestream (lookup-first)', statestreamMigrations.migrations.flatMap((m) => m.mysql), true],
    ] as Array<[string, string[], boolean]>) {
      const target = await mysqlTarget(trigger, statements, ours);
      try {
        results.push({ db: 'MariaDB', trigger, ...(await measure(target, base)) });
      } finally {
        await target.close();
      }
    }
  } else {
    console.log(`MariaDB not reachable at ${MYSQL_HOST}:${MYSQL_PORT}: skipped`);
  }
  if ((!only || only === 'postgres') && (await portOpen(POSTGRES_HOST, POSTGRES_PORT))) {
    const target = await postgresTarget('statestream (PL/pgSQL)');
    try {
      results.push({ db: 'PostgreSQL', trigger: 'statestream (PL/pgSQL)', ...(await measure(target, base)) });
    } finally {
      await target.close();
    }
  } else if (!only || only === 'postgres') {
    console.log(`PostgreSQL not reachable at ${POSTGRES_HOST}:${POSTGRES_PORT}: skipped`);
  }
  if (!only || only === 'sqlite') {
    const dir = makeTempDir('iotp-bench-ss-');
    try {
      // SQLite has no SUBSTRING_INDEX: level 3 (object id) and level 4 (key) cut with substr/instr.
      const originalSqlite = ORIGINAL_SQLITE.map((sql) =>
        sql
          .replace(
            /NEW\.object_level/g,
            `substr(substr(NEW.topic, instr(NEW.topic, '/') + 1), instr(substr(NEW.topic, instr(NEW.topic, '/') + 1), '/') + 1, instr(substr(substr(NEW.topic, instr(NEW.topic, '/') + 1), instr(substr(NEW.topic, instr(NEW.topic, '/') + 1), '/') + 1), '/') - 1)`,
          )
          .replace(/NEW\.key_level/g, `substr(NEW.topic, length(rtrim(NEW.topic, replace(NEW.topic, '/', ''))) + 1)`),
      );
      for (const [trigger, statements, ours] of [
        ['original (3 upserts/row)', originalSqlite, false],
        ['statestream (lookup-first)', statestreamMigrations.migrations.flatMap((m) => m.sqlite), true],
      ] as Array<[string, string[], boolean]>) {
        const target = await sqliteTarget(trigger, dir, statements, ours);
        try {
          results.push({ db: 'SQLite', trigger, ...(await measure(target, base)) });
        } finally {
          await target.close();
        }
      }
    } finally {
      removeTempDir(dir);
    }
  }
  console.log(
    `\n${fmt(MEASURED_ROWS)} rows after a ${fmt(ENTITIES * 10)}-row warm-up; ${ROWS_PER_STATEMENT}-row INSERT per transaction; ${ENTITIES} entities × 10 keys`,
  );
  console.log(
    `load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} on ${cpus().length} CPUs (timings are only comparable within one run)`,
  );
  console.log(
    `${'database'.padEnd(10)} ${'trigger'.padEnd(28)} ${'rows/s'.padStart(9)} ${'facts'.padStart(8)} ${'states'.padStart(7)}   per row: ${'lookups'.padStart(7)} ${'writes'.padStart(6)} ${'updates'.padStart(7)}`,
  );
  const oursOn = (db: string): number | undefined =>
    results.find((r) => r.db === db && r.trigger !== 'original (3 upserts/row)')?.rowsPerSecond;
  const [pgRate, mariaRate] = [oursOn('PostgreSQL'), oursOn('MariaDB')];
  if (pgRate && mariaRate)
    console.log(
      `PostgreSQL trigger / MariaDB trigger: ${(pgRate / mariaRate).toFixed(2)}x (target: at least 1.00x) ${pgRate >= mariaRate ? 'MET' : 'MISSED'}`,
    );
  for (const r of results) {
    const work = r.perRow
      ? `${r.perRow.lookups.toFixed(2).padStart(7)} ${r.perRow.writes.toFixed(2).padStart(6)} ${r.perRow.updates.toFixed(2).padStart(7)}`
      : '      -      -       -';
    console.log(
      `${r.db.padEnd(10)} ${r.trigger.padEnd(28)} ${fmt(r.rowsPerSecond).padStart(9)} ${fmt(r.facts).padStart(8)} ${fmt(r.states).padStart(7)}            ${work}`,
    );
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
