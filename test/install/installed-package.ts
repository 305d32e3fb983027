/**
 * One suite, run per Node.js/Node-RED pair: the package installed from its tarball into a fresh
 * user directory (native build included) loads every node and lists its examples; imported into
 * a Node-RED that has a broker, variables and a flow of its own (a stock settings file, not this
 * project's), the examples change nothing of the host's, publish nothing until the user turns a
 * simulator on, and then run on their defaults (SQLite in the user directory).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { httpJson } from '../support/node-red';
import { readPackageJson } from '../support/package-info';
import { missingPrograms, startPrivateMosquitto, type PrivateMosquitto } from '../support/private-services';
import { inCi } from '../support/services';
import { removeTempDir } from '../support/tmp';
import {
  deploy,
  fetchExample,
  listedExamples,
  makeUserDir,
  MODULE,
  NodeBinary,
  nodeSets,
  npmCli,
  npmInstall,
  packTarball,
  run,
  ScratchNodeRed,
  startScratchNodeRed,
} from './scratch';

/** Tables of a SQLite file with their row counts (read with this project's better-sqlite3). */
function sqliteRowCounts(file: string): Record<string, number> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Sqlite = require('better-sqlite3') as typeof import('better-sqlite3');
  const db = new Sqlite(file, { readonly: true, fileMustExist: true });
  try {
    const counts: Record<string, number> = {};
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as {
      name: string;
    }[];
    for (const { name } of tables)
      counts[name] = (db.prepare(`SELECT COUNT(*) AS n FROM "${name.replace(/"/g, '""')}"`).get() as { n: number }).n;
    return counts;
  } finally {
    db.close();
  }
}

export interface InstallSetup {
  node: NodeBinary;
  redJs: string;
  /** npm-cli.js to install with (default: this machine's npm). */
  npm?: string;
  /** The SQLite driver `auto` must resolve to under this Node.js, checked in the installed copy. */
  expectedDriver?: 'node:sqlite' | 'better-sqlite3';
}

type FlowNode = Record<string, unknown> & { id: string; type: string };

/**
 * A flow of the host's, there before the examples: GET /host-probe answers what its nodes read
 * for ${TOPIC}, ${MQTT_URL} and ${SIMULATE} (an unset variable stays `${NAME}`), and the
 * process environment (through settings.js functionGlobalContext).
 */
const HOST_FLOW: FlowNode[] = [
  { id: 'host.tab', type: 'tab', label: "the host's own flow", disabled: false, info: '' },
  {
    id: 'host.in',
    type: 'http in',
    z: 'host.tab',
    name: '',
    url: '/host-probe',
    method: 'get',
    upload: false,
    swaggerDoc: '',
    x: 130,
    y: 60,
    wires: [['host.read']],
  },
  {
    id: 'host.read',
    type: 'change',
    z: 'host.tab',
    name: 'what this flow reads',
    action: '',
    property: '',
    from: '',
    to: '',
    reg: false,
    x: 330,
    y: 60,
    wires: [['host.env']],
    rules: [
      { t: 'set', p: 'payload', pt: 'msg', to: '{}', tot: 'json' },
      { t: 'set', p: 'payload.topic', pt: 'msg', to: '${TOPIC}', tot: 'str' },
      { t: 'set', p: 'payload.mqttUrl', pt: 'msg', to: '${MQTT_URL}', tot: 'str' },
      { t: 'set', p: 'payload.simulate', pt: 'msg', to: '${SIMULATE}', tot: 'str' },
    ],
  },
  {
    id: 'host.env',
    type: 'function',
    z: 'host.tab',
    name: 'process.env',
    func: "msg.payload.env = global.get('processEnv')();\nreturn msg;",
    outputs: 1,
    timeout: 0,
    noerr: 0,
    initialize: '',
    finalize: '',
    libs: [],
    x: 530,
    y: 60,
    wires: [['host.out']],
  },
  { id: 'host.out', type: 'http response', z: 'host.tab', name: '', statusCode: '', headers: {}, x: 690, y: 60, wires: [] },
];

async function probeHost(
  runtime: ScratchNodeRed,
): Promise<{ topic: string; mqttUrl: string; simulate: string; env: Record<string, string> }> {
  const answer = await httpJson(`${runtime.url}/endpoints/host-probe`);
  assert.equal(answer.status, 200, answer.text.slice(0, 500));
  return answer.body as { topic: string; mqttUrl: string; simulate: string; env: Record<string, string> };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(condition: () => boolean, timeoutMs: number, describe: () => string, poll?: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await poll?.();
    if (condition()) return;
    if (Date.now() > deadline) assert.fail(describe());
    await sleep(250);
  }
}

