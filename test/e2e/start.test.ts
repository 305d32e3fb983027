/**
 * `npm start` as the README's first command runs it for a newcomer: nothing listening on
 * MQTT_PORT, no DATABASE_URL (the embedded aedes broker, which speaks only MQTT 3.1.1, and
 * SQLite). Within a minute every shipped flow must do its job, the log must hold no error and no
 * stack trace, and after a restart it must stay quiet and honest (no "reachable again" on a first
 * connect, no history counted as new, one warning per problem). Then: every node in the palette,
 * the shipped flows on their own tabs, the user's edits kept, --reset-flows restoring them.
 *
 * Found by trying the first run: every broker config asked for MQTT 5, aedes refused them all, and
 * only ISEMS (polled over HTTP) worked; CI did not see it because its mosquitto holds 1883.
 */
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { openDatabase } from '../../lib/db';
import { parseDatabaseUrl } from '../../lib/db/url';
import type { Database } from '../../lib/db/types';
import type { QualityReport } from '../../lib/sensors/quality';
import { freePort, httpJson, packageRoot } from '../support/node-red';
import { freshStart, type FreshStart } from '../support/fresh-start';
import { makeTempDir, removeTempDir } from '../support/tmp';
import { readNodeDefinitions, readPackageJson } from '../support/package-info';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns a value (not undefined) or the deadline passes; `what` names it in the failure. */
async function within<T>(deadline: number, what: string, probe: () => Promise<T | undefined>): Promise<T> {
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`within a minute of "Started flows": ${what} did not happen${last ? ` (${(last as Error).message})` : ''}`);
    await sleep(500);
  }
}

async function count(db: Database, table: string): Promise<number> {
  const { rows } = await db.query(`SELECT COUNT(*) AS n FROM ${table}`);
  return Number(rows[0]!.n);
}

/** Log lines of the package's nodes: `[level] [type:name] text`. */
function packageLines(output: string, level: 'error' | 'warn' | 'info'): string[] {
  return output.split('\n').filter((line) => line.includes(`[${level}] [iotp-`));
}

/** The problems a log must not show in any run: errors, stack traces, floods. */
function assertCleanLog(output: string, run: string, labels: Map<string, number>): void {
  const errors = output.split('\n').filter((line) => line.includes('[error]'));
  assert.deepEqual(errors, [], `${run}: no [error] line`);
  assert.doesNotMatch(output, /^\s+at \S.*:\d+:\d+\)?$/m, `${run}: no stack trace`);
  assert.doesNotMatch(output, /MQTT_PUBLISH_QUEUE_FULL/, `${run}: no publish-queue flood`);
  assert.doesNotMatch(output, /reachable again/, `${run}: nothing was unreachable, so nothing is "reachable again"`);
  assert.doesNotMatch(output, /connection lost|cannot connect/, `${run}: the embedded broker was there all along`);
  // One warning per real problem: no node repeats a warning. The log names a node by type and
  // name only, so a text may appear once per node of that label.
  const warnings = packageLines(output, 'warn').map((line) => line.replace(/^.*?\[warn\] /, ''));
  for (const warning of new Set(warnings)) {
    const label = /^\[([^\]]+)\]/.exec(warning)?.[1] ?? '';
    const times = warnings.filter((w) => w === warning).length;
    assert.ok(times <= (labels.get(label) ?? 1), `${run}: repeated ${times} times: ${warning}`);
  }
}

/** How many nodes of the flows carry each log label (`type:name`, or `type:id` without a name). */
function nodeLabels(flowFile: string): Map<string, number> {
  const labels = new Map<string, number>();
  for (const node of JSON.parse(readFileSync(flowFile, 'utf8')) as Array<{ id: string; type: string; name?: string }>) {
    const label = `${node.type}:${node.name || node.id}`;
    labels.set(label, (labels.get(label) ?? 0) + 1);
  }
  return labels;
}

