/**
 * The shipped IoT-sensors flow in real Node-RED runtimes, one on MariaDB and one on SQLite, side
 * by side (they share the wait for a real minute to close). The test publishes the readings
 * itself (SIMULATE=false), defects included, and checks: raw rows arrive; each per-minute
 * aggregate equals the mean and count of that minute's raw rows (by SQL against sensor_data);
 * /quality counts the out-of-range value, the duplicate and the incomplete readings; /catalog
 * lists the tables with their columns and counts; /data and /aggregated_data filter and page;
 * bad parameters get 400 with the reason.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import mqtt from 'mqtt';
import { openDatabase } from '../../lib/db';
import type { Database } from '../../lib/db/types';
import type { Catalog } from '../../lib/sensors/catalog';
import type { QualityReport } from '../../lib/sensors/quality';
import { httpJson, packageRoot, startNodeRed, type RunningNodeRed } from '../support/node-red';
import {
  createTestMysqlDatabase,
  MQTT_HOST,
  MQTT_PORT,
  requireService,
  type TestMysqlDatabase,
  createTestPostgresDatabase,
  type TestPostgresDatabase,
} from '../support/services';
import { makeTempDir, removeTempDir } from '../support/tmp';

const flows = JSON.parse(readFileSync(join(packageRoot, 'flows', '4-iot-sensors.json'), 'utf8')) as unknown[];
const GRACE_MS = 10_000;

type Row = { id: number; sensor_id: number; timestamp: string; value: number; unit: string | null; samples?: number };
type Page = { count: number; next_skip: number | null; data: Row[] };

interface Harness {
  name: string;
  url: string;
  db: Database;
  topic: string;
  red?: RunningNodeRed;
  /** Probe readings stored before the test's own readings. */
  probes: number;
  mysql?: TestMysqlDatabase | TestPostgresDatabase;
}

