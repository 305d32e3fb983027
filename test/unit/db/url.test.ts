import assert from 'node:assert/strict';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import fc from 'fast-check';
import { DatabaseConfigError } from '../../../lib/db/errors';
import type { MysqlConfig } from '../../../lib/db/types';
import { databaseConfigFromEnv, databaseIdentity, describeConfig, parseDatabaseUrl } from '../../../lib/db/url';

function mysql(url: string): MysqlConfig {
  const config = parseDatabaseUrl(url);
  assert.equal(config.dialect, 'mysql');
  return config as MysqlConfig;
}

function configError(fn: () => unknown): DatabaseConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof DatabaseConfigError, `expected DatabaseConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected an error');
}

describe('db/url: parseDatabaseUrl', () => {
  it('reads a full mysql URL', () => {
    assert.deepEqual(mysql('mysql://user:pass@db.example.org:3307/telemetry'), {
      dialect: 'mysql',
      host: 'db.example.org',
      port: 3307,
      user: 'user',
      password: 'pass',
      database: 'telemetry',
      poolSize: 4,
      connectTimeoutMs: 10000,
    });
  });

  it('accepts mariadb:// and SQLAlchemy driver suffixes, defaults the port, allows no password', () => {
    const a = mysql('mariadb://u@localhost/db');
    assert.equal(a.port, 3306);
    assert.equal(a.password, '');
    assert.equal(mysql('mysql+pymysql://u:p@h/db').host, 'h');
    assert.equal(mysql('MySQL://u:p@h/db').database, 'db');
  });

  it('percent-decodes user, password and database', () => {
    const c = mysql('mysql://us%40er:p%40ss%3Aw%2Frd%20x@h/my%2Ddb');
    assert.equal(c.user, 'us@er');
    assert.equal(c.password, 'p@ss:w/rd x');
    assert.equal(c.database, 'my-db');
  });

  it('takes the last @ as the end of the credentials, so raw @ / ? # in a password work', () => {
    const c = mysql('mysql://u:p@ss/w?rd#x@host:3306/db');
    assert.equal(c.password, 'p@ss/w?rd#x');
    assert.equal(c.host, 'host');
    assert.equal(c.database, 'db');
  });

  it('reads IPv6 hosts in brackets', () => {
    const c = mysql('mysql://u@[::1]:3310/db');
    assert.equal(c.host, '::1');
    assert.equal(c.port, 3310);
    assert.equal(describeConfig(c), 'mysql://u@[::1]:3310/db');
  });

  it('reads ssl, sslRejectUnauthorized, poolSize and connectTimeout options', () => {
    assert.deepEqual(mysql('mysql://u@h/db?ssl=true').tls, { rejectUnauthorized: true });
    assert.deepEqual(mysql('mysql://u@h/db?ssl=required').tls, { rejectUnauthorized: true });
    assert.deepEqual(mysql('mysql://u@h/db?ssl=true&sslRejectUnauthorized=false').tls, { rejectUnauthorized: false });
    assert.deepEqual(mysql('mysql://u@h/db?sslRejectUnauthorized=false').tls, { rejectUnauthorized: false }, 'implies TLS');
    assert.equal(mysql('mysql://u@h/db?ssl=false').tls, undefined);
    const c = mysql('mysql://u@h/db?poolSize=12&connectTimeout=2500&charset=utf8mb4');
    assert.equal(c.poolSize, 12);
    assert.equal(c.connectTimeoutMs, 2500);
  });

  it('refuses bad options by name', () => {
    assert.match(configError(() => parseDatabaseUrl('mysql://u@h/db?poolsize=3')).message, /unknown option "poolsize"/);
    assert.match(configError(() => parseDatabaseUrl('mysql://u@h/db?poolSize=0')).message, /poolSize must be between 1/);
    assert.match(configError(() => parseDatabaseUrl('mysql://u@h/db?poolSize=abc')).message, /poolSize must be a whole number/);
    assert.match(configError(() => parseDatabaseUrl('mysql://u@h/db?ssl=maybe')).message, /ssl must be true or false/);
  });

  it('parses every sqlite form, resolving relative paths against baseDir', () => {
    const baseDir = '/data/node-red';
    const file = (url: string): string => {
      const c = parseDatabaseUrl(url, { baseDir });
      assert.equal(c.dialect, 'sqlite');
      return c.file;
    };
    assert.equal(file('sqlite:/var/lib/iot.db'), '/var/lib/iot.db');
    assert.equal(file('sqlite:///var/lib/iot.db'), '/var/lib/iot.db');
    assert.equal(file('sqlite:////tmp/test.db'), '/tmp/test.db', 'SQLAlchemy absolute form from the ISEMS .env');
    assert.equal(file('sqlite:relative.db'), resolve(baseDir, 'relative.db'));
    assert.equal(file('sqlite:sub/dir/x.db'), resolve(baseDir, 'sub/dir/x.db'));
    assert.equal(file('sqlite://relative.db'), resolve(baseDir, 'relative.db'));
    assert.equal(file('sqlite:~/x.db'), resolve(homedir(), 'x.db'));
    assert.equal(file('sqlite:my%20data.db'), resolve(baseDir, 'my data.db'));
    assert.equal(file('sqlite::memory:'), ':memory:');
    assert.equal(parseDatabaseUrl('sqlite:x.db?busyTimeout=250', { baseDir }).dialect, 'sqlite');
    const c = parseDatabaseUrl('sqlite:x.db?busyTimeout=250', { baseDir });
    assert.equal(c.dialect === 'sqlite' && c.busyTimeoutMs, 250);
  });

  it('takes the SQLite driver from ?driver= (auto, node:sqlite or node, better-sqlite3) and shows a chosen one in the description', () => {
    const driver = (url: string) => {
      const c = parseDatabaseUrl(url, { baseDir: '/data' });
      assert.equal(c.dialect, 'sqlite');
      return c.dialect === 'sqlite' ? c.driver : undefined;
    };
    assert.equal(driver('sqlite:x.db'), undefined);
    assert.equal(driver('sqlite:x.db?driver=auto'), 'auto');
    assert.equal(driver('sqlite:x.db?driver=node:sqlite'), 'node:sqlite');
    assert.equal(driver('sqlite:x.db?driver=node%3Asqlite&busyTimeout=10'), 'node:sqlite');
    assert.equal(driver('sqlite:x.db?driver=NODE'), 'node:sqlite');
    assert.equal(driver('sqlite::memory:?driver=better-sqlite3'), 'better-sqlite3');
    assert.throws(
      () => parseDatabaseUrl('sqlite:x.db?driver=sqlite3', { variable: 'DATABASE_URL' }),
      /DATABASE_URL .*option driver must be auto, node:sqlite, better-sqlite3/,
    );
    assert.equal(describeConfig(parseDatabaseUrl('sqlite:/d/x.db?driver=better-sqlite3')), 'sqlite:/d/x.db?driver=better-sqlite3');
    assert.equal(describeConfig(parseDatabaseUrl('sqlite:/d/x.db?driver=auto')), 'sqlite:/d/x.db');
    assert.equal(
      databaseIdentity(parseDatabaseUrl('sqlite:/d/x.db?driver=better-sqlite3')),
      databaseIdentity(parseDatabaseUrl('sqlite:/d/x.db')),
    );
  });

  it('names the variable and the problem', () => {
    const cases: Array<[unknown, RegExp]> = [
      ['', /empty/],
      ['   ', /empty/],
      [undefined, /undefined, not text/],
      [42, /number, not text/],
      ['localhost:3306/db', /unsupported scheme|no scheme/],
      ['just some words', /no scheme/],
      ['postgresql://u@h/db?sslmode=prefer', /falls back to an unencrypted connection/],
      ['redis://h', /unsupported scheme \(use mysql:\/\/, mariadb:\/\/, postgresql/],
      ['mysql:/u@h/db', /two slashes/],
      ['mysql://h/db', /names no user/],
      ['mysql://u@/db', /names no host/],
      ['mysql://u@h', /names no database/],
      ['mysql://u@h/', /names no database/],
      ['mysql://u@h:99999/db', /port is outside/],
      ['mysql://u@h:abc/db', /port is not a number/],
      ['mysql://u@h/a.b', /database name contains/],
      ['mysql://u@h%20x/db', /host name contains/],
      ['mysql://u@h/d\u0001b', /control characters/],
      ['mysql://u%zz@h/db', /user name has an invalid percent-encoding/],
      ['sqlite:', /names no file/],
      ['sqlite:%zz', /invalid percent-encoding/],
      ['sqlite:x.db?timeout=1', /unknown option "timeout"/],
    ];
    for (const [input, pattern] of cases) {
      const err = configError(() => parseDatabaseUrl(input, { variable: 'MY_DB_URL' }));
      assert.match(err.message, /^MY_DB_URL /, `message names the variable for ${JSON.stringify(input)}`);
      assert.match(err.message, pattern, `for ${JSON.stringify(input)}: ${err.message}`);
      assert.equal(err.code, 'DB_CONFIG_INVALID');
      assert.equal(err.kind, 'fatal');
      assert.equal(err.variable, 'MY_DB_URL');
    }
  });

  it('never puts the password in an error message', () => {
    const secret = 'S3cr3t-Pa55';
    const bad = [
      `mysql://u:${secret}@/db`,
      `mysql://u:${secret}@h`,
      `mysql://u:${secret}@h:0/db`,
      `mysql://u:${secret}@h/db?poolSize=x`,
      `mysql://u:${secret}@h/db?${secret}=1`,
      `mysql://u:${secret}%zz@h/db`,
      `mysql://u:${secret}@h/d.b`,
      `${secret}://u:${secret}@h/db`,
      `mysql://u:${secret}@bad host/db`,
    ];
    for (const url of bad) {
      const err = configError(() => parseDatabaseUrl(url));
      assert.ok(!err.message.includes(secret), `leaked in: ${err.message}`);
      assert.ok(!err.message.toLowerCase().includes('pa55'));
    }
  });

  it('property: garbage input either parses or throws DatabaseConfigError without echoing the password', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 60 }),
        fc.string({ minLength: 8, maxLength: 20 }).filter((s) => /^[A-Za-z0-9]+$/.test(s)),
        (garbage, password) => {
          for (const url of [
            garbage,
            `mysql://u:${password}@${garbage}`,
            `mysql://u:${password}@h/${garbage}`,
            `mysql://${garbage}:${password}@h/db?${garbage}`,
          ]) {
            try {
              parseDatabaseUrl(url);
            } catch (err) {
              assert.ok(err instanceof DatabaseConfigError);
              assert.ok(!err.message.includes(password));
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses absurdly long input without echoing it', () => {
    const err = configError(() => parseDatabaseUrl(`mysql://u:p@h/${'x'.repeat(100_000)}`));
    assert.ok(err.message.length < 300);
  });
});