describe('npm start on a fresh machine: every flow works on the embedded broker and SQLite, and the log stays quiet', function () {
  this.timeout(300_000);
  let userDir: string;
  let started: FreshStart | undefined;

  before(() => {
    userDir = makeTempDir('iotp-fresh-');
  });
  after(async () => {
    await started?.stop();
    removeTempDir(userDir);
  });

  it('within a minute: facts stored, STATS published and the table printed, ISEMS served, readings and per-minute means stored and counted, a window posted to the simulated receiver; no error', async () => {
    // The per-minute means close at a UTC minute boundary (plus the window's grace): start late in
    // a minute, so the first boundary falls inside the minute the test allows.
    while (new Date().getUTCSeconds() < 42 || new Date().getUTCSeconds() > 47) await sleep(250);
    started = await freshStart(userDir);
    const run = started;
    console.log(`      empty machine by ${run.isolation}`);
    await run.waitForOutput(/Started flows/, 60_000);
    const flowsStarted = Date.now();
    const deadline = flowsStarted + 60_000;
    assert.match(run.output(), /embedded broker \(aedes\) listening on 127\.0\.0\.1:\d+/);

    // STATS: subscribe on the embedded broker as soon as it answers.
    const stats: string[] = [];
    const subscriber = await within(deadline, 'a subscription to STATS', async () => {
      const client = await mqtt.connectAsync(run.mqttUrl, {
        protocolVersion: 4,
        reconnectPeriod: 0,
        connectTimeout: 2000,
        clientId: `iotpfresh${process.pid}`,
      });
      client.on('message', (_topic, payload) => stats.push(payload.toString()));
      await client.subscribeAsync('STATS', { qos: 0 });
      return client;
    });
    try {
      const db = openDatabase(parseDatabaseUrl(`sqlite:${join(userDir, 'iot-pipelines.db')}`));
      try {
        const facts = await within(deadline, 'statestream facts stored', async () =>
          (await count(db, 'facts')) > 0 ? count(db, 'facts') : undefined,
        );
        const latest = await within(deadline, 'ISEMS measurements served by /measurements/latest', async () => {
          const answer = await httpJson(`${run.url}/measurements/latest`);
          const rows = (answer.body as { measurements?: unknown[] } | undefined)?.measurements;
          return answer.status === 200 && Array.isArray(rows) && rows.length === 5 ? rows : undefined;
        });
        const readings = await within(deadline, 'sensor_data stored', async () =>
          (await count(db, 'sensor_data')) > 0 ? count(db, 'sensor_data') : undefined,
        );
        const counted = await within(deadline, '/quality counting the readings', async () => {
          const answer = await httpJson(`${run.url}/quality`, { headers: { accept: 'application/json' } });
          const messages = (answer.body as QualityReport | undefined)?.metrics?.since_start?.messages ?? 0;
          return answer.status === 200 && messages > 0 ? messages : undefined;
        });
        // The connector's bookmark moves only once the simulated receiver accepted every batch of a window.
        const firstBookmark = await within(deadline, 'the connector to record its schedule', async () => {
          const { rows } = await db.query('SELECT window_end FROM connector_bookmarks');
          return rows.length > 0 && rows[0]!.window_end !== null ? Number(rows[0]!.window_end) : undefined;
        });
        const statsSeen = await within(deadline, 'STATS published', async () => (stats.length > 0 ? stats[0] : undefined));
        assert.deepEqual(Object.keys(JSON.parse(statsSeen) as object).sort(), ['avg_1min', 'avg_30min', 'avg_5min'], `STATS: ${statsSeen}`);
        await within(deadline, 'the averages table printed', async () =>
          /avg_1min\s+avg_5min\s+avg_30min/.test(run.output()) ? true : undefined,
        );
        // A minute's mean is written when the minute is over (plus the window's 10 s grace and its
        // 10 s tick): if a slow start pushed "Started flows" past the minute the test aimed at,
        // the first boundary comes later than the minute allows, through no fault of the flow.
        const meansDue = Math.max(deadline, Math.ceil(flowsStarted / 60_000) * 60_000 + 25_000);
        const means = await within(meansDue, 'per-minute means stored', async () =>
          (await count(db, 'aggregated_sensor_data')) > 0 ? count(db, 'aggregated_sensor_data') : undefined,
        );
        const posted = await within(deadline, 'a window posted to the simulated receiver', async () => {
          const { rows } = await db.query('SELECT window_end FROM connector_bookmarks');
          return Number(rows[0]!.window_end) > firstBookmark ? Number(rows[0]!.window_end) : undefined;
        });
        console.log(
          `      within the minute: ${facts} facts, ${latest.length} ISEMS nodes, ${readings} readings, ${counted} counted by /quality, ${means} per-minute means, STATS published, window up to ${new Date(posted).toISOString()} posted`,
        );
      } finally {
        await db.close();
      }
    } finally {
      await subscriber.endAsync(true);
    }
    assert.equal(await run.stop(), 0, 'npm start stops cleanly');
    started = undefined;
    assertCleanLog(run.output(), 'first start', nodeLabels(join(userDir, 'flows.json')));
    const fallbacks = packageLines(run.output(), 'warn').filter((line) => /connected with MQTT 3\.1\.1/.test(line));
    assert.ok(fallbacks.length > 0, 'the fallback to MQTT 3.1.1 is said');
  });

  it('restarted, it stays quiet and honest: no history counted as new, nothing "reachable again", one warning per problem', async () => {
    await started?.stop();
    const stoppedAt = Date.now();
    started = await freshStart(userDir);
    const run = started;
    await run.waitForOutput(/Started flows/, 60_000);
    // Until every broker config has said how it connected, and the ISEMS nodes were polled once.
    await run.waitForOutput(/poll solar nodes\] simulating/, 30_000);
    await sleep(8000);
    assert.equal(await run.stop(), 0);
    started = undefined;
    const output = run.output();
    assertCleanLog(output, 'restart', nodeLabels(join(userDir, 'flows.json')));
    const minutes = Math.ceil((Date.now() - stoppedAt) / 60_000) + 1;
    for (const line of output.split('\n').filter((l) => /new record\(s\)/.test(l))) {
      const records = /\] (\d+(?:\.\d+)?)(k?) new record/.exec(line);
      assert.ok(records && !records[2] && Number(records[1]) <= 5 * minutes, `only the minutes since the stop are new: ${line}`);
    }
    assert.doesNotMatch(output, /migrations applied|Applied migration/, 'nothing to migrate on a restart');
  });
});

