/**
 * The two SQLite drivers side by side, same run, same machine: Node's built-in node:sqlite and
 * better-sqlite3, each behind lib/db (lib/db/sqlite-driver.ts), measured where it matters:
 *   - writer: RowWriter defaults (batch 500, 2 in flight), one row per delivery, 2,000
 *     deliveries unanswered, into a 4-column table with a secondary index;
 *   - statestream trigger: the same writer into `messages` with the statestream schema and its
 *     normalising AFTER INSERT trigger, after a warm-up that creates every label;
 *   - per-row: one INSERT per message, awaited in order (a flow without batching).
 * Rounds alternate the drivers (the machine is shared, so neighbours are compared); the median of
 * the rounds is printed. The faster driver on Node 24+ is what `auto` picks (docs/install.md).
 * Needs a Node.js with node:sqlite (22.16+) and better-sqlite3 loadable: `npm run bench -- --node=26 sqlite-drivers`.
 */
import { performance } from 'node:perf_hooks';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../lib/db';
import { runMigrations } from '../lib/db/migrate';
import { pickDriver, sqliteDriverAvailability, type SqliteDriverName } from '../lib/db/sqlite-driver';
import type { Database } from '../lib/db/types';
import { statestreamMigrations } from '../lib/statestream/schema';
import { RowWriter } from '../lib/writer';
import { makeTempDir, removeTempDir } from '../test/support/tmp';
import { ENTITIES, makeRows } from './support/statestream-rows';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WRITER_ROWS = Number(process.env.BENCH_ROWS ?? 60_000);
const TRIGGER_ROWS = Math.round(WRITER_ROWS / 2);
const PER_ROW_ROWS = Math.round(WRITER_ROWS / 6);
const WINDOW = 2000;
const DRIVERS: SqliteDriverName[] = ['node:sqlite', 'better-sqlite3'];

type Scenario = 'writer' | 'trigger' | 'per-row';

/** Feeds `rows` one-row deliveries through `writer`, at most WINDOW unanswered. */
function feed<T>(writer: RowWriter, rows: readonly T[]): Promise<void> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let answered = 0;
    const onAnswer = (err: Error | null, result: { committed: number }): void => {
      if (err || result.committed !== 1) return reject(err ?? new Error(`row not committed: ${JSON.stringify(result)}`));
      if (++answered === rows.length) resolve();
      else pump();
    };
    const pump = (): void => {
      while (sent < rows.length && sent - answered < WINDOW) writer.write(rows[sent++] as Record<string, unknown>, onAnswer);
    };
    pump();
  });
}

async function ready(writer: RowWriter): Promise<void> {
  while (writer.currentState !== 'ok') await new Promise((resolve) => setTimeout(resolve, 5));
}

async function count(db: Database, table: string): Promise<number> {
  return Number((await db.query(`SELECT COUNT(*) AS c FROM ${table}`)).rows[0].c);
}

const sensorRow = (i: number) => {
  const device = `dev-${i % 500}`;
  return { device, ts: 1_700_000_000_000 + i, value: (i % 1000) / 8, topic: `sensors/${device}/temperature` };
};

