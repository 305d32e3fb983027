/**
 * docker-compose.yml must stay valid even though no Docker engine runs here: Debian's
 * docker-compose validates and renders it offline (`config`). CI installs it; elsewhere that check
 * is skipped with a message when the command is missing. The other checks need no Docker: every
 * variable of .env.example reaches the stack and every variable the stack reads is documented
 * there, and the mosquitto entrypoint writes a configuration that a real mosquitto 2 enforces.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { freePort, packageRoot } from '../support/node-red';
import { inCi } from '../support/services';
import { makeTempDir, removeTempDir } from '../support/tmp';

const read = (file: string): string => readFileSync(join(packageRoot, file), 'utf8');
const envExampleNames = (): string[] => [...read('.env.example').matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]);
const composeReferences = (): Set<string> => new Set([...read('docker-compose.yml').matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]));

describe('docker-compose.yml', function () {
  this.timeout(60000);

  /** `docker-compose config` with .env.example and `env` on top (the shell's values win over the file's, as in compose). */
  function composeConfig(env: Record<string, string | undefined>, ...args: string[]) {
    const base = { ...process.env };
    for (const name of ['NODE_RED_ADMIN_PASSWORD_HASH', 'NODE_RED_CREDENTIAL_SECRET']) delete base[name];
    return spawnSync(
      'docker-compose',
      ['--env-file', join(packageRoot, '.env.example'), '-f', join(packageRoot, 'docker-compose.yml'), 'config', ...args],
      {
        cwd: packageRoot,
        encoding: 'utf8',
        env: { ...base, ...env },
      },
    );
  }
  // What a user puts in .env: a bcrypt hash (with its `$`) and a random key.
  const secrets = {
    NODE_RED_ADMIN_PASSWORD_HASH: '$2b$08$K7rQ4d0xZcV1n3b5m7p9qOeXh2jLkA4sD6fG8hJ0kL2zX4cV6bN8m',
    NODE_RED_CREDENTIAL_SECRET: 'b3c1e0f2a4d6c8e0f1a3b5d7c9e1f3a5',
  };

  function requireCompose(test: Mocha.Context): void {
    const probe = spawnSync('docker-compose', ['version'], { encoding: 'utf8' });
    if (probe.error) {
      if (inCi()) assert.fail('docker-compose is not installed (CI must install Debian docker-compose)');
      console.log('      [skip] docker-compose not installed: apt-get install docker-compose');
      test.skip();
    }
  }

  it('passes `docker-compose config` with the example environment and the two required secrets', function () {
    requireCompose(this);
    const result = composeConfig(secrets, '-q');
    assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
    // The hash reaches the container as written (compose escapes its `$` as `$$` in the rendered file).
    const rendered = composeConfig(secrets);
    assert.equal(rendered.status, 0, rendered.stderr);
    assert.ok(
      rendered.stdout.includes(`NODE_RED_ADMIN_PASSWORD_HASH: ${secrets.NODE_RED_ADMIN_PASSWORD_HASH.replaceAll('$', '$$$$')}`),
      rendered.stdout,
    );
  });

  it('refuses to render the stack without the editor password hash or the credential key', function () {
    requireCompose(this);
    for (const missing of Object.keys(secrets) as Array<keyof typeof secrets>) {
      const result = composeConfig({ ...secrets, [missing]: '' }, '-q');
      assert.notEqual(result.status, 0, `docker-compose config accepted an empty ${missing}`);
      assert.match(result.stderr, new RegExp(`set ${missing} in \\.env`), result.stderr);
    }
  });

  it('uses every variable of .env.example, and .env.example documents every variable it uses', () => {
    const documented = envExampleNames();
    const used = composeReferences();
    assert.deepEqual(
      documented.filter((name) => !used.has(name)),
      [],
      'in .env.example but never used by docker-compose.yml',
    );
    assert.deepEqual(
      [...used].filter((name) => !documented.includes(name)),
      [],
      'used by docker-compose.yml but missing from .env.example',
    );
    assert.equal(new Set(documented).size, documented.length, 'each variable once in .env.example');
  });

  it('passes every variable settings.js and lib/runtime-env.ts resolve to the node-red service', () => {
    const runtimeEnv = read('lib/runtime-env.ts');
    const defaults = [
      ...runtimeEnv
        .slice(runtimeEnv.indexOf('PLAIN_DEFAULTS'), runtimeEnv.indexOf('};', runtimeEnv.indexOf('PLAIN_DEFAULTS')))
        .matchAll(/^\s+([A-Z][A-Z0-9_]*):/gm),
    ].map((m) => m[1]);
    assert.ok(defaults.length >= 10, 'PLAIN_DEFAULTS parsed');
    const settings = [...read('settings.js').matchAll(/env\.([A-Z][A-Z0-9_]*)/g)]
      .map((m) => m[1])
      .filter((name) => name !== 'IOTP_FLOWS_DIR' && name !== 'IOTP_JOURNAL_DIR');
    const compose = read('docker-compose.yml');
    const service = compose.slice(compose.indexOf('\n  node-red:'), compose.indexOf('\n  adminer:'));
    for (const name of new Set([...defaults, ...settings, 'DATABASE_URL', 'MQTT_URL', 'ROLLING_AVERAGES_DATABASE_URL', 'DB_FILE'])) {
      assert.match(service, new RegExp(`\\n {6}${name}:`), `node-red service passes ${name}`);
    }
  });

  it('the image installs the Dashboard 2.0 version the tests ran with (package.json pins it)', () => {
    const pinned = (JSON.parse(read('package.json')) as { devDependencies: Record<string, string> }).devDependencies[
      '@flowfuse/node-red-dashboard'
    ];
    assert.match(pinned, /^\d+\.\d+\.\d+$/, 'an exact version, not a range');
    const dockerfile = read('Dockerfile');
    assert.equal(/^ARG DASHBOARD_VERSION=(\S+)$/m.exec(dockerfile)?.[1], pinned);
    assert.match(dockerfile, /npm install [^\n]*"@flowfuse\/node-red-dashboard@\$\{DASHBOARD_VERSION\}"/);
  });

  it('profile postgres: PostgreSQL 16 with a TCP health check, and a node-red on it with the same settings', function () {
    requireCompose(this);
    const rendered = composeConfig({ ...secrets, COMPOSE_PROFILES: 'postgres' });
    assert.equal(rendered.status, 0, rendered.stderr);
    const services = `\n${rendered.stdout}`;
    const service = (name: string): string => {
      const start = services.indexOf(`\n  ${name}:\n`);
      assert.ok(start >= 0, `service ${name} rendered`);
      const next = services.slice(start + 1).search(/\n {2}[a-z-]+:\n|\n[a-z]+:/);
      return services.slice(start, next < 0 ? undefined : start + 1 + next);
    };
    const postgres = service('postgres');
    assert.match(postgres, /image: postgres:16/);
    assert.match(postgres, /pg_isready -h 127\.0\.0\.1/);
    const onPostgres = service('node-red-postgres');
    assert.match(onPostgres, /DATABASE_URL: postgresql:\/\/iot:change-me-postgres@postgres:5432\/iot/);
    assert.match(onPostgres, /postgres:\n\s+condition: service_healthy/);
    assert.match(onPostgres, /node-red-postgres-data:\/data|source: node-red-postgres-data/);
    // Every setting the MySQL node-red gets, it gets too (the same environment, DATABASE_URL aside).
    const names = (text: string): string[] =>
      [...text.slice(text.indexOf('environment:')).matchAll(/\n {6}([A-Z][A-Z0-9_]*):/g)].map((m) => m[1]).sort();
    assert.deepEqual(names(onPostgres), names(service('node-red')));
    // Without the profile, neither runs (the default stack stays MySQL).
    const compose = read('docker-compose.yml');
    for (const name of ['postgres', 'node-red-postgres'])
      assert.match(compose, new RegExp(`\\n {2}${name}:\\n(?:.*\\n)*?\\s+profiles: \\["postgres"\\]`));
  });

  it('mysql: trigger creation allowed under binary logging, a TCP health check, node-red waits for healthy services', () => {
    const compose = read('docker-compose.yml');
    assert.match(compose, /image: mysql:8\.4/);
    assert.match(compose, /--log-bin-trust-function-creators=1/);
    assert.match(compose, /mysqladmin ping -h 127\.0\.0\.1/);
    const nodeRed = compose.slice(compose.indexOf('\n  node-red:'), compose.indexOf('\n  adminer:'));
    assert.match(nodeRed, /mosquitto:\n\s+condition: service_healthy/);
    assert.match(nodeRed, /mysql:\n\s+condition: service_healthy/);
    assert.match(compose, /\n {2}adminer:\n(?:.*\n)*?\s+profiles: \["dbui"\]/);
  });
});

