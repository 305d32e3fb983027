/** The database node's settings (lib/db/settings.ts): each connection form to a DatabaseConfig. */
import assert from 'node:assert/strict';
import {
  DATABASE_LIMITS,
  DB_QUERY_LIMITS,
  maxRowsSetting,
  resolveDatabaseConfig,
  type DatabaseNodeSettings,
} from '../../../lib/db/settings';

const form = (fields: Partial<DatabaseNodeSettings>): DatabaseNodeSettings => ({
  connection: 'mysql',
  url: '',
  host: '',
  port: '',
  database: 'iot',
  file: '',
  poolSize: '',
  connectTimeout: '',
  tls: false,
  tlsRejectUnauthorized: true,
  ...fields,
});

describe('database node settings', () => {
  it('MySQL fields: defaults for the empty ones, credentials and TLS with its CA', () => {
    assert.deepEqual(
      resolveDatabaseConfig(form({ tls: true, tlsRejectUnauthorized: false }), { user: 'iot', password: 'pw', ca: 'PEM' }, '/tmp'),
      {
        dialect: 'mysql',
        host: '127.0.0.1',
        port: 3306,
        user: 'iot',
        password: 'pw',
        database: 'iot',
        poolSize: DATABASE_LIMITS.poolSize.default,
        connectTimeoutMs: DATABASE_LIMITS.connectTimeout.default * 1000,
        tls: { rejectUnauthorized: false, ca: 'PEM' },
      },
    );
  });

  it('PostgreSQL fields: its port, the pool and timeout given, sslmode as TLS mode', () => {
    const config = resolveDatabaseConfig(
      form({ connection: 'postgres', host: 'db', poolSize: '9', connectTimeout: 3, sslmode: 'require' }),
      {},
      '/tmp',
    );
    assert.deepEqual(config, {
      dialect: 'postgres',
      host: 'db',
      port: 5432,
      user: '',
      password: '',
      database: 'iot',
      poolSize: 9,
      connectTimeoutMs: 3000,
      tls: { mode: 'require' },
    });
    assert.throws(() => resolveDatabaseConfig(form({ connection: 'postgres', sslmode: 'prefer' as never }), {}, '/tmp'), /sslmode must be/);
  });

  it('the query row limit: at most its maximum, the default for anything not positive', () => {
    assert.equal(maxRowsSetting(''), DB_QUERY_LIMITS.maxRows.default);
    assert.equal(maxRowsSetting(0), DB_QUERY_LIMITS.maxRows.default);
    assert.equal(maxRowsSetting('250'), 250);
    assert.equal(maxRowsSetting(5e9), DB_QUERY_LIMITS.maxRows.max);
  });
});
