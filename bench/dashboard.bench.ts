/**
 * Do the dashboard pages slow the pipelines? The statestream and sensors pipelines (the shipped
 * flows 1 and 4) on one Node-RED with MariaDB and a private mosquitto, measured three ways in the
 * same process, alternated over BENCH_ROUNDS rounds (default 2):
 *
 *   pipelines only      flows 1-5 deployed, no dashboard flow
 *   dashboards, closed  flows 1-5 and the five Dashboard 2.0 pages (flows/6-dashboard-*) deployed,
 *                       no browser connected: their polls, iotp-stats and QoS 0 taps still run
 *   dashboards, open    the same with the five pages open in headless Chromium, receiving every
 *                       update the pages get (charts redrawn, tables refreshed)
 *
 * Each measurement publishes BENCH_MESSAGES (default 20,000) QoS 1 messages as fast as the broker
 * acknowledges (window 1,000), first sensor readings, then statestream states, and times first
 * publish → last row stored (`sensor_data`, `messages`). Simulators are off: only the benchmark's
 * traffic flows. Flows are switched by full deploys through the admin API.
 *
 * Beside the rates, the CPU time spent per 1,000 messages by Node-RED (its cost of the pages,
 * whatever else runs) and by Chromium, all its processes (what rendering the pages costs the
 * machine): on a shared machine the CPU times compare better than the rates. Chromium runs at
 * nice 19: a viewer's browser runs on the viewer's machine, not on the pipeline's cores, so here it
 * takes only the CPU the pipeline leaves idle; what it still takes shows in its column.
 */
import { chmodSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import type { Browser, Page } from 'playwright-core';
import type { Database } from '../lib/db';
import { httpJson, packageRoot, startNodeRed, type RunningNodeRed } from '../test/support/node-red';
import { createTestMysqlDatabase, type TestMysqlDatabase } from '../test/support/services';
import {
  connectPublisher,
  openDb,
  peakRssMiB,
  publishAll,
  scalar,
  sleep,
  startPrivateMosquitto,
  type PrivateMosquitto,
  type Publish,
} from '../test/e2e/statestream-support';
import { CHROMIUM } from '../test/support/browser';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const PAGES = ['statestream', 'rolling-averages', 'isems', 'sensors', 'connector'];

type Condition = 'pipelines only' | 'dashboards, closed' | 'dashboards, open';

interface Measurement {
  condition: Condition;
  sensors: number;
  statestream: number;
  /** Node-RED's CPU ms (user + system) per 1,000 messages over both bursts. */
  cpuPerThousand: number;
  /** The same for Chromium, all its processes (browser, renderers, GPU and utility processes). */
  chromiumCpuPerThousand: number;
}

/** A process's parent and CPU seconds (user + system), from /proc (clock ticks of 1/100 s). */
function procStat(pid: number | undefined): { parent: number; cpu: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { parent: Number(fields[1]), cpu: (Number(fields[11]) + Number(fields[12])) / 100 };
}

function cpuSeconds(pid: number | undefined): number {
  return procStat(pid).cpu;
}

/**
 * CPU seconds of Chromium's live processes: the browser process is the child of this process that
 * Playwright talks to over a pipe, the others descend from it. Renderers live as long as their
 * page, so a measurement while the pages stay open counts all of their work.
 */
function chromiumCpuSeconds(): number {
  const parents = new Map<number, number>();
  const cpu = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = procStat(Number(entry));
      parents.set(Number(entry), stat.parent);
      cpu.set(Number(entry), stat.cpu);
    } catch {
      // exited since the listing
    }
  }
  const isBrowser = (pid: number): boolean => {
    try {
      return parents.get(pid) === process.pid && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--remote-debugging-pipe');
    } catch {
      return false;
    }
  };
  const inChromium = (pid: number): boolean => {
    for (let at: number | undefined = pid; at !== undefined && at > 1; at = parents.get(at)) if (isBrowser(at)) return true;
    return false;
  };
  let total = 0;
  for (const [pid, seconds] of cpu) if (inChromium(pid)) total += seconds;
  return total;
}

