/**
 * lib/db insert throughput: 100k rows of a 4-column table into MariaDB and SQLite through the
 * layer with 500-row multi-row statements (one transaction per batch), against one-row-per-INSERT
 * autocommit through the same layer (capped at 10k rows) and against the bare driver doing the
 * same multi-row work, all measured in this run.
 *
 * Run: node scripts/build.mjs && node --expose-gc dist/bench/db.bench.js
 */
import Sqlite from 'better-sqlite3';
import { join } from 'node:path';
import { insertRows, openDatabase, planInsert } from '../lib/db';
import type { Database, DatabaseConfig, SqlValue } from '../lib/db/types';
import { createTestMysqlDatabase, MYSQL_HOST, MYSQL_PORT, portOpen } from '../test/support/services';
import { makeTempDir, removeTempDir } from '../test/support/tmp';

const TOTAL_ROWS = 100_000;
/** The batched runs are repeated, alternating layer and bare driver, and the median is reported: the machine is shared and noisy. */
const ROUNDS = 3;
const SINGLE_ROWS = 10_000;
const BATCH = 500;

interface Figure {
  target: string;
  method: string;
  rows: number;
  /** One entry per round. */
  seconds: number[];
}
const figures: Figure[] = [];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function makeRows(from: number, count: number): SqlValue[][] {
  return Array.from({ length: count }, (_, i) => [
    from + i,
    `sensor-${(from + i) % 500}`,
    1_700_000_000 + from + i,
    Math.round(Math.random() * 10_000) / 100,
  ]);
}

const CREATE = {
  mysql:
    'CREATE TABLE bench (id BIGINT PRIMARY KEY, sensor VARCHAR(64) NOT NULL, ts BIGINT NOT NULL, value DOUBLE) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4',
  sqlite: 'CREATE TABLE bench (id INTEGER PRIMARY KEY, sensor TEXT NOT NULL, ts INTEGER NOT NULL, value REAL)',
  postgres: 'CREATE TABLE bench (id BIGINT PRIMARY KEY, sensor VARCHAR(64) NOT NULL, ts BIGINT NOT NULL, value DOUBLE PRECISION)',
};

async function timed(target: string, method: string, rows: number, run: () => Promise<void>): Promise<void> {
  global.gc?.();
  const start = process.hrtime.bigint();
  await run();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const existing = figures.find((f) => f.target === target && f.method === method);
  if (existing) existing.seconds.push(seconds);
  else figures.push({ target, method, rows, seconds: [seconds] });
}

async function reset(db: Database): Promise<void> {
  await db.query('DROP TABLE IF EXISTS bench');
  await db.query(CREATE[db.dialect]);
}

async function layerBatched(db: Database, target: string, inTransaction = true): Promise<void> {
  await reset(db);
  const plan = planInsert(db.dialect, { table: 'bench', columns: ['id', 'sensor', 'ts', 'value'], maxRowsPerStatement: BATCH });
  const batches = Array.from({ length: TOTAL_ROWS / BATCH }, (_, b) => makeRows(b * BATCH, BATCH));
  const method = inTransaction ? `lib/db: ${BATCH}-row INSERT, 1 tx per batch` : `lib/db: ${BATCH}-row INSERT, autocommit`;
  await timed(target, method, TOTAL_ROWS, async () => {
    for (const batch of batches) {
      if (inTransaction) await db.transaction((tx) => insertRows(tx, plan, batch));
      else await insertRows(db, plan, batch);
    }
  });
  const count = (await db.query('SELECT COUNT(*) AS n FROM bench')).rows[0].n;
  if (Number(count) !== TOTAL_ROWS) throw new Error(`expected ${TOTAL_ROWS} rows, found ${count}`);
}

async function layerSingle(db: Database, target: string): Promise<void> {
  await reset(db);
  const rows = makeRows(0, SINGLE_ROWS);
  await timed(target, 'lib/db: 1 row per INSERT, autocommit', SINGLE_ROWS, async () => {
    for (const row of rows) await db.query('INSERT INTO bench (id, sensor, ts, value) VALUES (?, ?, ?, ?)', row);
  });
}

