/**
 * Per-minute means from several Node-RED instances, against real SQLite, MariaDB and PostgreSQL: each
 * instance's window result is a part in `aggregated_sensor_parts` (written by a RowWriter
 * configured exactly like flow 4's aggregate writer), and the migration's triggers keep
 * `aggregated_sensor_data` equal to the samples-weighted mean over the parts. Checked: the exact
 * mean and summed samples of two instances, a redelivered part changing nothing (to the bit), a
 * re-emitted part replacing its own contribution, deleted and moved parts, the copy of the minutes
 * stored before parts existed, idempotent migrations, the older flows writing the means directly,
 * and on MariaDB and PostgreSQL concurrent transactions locking the same rows in opposite orders (a real
 * deadlock, retried by the writer, nothing lost or counted twice).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase } from '../../../lib/db';
import { runMigrations } from '../../../lib/db/migrate';
import type { Database, MigrationSet, QueryResult, SqlExecutor, SqlParams } from '../../../lib/db/types';
import { aggregateRow, type AggregatedRow } from '../../../lib/sensors/aggregate-row';
import { AGGREGATED_PART_COLUMNS, sensorsMigrations, upsertAggregatedPartSql } from '../../../lib/sensors/schema';
import { defaultSensors } from '../../../lib/sensors/sensors-file';
import { classifyDbError, RowWriter, type DeliveryResult, type RowWriterOptions } from '../../../lib/writer';
import { parseColumnMapping } from '../../../lib/writer/settings';
import { packageRoot } from '../../support/node-red';
import {
  createTestMysqlDatabase,
  createTestPostgresDatabase,
  requireService,
  type TestMysqlDatabase,
  type TestPostgresDatabase,
} from '../../support/services';
import { makeTempDir, removeTempDir } from '../../support/tmp';

interface FlowNode {
  id: string;
  table: string;
  columns: string;
  conflict: 'error' | 'ignore' | 'upsert';
  conflictKeys: string;
  updateColumns: string;
}
const flow = JSON.parse(readFileSync(join(packageRoot, 'flows', '4-iot-sensors.json'), 'utf8')) as FlowNode[];
const list = (text: string): string[] =>
  text
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean);
const flowWriter = flow.find((n) => n.id === 'sensors.write.agg') as FlowNode;

/** The RowWriter options of flow 4's aggregate writer (as the db write node builds them), on `db`. */
function flowWriterOptions(db: Database, overrides: Partial<RowWriterOptions> = {}): RowWriterOptions {
  return {
    db,
    table: flowWriter.table,
    columns: parseColumnMapping(flowWriter.columns),
    conflict: flowWriter.conflict,
    keyColumns: list(flowWriter.conflictKeys),
    updateColumns: list(flowWriter.updateColumns),
    batchSize: 500,
    maxLatencyMs: 5,
    retryInitialMs: 20,
    retryMaxMs: 200,
    warn: () => undefined,
    ...overrides,
  };
}

function send(writer: RowWriter, rows: unknown[]): Promise<DeliveryResult> {
  return new Promise((resolve, reject) => writer.write(rows, (err, result) => (err ? reject(err) : resolve(result))));
}

const sensors = defaultSensors();
const MINUTE0 = Date.UTC(2024, 5, 14, 16, 0);
const minuteText = (m: number): string => `2024-06-14 16:${String(m).padStart(2, '0')}:00.000000`;

/** One instance's part of one sensor's minute, through the same function the aggregate node uses. */
function part(instance: string, sensor: number, minute: number, mean: number, count: number): AggregatedRow {
  const start = MINUTE0 + minute * 60_000;
  return aggregateRow({ series: String(sensor), start, end: start + 60_000, count, mean }, sensors, { instance });
}

type Minute = { sensor: number; minute: string; value: number; samples: number };

/** The minute column as text with microseconds (PostgreSQL's CAST AS CHAR would keep one character). */
function timestampText(db: SqlExecutor): string {
  return db.dialect === 'postgres' ? `to_char("timestamp", 'YYYY-MM-DD HH24:MI:SS.US')` : 'CAST(timestamp AS CHAR)';
}

