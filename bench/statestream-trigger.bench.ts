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
// The original's schema and trigger as the adoption tests reproduce it (its migrate.py, as it was).
import { statestreamOriginalStatements } from '../test/support/originals';
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

interface Target {
  name: string;
  insert(rows: Row[]): Promise<void>;
  count(): Promise<{ facts: number; states: number }>;
  /** MySQL only: the session's storage-engine operation counters (deterministic, unlike timings on a busy host). */
  handlerCounters?(): Promise<Record<string, number>>;
  close(): Promise<void>;
}

async function mysqlTarget(name: string, statements: readonly string[], ours: boolean): Promise<Target> {
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

async function sqliteTarget(name: string, dir: string, statements: readonly string[], ours: boolean): Promise<Target> {
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
      ['original (3 upserts/row)', statestreamOriginalStatements('mysql'), false],
      ['statestream (lookup-first)', statestreamMigrations.migrations.flatMap((m) => m.mysql), true],
    ] as Array<[string, readonly string[], boolean]>) {
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
      for (const [trigger, statements, ours] of [
        ['original (3 upserts/row)', statestreamOriginalStatements('sqlite'), false],
        ['statestream (lookup-first)', statestreamMigrations.migrations.flatMap((m) => m.sqlite), true],
      ] as Array<[string, readonly string[], boolean]>) {
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
