/**
 * The install on a minimal image (Node-RED's `-minimal` Docker tags, slim Home Assistant add-on
 * images): no python3, make or g++, and no prebuilt better-sqlite3 binary to download. npm then
 * leaves the optional dependency out and the install still succeeds. The nodes must load, MySQL/
 * MariaDB must work, and a SQLite database must fail with a message that names better-sqlite3 and
 * the fix, without stopping Node-RED. A second case: better-sqlite3 present but its addon never
 * built (install scripts skipped), which needs a rebuild rather than an install.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { readPackageJson } from '../support/package-info';
import { createTestMysqlDatabase, requireService, TestMysqlDatabase } from '../support/services';
import { makeTempDir, removeTempDir } from '../support/tmp';
import {
  currentNode,
  deploy,
  makeUserDir,
  MODULE,
  nodeRed4,
  nodeSets,
  npmInstall,
  packTarball,
  ScratchNodeRed,
  startScratchNodeRed,
} from './scratch';

/** A flow with one MySQL writer and SQLite writer/query nodes, each reporting to the log via debug nodes. */
function checkFlow(mysqlUrl: string): Record<string, unknown>[] {
  const tab = 'iotp-install-tab';
  const debug = (id: string, name: string, x: number, y: number, complete = 'payload') => ({
    id,
    type: 'debug',
    z: tab,
    name,
    active: true,
    tosidebar: false,
    console: true,
    tostatus: false,
    complete,
    targetType: complete === 'true' ? 'full' : 'msg',
    x,
    y,
    wires: [],
  });
  const inject = (id: string, payload: string, x: number, y: number, wire: string) => ({
    id,
    type: 'inject',
    z: tab,
    name: '',
    props: [{ p: 'payload' }],
    repeat: '',
    crontab: '',
    once: true,
    onceDelay: '0.5',
    topic: '',
    payload,
    payloadType: 'json',
    x,
    y,
    wires: [[wire]],
  });
  const writer = (id: string, database: string, x: number, y: number, wire: string) => ({
    id,
    type: 'iotp-db-write',
    z: tab,
    name: id,
    database,
    table: 'install_check',
    columns: 'id\nlabel',
    conflict: 'ignore',
    conflictKeys: '',
    updateColumns: '',
    migrationSet: '',
    customMigrations: '',
    batchSize: 100,
    maxLatency: 50,
    maxBuffered: 1000,
    overflow: 'backpressure',
    journal: false,
    version: 1,
    x,
    y,
    wires: [[wire]],
  });
  return [
    { id: tab, type: 'tab', label: 'install check', disabled: false, info: '' },
    { id: 'mysql-db', type: 'iotp-database', name: 'MariaDB', connection: 'url', url: mysqlUrl, version: 1 },
    { id: 'sqlite-db', type: 'iotp-database', name: 'SQLite', connection: 'sqlite', file: 'install-check.db', version: 1 },
    inject('inject-mysql', '[{"id":1,"label":"one"},{"id":2,"label":"two"}]', 120, 60, 'mysql-writer'),
    writer('mysql-writer', 'mysql-db', 320, 60, 'stored-debug'),
    debug('stored-debug', 'stored in MySQL', 540, 60),
    inject('inject-sqlite', '[{"id":1,"label":"one"}]', 120, 120, 'sqlite-writer'),
    writer('sqlite-writer', 'sqlite-db', 320, 120, 'unexpected-debug'),
    inject('inject-query', '{}', 120, 180, 'sqlite-query'),
    {
      id: 'sqlite-query',
      type: 'iotp-db-query',
      z: tab,
      name: 'sqlite-query',
      database: 'sqlite-db',
      sql: 'SELECT 1 AS one',
      maxRows: 10,
      x: 320,
      y: 180,
      wires: [['unexpected-debug']],
    },
    debug('unexpected-debug', 'stored in SQLite', 540, 140),
    { id: 'catch-all', type: 'catch', z: tab, name: '', scope: null, uncaught: false, x: 120, y: 240, wires: [['caught-debug']] },
    debug('caught-debug', 'caught', 320, 240, 'error.message'),
    {
      id: 'sqlite-status',
      type: 'status',
      z: tab,
      name: '',
      scope: ['sqlite-writer', 'sqlite-query'],
      x: 120,
      y: 300,
      wires: [['status-debug']],
    },
    debug('status-debug', 'status', 320, 300, 'status.text'),
  ];
}