async function minutes(db: SqlExecutor, table = 'aggregated_sensor_data'): Promise<Minute[]> {
  const { rows } = await db.query(`SELECT sensor_id, ${timestampText(db)} AS minute, value, samples FROM ${table} ORDER BY sensor_id, 2`);
  return rows.map((r) => ({
    sensor: Number(r.sensor_id),
    minute: String(r.minute).slice(0, 26),
    value: Number(r.value),
    samples: Number(r.samples),
  }));
}

async function one(db: SqlExecutor, sensor: number, minute: number): Promise<Minute | undefined> {
  return (await minutes(db)).find((m) => m.sensor === sensor && m.minute === minuteText(minute));
}

/** The reference: the samples-weighted mean of the parts, summed exactly enough in JS. */
function expected(parts: Iterable<AggregatedRow>): Map<string, { value: number; samples: number }> {
  const sums = new Map<string, { sum: number; samples: number }>();
  for (const p of parts) {
    const key = `${p.sensor_id}@${p.timestamp}`;
    const s = sums.get(key) ?? { sum: 0, samples: 0 };
    s.sum += p.value * p.samples;
    s.samples += p.samples;
    sums.set(key, s);
  }
  return new Map([...sums].map(([k, s]) => [k, { value: s.sum / s.samples, samples: s.samples }]));
}

async function assertMerged(db: SqlExecutor, parts: Iterable<AggregatedRow>, relTolerance = 1e-12): Promise<void> {
  const want = expected(parts);
  const got = await minutes(db);
  assert.equal(got.length, want.size, 'one aggregated row per sensor and minute');
  for (const m of got) {
    const w = want.get(`${m.sensor}@${m.minute}`);
    assert.ok(w, `unexpected minute ${m.sensor}@${m.minute}`);
    assert.equal(m.samples, w.samples, `samples of ${m.sensor}@${m.minute}`);
    assert.ok(Math.abs(m.value - w.value) <= relTolerance * Math.abs(w.value), `${m.sensor}@${m.minute}: ${m.value} vs ${w.value}`);
  }
}

/** Migration set "sensors" cut after `version`, to build a database as an older release left it. */
const sensorsUpTo = (version: number): MigrationSet => ({
  ...sensorsMigrations,
  migrations: sensorsMigrations.migrations.filter((m) => m.version <= version),
});

interface Backend {
  name: string;
  /** A fresh empty database; `open()` gives another connection pool on it (another "instance"). */
  create(): Promise<{ open(): Database; drop(): Promise<void> }>;
}

