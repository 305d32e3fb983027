/**
 * settings.js's first-start deployment of the shipped flows (npm start, the container): the
 * dashboard pages are deployed only where Dashboard 2.0 is installed (their unknown ui-* nodes
 * would otherwise hold every flow back), and the shipped credential references (the connector
 * page's `${API_KEY}`) go to flows_cred.json, where Node-RED reads credentials, never over a file
 * the user already has. settings.js runs in a child process, as Node-RED loads it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../support/node-red';
import { makeTempDir, removeTempDir } from '../support/tmp';

interface Seeded {
  output: string;
  flows: Array<{ id: string; type: string; credentials?: unknown }>;
  credentials: Record<string, Record<string, string>> | undefined;
}

function seed(settingsFile: string, userDir: string): Seeded {
  const env: Record<string, string | undefined> = {
    ...process.env,
    NODE_RED_USER_DIR: userDir,
    IOTP_FLOWS_DIR: join(packageRoot, 'flows'),
    IOTP_RESET_FLOWS: undefined,
  };
  for (const name of ['DATABASE_URL', 'MQTT_URL', 'API_KEY']) delete env[name];
  const child = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(settingsFile)})`], { env, encoding: 'utf8' });
  assert.equal(child.status, 0, child.stderr);
  const credFile = join(userDir, 'flows_cred.json');
  return {
    output: child.stdout + child.stderr,
    flows: JSON.parse(readFileSync(join(userDir, 'flows.json'), 'utf8')) as Seeded['flows'],
    credentials: existsSync(credFile) ? (JSON.parse(readFileSync(credFile, 'utf8')) as Seeded['credentials']) : undefined,
  };
}

describe('settings.js: seeding the shipped flows', () => {
  const shipped = readdirSync(join(packageRoot, 'flows'))
    .filter((f) => f.endsWith('.json'))
    .sort();
  const dashboards = shipped.filter((f) => f.startsWith('6-dashboard-'));
  let dirs: string[] = [];
  const tempDir = (): string => {
    const dir = makeTempDir('iotp-seed-');
    dirs.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const dir of dirs) removeTempDir(dir);
    dirs = [];
  });

  it('with Dashboard 2.0 installed: every flow, and the credential references in flows_cred.json', () => {
    assert.equal(dashboards.length, 5);
    const seeded = seed(join(packageRoot, 'settings.js'), tempDir());
    assert.match(seeded.output, new RegExp(`deployed ${shipped.length} shipped flow\\(s\\)`));
    assert.ok(seeded.flows.some((n) => n.type === 'ui-base'));
    assert.deepEqual(
      seeded.flows.filter((n) => n.credentials !== undefined),
      [],
      'no credentials left in flows.json',
    );
    assert.deepEqual(seeded.credentials, {
      'iotp.dash.connector.raise': { user: '', password: '${API_KEY}' },
      'iotp.dash.connector.task': { user: '', password: '${API_KEY}' },
    });
  });

  it('without Dashboard 2.0: the pipelines only, and it says which pages it left out', () => {
    // settings.js beside no node_modules, as in a Node-RED without the dashboard.
    const elsewhere = tempDir();
    copyFileSync(join(packageRoot, 'settings.js'), join(elsewhere, 'settings.js'));
    const seeded = seed(join(elsewhere, 'settings.js'), tempDir());
    assert.match(seeded.output, /deployed 5 shipped flow\(s\)/);
    for (const file of dashboards)
      assert.match(seeded.output, new RegExp(`${file} not deployed: @flowfuse/node-red-dashboard \\(Dashboard 2\\.0\\) is not installed`));
    assert.deepEqual(
      seeded.flows.filter((n) => /^ui-/.test(n.type)).map((n) => n.id),
      [],
    );
    assert.equal(seeded.flows.filter((n) => n.type === 'tab').length, 5);
    assert.equal(seeded.credentials, undefined);
  });

  it('leaves a credentials file the user already has as it is', () => {
    const userDir = tempDir();
    const mine = JSON.stringify({ $: 'encrypted-by-the-user' });
    writeFileSync(join(userDir, 'flows_cred.json'), mine);
    seed(join(packageRoot, 'settings.js'), userDir);
    assert.equal(readFileSync(join(userDir, 'flows_cred.json'), 'utf8'), mine);
  });
});
