/**
 * The rolling-averages flow (flows/2-rolling-averages.json) in a running Node-RED with the real
 * mosquitto: the test publishes the numbers (SIMULATE=false) and checks the STATS messages against
 * averages it computes over what it published, across a Node-RED restart in the middle of
 * publishing, and that the table holds every number: in its own SQLite file (the default) and in
 * PostgreSQL (ROLLING_AVERAGES_DATABASE_URL=postgresql://...).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import mqtt, { type MqttClient } from 'mqtt';
import { openDatabase } from '../../lib/db';
import type { Database } from '../../lib/db/types';
import { packageRoot, startNodeRed, type RunningNodeRed } from '../support/node-red';
import { createTestPostgresDatabase, MQTT_HOST, MQTT_PORT, requireService, type TestPostgresDatabase } from '../support/services';
import { makeTempDir, removeTempDir } from '../support/tmp';

type Stats = { avg_1min: number | null; avg_5min: number | null; avg_30min: number | null };
/** A stored number; `rowid` is its position in the order the rows were written. */
type StoredRow = { rowid: number; number: number; epochtime: number };

const round4 = (x: number): number => Number(x.toFixed(4));
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 60000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

interface Backend {
  name: string;
  /** ROLLING_AVERAGES_DATABASE_URL and DB_FILE for the flow, given the test's temporary directory. */
  setup(this: Mocha.Context, dir: string): Promise<Record<string, string>>;
  /** Every row of `messages`, in the order written (read while Node-RED may be writing). */
  storedRows(): Promise<StoredRow[]>;
  teardown(): Promise<void>;
}

const backends: Backend[] = (() => {
  let dbFile = '';
  let postgres: TestPostgresDatabase | undefined;
  let reader: Database | undefined;
  return [
    {
      name: 'SQLite',
      async setup(dir) {
        dbFile = join(dir, 'rolling.db');
        // settings.js derives ROLLING_AVERAGES_DATABASE_URL from DB_FILE (see the report).
        return { ROLLING_AVERAGES_DATABASE_URL: `sqlite:${dbFile}`, DB_FILE: dbFile };
      },
      async storedRows() {
        // Opened read-only per look (WAL): the test never holds a lock the flow's writer waits for.
        const db = new Sqlite(dbFile, { readonly: true });
        try {
          return db.prepare('SELECT rowid, number, epochtime FROM messages ORDER BY rowid').all() as StoredRow[];
        } finally {
          db.close();
        }
      },
      teardown: async () => undefined,
    },
    {
      name: 'PostgreSQL',
      async setup() {
        await requireService(this, 'postgres');
        postgres = await createTestPostgresDatabase('iotp_e2e_rolling');
        reader = openDatabase({ ...postgres.config });
        return { ROLLING_AVERAGES_DATABASE_URL: postgres.url };
      },
      async storedRows() {
        // messages(number, epochtime) has no id, as the original's; PostgreSQL has no rowid. The
        // flow's one writer commits its batches one after the other, so the inserting transaction's
        // id (xmin) orders them, and within a batch the tuple position (ctid) does.
        const { rows } = await reader!.query(
          'SELECT row_number() OVER (ORDER BY xmin::text::bigint, ctid) AS rowid, number, epochtime FROM messages ORDER BY rowid',
        );
        return rows as StoredRow[];
      },
      async teardown() {
        await reader?.close();
        await postgres?.drop();
      },
    },
  ];
})();

