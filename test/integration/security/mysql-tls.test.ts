/**
 * MySQL over TLS against a private MariaDB server (its own data directory and port, certificates
 * made by openssl for this run; the shared server is not touched) with a user that is REQUIRE SSL:
 * lib/db connects with `?ssl=true` and the CA, a plain connection is refused by the server, a
 * server whose certificate is not signed by the given CA is refused by the client unless
 * verification is turned off; the iotp-database node does the same with the CA as a credential.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import databaseNode from '../../../nodes/iotp-database/iotp-database';
import queryNode from '../../../nodes/iotp-db-query/iotp-db-query';
import { openDatabase, parseDatabaseUrl, type Database, type DatabaseConfig, type MysqlConfig } from '../../../lib/db';
import { collect, flow as testFlow, helper, nextEvent } from '../../support/helper';
import {
  makeTestCertificates,
  missingPrograms,
  startPrivateMariadb,
  type PrivateMariadb,
  type TestCertificates,
} from '../../support/private-services';
import { inCi } from '../../support/services';

const USER = 'iot_tls';
const PASSWORD = `pw-${randomBytes(8).toString('hex')}`;
const DATABASE = 'iot';

describe('MySQL over TLS (private MariaDB, REQUIRE SSL user)', function () {
  this.timeout(120_000);
  let certs: TestCertificates | undefined;
  let server: PrivateMariadb | undefined;
  const opened: Database[] = [];

  const url = (options = ''): string => `mysql://${USER}:${PASSWORD}@127.0.0.1:${server!.port}/${DATABASE}${options}`;
  const open = (config: DatabaseConfig): Database => {
    const db = openDatabase({ ...config, connectTimeoutMs: 5000 } as DatabaseConfig);
    opened.push(db);
    return db;
  };
  const withCa = (config: DatabaseConfig, ca: string): MysqlConfig => {
    const mysql = config as MysqlConfig;
    assert.ok(mysql.tls, 'the URL asked for TLS');
    return { ...mysql, tls: { ...mysql.tls, ca } };
  };
  /** The TLS version of the connection (empty = plain TCP). */
  const tlsVersion = async (db: Database): Promise<string> =>
    String((await db.query("SHOW SESSION STATUS LIKE 'Ssl_version'")).rows[0]?.Value ?? '');

  before(async function () {
    const missing = await missingPrograms(['openssl', 'mariadbd', 'mariadb-install-db', 'mariadb']);
    if (missing.length > 0) {
      const message = `needs ${missing.join(', ')} (Debian: apt-get install openssl mariadb-server)`;
      if (inCi()) throw new Error(message);
      console.log(`      [skip] ${message}`);
      this.skip();
    }
    certs = await makeTestCertificates();
    server = await startPrivateMariadb({ tls: certs });
    await server.admin(
      `CREATE DATABASE ${DATABASE}; CREATE USER '${USER}'@'%' IDENTIFIED BY '${PASSWORD}' REQUIRE SSL; GRANT ALL ON ${DATABASE}.* TO '${USER}'@'%';`,
    );
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((db) => db.close().catch(() => undefined)));
    await helper.unload();
  });

  after(async () => {
    await server?.stop();
    certs?.remove();
  });

  it('connects with ?ssl=true and the CA, encrypted, and reads and writes', async () => {
    const db = open(withCa(parseDatabaseUrl(url('?ssl=true')), certs!.ca));
    assert.match(await tlsVersion(db), /^TLSv1\.[23]$/);
    await db.query('CREATE TABLE notes (id INT PRIMARY KEY, body VARCHAR(40))');
    await db.query('INSERT INTO notes (id, body) VALUES (:id, :body)', { id: 1, body: 'over TLS' });
    assert.deepEqual((await db.query('SELECT id, body FROM notes')).rows, [{ id: 1, body: 'over TLS' }]);
  });

  it('a plain connection of the REQUIRE SSL user is refused by the server, without the password in the error', async () => {
    const db = open(parseDatabaseUrl(url()));
    const err = await db.query('SELECT 1').then(
      () => assert.fail('connected without TLS'),
      (e: Error & { kind?: string }) => e,
    );
    assert.match(err.message, /access denied/i);
    assert.ok(!err.message.includes(PASSWORD));
    assert.ok(!JSON.stringify(err).includes(PASSWORD));
  });

  it('refuses the server when its certificate is not signed by the given CA, or no CA is given', async () => {
    for (const config of [withCa(parseDatabaseUrl(url('?ssl=true')), certs!.otherCa), parseDatabaseUrl(url('?ssl=true'))]) {
      const db = open(config);
      const err = await db.query('SELECT 1').then(
        () => assert.fail('connected to an untrusted server'),
        (e: Error) => e,
      );
      assert.match(`${err.message} ${String((err.cause as Error | undefined)?.message ?? '')}`, /certificate/i);
      assert.ok(!err.message.includes(PASSWORD));
    }
  });

  it('accepts the untrusted server only with sslRejectUnauthorized=false (still encrypted)', async () => {
    const db = open(parseDatabaseUrl(url('?ssl=true&sslRejectUnauthorized=false')));
    assert.match(await tlsVersion(db), /^TLSv1\.[23]$/);
  });

  describe('iotp-database node', () => {
    const queryFlow = (db: Record<string, unknown>) =>
      testFlow([
        { id: 'db', type: 'iotp-database', version: 1, ...db },
        { id: 'q', type: 'iotp-db-query', database: 'db', sql: "SHOW SESSION STATUS LIKE 'Ssl_version'", maxRows: 10, wires: [['out']] },
        { id: 'out', type: 'helper' },
      ]);

    async function sslVersionThroughNode(): Promise<string> {
      const received = collect<{ payload: Array<Record<string, unknown>> }>(helper.getNode('out'), 1, 15_000);
      helper.getNode('q').receive({ payload: {} });
      const [msg] = await received;
      return String(msg.payload[0]?.Value ?? '');
    }

    it('connects with a URL asking for TLS, the password and the CA as credentials', async () => {
      await helper.load(
        [databaseNode, queryNode],
        queryFlow({ connection: 'url', url: `mysql://${USER}@127.0.0.1:${server!.port}/${DATABASE}?ssl=true` }),
        {
          db: { password: PASSWORD, ca: certs!.ca },
        },
      );
      assert.match(await sslVersionThroughNode(), /^TLSv1\.[23]$/);
    });

    it('connects with the host/port fields, the TLS box and the CA', async () => {
      await helper.load(
        [databaseNode, queryNode],
        queryFlow({
          connection: 'mysql',
          host: '127.0.0.1',
          port: server!.port,
          database: DATABASE,
          poolSize: 2,
          connectTimeout: 5,
          tls: true,
          tlsRejectUnauthorized: true,
        }),
        { db: { user: USER, password: PASSWORD, ca: certs!.ca } },
      );
      assert.match(await sslVersionThroughNode(), /^TLSv1\.[23]$/);
    });

    it('sends the refusal of an untrusted server to the error path', async () => {
      await helper.load(
        [databaseNode, queryNode],
        queryFlow({ connection: 'url', url: `mysql://${USER}@127.0.0.1:${server!.port}/${DATABASE}?ssl=true` }),
        {
          db: { password: PASSWORD, ca: certs!.otherCa },
        },
      );
      const q = helper.getNode('q');
      const error = nextEvent<{ args: unknown[] }>(q, 'call:error', 15_000);
      q.receive({ payload: {} });
      const [reported] = (await error).args;
      assert.ok(reported);
      assert.ok(!JSON.stringify((await error).args).includes(PASSWORD));
    });
  });
});