const utcNaive = (ms: number): string => new Date(ms).toISOString().slice(0, 23).replace('Z', '') + '456';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function reading(id: number, value: number | undefined, atMs: number, withMetadata = true): Record<string, unknown> {
  const r: Record<string, unknown> = { sensor_id: String(id), timestamp: utcNaive(atMs) };
  if (value !== undefined) r.value = value;
  if (withMetadata) r.metadata = { location: { lat: 10, lng: 10 }, unit: 'C', type: 'temperature', description: 'Main Entrance' };
  return r;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

async function rowCount(h: Harness): Promise<number> {
  const { rows } = await h.db.query('SELECT COUNT(*) AS n FROM sensor_data');
  return Number(rows[0].n);
}

describe('IoT sensors flow end to end (MariaDB, PostgreSQL and SQLite)', function () {
  this.timeout(240_000);
  const harnesses: Harness[] = [];
  let client: mqtt.MqttClient | undefined;
  let dir = '';
  const published: Array<Record<string, unknown>> = [];

  before(async function () {
    await requireService(this, 'mysql');
    await requireService(this, 'postgres');
    await requireService(this, 'mqtt');
    dir = makeTempDir('iotp-e2e-sensors-');
    const mysql = await createTestMysqlDatabase('iotp_e2e_sensors');
    const postgres = await createTestPostgresDatabase('iotp_e2e_sensors');
    const file = join(dir, 'sensors.db');
    harnesses.push(
      {
        name: 'MariaDB',
        url: mysql.url,
        db: openDatabase({ ...mysql.config }),
        topic: `iotp-e2e/${randomUUID()}/sensors`,
        probes: 0,
        mysql,
      },
      {
        name: 'PostgreSQL',
        url: postgres.url,
        db: openDatabase({ ...postgres.config }),
        topic: `iotp-e2e/${randomUUID()}/sensors`,
        probes: 0,
        mysql: postgres,
      },
      {
        name: 'SQLite',
        url: `sqlite:${file}`,
        db: openDatabase({ dialect: 'sqlite', file, busyTimeoutMs: 5000 }),
        topic: `iotp-e2e/${randomUUID()}/sensors`,
        probes: 0,
      },
    );
    await Promise.all(
      harnesses.map(async (h) => {
        h.red = await startNodeRed({
          flows,
          env: {
            DATABASE_URL: h.url,
            MQTT_URL: `mqtt://${MQTT_HOST}:${MQTT_PORT}`,
            MQTT_TOPIC: h.topic,
            SIMULATE: 'false',
            INTERVAL_MS: '1000',
          },
        });
      }),
    );
    client = await mqtt.connectAsync(`mqtt://${MQTT_HOST}:${MQTT_PORT}`, { clientId: `iotp-e2e-${randomUUID()}` });

    // Probe until each pipeline stores a reading (its subscription is live), then count the probes.
    await Promise.all(
      harnesses.map(async (h) => {
        await until(
          `${h.name} to store a probe`,
          async () => {
            await client!.publishAsync(h.topic, JSON.stringify(reading(1, 20, Date.now())), { qos: 1 });
            const { body } = await httpJson(`${h.red!.url}/data?limit=1`);
            return (body as Page).count > 0 ? true : undefined;
          },
          60_000,
        );
        await sleep(500);
        h.probes = await rowCount(h);
      }),
    );

    // The test's readings, stamped now (the current minute): 5 sensors x 4 in range, and defects.
    const now = Date.now();
    for (let k = 0; k < 4; k++) for (let id = 1; id <= 5; id++) published.push(reading(id, 10 + id + k, now - 4000 + k * 1000 + id));
    published.push(reading(2, 99, now - 500)); // out of range [0, 45]: stored, inaccurate
    published.push(published[2]); // sensor 3's first reading again: a duplicate
    published.push(reading(4, undefined, now - 400)); // no value: rejected, incomplete
    published.push(reading(5, 30, now - 300, false)); // no metadata: stored with NULLs, incomplete
    for (const h of harnesses) for (const p of published) await client.publishAsync(h.topic, JSON.stringify(p), { qos: 1 });
    await Promise.all(
      harnesses.map((h) =>
        until(`${h.name} to store the readings`, async () => ((await rowCount(h)) === h.probes + 23 ? true : undefined), 30_000),
      ),
    );
  });

  after(async () => {
    await client?.endAsync();
    for (const h of harnesses) {
      await h.red?.stop();
      await h.db.close();
      await h.mysql?.drop();
    }
    removeTempDir(dir);
  });

  const each = (title: string, fn: (h: Harness) => Promise<void>) => {
    for (const name of ['MariaDB', 'PostgreSQL', 'SQLite']) {
      it(`${title} (${name})`, async () => {
        const h = harnesses.find((x) => x.name === name);
        assert.ok(h, 'harness started');
        await fn(h);
      });
    }
  };

  each('stores raw readings, NULL metadata where absent, and reports the rejected one to the Catch node', async (h) => {
    const body = (await httpJson(`${h.red!.url}/data?sensor_id=5&limit=1000`)).body as Page;
    assert.equal(body.data.filter((r) => r.unit === null).length, 1);
    await h.red!.waitForOutput(/value is missing/, 10_000);
  });

  each('reflects the injected defects in /quality', async (h) => {
    const { status, body } = await httpJson(`${h.red!.url}/quality`, { headers: { accept: 'application/json' } });
    assert.equal(status, 200);
    const m = (body as QualityReport).metrics.since_start;
    const total = h.probes + published.length;
    assert.equal(m.messages, total);
    assert.deepEqual(
      [m.accuracy.total - m.accuracy.passed, m.uniqueness.total - m.uniqueness.passed, m.completeness.total - m.completeness.passed],
      [1, 1, 2],
    );
    assert.equal(m.completeness.total, total);
    const html = await httpJson(`${h.red!.url}/quality`, { headers: { accept: 'text/html' } });
    assert.match(html.headers.get('content-type') ?? '', /^text\/html/);
  });

  each('lists the tables in /catalog with their columns and counts', async (h) => {
    const { status, body } = await httpJson(`${h.red!.url}/catalog`);
    assert.equal(status, 200);
    const raw = (body as Catalog).datasets.find((d) => d.name === 'sensor_data');
    const agg = (body as Catalog).datasets.find((d) => d.name === 'aggregated_sensor_data');
    assert.deepEqual(
      raw?.columns.map((c) => c.name),
      ['id', 'sensor_id', 'timestamp', 'value', 'lat', 'lng', 'unit', 'type', 'description'],
    );
    assert.deepEqual(
      agg?.columns.map((c) => c.name),
      ['id', 'sensor_id', 'timestamp', 'value', 'lat', 'lng', 'unit', 'type', 'description', 'samples', 'original_row'],
    );
    assert.equal(raw?.row_count, h.probes + 23);
    assert.deepEqual(agg?.lineage.derived_from, ['sensor_data', 'aggregated_sensor_parts']);
    assert.equal(raw?.lineage.source_topic, h.topic);
  });

  each('filters and pages /data, and answers bad parameters with 400 and the reason', async (h) => {
    const pages: Row[] = [];
    let skip = 0;
    for (;;) {
      const body = (await httpJson(`${h.red!.url}/data?sensor_id=2&limit=2&skip=${skip}`)).body as Page;
      pages.push(...body.data);
      if (body.next_skip === null) break;
      skip = body.next_skip;
    }
    const all = ((await httpJson(`${h.red!.url}/data?sensor_id=2&limit=1000`)).body as Page).data;
    assert.deepEqual(
      pages.map((r) => r.id),
      all.map((r) => r.id),
    );
    assert.ok(all.length >= 5 && all.every((r) => r.sensor_id === 2));
    const firstOwn = published[1].timestamp as string;
    const ranged = ((await httpJson(`${h.red!.url}/data?sensor_id=2&start_time=${firstOwn}&limit=1000`)).body as Page).data;
    assert.deepEqual(
      ranged.map((r) => r.value),
      [12, 13, 14, 15, 99],
    );
    for (const [query, parameter] of [
      ['limit=0', 'limit'],
      ['sensor_id=abc', 'sensor_id'],
      ['start_time=2024-02-30', 'start_time'],
      ['skip=1&skip=2', 'skip'],
    ]) {
      const { status, body } = await httpJson(`${h.red!.url}/data?${query}`);
      assert.equal(status, 400, query);
      assert.equal((body as { parameter: string }).parameter, parameter);
      assert.ok((body as { reason: string }).reason);
    }
  });

  each('aggregates each closed minute per sensor into the mean and count of its raw rows', async (h) => {
    const { rows: last } = await h.db.query('SELECT MAX(timestamp) AS t FROM sensor_data');
    const lastMs = new Date(
      String(last[0].t instanceof Date ? (last[0].t as Date).toISOString() : `${String(last[0].t).replace(' ', 'T')}Z`),
    ).getTime();
    const closesAt = Math.floor(lastMs / 60_000) * 60_000 + 60_000 + GRACE_MS;
    if (Date.now() < closesAt) await sleep(closesAt - Date.now());
    const minute = {
      mysql: "DATE_FORMAT(`timestamp`, '%Y-%m-%d %H:%i:00.000000')",
      postgres: `to_char("timestamp", 'YYYY-MM-DD HH24:MI":00.000000"')`,
      sqlite: 'substr("timestamp", 1, 16) || \':00.000000\'',
    }[h.db.dialect];
    const { rows: expected } = await h.db.query(
      `SELECT sensor_id, ${minute} AS minute_start, AVG(value) AS mean, COUNT(*) AS n FROM sensor_data GROUP BY sensor_id, ${minute} ORDER BY minute_start, sensor_id`,
    );
    const aggregated = await until(
      `${h.name} aggregates`,
      async () => {
        const body = (await httpJson(`${h.red!.url}/aggregated_data?limit=1000`)).body as Page;
        return body.count === expected.length ? body.data : undefined;
      },
      30_000,
    );
    const key = (id: unknown, t: string) => `${Number(id)}@${t.slice(0, 19).replace('T', ' ')}`;
    const got = new Map(aggregated.map((r) => [key(r.sensor_id, r.timestamp), r]));
    for (const e of expected) {
      const row = got.get(key(e.sensor_id, String(e.minute_start)));
      assert.ok(row, `aggregate for ${key(e.sensor_id, String(e.minute_start))}`);
      assert.ok(Math.abs(row.value - Number(e.mean)) < 1e-9, `${row.value} vs ${e.mean}`);
      assert.equal(row.samples, Number(e.n));
      assert.match(row.timestamp, /:00\.000000Z$/, 'stamped with the minute start');
    }
    // One instance: each minute is one part, of that instance, which the database copied.
    const { rows: parts } = await h.db.query(
      'SELECT COUNT(*) AS n, COUNT(DISTINCT instance) AS instances, SUM(samples) AS samples FROM aggregated_sensor_parts',
    );
    assert.deepEqual(
      [Number(parts[0].n), Number(parts[0].instances), Number(parts[0].samples)],
      [expected.length, 1, expected.reduce((sum, e) => sum + Number(e.n), 0)],
    );
  });
});