/** Rows/s of one scenario on one driver, in a fresh file. */
async function measure(driver: SqliteDriverName, scenario: Scenario, dir: string, round: number): Promise<number> {
  const db = openDatabase({
    dialect: 'sqlite',
    file: join(dir, `${scenario}-${driver.replace(/\W/g, '_')}-${round}.db`),
    busyTimeoutMs: 5000,
    driver,
  });
  try {
    if (scenario === 'trigger') {
      await runMigrations(db, [statestreamMigrations]);
      const columns = ['topic', 'qos', 'payload', 'retained', 'received_at'];
      const received = new Date().toISOString();
      const asMessage = (r: { topic: string; payload: string }) => ({
        topic: r.topic,
        qos: 1,
        payload: r.payload,
        retained: 0,
        received_at: received,
      });
      const warmup = new RowWriter({ db, table: 'messages', columns });
      await ready(warmup);
      await feed(warmup, makeRows(ENTITIES * 10, 'homeassistant', 0).map(asMessage));
      await warmup.close(5000);
      const rows = makeRows(TRIGGER_ROWS, 'homeassistant', ENTITIES).map(asMessage);
      const writer = new RowWriter({ db, table: 'messages', columns });
      await ready(writer);
      global.gc?.();
      const started = performance.now();
      await feed(writer, rows);
      const seconds = (performance.now() - started) / 1000;
      await writer.close(5000);
      const facts = await count(db, 'facts');
      if (facts < rows.length) throw new Error(`trigger on ${driver}: ${facts} facts for ${rows.length} + warm-up messages`);
      return rows.length / seconds;
    }
    await db.query(
      'CREATE TABLE bench (id INTEGER PRIMARY KEY AUTOINCREMENT, device TEXT NOT NULL, ts INTEGER NOT NULL, value REAL, topic TEXT)',
    );
    await db.query('CREATE INDEX k_device_ts ON bench (device, ts)');
    const total = scenario === 'writer' ? WRITER_ROWS : PER_ROW_ROWS;
    global.gc?.();
    const started = performance.now();
    if (scenario === 'writer') {
      const writer = new RowWriter({ db, table: 'bench', columns: ['device', 'ts', 'value', 'topic'] });
      await ready(writer);
      await feed(
        writer,
        Array.from({ length: total }, (_, i) => sensorRow(i)),
      );
      await writer.close(5000);
    } else {
      for (let i = 0; i < total; i++) {
        const r = sensorRow(i);
        await db.query('INSERT INTO bench (device, ts, value, topic) VALUES (?, ?, ?, ?)', [r.device, r.ts, r.value, r.topic]);
      }
    }
    const seconds = (performance.now() - started) / 1000;
    const stored = await count(db, 'bench');
    if (stored !== total) throw new Error(`${scenario} on ${driver}: ${stored} rows stored, expected ${total}`);
    return total / seconds;
  } finally {
    await db.close();
  }
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

async function main(): Promise<void> {
  const availability = sqliteDriverAvailability();
  console.log(
    `node ${process.version}; ${ROUNDS} alternated rounds, median; writer ${fmt(WRITER_ROWS)} rows, trigger ${fmt(TRIGGER_ROWS)} rows (after ${fmt(ENTITIES * 10)} warm-up), per-row ${fmt(PER_ROW_ROWS)} rows`,
  );
  console.log(
    `load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} on ${cpus().length} CPUs (figures compare only within one run)`,
  );
  const drivers = DRIVERS.filter((driver) => {
    if (availability[driver].available) return true;
    console.log(`${driver}: not measured (${availability[driver].reason})`);
    return false;
  });
  if (drivers.length === 0) return;
  const dir = makeTempDir('iotp-bench-drivers-');
  const figures = new Map<string, number[]>();
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const scenario of ['writer', 'trigger', 'per-row'] as Scenario[]) {
        // Alternate which driver goes first, so neither always runs on a warmer machine.
        const order = round % 2 === 0 ? drivers : [...drivers].reverse();
        for (const driver of order) {
          const key = `${scenario}|${driver}`;
          figures.set(key, [...(figures.get(key) ?? []), await measure(driver, scenario, dir, round)]);
        }
      }
    }
  } finally {
    removeTempDir(dir);
  }
  const labels: Record<Scenario, string> = {
    writer: 'RowWriter defaults, rows/s',
    trigger: 'statestream trigger (RowWriter), rows/s',
    'per-row': 'per-row INSERT awaited, rows/s',
  };
  console.log(
    `\n| ${'scenario'.padEnd(40)} | ${drivers.map((d) => d.padStart(14)).join(' | ')} |${drivers.length === 2 ? ' node:sqlite / better-sqlite3 |' : ''}`,
  );
  console.log(`|${'-'.repeat(42)}|${drivers.map(() => '-'.repeat(16)).join('|')}|${drivers.length === 2 ? `${'-'.repeat(30)}|` : ''}`);
  for (const scenario of ['writer', 'trigger', 'per-row'] as Scenario[]) {
    const values = drivers.map((driver) => median(figures.get(`${scenario}|${driver}`) ?? [0]));
    const ratio = drivers.length === 2 ? ` ${`${((values[0] / values[1]) * 100).toFixed(0)} %`.padStart(28)} |` : '';
    console.log(`| ${labels[scenario].padEnd(40)} | ${values.map((v) => fmt(v).padStart(14)).join(' | ')} |${ratio}`);
  }
  console.log(`\nauto picks ${pickDriver('auto')} on Node ${process.versions.node}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
