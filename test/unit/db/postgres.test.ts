/**
 * The PostgreSQL dialect's pure parts: URLs (libpq and SQLAlchemy spellings, sslmode), `$n`
 * placeholders, SQLSTATE classification, COPY text and the upsert merge of repeated keys.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { classifyError, isUniqueViolation, kindOf } from '../../../lib/db/errors';
import { planInsert, mergeRepeatedKeys } from '../../../lib/db/insert';
import { compilePostgres, findPlaceholders } from '../../../lib/db/params';
import { tlsOptions, postgresLockKey } from '../../../lib/db/postgres';
import { databaseIdentity, describeConfig, parseDatabaseUrl } from '../../../lib/db/url';
import { copyField, copyText } from '../../../lib/db/values';
import type { PostgresConfig, SqlValue } from '../../../lib/db/types';

function pg(url: string): PostgresConfig {
  const config = parseDatabaseUrl(url);
  assert.equal(config.dialect, 'postgres');
  return config as PostgresConfig;
}

describe('db/postgres: URLs', () => {
  it('reads postgres://, postgresql:// and the SQLAlchemy driver forms, with port 5432 by default', () => {
    for (const scheme of ['postgres', 'postgresql', 'postgresql+psycopg2', 'postgresql+asyncpg', 'postgresql+pg8000', 'POSTGRESQL']) {
      const config = pg(`${scheme}://username:p%40ss@localhost/dbname`);
      assert.deepEqual(
        { host: config.host, port: config.port, user: config.user, password: config.password, database: config.database, tls: config.tls },
        { host: 'localhost', port: 5432, user: 'username', password: 'p@ss', database: 'dbname', tls: undefined },
      );
    }
    assert.equal(pg('postgresql://u@[::1]:6543/d').port, 6543);
  });

  it('maps sslmode to TLS settings, refuses the modes that fall back to plain text silently', () => {
    assert.equal(pg('postgresql://u@h/d?sslmode=disable').tls, undefined);
    assert.deepEqual(pg('postgresql://u@h/d?sslmode=require').tls, { mode: 'require' });
    assert.deepEqual(pg('postgresql://u@h/d?sslmode=verify-ca').tls, { mode: 'verify-ca' });
    assert.deepEqual(pg('postgresql://u@h/d?sslmode=verify-full').tls, { mode: 'verify-full' });
    assert.deepEqual(pg('postgresql://u@h/d?ssl=true').tls, { mode: 'verify-full' });
    assert.deepEqual(pg('postgresql://u@h/d?ssl=true&sslRejectUnauthorized=false').tls, { mode: 'require' });
    for (const mode of ['prefer', 'allow']) assert.throws(() => pg(`postgresql://u@h/d?sslmode=${mode}`), /use sslmode=require/);
    assert.throws(() => pg('postgresql://u@h/d?sslmode=sometimes'), /must be disable, require, verify-ca or verify-full/);
  });

  it('reads pool size and both connect timeout spellings; refuses unknown options without echoing the password', () => {
    const config = pg('postgresql://u:secret@h/d?poolSize=9&connect_timeout=3');
    assert.equal(config.poolSize, 9);
    assert.equal(config.connectTimeoutMs, 3000);
    assert.equal(pg('postgresql://u@h/d?connectTimeout=1500').connectTimeoutMs, 1500);
    assert.throws(
      () => pg('postgresql://u:hunter22@h/d?hunter22=1'),
      (err: Error) => /unknown option/.test(err.message) && !err.message.includes('hunter22'),
    );
    assert.throws(() => pg('postgresql://u@h/d?client_encoding=LATIN1'), /must be UTF8/);
    assert.throws(() => pg(`postgresql://u@h/${'x'.repeat(64)}`), /longer than 63 bytes/);
    assert.throws(() => pg('postgresql://h/d'), /names no user \(postgresql:\/\//);
  });

  it('describes itself without the password, and identifies the database whoever connects', () => {
    const config = pg('postgresql+psycopg2://iot:secret@DB.example:5433/plant?sslmode=verify-ca');
    assert.equal(describeConfig(config), 'postgresql://iot@DB.example:5433/plant?sslmode=verify-ca');
    assert.equal(databaseIdentity(config), databaseIdentity(pg('postgres://other@db.example:5433/plant')));
  });

  it('turns sslmode into the driver TLS options: require does not verify, verify-ca skips the host name, verify-full checks both', () => {
    const base = pg('postgresql://u@h/d');
    assert.equal(tlsOptions(base), false);
    assert.deepEqual(tlsOptions({ ...base, tls: { mode: 'require', ca: 'CA' } }), { ca: 'CA', rejectUnauthorized: false });
    const verifyCa = tlsOptions({ ...base, tls: { mode: 'verify-ca' } }) as {
      rejectUnauthorized: boolean;
      checkServerIdentity: () => unknown;
    };
    assert.equal(verifyCa.rejectUnauthorized, true);
    assert.equal(verifyCa.checkServerIdentity(), undefined);
    assert.deepEqual(tlsOptions({ ...base, tls: { mode: 'verify-full' } }), { rejectUnauthorized: true });
  });
});

describe('db/postgres: placeholders', () => {
  it('numbers ? and :name as $1..., a reused name binding twice', () => {
    assert.deepEqual(compilePostgres('SELECT ? , ?', [1, 'a']), { text: 'SELECT $1 , $2', values: [1, 'a'] });
    assert.deepEqual(compilePostgres('SELECT :a, :b, :a', { a: 1, b: 2 }), { text: 'SELECT $1, $2, $3', values: [1, 2, 1] });
    assert.deepEqual(compilePostgres('SELECT 1', undefined), { text: 'SELECT 1', values: [] });
  });

  it('passes SQL written with $1 unchanged', () => {
    assert.deepEqual(compilePostgres('SELECT $1::int + $2', [1, 2]), { text: 'SELECT $1::int + $2', values: [1, 2] });
  });

  it('skips literals, E-strings with backslash escapes, dollar quotes, identifiers, comments and casts', () => {
    const sql = `SELECT '?', E'\\'?', "?col", $$ ? :x $$, $tag$ ? $tag$, x::text, ? -- ?
      /* ? */ FROM t WHERE a = :name`;
    assert.deepEqual(
      findPlaceholders(sql, 'postgres').map((p) => p.name ?? '?'),
      ['?', 'name'],
    );
    // A plain '..' string ends at its quote even after a backslash (standard_conforming_strings).
    assert.deepEqual(findPlaceholders("SELECT 'a\\', ?", 'postgres').length, 1);
    assert.deepEqual(findPlaceholders('SELECT $1, a$b, ?', 'postgres').length, 1);
  });

  it('refuses a count mismatch before the server sees it', () => {
    assert.throws(() => compilePostgres('SELECT ?, ?', [1]), /2 \? placeholders but 1 value was given/);
  });
});

describe('db/postgres: errors', () => {
  it('classifies SQLSTATEs by class and code', () => {
    const cases: Array<[string, string]> = [
      ['23505', 'data'],
      ['23502', 'data'],
      ['22001', 'data'],
      ['22021', 'data'],
      ['22P02', 'data'],
      ['21000', 'data'],
      ['54000', 'data'],
      ['40001', 'transient'],
      ['40P01', 'transient'],
      ['55P03', 'transient'],
      ['57014', 'transient'],
      ['08006', 'connection'],
      ['08001', 'connection'],
      ['57P01', 'connection'],
      ['57P03', 'connection'],
      ['53300', 'connection'],
      ['53100', 'connection'],
      ['42P01', 'fatal'],
      ['42601', 'fatal'],
      ['28P01', 'fatal'],
      ['3D000', 'fatal'],
      ['42501', 'fatal'],
      ['ECONNREFUSED', 'connection'],
      ['EPIPE', 'connection'],
      ['ECONNRESET', 'connection'],
    ];
    for (const [code, kind] of cases) assert.equal(kindOf('postgres', code), kind, code);
  });

  it("classifies pg's code-less connection errors as connection", () => {
    for (const message of [
      'Connection terminated unexpectedly',
      'timeout exceeded when trying to connect',
      'Connection terminated due to connection timeout',
      'Client has encountered a connection error and is not queryable',
    ]) {
      assert.equal(classifyError(new Error(message), 'postgres').kind, 'connection', message);
    }
  });

  it('keeps the SQLSTATE, adds the detail, scrubs the password, and recognises a unique violation', () => {
    const err = classifyError(
      Object.assign(new Error('duplicate key value violates unique constraint "pk"'), {
        code: '23505',
        detail: 'Key (id)=(1) already exists.',
      }),
      'postgres',
      ['s3cret'],
    );
    assert.equal(err.code, '23505');
    assert.equal(err.sqlState, '23505');
    assert.match(err.message, /\(Key \(id\)=\(1\) already exists\.\)$/);
    assert.ok(isUniqueViolation(err));
    assert.ok(!isUniqueViolation(classifyError(Object.assign(new Error('x'), { code: '23503' }), 'postgres')));
    assert.ok(!classifyError(new Error('password s3cret rejected'), 'postgres', ['s3cret']).message.includes('s3cret'));
  });

  it('derives one stable signed 64-bit lock key per name', () => {
    const key = BigInt(postgresLockKey('iotp_migrations'));
    assert.ok(key >= -(2n ** 63n) && key < 2n ** 63n);
    assert.equal(postgresLockKey('iotp_migrations'), postgresLockKey('iotp_migrations'));
    assert.notEqual(postgresLockKey('a'), postgresLockKey('b'));
  });
});

describe('db/postgres: COPY text and inserts', () => {
  it('escapes backslash, tab and line breaks, writes NULL as \\N and bytea as hex', () => {
    assert.equal(copyField('a\tb\nc\rd\\e'), 'a\\tb\\nc\\rd\\\\e');
    assert.equal(copyField(null), '\\N');
    assert.equal(copyField('\\N'), '\\\\N');
    assert.equal(copyField(true), '1');
    assert.equal(copyField(12n), '12');
    assert.equal(copyField(new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 6))), '2024-01-02T03:04:05.006Z');
    assert.equal(copyField(Buffer.from([0, 255])), '\\\\x00ff');
    assert.throws(() => copyField(NaN), /no SQL representation/);
    assert.equal(
      copyText([
        ['a', 1],
        [null, 'x\ny'],
      ]),
      'a\t1\n\\N\tx\\ny\n',
    );
  });

  it('property: every COPY line has one field per column and no raw line break', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.oneof(fc.string(), fc.constant(null), fc.integer()), { minLength: 3, maxLength: 3 }), { maxLength: 20 }),
        (rows) => {
          const lines = copyText(rows as SqlValue[][]).split('\n');
          assert.equal(lines.pop(), '');
          assert.equal(lines.length, rows.length);
          for (const line of lines) assert.equal(line.split('\t').length, 3);
        },
      ),
    );
  });

  it('plain batches become COPY statements of at most maxRowsPerStatement rows, the rows as their one value', () => {
    const plan = planInsert('postgres', { table: 'readings', columns: ['sensor', 'value'], maxRowsPerStatement: 2 });
    const statements = plan.statements([['a', 1], { sensor: 'b', value: 2 }, ['c', null]]);
    assert.deepEqual(statements, [
      { sql: 'COPY "readings" ("sensor", "value") FROM STDIN', values: ['a\t1\nb\t2\n'], rows: 2 },
      { sql: 'COPY "readings" ("sensor", "value") FROM STDIN', values: ['c\t\\N\n'], rows: 1 },
    ]);
    assert.throws(() => plan.statements([['a']]), /Row 0 has 1 values for 2 columns/);
  });

  it('ignore and upsert use ON CONFLICT; an upsert merges rows repeating a key as sequential upserts would', () => {
    const ignore = planInsert('postgres', { table: 't', columns: ['k', 'v'], conflict: 'ignore' });
    assert.equal(ignore.statements([['a', 1]])[0].sql, 'INSERT INTO "t" ("k", "v") VALUES (?, ?) ON CONFLICT DO NOTHING');
    const upsert = planInsert('postgres', {
      table: 't',
      columns: ['k', 'v', 'w'],
      conflict: 'upsert',
      keyColumns: ['k'],
      updateColumns: ['v'],
    });
    const [statement] = upsert.statements([
      ['a', 1, 'first'],
      ['b', 2, 'b'],
      ['a', 3, 'later'],
      [null, 4, 'n'],
      [null, 5, 'n'],
    ]);
    assert.equal(
      statement.sql,
      'INSERT INTO "t" ("k", "v", "w") VALUES (?, ?, ?), (?, ?, ?), (?, ?, ?), (?, ?, ?) ON CONFLICT ("k") DO UPDATE SET "v" = excluded."v"',
    );
    assert.deepEqual(statement.values, ['a', 3, 'first', 'b', 2, 'b', null, 4, 'n', null, 5, 'n']);
    // 1 and '1' are different keys to the database, so they stay two rows.
    assert.equal(
      mergeRepeatedKeys(
        [
          [1, 'x'],
          ['1', 'y'],
        ],
        { keys: [0], updates: [1] },
      ).length,
      2,
    );
  });
});

describe('db/timescale: hypertable statements', () => {
  it('adds the time column to a primary key that lacks it, then converts; integer time gets a chunk width', async () => {
    const { hypertableStatements, HYPERTABLES } = await import('../../../lib/db/timescale');
    assert.deepEqual(hypertableStatements(HYPERTABLES.sensors[0], { name: 'sensor_data_pkey', columns: ['id'] }), [
      'ALTER TABLE "sensor_data" DROP CONSTRAINT "sensor_data_pkey", ADD PRIMARY KEY ("id", "timestamp")',
      `SELECT create_hypertable('"sensor_data"', 'timestamp', migrate_data => TRUE)`,
    ]);
    assert.deepEqual(hypertableStatements(HYPERTABLES.isems[0], { name: 'pk', columns: ['id', 'timestamp'] }), [
      `SELECT create_hypertable('"measurement"', 'timestamp', chunk_time_interval => 604800, migrate_data => TRUE)`,
    ]);
    assert.deepEqual(Object.keys(HYPERTABLES).sort(), ['isems', 'sensors', 'statestream']);
    // messages: the row trigger replaces the statement trigger (hypertables take no transition tables).
    const messages = hypertableStatements(HYPERTABLES.statestream[0], { name: 'messages_pkey', columns: ['id'] });
    assert.match(messages[1], /FOR EACH ROW EXECUTE FUNCTION statestream_normalise_row\(\)/);
    assert.match(messages[messages.length - 1], /create_hypertable\('"messages"', 'received_at'/);
  });
});

describe('db/postgres: statements sent with BEGIN', () => {
  it('writes numbers, NULL, booleans, Dates and Buffers in; refuses text, COPY and mismatched counts', async () => {
    const { inlineStatement } = await import('../../../lib/db/postgres');
    assert.equal(
      inlineStatement({ sql: 'INSERT INTO m (token) VALUES (?)', values: [Buffer.from([0, 171])] }),
      "INSERT INTO m (token) VALUES (E'\\\\x00ab'::bytea)",
    );
    assert.equal(inlineStatement({ sql: 'SELECT 1-?, ?, ?, ?', values: [-5, null, true, 12n] }), 'SELECT 1-(-5), NULL, 1, 12');
    assert.equal(inlineStatement({ sql: 'SELECT ?', values: [new Date(Date.UTC(2024, 0, 1))] }), "SELECT '2024-01-01T00:00:00.000Z'");
    assert.equal(inlineStatement({ sql: 'SELECT ?', values: ["'; DROP TABLE x; --"] }), undefined);
    assert.equal(inlineStatement({ sql: 'SELECT ?', values: [NaN] }), undefined);
    assert.equal(inlineStatement({ sql: 'SELECT ?, ?', values: [1] }), undefined);
    assert.equal(inlineStatement({ sql: 'SELECT :a', values: { a: 1 } }), undefined);
    assert.equal(inlineStatement({ sql: 'COPY t (a) FROM STDIN', values: ['1\n'] }), undefined);
  });
});
