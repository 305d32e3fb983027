/**
 * `npm start` on its embedded defaults: no external broker or database. It must bring up
 * Node-RED with every node of the package in the palette, the shipped flows deployed on their own
 * tabs, keep the user's edits on restart, and restore the shipped flows on --reset-flows.
 */
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, httpJson, packageRoot } from '../support/node-red';
import { makeTempDir, removeTempDir } from '../support/tmp';
import { readNodeDefinitions, readPackageJson } from '../support/package-info';

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
    for (const key of ['MQTT_URL', 'MQTT_HOST', 'BROKER', 'DATABASE_URL', 'MYSQL_HOST']) delete (env as Record<string, string | undefined>)[key];
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
      const loadedTypes = new Set((nodes.body as { types: string[]; module: string; enabled: boolean; err?: string }[])
        .filter((set) => set.module === 'node-red-contrib-iot-pipelines')
        .flatMap((set) => {
          assert.equal(set.err, undefined, `node set error: ${set.err}`);
          return set.types;
        }));
      const declared = Object.values(readPackageJson()['node-red']?.nodes ?? {}).flatMap((entry) => readNodeDefinitions(entry).map((d) => d.type));
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
    assert.ok(readdirSync(userDir).some((f) => /^flows\.json\.\d+\.bak$/.test(f)), 'previous flows kept as a backup');
  });
});