function suite(backend: Backend): void {
  describe(`aggregate parts on ${backend.name}`, function () {
    this.timeout(120_000);
    let store: { open(): Database; drop(): Promise<void> };
    let db: Database;
    const writers: RowWriter[] = [];
    const extra: Database[] = [];
    const writer = (on: Database, overrides: Partial<RowWriterOptions> = {}): RowWriter => {
      const w = new RowWriter(flowWriterOptions(on, overrides));
      writers.push(w);
      return w;
    };
    const another = (): Database => {
      const d = store.open();
      extra.push(d);
      return d;
    };

    beforeEach(async function () {
      store = await backend.create();
      db = store.open();
      await runMigrations(db, [sensorsMigrations]);
    });
    afterEach(async () => {
      for (const w of writers.splice(0)) await w.close(2000);
      for (const d of extra.splice(0)) await d.close();
      await db?.close();
      await store?.drop();
    });

    it('two instances writing parts of the same minutes give the exact weighted mean and the summed samples', async () => {
      const a = writer(db);
      const b = writer(another());
      // Means and counts exact in binary, so the merged mean must be exact too.
      await Promise.all([
        send(a, [part('a', 1, 0, 20.5, 30), part('a', 2, 0, 10, 1), part('a', 1, 1, 7.25, 4)]),
        send(b, [part('b', 1, 0, 22.25, 10), part('b', 2, 0, 14, 3)]),
      ]);
      assert.deepEqual(await minutes(db), [
        { sensor: 1, minute: minuteText(0), value: 20.9375, samples: 40 },
        { sensor: 1, minute: minuteText(1), value: 7.25, samples: 4 },
        { sensor: 2, minute: minuteText(0), value: 13, samples: 4 },
      ]);
      const kitchen = await db.query('SELECT lat, lng, unit, type, description FROM aggregated_sensor_data WHERE sensor_id = 2');
      assert.deepEqual(
        { ...kitchen.rows[0] },
        { lat: 90, lng: 90, unit: 'C', type: 'temperature', description: 'Kitchen' },
        'metadata as before',
      );
      assert.equal((await minutes(db, 'aggregated_sensor_parts')).length, 5, 'one part per sensor, minute and instance');
    });

    it('many instances, sensors and minutes: every minute is the weighted mean of its parts', async () => {
      let seed = 7;
      const random = (): number => (seed = (seed * 16807) % 2147483647) / 2147483647;
      const parts: AggregatedRow[] = [];
      for (const instance of ['a', 'b', 'c']) {
        for (let sensor = 1; sensor <= 5; sensor++) {
          for (let minute = 0; minute < 6; minute++) {
            if (random() < 0.2) continue; // not every instance sees every sensor every minute
            parts.push(part(instance, sensor, minute, 15 + random() * 20, 1 + Math.floor(random() * 60)));
          }
        }
      }
      const byInstance = ['a', 'b', 'c'].map((i) => parts.filter((p) => p.instance === i));
      const ws = [writer(db), writer(another()), writer(another())];
      await Promise.all(byInstance.map((rows, i) => Promise.all(rows.map((row) => send(ws[i], [row])))));
      await assertMerged(db, parts);
    });

    it('a redelivered part changes nothing, to the last bit', async () => {
      const a = writer(db);
      const b = writer(another());
      const mine = [part('a', 3, 0, 21.123456789, 7), part('a', 3, 1, 1 / 3, 3)];
      await send(a, mine);
      await send(b, [part('b', 3, 0, 19.987654321, 11), part('b', 3, 1, 2 / 3, 5)]);
      await send(a, [part('c', 3, 0, 20.5555555, 13)]);
      const before = await minutes(db);
      for (let i = 0; i < 3; i++) await send(a, mine); // the same parts again, e.g. after a lost commit answer
      assert.deepEqual(await minutes(db), before);
      // Directly, as a second statement of the same rows would.
      await db.query(
        upsertAggregatedPartSql(db.dialect, 1),
        AGGREGATED_PART_COLUMNS.map((c) => mine[0][c]),
      );
      assert.deepEqual(await minutes(db), before);
    });

    it("a part emitted again with more samples replaces that instance's contribution", async () => {
      const a = writer(db);
      const b = writer(another());
      await send(a, [part('a', 1, 0, 20, 30)]);
      await send(b, [part('b', 1, 0, 10, 10)]);
      assert.deepEqual(await one(db, 1, 0), { sensor: 1, minute: minuteText(0), value: 17.5, samples: 40 });
      await send(a, [part('a', 1, 0, 21, 40)]); // a restart re-emitted the minute with the late readings
      await assertMerged(db, [part('a', 1, 0, 21, 40), part('b', 1, 0, 10, 10)]);
      assert.equal((await one(db, 1, 0))?.samples, 50);
      // The only part of a minute is copied, not merged: exactly the window's mean.
      await send(a, [part('a', 2, 0, 0.1, 3)]);
      await send(a, [part('a', 2, 0, 0.7, 10)]);
      assert.deepEqual(await one(db, 2, 0), { sensor: 2, minute: minuteText(0), value: 0.7, samples: 10 });
    });

    it('a deleted part leaves the minute; the last one takes the minute with it; a moved part moves its contribution', async () => {
      const w = writer(db);
      await send(w, [part('a', 1, 0, 20, 30), part('b', 1, 0, 10, 10), part('c', 1, 1, 5, 2)]);
      await db.query("DELETE FROM aggregated_sensor_parts WHERE instance = 'b' AND sensor_id = 1");
      assert.deepEqual(await one(db, 1, 0), { sensor: 1, minute: minuteText(0), value: 20, samples: 30 });
      await db.query(
        `UPDATE aggregated_sensor_parts SET timestamp = '${minuteText(1)}' WHERE instance = 'a' AND timestamp = '${minuteText(0)}'`,
      );
      assert.equal(await one(db, 1, 0), undefined, 'the minute lost its only part');
      assert.deepEqual(await one(db, 1, 1), { sensor: 1, minute: minuteText(1), value: 19.0625, samples: 32 });
      await db.query('DELETE FROM aggregated_sensor_parts');
      assert.deepEqual(await minutes(db), []);
    });

    it('a part without samples is refused as a data error; the minute is unchanged', async () => {
      const w = writer(db);
      await send(w, [part('a', 1, 0, 20, 30)]);
      const result = await new Promise<DeliveryResult>((resolve) =>
        w.write([{ ...part('b', 1, 0, 99, 1), samples: 0 }], (_err, r) => resolve(r)),
      );
      assert.equal(result.rejected.length, 1);
      assert.deepEqual(await one(db, 1, 0), { sensor: 1, minute: minuteText(0), value: 20, samples: 30 });
    });

    it('older flows writing aggregated_sensor_data directly keep working as before (the newer aggregate replaces the row)', async () => {
      const direct = writer(db, {
        table: 'aggregated_sensor_data',
        columns: parseColumnMapping('sensor_id\ntimestamp\nvalue\nlat\nlng\nunit\ntype\ndescription\nsamples'),
        keyColumns: ['sensor_id', 'timestamp'],
        updateColumns: ['value', 'lat', 'lng', 'unit', 'type', 'description', 'samples'],
      });
      // The aggregate node's row carries `instance` now; a mapping without that column ignores it.
      await send(direct, [part('a', 1, 0, 20, 30)]);
      await send(direct, [part('a', 1, 0, 21.5, 60)]);
      assert.deepEqual(await minutes(db), [{ sensor: 1, minute: minuteText(0), value: 21.5, samples: 60 }]);
      assert.deepEqual(await minutes(db, 'aggregated_sensor_parts'), []);
    });

    it("a minute an older flow overwrote directly (fewer samples than a part) does not make the part's next write fail", async () => {
      const w = writer(db);
      await send(w, [part('a', 1, 0, 20, 30)]);
      // E.g. an instance still on the old flow during a rolling upgrade.
      await db.query(`UPDATE aggregated_sensor_data SET value = 25, samples = 5 WHERE sensor_id = 1`);
      await send(w, [part('a', 1, 0, 21, 40)]);
      assert.deepEqual(await one(db, 1, 0), { sensor: 1, minute: minuteText(0), value: 21, samples: 40 }, 'the part takes the row over');
      await db.query(`UPDATE aggregated_sensor_data SET samples = 1 WHERE sensor_id = 1`);
      await db.query("DELETE FROM aggregated_sensor_parts WHERE instance = 'a'");
      assert.deepEqual(await minutes(db), [], 'a row that is all this part goes with it');
    });

    it('the migration copies the minutes stored before it as parts of instance "", and later parts merge with them', async () => {
      await db.close();
      await store.drop();
      store = await backend.create();
      db = store.open();
      await runMigrations(db, [sensorsUpTo(2)]);
      const old = `INSERT INTO aggregated_sensor_data (sensor_id, timestamp, value, lat, lng, unit, type, description, samples) VALUES (?, ?, ?, 10, 10, 'C', 'temperature', 'Main Entrance', ?)`;
      await db.query(old, [1, minuteText(0), 20, 30]);
      await db.query(old, [1, minuteText(1), 1 / 3, 9]);
      await db.query(old, [2, minuteText(0), 5, 0]); // a row from a flow that wrote no samples
      const report = await runMigrations(db, [sensorsMigrations]);
      assert.deepEqual(report.applied, ['sensors/3-create-aggregated-sensor-parts', 'sensors/4-original-rows']);
      const { rows } = await db.query(
        `SELECT sensor_id, ${timestampText(db)} AS minute, instance, value, samples, description FROM aggregated_sensor_parts ORDER BY sensor_id, 2`,
      );
      assert.deepEqual(
        rows.map((r) => [
          Number(r.sensor_id),
          String(r.minute).slice(0, 26),
          r.instance,
          Number(r.value),
          Number(r.samples),
          r.description,
        ]),
        [
          [1, minuteText(0), '', 20, 30, 'Main Entrance'],
          [1, minuteText(1), '', 1 / 3, 9, 'Main Entrance'],
        ],
      );
      const before = await minutes(db);
      assert.deepEqual(
        before.map((m) => [m.sensor, m.value, m.samples]),
        [
          [1, 20, 30],
          [1, 1 / 3, 9],
          [2, 5, 0],
        ],
        'the copy itself changes no mean',
      );

      // Migrations are idempotent: the runner skips what it recorded; the statements themselves,
      // run again (MySQL re-runs a migration that failed half-way), copy nothing twice.
      assert.deepEqual((await runMigrations(db, [sensorsMigrations])).applied, []);
      for (const sql of sensorsMigrations.migrations[2][db.dialect] ?? []) await db.query(sql);
      assert.deepEqual(await minutes(db), before);
      assert.equal((await minutes(db, 'aggregated_sensor_parts')).length, 2);

      const w = writer(db);
      await send(w, [part('a', 1, 0, 22, 10), part('a', 2, 0, 8, 4)]);
      assert.deepEqual(await one(db, 1, 0), { sensor: 1, minute: minuteText(0), value: 20.5, samples: 40 });
      assert.deepEqual(
        await one(db, 2, 0),
        { sensor: 2, minute: minuteText(0), value: 8, samples: 4 },
        'a row without samples is replaced, as the old upsert did',
      );
    });

    if (backend.name !== 'SQLite') {
      it('two transactions locking the same minutes in opposite orders: one deadlocks and is rolled back whole, its retry lands, totals exact', async () => {
        const second = another();
        await send(writer(db), [part('c', 1, 0, 10, 1), part('c', 2, 0, 10, 1)]); // the minutes exist: both transactions update them
        const upsert = (tx: SqlExecutor, p: AggregatedRow): Promise<QueryResult> =>
          tx.query(upsertAggregatedPartSql(tx.dialect, 1), AGGREGATED_PART_COLUMNS.map((c) => p[c]) as SqlParams);
        let release!: () => void;
        const bothHoldOne = new Promise<void>((resolve) => (release = resolve));
        let holding = 0;
        const hold = async (): Promise<void> => {
          if (++holding === 2) release();
          await bothHoldOne;
        };
        const txA = db.transaction(async (tx) => {
          await upsert(tx, part('a', 1, 0, 20, 3));
          await hold();
          await upsert(tx, part('a', 2, 0, 20, 3));
        });
        const txB = second.transaction(async (tx) => {
          await upsert(tx, part('b', 2, 0, 30, 5));
          await hold();
          // Give A time to queue behind B's lock on sensor 2, so this closes the cycle.
          await new Promise((resolve) => setTimeout(resolve, 200));
          await upsert(tx, part('b', 1, 0, 30, 5));
        });
        const outcomes = await Promise.allSettled([txA, txB]);
        const failed = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
        assert.equal(failed.length, 1, 'exactly one transaction is chosen as the deadlock victim');
        assert.equal(classifyDbError(failed[0].reason), 'transient', `a deadlock is retried by the writer: ${String(failed[0].reason)}`);
        const survivor = outcomes[0].status === 'fulfilled' ? 'a' : 'b';
        // The victim's first part is gone with it: only the survivor's parts are in.
        const expectedSoFar = [
          part('c', 1, 0, 10, 1),
          part('c', 2, 0, 10, 1),
          part(survivor, 1, 0, survivor === 'a' ? 20 : 30, survivor === 'a' ? 3 : 5),
          part(survivor, 2, 0, survivor === 'a' ? 20 : 30, survivor === 'a' ? 3 : 5),
        ];
        await assertMerged(db, expectedSoFar);
        // Retried whole, as the writer does after a deadlock.
        const victim = survivor === 'a' ? 'b' : 'a';
        const [value, samples] = victim === 'a' ? [20, 3] : [30, 5];
        await (victim === 'a' ? db : second).transaction(async (tx) => {
          await upsert(tx, part(victim, 1, 0, value, samples));
          await upsert(tx, part(victim, 2, 0, value, samples));
        });
        const all = [
          part('c', 1, 0, 10, 1),
          part('c', 2, 0, 10, 1),
          part('a', 1, 0, 20, 3),
          part('a', 2, 0, 20, 3),
          part('b', 1, 0, 30, 5),
          part('b', 2, 0, 30, 5),
        ];
        await assertMerged(db, all);
        assert.deepEqual(
          (await minutes(db)).map((m) => m.samples),
          [9, 9],
        );
      });

      for (const sortByKey of [false, true]) {
        it(`two writers on two pools upserting the same minutes in opposite orders end exact (${sortByKey ? 'rows sorted by key, the default' : 'unsorted: deadlocks, retried'})`, async () => {
          // The writer's database, passed through, counting the deadlocks the writer met (and retried).
          let deadlocks = 0;
          const counting = (base: Database): Database => {
            const note = <T>(p: Promise<T>): Promise<T> =>
              p.catch((err: unknown) => {
                if ((err as { errno?: unknown }).errno === 1213 || (err as { sqlState?: unknown }).sqlState === '40P01') deadlocks++;
                throw err;
              });
            return {
              get dialect() {
                return base.dialect;
              },
              get description() {
                return base.description;
              },
              query: (sql, params) => note(base.query(sql, params)),
              select: (sql, params, max) => note(base.select(sql, params, max)),
              transaction: (work) => note(base.transaction(work)),
              atomic: (statements) => note(base.atomic(statements)),
              withLock: (name, ms, work) => note(base.withLock(name, ms, work)),
              ping: () => base.ping(),
              close: () => base.close(),
            };
          };
          // Per minute, both instances have a part of every sensor: A lists them ascending, B
          // descending (e.g. in the order each first saw the sensors), one delivery per minute.
          const SENSORS = 30;
          const MINUTES = 12;
          const parts: Record<'a' | 'b', AggregatedRow[][]> = { a: [], b: [] };
          for (let minute = 0; minute < MINUTES; minute++) {
            const a: AggregatedRow[] = [];
            const b: AggregatedRow[] = [];
            for (let sensor = 1; sensor <= SENSORS; sensor++) {
              a.push(part('a', sensor, minute, sensor + minute / 8, 1 + ((sensor * 7 + minute) % 13)));
              b.push(part('b', sensor, minute, 100 - sensor - minute / 3, 1 + ((sensor * 3 + minute * 5) % 11)));
            }
            parts.a.push(a);
            parts.b.push(b.reverse());
          }
          const run = async (instance: 'a' | 'b', on: Database): Promise<void> => {
            // One statement per row: a batch is a transaction holding its locks across round
            // trips, as a large batch split into statements does, so opposite orders do deadlock.
            const w = writer(counting(on), { sortByKey, batchSize: SENSORS, maxInFlight: 2, maxLatencyMs: 1, maxRowsPerStatement: 1 });
            const results = await Promise.all(parts[instance].map((rows) => send(w, rows)));
            assert.equal(
              results.reduce((n, r) => n + r.committed, 0),
              SENSORS * MINUTES,
            );
          };
          // Each instance writes its parts three times (the later rounds a redelivery of the same parts).
          const b = another();
          for (let round = 0; round < 3; round++) await Promise.all([run('a', db), run('b', b)]);
          await assertMerged(db, [...parts.a.flat(), ...parts.b.flat()]);
          assert.equal((await minutes(db, 'aggregated_sensor_parts')).length, 2 * SENSORS * MINUTES);
          // Unsorted, the opposite orders deadlock (4 in each of several runs on the development
          // machine), and the totals above show each victim retried, nothing lost or doubled.
          // Sorted, none did in those runs; not asserted, as InnoDB's gap locks do not promise it.
          if (!sortByKey) assert.ok(deadlocks > 0, 'the unsorted run met deadlocks (else it proved nothing about their retry)');
        });
      }
    }
  });
}