describe('db/url: databaseConfigFromEnv', () => {
  const userDir = '/home/nr/.node-red';

  it('prefers DATABASE_URL, resolving relative sqlite paths against the user dir', () => {
    const c = databaseConfigFromEnv({ DATABASE_URL: 'sqlite:data/iot.db', MYSQL_HOST: 'ignored' }, { userDir });
    assert.deepEqual(c, { dialect: 'sqlite', file: resolve(userDir, 'data/iot.db'), busyTimeoutMs: 5000 });
  });

  it('uses the original MYSQL_* variables when MYSQL_HOST is set', () => {
    const c = databaseConfigFromEnv(
      { MYSQL_HOST: 'mariadb', MYSQL_PORT: '3307', MYSQL_USER: 'ha', MYSQL_PASSWORD: 'pw', MYSQL_DATABASE: 'homeassistant' },
      { userDir },
    );
    assert.deepEqual(c, {
      dialect: 'mysql',
      host: 'mariadb',
      port: 3307,
      user: 'ha',
      password: 'pw',
      database: 'homeassistant',
      poolSize: 4,
      connectTimeoutMs: 10000,
    });
  });

  it('says which MYSQL_* variable is wrong, without the password', () => {
    const base = { MYSQL_HOST: 'h', MYSQL_USER: 'u', MYSQL_PASSWORD: 'hunter2hunter2', MYSQL_DATABASE: 'd' };
    const cases: Array<[Record<string, string>, string]> = [
      [{ ...base, MYSQL_PORT: 'x' }, 'MYSQL_PORT'],
      [{ ...base, MYSQL_PORT: '70000' }, 'MYSQL_PORT'],
      [{ ...base, MYSQL_USER: '' }, 'MYSQL_USER'],
      [{ ...base, MYSQL_DATABASE: '' }, 'MYSQL_DATABASE'],
      [{ ...base, MYSQL_DATABASE: 'a/b' }, 'MYSQL_DATABASE'],
      [{ ...base, MYSQL_HOST: 'bad host' }, 'MYSQL_HOST'],
    ];
    for (const [env, variable] of cases) {
      const err = configError(() => databaseConfigFromEnv(env, { userDir }));
      assert.equal(err.variable, variable);
      assert.match(err.message, new RegExp(`^${variable} `));
      assert.ok(!err.message.includes('hunter2'));
    }
  });

  it('falls back to <userDir>/iot-pipelines.db; blank values count as unset', () => {
    assert.deepEqual(databaseConfigFromEnv({}, { userDir }), {
      dialect: 'sqlite',
      file: resolve(userDir, 'iot-pipelines.db'),
      busyTimeoutMs: 5000,
    });
    assert.equal(databaseConfigFromEnv({ DATABASE_URL: '  ', MYSQL_HOST: '' }, { userDir }).dialect, 'sqlite');
  });

  it('a bad DATABASE_URL is an error naming DATABASE_URL', () => {
    assert.equal(configError(() => databaseConfigFromEnv({ DATABASE_URL: 'nope' }, { userDir })).variable, 'DATABASE_URL');
  });
});

