/**
 * Bad configuration gives one clear line naming the variable, not a stack trace: an unusable
 * value stops start-up; an unreachable database does not (the nodes buffer and retry), and is
 * reported once.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, packageRoot, startNodeRed } from '../support/node-red';
import { makeTempDir, removeTempDir } from '../support/tmp';
import { BAD_VALUES, type BadValue } from '../support/bad-config';

/** Runs a command to its exit (a hang guard of 60 s), with a clean environment plus `env`. */
function runToExit(args: string[], env: Record<string, string>, cwd: string): Promise<{ code: number | null; output: string }> {
  const base = { ...process.env };
  // The test machine's own settings must not mask the value under test.
  for (const name of ['MQTT_URL', 'MQTT_HOST', 'BROKER', 'DATABASE_URL', 'MYSQL_HOST', 'CI']) delete base[name];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`still running after 60 s (the bad value was accepted?):\n${output.slice(-3000)}`));
    }, 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

function assertRefused(bad: BadValue, result: { code: number | null; output: string }): void {
  const lines = result.output.split('\n').filter((line) => line.includes(`configuration error: ${bad.variable}`));
  assert.equal(result.code, 1, `exit code:\n${result.output}`);
  assert.equal(lines.length, 1, result.output);
  assert.doesNotMatch(result.output, /^\s+at /m, 'no stack trace');
  assert.doesNotMatch(result.output, /hunter/, 'no secret');
  assert.doesNotMatch(result.output, /Server now running|Started flows|embedded broker/, 'nothing started');
}

/** The case's environment; a path case points its variable at a file. */
function caseEnv(bad: BadValue, dir: string): Record<string, string> {
  const env: Record<string, string> = { ...bad.extra, NODE_RED_USER_DIR: join(dir, 'user'), NODE_RED_CREDENTIAL_SECRET: '' };
  if (bad.path) {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'not a directory\n');
    env[bad.variable] = file;
  } else {
    env[bad.variable] = bad.value;
  }
  return env;
}

describe('configuration errors at start-up', function () {
  this.timeout(90000);
  let dir: string;
  let port: string;

  beforeEach(async () => {
    dir = makeTempDir('iotp-config-');
    port = String(await freePort());
  });
  afterEach(() => removeTempDir(dir));

  for (const bad of BAD_VALUES) {
    const shown = bad.path ? 'a file' : JSON.stringify(bad.value);
    it(`${bad.variable}=${shown}: \`npm start\` stops with one line naming ${bad.variable}, before anything starts or is written`, async () => {
      // A free port: a value wrongly accepted is seen starting, not colliding.
      const env = { PORT: port, MQTT_PORT: String(await freePort()), ...caseEnv(bad, dir) };
      const result = await runToExit([join(packageRoot, 'scripts', 'start.js')], env, dir);
      assertRefused(bad, result);
      if (!bad.path) assert.equal(existsSync(join(dir, 'user')), false, 'the user directory was not created');
    });

    if (bad.variable === 'NODE_RED_USER_DIR') continue; // Node-RED itself needs it before settings.js runs
    it(`${bad.variable}=${shown}: Node-RED with settings.js (the compose stack) stops with one line naming ${bad.variable}`, async () => {
      const env: Record<string, string> = { PORT: port, ...caseEnv(bad, dir) };
      const redJs = require.resolve('node-red/red.js', { paths: [packageRoot] });
      const result = await runToExit(
        [redJs, '--settings', join(packageRoot, 'settings.js'), '--userDir', env.NODE_RED_USER_DIR!],
        env,
        dir,
      );
      assertRefused(bad, result);
      assert.equal(existsSync(join(dir, 'user', 'flows.json')), false, 'no flows deployed');
    });
  }

  it('an unreachable database is reported once, naming it, while Node-RED keeps running', async () => {
    const closedPort = await freePort();
    const url = `mysql://iot:hunter2@127.0.0.1:${closedPort}/iot`;
    const running = await startNodeRed({
      env: { DATABASE_URL: url },
      flows: [
        { id: 't', type: 'tab', label: 'probe' },
        { id: 'db', type: 'iotp-database', connection: 'url', url: '${DATABASE_URL}', version: 1 },
        {
          id: 'w',
          z: 't',
          type: 'iotp-db-write',
          database: 'db',
          table: 'probe',
          columns: 'n',
          conflict: 'error',
          migrationSet: '',
          batchSize: 10,
          maxLatency: 10,
          maxBuffered: 100,
          overflow: 'backpressure',
          journal: true,
          x: 300,
          y: 100,
          wires: [[]],
        },
        {
          id: 'i',
          z: 't',
          type: 'inject',
          repeat: '0.2',
          once: true,
          payload: '{"n":1}',
          payloadType: 'json',
          x: 100,
          y: 100,
          wires: [['w']],
        },
      ],
    });
    try {
      await running.waitForOutput(/is unreachable/, 30000);
      await new Promise((r) => setTimeout(r, 3000));
      const reports = running
        .output()
        .split('\n')
        .filter((line) => /is unreachable/.test(line));
      assert.equal(reports.length, 1, reports.join('\n'));
      assert.match(reports[0], new RegExp(`mysql://iot@127\\.0\\.0\\.1:${closedPort}/iot`));
      assert.doesNotMatch(running.output(), /hunter2/);
    } finally {
      await running.stop();
    }
  });
});