let mysqlDbs: TestMysqlDatabase[] = [];
describe('aggregate parts integration', function () {
  before(async function () {
    await requireService(this, 'mysql');
  });
  after(async () => {
    for (const d of mysqlDbs) await d.drop().catch(() => undefined);
    mysqlDbs = [];
  });
  suite({
    name: 'MariaDB',
    async create() {
      const scratch = await createTestMysqlDatabase('iotp_agg_parts');
      mysqlDbs.push(scratch);
      return { open: () => openDatabase(scratch.config), drop: () => scratch.drop() };
    },
  });
});

let postgresDbs: TestPostgresDatabase[] = [];
describe('aggregate parts integration (PostgreSQL)', function () {
  before(async function () {
    await requireService(this, 'postgres');
  });
  after(async () => {
    for (const d of postgresDbs) await d.drop().catch(() => undefined);
    postgresDbs = [];
  });
  suite({
    name: 'PostgreSQL',
    async create() {
      const scratch = await createTestPostgresDatabase('iotp_agg_parts');
      postgresDbs.push(scratch);
      return { open: () => openDatabase(scratch.config), drop: () => scratch.drop() };
    },
  });
});

suite({
  name: 'SQLite',
  async create() {
    const dir = makeTempDir('iotp-agg-parts-');
    return {
      open: () => openDatabase({ dialect: 'sqlite', file: join(dir, 'sensors.db'), busyTimeoutMs: 5000 }),
      drop: async () => removeTempDir(dir),
    };
  },
});
