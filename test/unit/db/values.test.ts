import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DatabaseError, SqlParameterError } from '../../../lib/db/errors';
import { formatMysqlQuery, mysqlLockName } from '../../../lib/db/mysql';
import { escapeMysqlString, escapeMysqlValue, mysqlDateTime, toSqliteValue } from '../../../lib/db/values';

describe('db/values: MySQL literals', () => {
  it('escapes every value type', () => {
    assert.equal(escapeMysqlValue('plain'), "'plain'");
    assert.equal(escapeMysqlValue('it\'s \\ "q"\n\r\t\u0000\u001a\b'), "'it\\'s \\\\ \\\"q\\\"\\n\\r\\t\\0\\Z\\b'");
    assert.equal(escapeMysqlValue(42), '42');
    assert.equal(escapeMysqlValue(-1.5e-7), '-1.5e-7');
    assert.equal(escapeMysqlValue(12345678901234567890n), '12345678901234567890');
    assert.equal(escapeMysqlValue(true), '1');
    assert.equal(escapeMysqlValue(false), '0');
    assert.equal(escapeMysqlValue(null), 'NULL');
    assert.equal(escapeMysqlValue(undefined), 'NULL');
    assert.equal(escapeMysqlValue(Buffer.from([0, 255, 16])), "X'00ff10'");
    assert.equal(escapeMysqlValue(new Date(Date.UTC(2024, 1, 29, 3, 4, 5, 6))), "'2024-02-29 03:04:05.006'");
  });

  it('refuses NaN, Infinity, invalid dates and objects as data errors', () => {
    for (const bad of [NaN, Infinity, -Infinity, new Date('nope'), { a: 1 }, [1]]) {
      assert.throws(
        () => escapeMysqlValue(bad as never),
        (err: unknown) => err instanceof DatabaseError && err.kind === 'data' && err.code === 'DB_VALUE_INVALID',
      );
    }
    assert.throws(() => mysqlDateTime(new Date(Date.UTC(12000, 0, 1))), /year 12000/);
  });

  it('formats named and positional queries, leaving ? inside literals alone', () => {
    assert.equal(formatMysqlQuery('SELECT \'?\', ?, "?"', ['x']), "SELECT '?', 'x', \"?\"");
    assert.equal(formatMysqlQuery('SELECT :a, :b, :a', { a: 1, b: "o'k" }), "SELECT 1, 'o\\'k', 1");
    assert.equal(formatMysqlQuery('SELECT ?'), 'SELECT ?');
    assert.throws(
      () => formatMysqlQuery('SELECT ?, ?', [1]),
      (err: unknown) => err instanceof SqlParameterError && err.code === 'DB_PARAM_COUNT',
    );
    assert.throws(() => formatMysqlQuery('SELECT ?', [1, 2]), /1 \? placeholder but 2 values/);
  });

  it('property: an escaped string is one literal (no unescaped quote inside)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (text) => {
        const literal = escapeMysqlString(text);
        const inner = literal.slice(1, -1);
        // Walk it as MySQL would: a backslash consumes the next character; a bare quote would end the literal.
        for (let i = 0; i < inner.length; i++) {
          if (inner[i] === '\\') i++;
          else assert.notEqual(inner[i], "'");
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('scopes lock names to the database and keeps them within 64 characters', () => {
    assert.equal(mysqlLockName('db', 'iotp_migrations'), 'db.iotp_migrations');
    const long = mysqlLockName('d'.repeat(64), 'n');
    assert.ok(long.length <= 64);
    assert.notEqual(long, mysqlLockName('d'.repeat(64), 'm'));
  });
});

describe('db/values: SQLite bindings', () => {
  it('converts booleans, dates and undefined; keeps the rest', () => {
    assert.equal(toSqliteValue(true), 1);
    assert.equal(toSqliteValue(false), 0);
    assert.equal(toSqliteValue(undefined), null);
    assert.equal(toSqliteValue(new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 6))), '2024-01-02T03:04:05.006Z');
    assert.equal(toSqliteValue(5n), 5n);
    const buf = Buffer.from('x');
    assert.equal(toSqliteValue(buf), buf);
    for (const bad of [NaN, Infinity, new Date('x'), {}]) assert.throws(() => toSqliteValue(bad as never), /Cannot store/);
  });
});