/** A launcher that runs Chromium at the lowest priority (its renderers inherit it). */
const chromiumLauncher = join(tmpdir(), `iotp-bench-chromium-${process.pid}.sh`);
function nicedChromium(): string {
  writeFileSync(chromiumLauncher, `#!/bin/sh\nexec nice -n 19 ${JSON.stringify(CHROMIUM)} "$@"\n`);
  chmodSync(chromiumLauncher, 0o755);
  return chromiumLauncher;
}

function readFlows(filter: (file: string) => boolean): Record<string, unknown>[] {
  const dir = join(packageRoot, 'flows');
  const nodes: Record<string, unknown>[] = [];
  const seen = new Set<string>();
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.json') && filter(f))
    .sort()) {
    for (const node of JSON.parse(readFileSync(join(dir, file), 'utf8')) as Record<string, unknown>[]) {
      if (seen.has(String(node.id))) continue;
      seen.add(String(node.id));
      nodes.push(node);
    }
  }
  return nodes;
}

async function deploy(red: RunningNodeRed, flows: unknown[]): Promise<void> {
  const from = red.output().length;
  const response = await httpJson(`${red.url}/flows`, {
    method: 'POST',
    body: flows,
    headers: { 'node-red-deployment-type': 'full', 'node-red-api-version': 'v1' },
  });
  if (response.status >= 300) throw new Error(`POST /flows: ${response.status} ${response.text.slice(0, 500)}`);
  for (;;) {
    const output = red.output().slice(from);
    if (/Started flows/.test(output)) break;
    if (/Waiting for missing types|Starting flows failed/.test(output)) throw new Error(output.slice(-2000));
    await sleep(100);
  }
  await sleep(3000); // subscriptions confirmed, dashboards' first polls done
}

async function timeToStore(db: Database, table: string, publish: () => Promise<void>, expected: number): Promise<number> {
  const before = await scalar(db, `SELECT COUNT(*) FROM ${table}`);
  const started = performance.now();
  await publish();
  for (;;) {
    const stored = (await scalar(db, `SELECT COUNT(*) FROM ${table}`)) - before;
    if (stored >= expected) break;
    if (performance.now() - started > 300_000) throw new Error(`${table}: ${stored} of ${expected} stored after 300 s`);
    await sleep(20);
  }
  return expected / ((performance.now() - started) / 1000);
}

async function measure(
  condition: Condition,
  db: Database,
  client: MqttClient,
  topics: { sensors: string; base: string },
  round: number,
  pid: number | undefined,
): Promise<Measurement> {
  const now = new Date().toISOString().slice(0, 23);
  const readings: Publish[] = Array.from({ length: MESSAGES }, (_, i) => ({
    topic: topics.sensors,
    payload: JSON.stringify({
      sensor_id: String((i % 5) + 1),
      timestamp: now,
      value: 10 + (i % 20),
      metadata: { location: { lat: 10, lng: 10 }, unit: 'C', type: 'temperature', description: 'bench' },
    }),
  }));
  const states: Publish[] = Array.from({ length: MESSAGES }, (_, i) => ({
    topic: `${topics.base}/sensor/bench_${i % 500}/state`,
    payload: `${round}-${i}`,
  }));
  const cpuBefore = cpuSeconds(pid);
  const chromiumBefore = chromiumCpuSeconds();
  const sensors = await timeToStore(db, 'sensor_data', () => publishAll(client, readings, { window: 1000 }), MESSAGES);
  const statestream = await timeToStore(db, 'messages', () => publishAll(client, states, { window: 1000 }), MESSAGES);
  const thousands = (2 * MESSAGES) / 1000;
  const cpuPerThousand = ((cpuSeconds(pid) - cpuBefore) * 1000) / thousands;
  const chromiumCpuPerThousand = ((chromiumCpuSeconds() - chromiumBefore) * 1000) / thousands;
  return { condition, sensors, statestream, cpuPerThousand, chromiumCpuPerThousand };
}