async function benchMysql(): Promise<void> {
  if (!(await portOpen(MYSQL_HOST, MYSQL_PORT))) {
    console.log(`MariaDB not reachable at ${MYSQL_HOST}:${MYSQL_PORT}; skipping its figures`);
    return;
  }
  const scratch = await createTestMysqlDatabase('iotp_bench');
  const db = openDatabase(scratch.config);
  // Peer: bare mysql2, the idiomatic bulk form (`VALUES ?` with nested arrays), 500 rows per statement, autocommit.
  const mysql = await import('mysql2/promise');
  const { host, port, user, password, database } = scratch.config;
  const pool = mysql.createPool({ host, port, user, password, database, connectionLimit: 1 });
  const bareBatched = async (): Promise<void> => {
    await pool.query('DROP TABLE IF EXISTS bench');
    await pool.query(CREATE.mysql);
    const batches = Array.from({ length: TOTAL_ROWS / BATCH }, (_, b) => makeRows(b * BATCH, BATCH));
    await timed('MariaDB', `bare mysql2: pool.query('VALUES ?'), ${BATCH} rows`, TOTAL_ROWS, async () => {
      for (const batch of batches) await pool.query('INSERT INTO bench (id, sensor, ts, value) VALUES ?', [batch]);
    });
  };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      await layerBatched(db, 'MariaDB');
      await layerBatched(db, 'MariaDB', false);
      await bareBatched();
    }
    await layerSingle(db, 'MariaDB');
  } finally {
    await pool.end();
    await db.close();
    await scratch.drop();
  }
}

async function benchSqlite(): Promise<void> {
  const dir = makeTempDir('iotp-bench-');
  const config: DatabaseConfig = { dialect: 'sqlite', file: join(dir, 'bench.db'), busyTimeoutMs: 5000 };
  const db = openDatabase(config);
  try {
    for (let round = 0; round < ROUNDS; round++) await layerBatched(db, 'SQLite');
    await layerSingle(db, 'SQLite');
  } finally {
    await db.close();
  }
  // Peer: bare better-sqlite3, one prepared single-row statement run 500 times per db.transaction().
  const raw = new Sqlite(join(dir, 'bench-raw.db'));
  try {
    raw.pragma('journal_mode = WAL');
    raw.pragma('synchronous = NORMAL');
    raw.exec(CREATE.sqlite);
    const reset = raw.prepare('DELETE FROM bench');
    const insert = raw.prepare('INSERT INTO bench (id, sensor, ts, value) VALUES (?, ?, ?, ?)');
    const insertBatch = raw.transaction((rows: SqlValue[][]) => {
      for (const row of rows) insert.run(row as unknown[]);
    });
    const batches = Array.from({ length: TOTAL_ROWS / BATCH }, (_, b) => makeRows(b * BATCH, BATCH));
    for (let round = 0; round < ROUNDS; round++) {
      reset.run();
      await timed('SQLite', `bare better-sqlite3: prepared 1-row x ${BATCH} per tx`, TOTAL_ROWS, async () => {
        for (const batch of batches) insertBatch(batch);
      });
    }
  } finally {
    raw.close();
    removeTempDir(dir);
  }
}

function printTable(): void {
  const rows = figures.map((f) => {
    const seconds = median(f.seconds);
    const perRound = f.seconds.map((s) => Math.round(f.rows / s / 1000)).join(' / ');
    return [f.target, f.method, String(f.rows), seconds.toFixed(2), Math.round(f.rows / seconds).toLocaleString('en-US'), `${perRound} k`];
  });
  const header = ['target', 'method', 'rows', 'seconds', 'rows/s (median)', 'each round'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i >= 2 && i < 5 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

async function main(): Promise<void> {
  await benchMysql();
  await benchSqlite();
  console.log(
    `\nlib/db insert throughput (Node ${process.version}, 4-column table with a primary key, WAL + synchronous=NORMAL for SQLite)\n`,
  );
  printTable();
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
