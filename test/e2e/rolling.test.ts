/**
 * The rolling-averages flow (flows/2-rolling-averages.json) in a running Node-RED with the real
 * mosquitto: the test publishes the numbers (SIMULATE=false) and checks the STATS messages against
 * averages it computes over what it published, across a Node-RED restart in the middle of
 * publishing, and that the SQLite table holds every number.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import mqtt, { type MqttClient } from 'mqtt';
import { packageRoot, startNodeRed, type RunningNodeRed } from '../support/node-red';
import { MQTT_HOST, MQTT_PORT, requireService } from '../support/services';
import { makeTempDir, removeTempDir } from '../support/tmp';

type Stats = { avg_1min: number | null; avg_5min: number | null; avg_30min: number | null };

const round4 = (x: number): number => Number(x.toFixed(4));
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, check: () => T | undefined, timeoutMs = 60000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('e2e: rolling averages flow', function () {
  this.timeout(240000);
  const run = randomUUID().slice(0, 8);
  const topic = `iotp-e2e/${run}/DATA`;
  const statsTopic = `iotp-e2e/${run}/STATS`;
  const brokerUrl = `mqtt://${MQTT_HOST}:${MQTT_PORT}`;
  let dir: string;
  let userDir: string;
  let dbFile: string;
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
        ROLLING_AVERAGES_DATABASE_URL: `sqlite:${dbFile}`,
        // settings.js derives ROLLING_AVERAGES_DATABASE_URL from DB_FILE (see the report).
        DB_FILE: dbFile,
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
    dbFile = join(dir, 'rolling.db');
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
    await runtime!.stop();
    runtime = undefined;
    await sleep(1500); // published while Node-RED is down: the broker keeps them in the session
    runtime = await start();
    await sleep(1500);
    publishing = false;
    await publisher;
    const expected = round4(mean(published));
    const last = await until(`STATS with avg_30min ${expected}`, () => stats.find((s) => s.avg_30min === expected), 60000);
    assert.equal(last.avg_30min, expected);
    // Nothing was counted twice either: the final STATS is the reference.
    await sleep(1000);
    assert.equal(stats[stats.length - 1].avg_30min, expected);
  });

  it('stores every number in the messages table', async () => {
    await runtime!.stop();
    runtime = undefined;
    const db = new Sqlite(dbFile, { readonly: true });
    try {
      const rows = db.prepare('SELECT number, epochtime FROM messages').all() as Array<{ number: number; epochtime: number }>;
      assert.deepEqual(rows.map((r) => r.number).sort((a, b) => a - b), [...published].sort((a, b) => a - b));
      for (const row of rows) assert.equal(typeof row.epochtime, 'number');
    } finally {
      db.close();
    }
  });
});