describe('npm install <tarball> where better-sqlite3 cannot be built (no python3/make/g++)', function () {
  this.timeout(300000);
  let userDir: string;
  let toolsDir: string;
  let db: TestMysqlDatabase | undefined;
  let runtime: ScratchNodeRed | undefined;

  before(async function () {
    await requireService(this, 'mysql');
    db = await createTestMysqlDatabase('iotp_install');
    const tarball = await packTarball();
    userDir = makeUserDir('iotp-install-minimal-');
    // A PATH with node and nothing else: what a minimal image offers node-gyp.
    toolsDir = makeTempDir('iotp-minimal-path-');
    mkdirSync(join(toolsDir, 'bin'));
    symlinkSync(currentNode.binary, join(toolsDir, 'bin', 'node'));
    const install = await npmInstall(userDir, [tarball], {
      env: { PATH: join(toolsDir, 'bin'), PYTHON: undefined, npm_config_python: undefined },
    });
    console.log(`      npm install <tarball> without build tools: ${install.seconds.toFixed(1)} s`);
  });

  after(async () => {
    await runtime?.stop();
    await db?.drop();
    if (userDir) removeTempDir(userDir);
    if (toolsDir) removeTempDir(toolsDir);
  });

  it('completes the install without better-sqlite3 (npm drops the optional dependency it could not build)', () => {
    assert.ok(existsSync(join(userDir, 'node_modules', MODULE, 'package.json')));
    assert.ok(existsSync(join(userDir, 'node_modules', 'mysql2', 'package.json')));
    assert.equal(
      existsSync(join(userDir, 'node_modules', 'better-sqlite3')),
      false,
      'better-sqlite3 must be absent for this test to mean anything',
    );
  });

  it('loads every node; MySQL stores rows; a SQLite database fails clearly and Node-RED keeps running', async () => {
    const mysql = await import('mysql2/promise');
    const { host, port, user, password, database } = db!.config;
    const admin = await mysql.createConnection({ host, port, user, password, database });
    await admin.query('CREATE TABLE install_check (id INT PRIMARY KEY, label VARCHAR(20) NOT NULL)');

    runtime = await startScratchNodeRed(currentNode, nodeRed4(), userDir);
    const sets = (await nodeSets(runtime)).filter((set) => set.module === MODULE);
    assert.deepEqual(
      sets.filter((set) => set.err).map((set) => `${set.id}: ${set.err}`),
      [],
    );
    assert.deepEqual(sets.flatMap((set) => set.types).sort(), Object.keys(readPackageJson()['node-red']?.nodes ?? {}).sort());

    const from = await deploy(runtime, checkFlow(db!.url));
    const log = () => runtime!.output().slice(from);
    await runtime.waitForOutput(/\[debug:stored in MySQL\]/, { from, timeoutMs: 30000 });
    const [rows] = await admin.query('SELECT id, label FROM install_check ORDER BY id');
    await admin.end();
    assert.deepEqual(JSON.parse(JSON.stringify(rows)), [
      { id: 1, label: 'one' },
      { id: 2, label: 'two' },
    ]);

    // The writer says at deploy what is missing and what to do; both SQLite nodes pass the same
    // message to a Catch node for every message they get, and show a short status.
    const logged = await runtime.waitForOutput(/\[iotp-db-write:sqlite-writer\][^\n]*/, { from, timeoutMs: 30000 });
    await runtime.waitForOutput(/(\[debug:caught\][^\n]*better-sqlite3[\s\S]*){2}/, { from, timeoutMs: 30000 });
    const caught = log().match(/\[debug:caught\][^\n]*/g) ?? [];
    assert.equal(caught.length, 2, caught.join('\n'));
    for (const line of [logged[0], ...caught]) {
      // Node 20 has no node:sqlite, so the message offers both ways out: a newer Node.js, or better-sqlite3.
      assert.match(line, /SQLite needs a driver and none loads here/);
      assert.match(line, /Node\.js 22\.16 or later \(24 and 26 recommended\) has SQLite built in and needs nothing installed or built/);
      assert.match(line, /better-sqlite3 is not installed/);
      assert.match(line, /`npm install better-sqlite3` in the Node-RED user directory/);
      assert.match(line, /python3, make and g\+\+/);
      assert.match(line, /MySQL\/MariaDB/);
    }
    assert.doesNotMatch(logged[0], /Invalid configuration/);
    // (The writer sets its status while being constructed, before a Status node listens; the editor still shows it.)
    await runtime.waitForOutput(/\[debug:status\][^\n]*\n?[^\n]*no SQLite driver: see log/, { from, timeoutMs: 30000 });
    assert.doesNotMatch(log(), /\[debug:stored in SQLite\]/);

    // Still serving: the admin API answers and the flow is the one deployed.
    const flows = (await (await fetch(`${runtime.url}/flows`, { headers: { accept: 'application/json' } })).json()) as { id: string }[];
    assert.ok(flows.some((n) => n.id === 'mysql-writer'));
    assert.ok(runtime.alive());
    await runtime.stop();
    runtime = undefined;
  });

  it('with better-sqlite3 present but never built (install scripts skipped), says to rebuild it', async () => {
    const version = readPackageJson().optionalDependencies?.['better-sqlite3'] ?? 'latest';
    await npmInstall(userDir, [`better-sqlite3@${version}`], { args: ['--ignore-scripts', '--no-save'] });
    assert.ok(existsSync(join(userDir, 'node_modules', 'better-sqlite3', 'package.json')));
    assert.equal(existsSync(join(userDir, 'node_modules', 'better-sqlite3', 'build')), false);

    // The same flow starts again (flows.json was kept), as after a restart of Node-RED.
    runtime = await startScratchNodeRed(currentNode, nodeRed4(), userDir);
    const match = await runtime.waitForOutput(/\[iotp-db-write:sqlite-writer\][^\n]*/, { timeoutMs: 30000 });
    assert.match(match[0], /better-sqlite3 does not load/);
    assert.match(
      match[0],
      /with npm 12 or later, run `npm install-scripts approve better-sqlite3` and then `npm rebuild better-sqlite3` in the Node-RED user directory/,
    );
    assert.match(match[0], /older npm: `npm rebuild better-sqlite3`/);
    assert.match(match[0], /MySQL\/MariaDB/);
    await runtime.waitForOutput(/\[debug:caught\][^\n]*npm rebuild better-sqlite3/, { timeoutMs: 30000 });
    assert.ok(runtime.alive());
  });
});