describe('db/url: describeConfig', () => {
  it('shows user, host, port, database and TLS, never the password', () => {
    const c = mysql('mysql://ha:topsecret@db:3306/home?ssl=true&sslRejectUnauthorized=false');
    const text = describeConfig(c);
    assert.equal(text, 'mysql://ha@db:3306/home?ssl=true&sslRejectUnauthorized=false');
    assert.ok(!text.includes('topsecret'));
    assert.equal(describeConfig(mysql('mysql://a%40b:x@h/db')), 'mysql://a%40b@h:3306/db');
    assert.equal(describeConfig({ dialect: 'sqlite', file: '/data/x.db', busyTimeoutMs: 1 }), 'sqlite:/data/x.db');
    assert.equal(describeConfig({ dialect: 'sqlite', file: ':memory:', busyTimeoutMs: 1 }), 'sqlite::memory:');
  });
});

describe('db/url: databaseIdentity', () => {
  it('is the same for configs that reach the same schema, whoever connects and however', () => {
    assert.equal(databaseIdentity(mysql('mysql://ha:one@DB:3306/home?ssl=true')), databaseIdentity(mysql('mysql://reader:two@db/home')));
    assert.notEqual(databaseIdentity(mysql('mysql://ha@db/home')), databaseIdentity(mysql('mysql://ha@db/other')));
    assert.notEqual(databaseIdentity(mysql('mysql://ha@db:3306/home')), databaseIdentity(mysql('mysql://ha@db:3307/home')));
    assert.ok(!databaseIdentity(mysql('mysql://ha:topsecret@db/home')).includes('topsecret'));
    assert.equal(
      databaseIdentity({ dialect: 'sqlite', file: '/data/./x.db', busyTimeoutMs: 1 }),
      databaseIdentity({ dialect: 'sqlite', file: '/data/x.db', busyTimeoutMs: 5 }),
    );
  });
});