for (const backend of backends) {
  describe(`e2e: rolling averages flow (${backend.name})`, function () {
    this.timeout(240000);
    const run = randomUUID().slice(0, 8);
    const topic = `iotp-e2e/${run}/DATA`;
    const statsTopic = `iotp-e2e/${run}/STATS`;
    const brokerUrl = `mqtt://${MQTT_HOST}:${MQTT_PORT}`;
    let dir: string;
    let userDir: string;
    let databaseEnv: Record<string, string>;
    let runtime: RunningNodeRed | undefined;
    let client: MqttClient;
    const stats: Stats[] = [];
    const published: number[] = [];
    const flows = JSON.parse(readFileSync(join(packageRoot, 'flows', '2-rolling-averages.json'), 'utf8')) as unknown[];

    const start = (): Promise<RunningNodeRed> =>
      startNodeRed({
        flows,
        userDir,
        env: {
          MQTT_URL: brokerUrl,
          TOPIC: topic,
          STATS_TOPIC: statsTopic,
          SIMULATE: 'false',
          ...databaseEnv,
          // The broker's session is per client id: the config node's id plus this instance's identity.
          IOTP_INSTANCE_ID: `e2e-${run}`,
        },
      });

    const publish = async (n: number): Promise<void> => {
      await client.publishAsync(topic, JSON.stringify({ number: n, epochtime: String(Math.floor(Date.now() / 1000)) }), { qos: 1 });
    };

    before(async function () {
      await requireService(this, 'mqtt');
      dir = makeTempDir('iotp-e2e-rolling-');
      userDir = join(dir, 'user');
      databaseEnv = await backend.setup.call(this, dir);
      client = await mqtt.connectAsync(brokerUrl, { clientId: `iotp-e2e-${run}`, clean: true, protocolVersion: 5 });
      client.on('message', (t, payload) => {
        if (t === statsTopic) stats.push(JSON.parse(payload.toString('utf8')) as Stats);
      });
      await client.subscribeAsync(statsTopic, { qos: 1 });
      runtime = await start();
      await runtime.waitForOutput(/MQTT broker .*connected/, 30000);
      // The subscription follows the connection: probe until the flow answers. Each number it
      // received gives exactly one STATS message, so the probes it saw are counted from those.
      while (stats.length === 0) {
        await publish(50);
        published.push(50);
        await sleep(250);
      }
      await sleep(1500);
      const received = stats.length;
      published.splice(0, published.length, ...Array<number>(received).fill(50));
    });

    after(async () => {
      await runtime?.stop();
      await client?.endAsync();
      await backend.teardown();
      if (dir) removeTempDir(dir);
    });

    it('publishes the 1/5/30-minute averages of every number, one STATS message per number', async () => {
      const from = stats.length;
      const numbers = Array.from({ length: 30 }, (_, i) => ((i * 37) % 99) + 1);
      for (const n of numbers) {
        await publish(n);
        published.push(n);
      }
      await until('30 STATS messages', () => (stats.length >= from + numbers.length ? true : undefined));
      // Every STATS message is the average over everything published up to its number (in order).
      const base = published.length - numbers.length;
      for (let i = 0; i < numbers.length; i++) {
        const expected = round4(mean(published.slice(0, base + i + 1)));
        assert.deepEqual(stats[from + i], { avg_1min: expected, avg_5min: expected, avg_30min: expected }, `STATS #${i}`);
      }
    });

    it('stores only what the window counts: nothing it refuses, times in epoch seconds that retention removes', async () => {
      const before = (await storedRows()).length;
      const seconds = Math.floor(Date.now() / 1000);
      // Issue #16 saw these stored as text in INTEGER columns (never deleted by retention), plus an
      // event time years ahead, which would also have moved the averages into the future.
      const refused = [
        { number: 'Infinity', epochtime: 'x' },
        { number: { a: 1 }, epochtime: String(seconds) },
        { number: 5, epochtime: 1e20 },
        { number: [7], epochtime: String(seconds) },
        { number: 'NaN', epochtime: String(seconds) },
        { number: 9, epochtime: String(seconds + 10 * 365 * 86400) },
      ];
      for (const payload of refused) await client.publishAsync(topic, JSON.stringify(payload), { qos: 1 });
      // A reading in epoch milliseconds counts: stored in seconds, like the others.
      await client.publishAsync(topic, JSON.stringify({ number: 61, epochtime: Date.now() }), { qos: 1 });
      published.push(61);
      const rows = await until('the millisecond reading in the table', async () => {
        const now = await storedRows();
        return now.length > before ? now : undefined;
      });
      await sleep(1000);
      const added = (await storedRows()).slice(before);
      assert.deepEqual(
        added.map((r) => r.number),
        [61],
        `stored: ${JSON.stringify(added)}`,
      );
      assert.ok(Math.abs(added[0].epochtime - Date.now() / 1000) < 60, `epochtime in seconds: ${added[0].epochtime}`);
      for (const row of rows) {
        assert.equal(typeof row.number, 'number');
        assert.ok(row.epochtime > seconds - 3600 && row.epochtime < seconds + 3600, `a time retention handles: ${JSON.stringify(row)}`);
      }
      assert.match(runtime!.output(), /FUTURE_READING|more than 5 min ahead/);
    });

    const storedRows = (): Promise<StoredRow[]> => backend.storedRows();
    /** `from` minus `take`, counting repeats (a multiset difference). */
    const minus = (from: readonly number[], take: readonly number[]): number[] => {
      const left = new Map<number, number>();
      for (const n of take) left.set(n, (left.get(n) ?? 0) + 1);
      const rest: number[] = [];
      for (const n of from) {
        const c = left.get(n) ?? 0;
        if (c > 0) left.set(n, c - 1);
        else rest.push(n);
      }
      return rest;
    };
    const numbersOf = (rows: Array<{ number: number }>): number[] => rows.map((r) => r.number);
    /** What is stored beyond what was published: messages processed twice. */
    const storedTwice = (rows: Array<{ number: number }>): number[] => minus(numbersOf(rows), published);
    /** Published numbers not stored: messages lost. */
    const notStored = (rows: Array<{ number: number }>): number[] => minus(published, numbersOf(rows));

    /**
     * At-least-once across a restart: nothing published is lost, by the table or by the window,
     * and the window counts exactly what the table holds. A message that is on its way through the
     * flow at the instant Node-RED stops can be taken by some nodes (the writer's flush, the window)
     * while the stop drops it at others (its STATS publish): it is then not acknowledged, and the
     * broker hands it over again after the restart, so those nodes see it twice (1 run in 6 under
     * load on Node-RED 5). Only such a message may appear twice, once before and once after the
     * restart, with the same epochtime.
     */
    it('loses no number when Node-RED restarts while the publisher keeps going', async () => {
      let publishing = true;
      const publisher = (async () => {
        let i = 0;
        while (publishing) {
          const n = ((i++ * 53) % 99) + 1;
          await publish(n);
          published.push(n);
          await sleep(40);
        }
      })();
      await sleep(1500);
      const stoppedAtSeconds = Math.ceil(Date.now() / 1000);
      await runtime!.stop();
      const firstRun = runtime!.output();
      const lastRowBeforeRestart = (await storedRows()).at(-1)?.rowid ?? 0;
      runtime = undefined;
      await sleep(1500); // published while Node-RED is down: the broker keeps them in the session
      runtime = await start();
      await sleep(1500);
      publishing = false;
      await publisher;
      const tail = (text: string): string => text.split('\n').slice(-40).join('\n');
      const diagnose = (err: Error): never => {
        throw new Error(
          `${err.message}; last STATS ${JSON.stringify(stats.slice(-3))}\n--- first run ---\n${tail(firstRun)}\n--- second run ---\n${tail(runtime?.output() ?? '')}`,
        );
      };
      const rows = await until(
        `every published number in the table`,
        async () => {
          const now = await storedRows();
          return notStored(now).length === 0 ? now : undefined;
        },
        60000,
      ).catch(diagnose);
      const expected = round4(mean(rows.map((r) => r.number)));
      // The table is written from the window's counted readings: the message in flight at the stop
      // can also have been counted before it while its row was not yet taken (the stop dropped it on
      // the way to the writer), and then be counted again and stored once after the restart. That is
      // the same at-least-once case (docs/limits.md): one number, stored after the restart,
      // published before the stop, counted once more than the table holds it.
      const sum = rows.reduce((total, r) => total + r.number, 0);
      const inFlight = [
        ...new Set(rows.filter((r) => r.rowid > lastRowBeforeRestart && r.epochtime <= stoppedAtSeconds).map((r) => r.number)),
      ];
      const countedTwice = new Map(inFlight.map((n) => [round4((sum + n) / (rows.length + 1)), n]));
      const acceptable = (avg: number | null): boolean => avg === expected || (avg !== null && countedTwice.has(avg));
      const last = await until(
        `STATS with avg_30min ${expected} (the mean of the table)`,
        () => {
          const latest = stats[stats.length - 1];
          return latest && acceptable(latest.avg_30min) ? latest : undefined;
        },
        60000,
      ).catch(diagnose);
      await sleep(1000);
      const final = stats[stats.length - 1].avg_30min;
      assert.equal(final, last.avg_30min, 'the window counts what the table holds, nothing more');
      assert.ok(acceptable(final));
      const twice = storedTwice(await storedRows());
      if (final !== expected) {
        assert.equal(twice.length, 0, 'one message seen twice, not two');
        console.log(`      ${countedTwice.get(final!)} was in flight at the stop: counted before it, and counted and stored after it`);
      }
      assert.ok(twice.length <= 1, `at most the one message in flight at the stop is processed twice, got ${JSON.stringify(twice)}`);
      for (const n of twice) {
        const copies = rows.filter((r) => r.number === n);
        assert.ok(
          copies.some((r) => r.rowid <= lastRowBeforeRestart) && copies.some((r) => r.rowid > lastRowBeforeRestart),
          `${n} stored twice on one side of the restart: ${JSON.stringify(copies)}`,
        );
        assert.ok(
          copies.some((a) => copies.some((b) => a !== b && a.epochtime === b.epochtime)),
          `${n}: its two rows are one message: ${JSON.stringify(copies)}`,
        );
        console.log(`      ${n} was in flight at the stop: stored and counted before it and again after it (${JSON.stringify(copies)})`);
      }
    });

    it('stores every number in the messages table', async () => {
      await runtime!.stop();
      runtime = undefined;
      const rows = await storedRows();
      assert.deepEqual(notStored(rows), [], 'published numbers not stored');
      assert.ok(storedTwice(rows).length <= 1, `stored twice: ${JSON.stringify(storedTwice(rows))}`);
      for (const row of rows) assert.equal(typeof row.epochtime, 'number');
    });
  });
}