interface Started {
  child: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

async function npmStart(env: Record<string, string>, extraArgs: string[] = []): Promise<Started> {
  const child = spawn(process.execPath, [join(packageRoot, 'scripts', 'start.js'), ...extraArgs], {
    cwd: env.NODE_RED_USER_DIR,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout?.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (text += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 60000;
  while (!/Started flows/.test(text)) {
    if (child.exitCode !== null) throw new Error(`npm start exited early:\n${text}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`npm start did not start flows in 60 s:\n${text}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    child,
    output: () => text,
    stop: async () => {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20000);
      await exited;
      clearTimeout(timer);
    },
  };
}

describe('npm start (embedded defaults)', function () {
  this.timeout(180000);
  let userDir: string;
  let env: Record<string, string>;

  before(async () => {
    userDir = makeTempDir('iotp-start-');
    env = {
      NODE_RED_USER_DIR: userDir,
      PORT: String(await freePort()),
      MQTT_PORT: String(await freePort()),
      // No broker or database configured: the launcher must bring its own.
      MQTT_URL: '',
      MQTT_HOST: '',
      BROKER: '',
      DATABASE_URL: '',
      MYSQL_HOST: '',
    };
    for (const key of ['MQTT_URL', 'MQTT_HOST', 'BROKER', 'DATABASE_URL', 'MYSQL_HOST'])
      delete (env as Record<string, string | undefined>)[key];
  });

  after(() => removeTempDir(userDir));

  it('starts Node-RED with every node in the palette and the shipped flows on their own tabs', async () => {
    const childEnv: Record<string, string> = { ...env };
    const started = await npmStart(childEnv);
    try {
      assert.match(started.output(), /embedded broker \(aedes\) listening on 127\.0\.0\.1:\d+/);
      const base = `http://127.0.0.1:${env.PORT}`;
      const nodes = await httpJson(`${base}/nodes`, { headers: { accept: 'application/json' } });
      assert.equal(nodes.status, 200);
      const loadedTypes = new Set(
        (nodes.body as { types: string[]; module: string; enabled: boolean; err?: string }[])
          .filter((set) => set.module === 'node-red-contrib-iot-pipelines')
          .flatMap((set) => {
            assert.equal(set.err, undefined, `node set error: ${set.err}`);
            return set.types;
          }),
      );
      const declared = Object.values(readPackageJson()['node-red']?.nodes ?? {}).flatMap((entry) =>
        readNodeDefinitions(entry).map((d) => d.type),
      );
      for (const type of declared) assert.ok(loadedTypes.has(type), `${type} not loaded`);

      const flows = await httpJson(`${base}/flows`, { headers: { accept: 'application/json', 'Node-RED-API-Version': 'v1' } });
      const tabs = (flows.body as { type: string; label?: string }[]).filter((n) => n.type === 'tab');
      const shipped = readdirSync(join(packageRoot, 'flows')).filter((f) => f.endsWith('.json'));
      assert.equal(tabs.length, shipped.length, `tabs: ${tabs.map((t) => t.label).join(', ')}`);
      // The dashboard pages run by default, and the start-up log links them.
      assert.match(started.output(), new RegExp(`dashboards \\(Dashboard 2\\.0 [\\d.]+\\): http://127\\.0\\.0\\.1:${env.PORT}/dashboard`));
      assert.equal((await fetch(`${base}/dashboard/sensors`)).status, 200);
    } finally {
      await started.stop();
    }
  });

  it('keeps edits made in the editor across restarts, and --reset-flows restores the shipped flows', async () => {
    const flowFile = join(userDir, 'flows.json');
    assert.ok(existsSync(flowFile));
    const edited = JSON.parse(readFileSync(flowFile, 'utf8')) as { type: string; label?: string }[];
    const tab = edited.find((n) => n.type === 'tab');
    assert.ok(tab);
    tab.label = 'edited by the user';
    writeFileSync(flowFile, JSON.stringify(edited));

    let started = await npmStart({ ...env });
    await started.stop();
    assert.match(readFileSync(flowFile, 'utf8'), /edited by the user/);

    started = await npmStart({ ...env }, ['--reset-flows']);
    await started.stop();
    assert.doesNotMatch(readFileSync(flowFile, 'utf8'), /edited by the user/);
    assert.ok(
      readdirSync(userDir).some((f) => /^flows\.json\.\d+\.bak$/.test(f)),
      'previous flows kept as a backup',
    );
  });
});
