/**
 * PostgreSQL over TLS against a private server (its own data directory and port, certificates made
 * by openssl for this run; the shared server is not touched) that refuses TCP without TLS: each
 * sslmode does what libpq's does (require encrypts without checking, verify-ca checks the chain,
 * verify-full also the host name), an untrusted CA is refused, and the iotp-database node's
 * PostgreSQL fields take the CA as a credential.
 */
import assert from 'node:assert/strict';
import databaseNode from '../../../nodes/iotp-database/iotp-database';
import queryNode from '../../../nodes/iotp-db-query/iotp-db-query';
import { DatabaseError, openDatabase, parseDatabaseUrl, type Database, type PostgresConfig } from '../../../lib/db';
import { collect, flow as testFlow, helper } from '../../support/helper';
import {
  makeTestCertificates,
  missingPrograms,
  privatePostgresAvailable,
  startPrivatePostgres,
  type PrivatePostgres,
  type TestCertificates,
} from '../../support/private-services';
import { inCi } from '../../support/services';

describe('PostgreSQL over TLS (private server, hostnossl rejected)', function () {
  this.timeout(120_000);
  let certs: TestCertificates | undefined;
  let server: PrivatePostgres | undefined;
  const opened: Database[] = [];

  const config = (host: string, query: string, ca?: string): PostgresConfig => {
    const parsed = parseDatabaseUrl(`postgresql://postgres@${host}:${server!.port}/postgres${query}`) as PostgresConfig;
    return ca && parsed.tls ? { ...parsed, connectTimeoutMs: 5000, tls: { ...parsed.tls, ca } } : { ...parsed, connectTimeoutMs: 5000 };
  };
  const open = (c: PostgresConfig): Database => {
    const db = openDatabase(c);
    opened.push(db);
    return db;
  };
  const encrypted = async (db: Database): Promise<boolean> =>
    (await db.query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows[0]?.ssl === true;
  const refused =
    (pattern: RegExp) =>
    (err: unknown): boolean => {
      assert.ok(err instanceof DatabaseError, String(err));
      assert.equal(err.kind, 'fatal', `${err.code}: ${err.message}`);
      assert.match(`${err.code} ${err.message}`, pattern);
      return true;
    };

  before(async function () {
    const missing = [...(await missingPrograms(['openssl'])), ...[await privatePostgresAvailable()].filter((m): m is string => m !== null)];
    if (missing.length > 0) {
      const message = `needs ${missing.join('; ')} (Debian: apt-get install openssl postgresql)`;
      if (inCi()) throw new Error(message);
      console.log(`      [skip] ${message}`);
      this.skip();
    }
    certs = await makeTestCertificates();
    // 127.0.0.2 is not in the certificate: the host name check of verify-full must fail there.
    server = await startPrivatePostgres({ tls: certs, requireTls: true, listen: ['127.0.0.1', '127.0.0.2'] });
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((db) => db.close().catch(() => undefined)));
    await helper.unload();
  });

  after(async () => {
    await server?.stop();
    certs?.remove();
  });

  it('sslmode=disable is refused by the server; require encrypts without a CA', async () => {
    await assert.rejects(open(config('127.0.0.1', '?sslmode=disable')).query('SELECT 1'), refused(/28000|no encryption|pg_hba/));
    assert.equal(await encrypted(open(config('127.0.0.1', '?sslmode=require'))), true);
  });

  it('verify-full checks the chain and the host name; verify-ca only the chain', async () => {
    assert.equal(await encrypted(open(config('localhost', '?sslmode=verify-full', certs!.ca))), true);
    assert.equal(await encrypted(open(config('127.0.0.1', '?ssl=true', certs!.ca))), true, 'ssl=true is verify-full');
    await assert.rejects(
      open(config('127.0.0.2', '?sslmode=verify-full', certs!.ca)).query('SELECT 1'),
      refused(/ERR_TLS_CERT_ALTNAME_INVALID|altnames|does not match/i),
    );
    assert.equal(await encrypted(open(config('127.0.0.2', '?sslmode=verify-ca', certs!.ca))), true);
  });

  it('a server whose certificate the given CA did not sign is refused, whichever verifying mode', async () => {
    for (const mode of ['verify-ca', 'verify-full']) {
      await assert.rejects(
        open(config('localhost', `?sslmode=${mode}`, certs!.otherCa)).query('SELECT 1'),
        refused(/certificate|SELF_SIGNED|UNABLE_TO_VERIFY/i),
      );
    }
  });

  it('the database node: PostgreSQL fields with sslmode verify-full and the CA as a credential', async () => {
    const flow = testFlow([
      {
        id: 'db',
        type: 'iotp-database',
        connection: 'postgres',
        host: 'localhost',
        port: server!.port,
        database: 'postgres',
        sslmode: 'verify-full',
        version: 1,
      },
      {
        id: 'q',
        type: 'iotp-db-query',
        database: 'db',
        sql: 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
        maxRows: 10,
        wires: [['out']],
      },
      { id: 'out', type: 'helper' },
    ]);
    await helper.load([databaseNode, queryNode], flow, { db: { user: 'postgres', ca: certs!.ca } });
    const answer = collect<{ payload: unknown }>(helper.getNode('out'), 1);
    helper.getNode('q').receive({ payload: {} });
    assert.deepEqual((await answer)[0].payload, [{ ssl: true }]);
  });
});