export function describeInstalledPackage(label: string, prepare: () => Promise<InstallSetup>): void {
  describe(`npm install <tarball> into a Node-RED user directory (${label})`, function () {
    this.timeout(600000);
    let node: NodeBinary;
    let redJs: string;
    let setup: InstallSetup;
    let userDir: string;
    let installOutput = '';
    let runtime: ScratchNodeRed | undefined;
    const declaredTypes = Object.keys(readPackageJson()['node-red']?.nodes ?? {}).sort();

    // The host: a broker of its own (so everything published into it is seen) and variables of
    // its own, one of which (TOPIC) means something else to its flows than to the examples.
    let broker: PrivateMosquitto | undefined;
    let subscriber: MqttClient | undefined;
    const published: { topic: string }[] = [];
    const connectedClients: string[] = [];
    const runId = `${process.pid}-${Date.now().toString(36)}`;
    const hostEnv: Record<string, string> = {
      TOPIC: `host/${runId}/own-meaning`,
      MQTT_TOPIC: `host/${runId}/sensors`,
      MQTT_URL: '',
      API_KEY: `host-api-key-${runId}`,
    };
    /** Variables added or changed in the host's process.env, compared with what it was started with. */
    const envChanges = (env: Record<string, string>): string[] => {
      const started: Record<string, string | undefined> = { ...process.env, ...hostEnv };
      // red.js itself records where Node-RED is installed.
      return Object.keys(env)
        .filter((name) => name !== 'NODE_RED_HOME' && env[name] !== started[name])
        .sort();
    };

    before(async function () {
      setup = await prepare();
      ({ node, redJs } = setup);
      const tarball = await packTarball();
      userDir = makeUserDir('iotp-install-');
      const install = await npmInstall(userDir, [tarball], { node, npm: setup.npm });
      installOutput = install.output;
      const npmVersion = (await run(node, [setup.npm ?? npmCli(), '--version'], { cwd: userDir })).trim();
      console.log(`      npm ${npmVersion} install <tarball> with Node ${node.version}: ${install.seconds.toFixed(1)} s`);
      if ((await missingPrograms(['mosquitto'])).length === 0) {
        broker = await startPrivateMosquitto({ extraConfig: ['sys_interval 1'] });
        hostEnv.MQTT_URL = broker.url;
        subscriber = mqtt.connect(broker.url, { clientId: `iotp-install-watch-${runId}`, reconnectPeriod: 0 });
        await new Promise<void>((resolve, reject) => subscriber!.once('connect', () => resolve()).once('error', reject));
        subscriber.on('message', (topic, payload) => {
          if (topic === '$SYS/broker/clients/connected') connectedClients.push(payload.toString());
          else published.push({ topic });
        });
        await subscriber.subscribeAsync(['#', '$SYS/broker/clients/connected'], { qos: 1 });
      }
      // The host's settings lend its flows a look at process.env (for the probe flow below).
      writeFileSync(
        join(userDir, 'settings.js'),
        "module.exports = {\n    uiHost: '127.0.0.1',\n    flowFile: 'flows.json',\n    logging: { console: { level: 'info', metrics: false, audit: false } },\n" +
          // Its flows' HTTP endpoints under a root of its own: the connector's receiver must follow it.
          "    httpNodeRoot: '/endpoints',\n" +
          '    functionGlobalContext: { processEnv: () => ({ ...process.env }) },\n};\n',
      );
      runtime = await startScratchNodeRed(node, redJs, userDir, broker ? hostEnv : {});
    });

    after(async () => {
      await runtime?.stop();
      await subscriber?.endAsync();
      await broker?.stop();
      if (userDir) removeTempDir(userDir);
    });

    it('installs without the user approving any install script', () => {
      const userPackage = JSON.parse(readFileSync(join(userDir, 'package.json'), 'utf8')) as Record<string, unknown>;
      assert.equal(userPackage.allowScripts, undefined, 'the user directory approves no install script');
      // npm 12 lists every install script it skipped ("... had install scripts blocked ..."). None
      // may belong to a dependency; the package's own `prepare` is listed only while package.json
      // still has one (issue [1/7] removes it). (npm 11 lists scripts "not yet covered by
      // allowScripts" too, but runs them: on Node 20 that is better-sqlite3 12's build.)
      const blockedList =
        /^npm warn install-scripts .*blocked.*\n((?:npm warn install-scripts\s+\S+@\S+ \(.*\n)+)/m.exec(installOutput)?.[1] ?? '';
      const blocked = [...blockedList.matchAll(/^npm warn install-scripts\s+(\S+@\S+) \(/gm)].map((m) => m[1]);
      const ownPrepare = (readPackageJson() as { scripts?: Record<string, string> }).scripts?.prepare !== undefined;
      assert.deepEqual(
        blocked.filter((pkg) => !(ownPrepare && pkg.startsWith(`${MODULE}@`))),
        [],
        `install scripts npm blocked:\n${installOutput}`,
      );
    });

    it('resolves the SQLite driver this Node.js should use', async function () {
      if (!setup.expectedDriver) this.skip();
      const probe = `console.log('driver', require('${MODULE}/dist/lib/db/sqlite-driver').pickDriver('auto'))`;
      const output = await run(node, ['-e', probe], { cwd: userDir, env: { ...process.env, IOTP_SQLITE_DRIVER: '' } });
      assert.match(output, new RegExp(`^driver ${setup.expectedDriver}$`, 'm'));
      assert.doesNotMatch(output, /ExperimentalWarning/);
    });

    it('installs a real copy of the package and a better-sqlite3 that loads in this Node.js', async () => {
      // npm 11 lists packages whose install scripts (prepare included) the user has not allowed; npm 12 blocks them.
      assert.doesNotMatch(installOutput, new RegExp(`install-scripts[^\\n]*${MODULE}`), 'npm flags an install script of the package');
      const installed = JSON.parse(readFileSync(join(userDir, 'node_modules', MODULE, 'package.json'), 'utf8')) as { version: string };
      assert.equal(installed.version, readPackageJson().version);
      const userPackage = JSON.parse(readFileSync(join(userDir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
      assert.match(userPackage.dependencies?.[MODULE] ?? '', /\.tgz$/, 'the user directory records the tarball as a dependency');
      // The addon loads and works under the Node.js that will run Node-RED (not the one that ran mocha).
      const probe = await run(
        node,
        [
          '-e',
          "const D = require('better-sqlite3'); const db = new D(':memory:'); console.log('sqlite', db.prepare('SELECT sqlite_version() AS v').get().v, process.versions.node)",
        ],
        { cwd: userDir },
      );
      assert.match(probe, new RegExp(`^sqlite \\d+\\.\\d+\\.\\d+ ${node.version.replace(/\./g, '\\.')}$`, 'm'));
    });

    it('loads every node type of the package without errors', async () => {
      const sets = (await nodeSets(runtime!)).filter((set) => set.module === MODULE);
      const failed = sets.filter((set) => set.err || !set.enabled).map((set) => `${set.id}: ${set.err ?? 'disabled'}`);
      assert.deepEqual(failed, []);
      assert.deepEqual(sets.flatMap((set) => set.types).sort(), declaredTypes);
      assert.ok(sets.every((set) => set.version === readPackageJson().version));
    });

    it('lists the package examples under Import > Examples', async () => {
      const shipped = readdirSync(join(userDir, 'node_modules', MODULE, 'examples'))
        .filter((f) => f.endsWith('.json'))
        .map((f) => f.replace(/\.json$/, ''))
        .sort();
      assert.ok(shipped.length > 0, 'the tarball ships examples/');
      assert.deepEqual(await listedExamples(runtime!), shipped);
    });

    it("leaves the host alone: its process.env and its flows' ${TOPIC}/${MQTT_URL} unchanged, nothing published until a simulator is turned on", async function () {
      if (!broker) {
        if (inCi()) assert.fail('mosquitto is not installed; CI=true requires it');
        console.log('      [skip] mosquitto is not installed (a private broker is needed to see everything published)');
        return this.skip();
      }
      const sqliteFile = join(userDir, 'iot-pipelines.db');
      // The host's own flow, deployed before the examples arrive.
      const from = await deploy(runtime!, HOST_FLOW);
      const before = await probeHost(runtime!);
      assert.deepEqual(envChanges(before.env), [], "the package changed the host's process.env when it loaded");
      assert.deepEqual([before.topic, before.mqttUrl, before.simulate], [hostEnv.TOPIC, hostEnv.MQTT_URL, '${SIMULATE}']);

      // Import → Examples, the five pipelines, as the editor's import does: a config node already
      // there (the examples share iotp.broker and iotp.database) is not added twice; then Deploy.
      // The dashboard pages are left out: this host has no Dashboard 2.0, and a flow with unknown
      // node types would stop every flow at deploy.
      const current = (await httpJson(`${runtime!.url}/flows`, { headers: { accept: 'application/json', 'node-red-api-version': 'v1' } }))
        .body as FlowNode[];
      const ids = new Set(current.map((n) => n.id));
      const imported: FlowNode[] = [];
      const pipelines = (await listedExamples(runtime!)).filter((name) => !name.includes('dashboard'));
      assert.equal(pipelines.length, 5, `five pipeline examples: ${pipelines.join(', ')}`);
      for (const name of pipelines) {
        for (const node of (await fetchExample(runtime!, name)) as FlowNode[]) {
          if (node.type === 'global-config' || ids.has(node.id)) continue;
          ids.add(node.id);
          imported.push(node);
        }
      }
      assert.deepEqual(
        imported
          .filter((n) => n.type === 'iotp-mqtt-broker' || n.type === 'iotp-database')
          .map((n) => n.id)
          .sort(),
        ['iotp-ra-db', 'iotp.broker', 'iotp.database'],
      );
      const flows = [...current, ...imported];
      await deploy(runtime!, flows, 'flows');
      await runtime!.waitForOutput(/\[iotp-mqtt-broker:[^\]]*\][^\n]*connected/, { from, timeoutMs: 30000 });

      // Quiet: nothing on the host's broker while the simulators are off (they publish every second when on).
      await sleep(8000);
      assert.deepEqual(
        published.map((m) => m.topic),
        [],
        'published into the host broker without a simulator turned on',
      );
      // One MQTT connection for all examples besides this test's own subscriber ($SYS counts clients).
      await waitFor(
        () => connectedClients.at(-1) === '2',
        15000,
        () => `connected clients: ${connectedClients.join(', ')}`,
      );
      const imported_ = await probeHost(runtime!);
      assert.deepEqual(envChanges(imported_.env), [], "importing the examples changed the host's process.env");
      assert.deepEqual(
        [imported_.topic, imported_.mqttUrl, imported_.simulate],
        [before.topic, before.mqttUrl, before.simulate],
        "the host flow's variables changed meaning",
      );

      // Turning on one simulator, the way a user does (the tab's SIMULATE default, Edit flow →
      // Environment variables): it publishes, to the host's MQTT_TOPIC (the host's environment
      // wins over the example's default `sensors`), and its readings land in the examples' default
      // database (`sqlite:iot-pipelines.db` in the user directory).
      const sensorsTab = flows.find((n) => n.type === 'tab' && n.label === '4 IoT sensors')!;
      const simulate = (sensorsTab.env as { name: string; value: string }[]).find((e) => e.name === 'SIMULATE')!;
      assert.match(simulate.value, /: "false"$/);
      simulate.value = simulate.value.replace(/: "false"$/, ': "true"');
      await deploy(runtime!, flows, 'flows');
      await waitFor(
        () => published.length > 0,
        15000,
        () => 'the turned-on simulator published nothing',
      );
      assert.deepEqual([...new Set(published.map((m) => m.topic))], [hostEnv.MQTT_TOPIC]);
      await waitFor(
        () => existsSync(sqliteFile) && (sqliteRowCounts(sqliteFile).sensor_data ?? 0) > 0,
        30000,
        () => `no sensor_data rows: ${existsSync(sqliteFile) ? JSON.stringify(sqliteRowCounts(sqliteFile)) : 'no file'}`,
      );

      // The connector posts to its own simulated receiver (the tab's default POST_DATA_ENDPOINT, a
      // path): on this Node-RED's port and under its httpNodeRoot (/endpoints), not a guessed
      // 127.0.0.1:1880/simulated-receiver. A window asked for through the request API must arrive.
      const endpoints = `${runtime!.url}/endpoints`;
      const auth = { authorization: `Bearer ${hostEnv.API_KEY}` };
      const now = Date.now();
      const window = {
        start_time: new Date(now - 10 * 60_000).toISOString().slice(0, 19),
        end_time: new Date(now).toISOString().slice(0, 19),
      };
      const raised = await httpJson(`${endpoints}/raise-request`, { method: 'POST', body: window, headers: auth });
      assert.equal(raised.status, 200, raised.text);
      const taskId = (raised.body as { task_id: string }).task_id;
      let task: { state?: string; status?: string } = {};
      await waitFor(
        () => task.state === 'SUCCESS' || task.state === 'FAILURE',
        30000,
        () => `task ${taskId}: ${JSON.stringify(task)}`,
        async () => void (task = (await httpJson(`${endpoints}/tasks/${taskId}`, { headers: auth })).body as typeof task),
      );
      assert.equal(task.state, 'SUCCESS', JSON.stringify(task));

      const after = await probeHost(runtime!);
      assert.deepEqual(envChanges(after.env), [], "running the examples changed the host's process.env");
      assert.deepEqual([after.topic, after.mqttUrl, after.simulate], [before.topic, before.mqttUrl, before.simulate]);
      assert.ok(runtime!.alive());
      // Each example database got its schema (the migrations ran on this Node.js's driver).
      for (const file of ['iot-pipelines.db', 'rolling-averages.db']) {
        const tables = sqliteRowCounts(join(userDir, file));
        assert.ok('migrations' in tables && Object.keys(tables).length > 1, `${file}: tables ${JSON.stringify(tables)}`);
        assert.ok(tables.migrations > 0, `${file}: no migration recorded`);
      }
      assert.deepEqual(runtime!.output().match(/^.*\[error\].*$/gm) ?? [], [], 'no runtime errors from start to running examples');
      assert.doesNotMatch(runtime!.output(), /ExperimentalWarning/, 'no experimental-feature warning');
    });
  });
}