describe('docker/mosquitto/entrypoint.sh with a real mosquitto 2', function () {
  this.timeout(30000);
  let dir = '';

  before(function () {
    const probe = spawnSync('mosquitto', ['-h'], { encoding: 'utf8' });
    if (probe.error) {
      if (inCi()) assert.fail('mosquitto is not installed');
      console.log('      [skip] mosquitto not installed');
      this.skip();
    }
    dir = makeTempDir('iotp-mosq-');
  });
  after(() => dir && removeTempDir(dir));

  /** Runs the entrypoint in dry-run mode, then mosquitto on a free port with the result. */
  async function brokerWith(env: Record<string, string>): Promise<{ port: number; log: () => string; stop: () => Promise<void> }> {
    const run = makeTempDir('iotp-mosq-run-');
    chmodSync(run, 0o777); // mosquitto started as root reads and writes it as its own user
    const result = spawnSync('sh', [join(packageRoot, 'docker/mosquitto/entrypoint.sh')], {
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH,
        IOTP_MOSQUITTO_SRC: join(packageRoot, 'docker/mosquitto'),
        IOTP_MOSQUITTO_RUN: run,
        IOTP_MOSQUITTO_DRY_RUN: '1',
        ...env,
      },
    });
    assert.equal(result.status, 0, result.stderr);
    const effective = result.stdout.trim().split('\n').pop()!;
    const port = await freePort();
    // The container's paths and port, moved into the temp dir for this machine.
    writeFileSync(
      effective,
      readFileSync(effective, 'utf8').replace('listener 1883', `listener ${port} 127.0.0.1`).replace('/mosquitto/data/', `${run}/`),
    );
    let log = result.stdout;
    const child = spawn('mosquitto', ['-c', effective], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (c: Buffer) => (log += c.toString()));
    child.stderr.on('data', (c: Buffer) => (log += c.toString()));
    for (let i = 0; i < 50 && !/running/.test(log); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(log, /running/, 'mosquitto started');
    return {
      port,
      log: () => log,
      stop: async () => {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
        removeTempDir(run);
      },
    };
  }

  const tryConnect = async (port: number, options: mqtt.IClientOptions): Promise<string> => {
    try {
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { ...options, reconnectPeriod: 0, connectTimeout: 3000 }, false);
      await client.endAsync();
      return 'connected';
    } catch (err) {
      return (err as Error).message;
    }
  };

  it('MQTT_USER/MQTT_PASSWORD: a hashed password file, anonymous clients and wrong passwords refused', async () => {
    const broker = await brokerWith({ MQTT_USER: 'iot', MQTT_PASSWORD: 'pa ss:wörd' });
    try {
      assert.equal(await tryConnect(broker.port, { username: 'iot', password: 'pa ss:wörd' }), 'connected', broker.log());
      assert.match(await tryConnect(broker.port, {}), /Not authorized|Bad username/i);
      assert.match(await tryConnect(broker.port, { username: 'iot', password: 'nope' }), /Not authorized|Bad username/i);
    } finally {
      await broker.stop();
    }
  });

  it('no credentials: anonymous mode, announced as a warning', async () => {
    const broker = await brokerWith({});
    try {
      assert.match(broker.log(), /WARNING anonymous mode/);
      assert.equal(await tryConnect(broker.port, {}), 'connected', broker.log());
    } finally {
      await broker.stop();
    }
  });

  it('MQTT_USER without MQTT_PASSWORD stops with a clear message', () => {
    const result = spawnSync('sh', [join(packageRoot, 'docker/mosquitto/entrypoint.sh')], {
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH,
        IOTP_MOSQUITTO_SRC: join(packageRoot, 'docker/mosquitto'),
        IOTP_MOSQUITTO_RUN: join(dir, 'x'),
        IOTP_MOSQUITTO_DRY_RUN: '1',
        MQTT_USER: 'iot',
      },
    });
    assert.equal(result.status, 1);
    assert.match(result.stderr, /MQTT_USER is set but MQTT_PASSWORD is not/);
  });
});
