/**
 * The shipped flows with HTTP endpoints (ISEMS, IoT sensors, data connector) in a real Node-RED on
 * MariaDB behind a proxy that the test cuts: the database becomes unreachable while requests
 * arrive carrying every kind of credential a caller sends (Authorization, cookies, an API key
 * header, the admin token).
 *
 * Issue #16: the shipped catch → debug nodes printed the whole failing message, request headers
 * included (about 48 KB of log per anonymous request, callers' secrets with it), and clients were
 * answered with the driver's text (`connect ECONNREFUSED 127.0.0.1:13306`). Here every endpoint
 * must answer in words (503 "database unavailable") and the whole log must hold none of the
 * credentials the run used, while still telling the operator what failed and where.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { httpJson, packageRoot, startNodeRed, type RunningNodeRed } from '../support/node-red';
import {
  createTestMysqlDatabase,
  MQTT_HOST,
  MQTT_PORT,
  MYSQL_HOST,
  MYSQL_PASSWORD,
  MYSQL_PORT,
  MYSQL_USER,
  requireService,
  type TestMysqlDatabase,
} from '../support/services';
import { TcpProxy } from '../support/tcp-proxy';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const bcrypt = require(require.resolve('bcryptjs', { paths: [require.resolve('node-red/package.json', { paths: [packageRoot] })] })) as {
  hashSync(password: string, rounds: number): string;
};

const secret = (label: string): string => `${label}-${randomBytes(9).toString('base64url')}`;

interface FlowNode {
  id: string;
  type: string;
}

const flows = ['3-isems.json', '4-iot-sensors.json', '5-data-connector.json'].flatMap(
  (file) => JSON.parse(readFileSync(join(packageRoot, 'flows', file), 'utf8')) as FlowNode[],
);

/** What a client may never read in an answer: driver text, addresses, names of the database. */
function assertNoDriverText(text: string, where: string, hidden: readonly string[]): void {
  assert.doesNotMatch(
    text,
    /ECONNREFUSED|ECONNRESET|PROTOCOL_|ER_[A-Z_]+|connect |Connection lost|127\.0\.0\.1|\bat \S+:\d+/,
    `${where}: ${text}`,
  );
  for (const value of hidden) assert.ok(!text.includes(value), `${where} names ${value}: ${text}`);
}