async function main(): Promise<void> {
  let mysql: TestMysqlDatabase | undefined;
  let broker: PrivateMosquitto | undefined;
  let red: RunningNodeRed | undefined;
  let browser: Browser | undefined;
  let client: MqttClient | undefined;
  let db: Database | undefined;
  try {
    mysql = await createTestMysqlDatabase('iotp_bench_dash');
    broker = await startPrivateMosquitto();
    const run = Date.now().toString(36);
    const topics = { sensors: `bench-${run}/sensors`, base: `bench-${run}/homeassistant` };
    red = await startNodeRed({
      flows: readFlows((f) => !f.startsWith('6-')),
      env: {
        DATABASE_URL: mysql.url,
        MQTT_URL: broker.url,
        SIMULATE: 'false',
        MQTT_TOPIC: topics.sensors,
        STATESTREAM_BASE_TOPIC: topics.base,
        API_KEY: `bench-${run}`,
      },
      startTimeoutMs: 60_000,
    });
    await sleep(3000);
    db = openDb(mysql.url);
    client = await connectPublisher(broker.url, `iotp-bench-dash-${run}`);
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: nicedChromium(),
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });

    const pipelines = readFlows((f) => !f.startsWith('6-'));
    const withDashboards = readFlows(() => true);
    const results: Measurement[] = [];
    // Warm-up (JIT, migrations, first connections), not reported.
    await measure('pipelines only', db, client, topics, 0, red.child.pid);
    for (let round = 1; round <= ROUNDS; round++) {
      await deploy(red, pipelines);
      results.push(await measure('pipelines only', db, client, topics, round, red.child.pid));
      await deploy(red, withDashboards);
      results.push(await measure('dashboards, closed', db, client, topics, round, red.child.pid));
      const pages: Page[] = [];
      for (const path of PAGES) {
        const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
        await page.goto(`${red.url}/dashboard/${path}`, { waitUntil: 'load' });
        await page.locator('.nrdb-ui-widget').first().waitFor({ timeout: 60_000 });
        pages.push(page);
      }
      // A viewer's pages were open before the burst: their first load (assets, replayed history,
      // the first draw of every chart) is not what a message costs them.
      await sleep(10_000);
      results.push(await measure('dashboards, open', db, client, topics, round, red.child.pid));
      for (const page of pages) await page.close();
    }

    const conditions: Condition[] = ['pipelines only', 'dashboards, closed', 'dashboards, open'];
    const fmt = (values: number[]): string => values.map((v) => Math.round(v).toLocaleString('en')).join(' / ');
    console.log(
      `\nDashboards and pipeline throughput: ${MESSAGES.toLocaleString('en')} QoS 1 messages per measurement, MariaDB, private mosquitto; ${ROUNDS} round(s), alternated; load ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
    );
    console.log(
      'condition'.padEnd(22) +
        'sensors msg/s (per round)'.padEnd(30) +
        'statestream msg/s (per round)'.padEnd(32) +
        'CPU ms per 1,000 messages: Node-RED'.padEnd(38) +
        'Chromium',
    );
    for (const condition of conditions) {
      const rows = results.filter((r) => r.condition === condition);
      console.log(
        condition.padEnd(22) +
          fmt(rows.map((r) => r.sensors)).padEnd(30) +
          fmt(rows.map((r) => r.statestream)).padEnd(32) +
          fmt(rows.map((r) => r.cpuPerThousand)).padEnd(38) +
          fmt(rows.map((r) => r.chromiumCpuPerThousand)),
      );
    }
    console.log(`Node-RED peak RSS: ${Math.round(peakRssMiB(red.child.pid))} MiB; Chromium at nice 19 on the same machine`);
  } finally {
    await client?.endAsync();
    await browser?.close();
    rmSync(chromiumLauncher, { force: true });
    await red?.stop();
    await db?.close();
    await broker?.stop();
    await mysql?.drop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