describe('database outage: endpoints answer in words, and no credential reaches the log', function () {
  this.timeout(240_000);
  let mysql: TestMysqlDatabase | undefined;
  let proxy: TcpProxy | undefined;
  let red: RunningNodeRed | undefined;
  const dbUser = `iotp_leak_${randomBytes(3).toString('hex')}`;
  const credentials = {
    dbPassword: secret('db-password'),
    apiKey: secret('api-key'),
    postKey: secret('post-key'),
    adminPassword: secret('admin-password'),
    credentialSecret: secret('credential-secret'),
    cookie: secret('cookie-session'),
    csrf: secret('cookie-csrf'),
    apiKeyHeader: secret('x-api-key'),
    proxyAuthorization: Buffer.from(`${secret('proxy-user')}:${secret('proxy-password')}`).toString('base64'),
    adminToken: '',
  };

  const admin = async (sql: string): Promise<void> => {
    const driver = await import('mysql2/promise');
    const connection = await driver.createConnection({ host: MYSQL_HOST, port: MYSQL_PORT, user: MYSQL_USER, password: MYSQL_PASSWORD });
    try {
      await connection.query(sql);
    } finally {
      await connection.end();
    }
  };

  before(async function () {
    await requireService(this, 'mysql');
    await requireService(this, 'mqtt');
    mysql = await createTestMysqlDatabase('iotp_outage');
    await admin(`CREATE USER '${dbUser}'@'%' IDENTIFIED BY '${credentials.dbPassword}'`);
    await admin(`GRANT ALL ON \`${mysql.config.database}\`.* TO '${dbUser}'@'%'`);
    proxy = await new TcpProxy(MYSQL_HOST, MYSQL_PORT).start();
    red = await startNodeRed({
      flows,
      env: {
        DATABASE_URL: `mysql://${dbUser}:${encodeURIComponent(credentials.dbPassword)}@127.0.0.1:${proxy.port}/${mysql.config.database}`,
        MQTT_URL: `mqtt://${MQTT_HOST}:${MQTT_PORT}`,
        MQTT_TOPIC: `iotp-outage/${process.pid}/${Date.now()}/sensors`,
        SIMULATE: 'false',
        API_KEY: credentials.apiKey,
        POST_DATA_ENDPOINT: 'http://127.0.0.1:9/receiver',
        POST_DATA_API_KEY: credentials.postKey,
        FETCH_DATA_INTERVAL: '60',
        ISEMS_ROUTER_IPS: '',
        NODE_RED_ADMIN_PASSWORD_HASH: bcrypt.hashSync(credentials.adminPassword, 8),
        NODE_RED_CREDENTIAL_SECRET: credentials.credentialSecret,
      },
    });
    const token = await httpJson(`${red.url}/auth/token`, {
      method: 'POST',
      body: { client_id: 'node-red-admin', grant_type: 'password', scope: '*', username: 'admin', password: credentials.adminPassword },
    });
    assert.equal(token.status, 200, token.text);
    credentials.adminToken = (token.body as { access_token: string }).access_token;
    const baseUrl: string = red.url;
    // Ready once the sensors and ISEMS tables exist (both APIs answer 200).
    const deadline = Date.now() + 60_000;
    for (;;) {
      const [data, latest] = await Promise.all([httpJson(`${baseUrl}/data?limit=1`), httpJson(`${baseUrl}/measurements/latest`)]);
      if (data.status === 200 && latest.status === 200) break;
      if (Date.now() > deadline)
        assert.fail(`the read APIs never became ready: ${data.status} ${data.text} / ${latest.status} ${latest.text}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  });

  after(async () => {
    await red?.stop();
    await proxy?.stop();
    await admin(`DROP USER IF EXISTS '${dbUser}'@'%'`).catch(() => undefined);
    await mysql?.drop();
  });

  /** Every kind of caller credential at once; the Authorization header is the admin token or the API key. */
  const callerHeaders = (authorization: string): Record<string, string> => ({
    authorization,
    cookie: `session=${credentials.cookie}; csrftoken=${credentials.csrf}`,
    'x-api-key': credentials.apiKeyHeader,
    'proxy-authorization': `Basic ${credentials.proxyAuthorization}`,
  });

  it('with the database cut, every database endpoint answers 503 "database unavailable", no driver text', async () => {
    const logBefore = red!.output().length;
    proxy!.cut();
    const hidden = [String(proxy!.port), mysql!.config.database!, dbUser];
    const endpoints = ['/data?limit=5', '/aggregated_data?limit=5', '/catalog', '/measurements/latest', '/measurements/node-1/latest'];
    let failing = 0;
    for (const path of endpoints) {
      for (const accept of ['application/json', 'text/html']) {
        const answer = await httpJson(`${red!.url}${path}`, { headers: { ...callerHeaders(`Bearer ${credentials.adminToken}`), accept } });
        assert.equal(answer.status, 503, `${path}: ${answer.status} ${answer.text}`);
        assert.equal((answer.body as { error?: string }).error, 'database unavailable', `${path}: ${answer.text}`);
        assert.ok(answer.headers.get('retry-after'), `${path}: no Retry-After`);
        assertNoDriverText(answer.text, `GET ${path}`, hidden);
        failing += 1;
      }
    }
    // The quality service keeps its counters in memory: still answers.
    const quality = await httpJson(`${red!.url}/quality`, { headers: callerHeaders(`Bearer ${credentials.adminToken}`) });
    assert.equal(quality.status, 200, quality.text);
    // The request API queues; the task fails in words when it reads the database.
    const now = Date.now();
    const window = {
      start_time: new Date(now - 3_600_000).toISOString().slice(0, 19),
      end_time: new Date(now - 1_800_000).toISOString().slice(0, 19),
    };
    const raised = await httpJson(`${red!.url}/raise-request`, {
      method: 'POST',
      body: window,
      headers: callerHeaders(`Bearer ${credentials.apiKey}`),
    });
    assert.equal(raised.status, 200, raised.text);
    const taskId = (raised.body as { task_id: string }).task_id;
    let task: { state?: string; status?: string } = {};
    const deadline = Date.now() + 60_000;
    while (task.state !== 'FAILURE' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const answer = await httpJson(`${red!.url}/tasks/${taskId}`, { headers: callerHeaders(`Bearer ${credentials.apiKey}`) });
      assert.equal(answer.status, 200, answer.text);
      assertNoDriverText(answer.text, 'GET /tasks/:id', hidden);
      task = answer.body as typeof task;
    }
    assert.equal(task.state, 'FAILURE', JSON.stringify(task));
    assert.match(String(task.status), /reading the database failed/);
    // The operator still learns what failed, and where: in the log, one line per error.
    const log = red!.output().slice(logBefore);
    assert.match(log, /\[debug:errors\] \[iotp-sensor-api:[^\]]+\] .*(ECONNREFUSED|ECONNRESET|connect|Connection lost|closed)/i);
    assert.match(log, /\[debug:collector errors\] \[iotp-isems-query:[^\]]+\] /);
    // Formerly ~48 KB a request (the whole message, request and headers included).
    const perRequest = Buffer.byteLength(log) / failing;
    console.log(`      ${failing} failing requests: ${(perRequest / 1024).toFixed(2)} KiB of log each`);
    assert.ok(perRequest < 2048, `${perRequest.toFixed(0)} bytes of log per failing request`);
    proxy!.restore();
  });

  it('recovers once the database is back', async () => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const data = await httpJson(`${red!.url}/data?limit=1`);
      if (data.status === 200) break;
      if (Date.now() > deadline) assert.fail(`/data still answers ${data.status}: ${data.text}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    assert.equal((await httpJson(`${red!.url}/catalog`)).status, 200);
  });

  it('the whole log holds none of the credentials the run used, and no stack trace', async () => {
    await red!.stop();
    const log = red!.output();
    for (const [name, value] of Object.entries(credentials)) {
      assert.ok(value.length >= 8, `${name} was used`);
      assert.ok(!log.includes(value), `the log holds ${name}`);
    }
    // Headers and cookies are not printed in any form.
    assert.doesNotMatch(log, /cookie|x-api-key|proxy-authorization|authorization:/i);
    const stackFrames = log.split('\n').filter((line) => /^\s+at .+:\d+:\d+\)?$/.test(line));
    assert.deepEqual(stackFrames.slice(0, 5), [], 'stack traces in the log');
  });
});
