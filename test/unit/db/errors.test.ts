import assert from 'node:assert/strict';
import { classifyError, DatabaseError, kindOf, redact } from '../../../lib/db/errors';
import type { DbErrorKind } from '../../../lib/db/types';

function driverError(props: Record<string, unknown>, message = 'driver failure'): Error {
  return Object.assign(new Error(message), props);
}

describe('db/errors: classifyError (MySQL/MariaDB)', () => {
  const table: Array<[Record<string, unknown>, DbErrorKind]> = [
    [{ code: 'ECONNREFUSED', errno: -111 }, 'connection'],
    [{ code: 'ECONNRESET' }, 'connection'],
    [{ code: 'ETIMEDOUT' }, 'connection'],
    [{ code: 'EPIPE' }, 'connection'],
    [{ code: 'ENOTFOUND' }, 'connection'],
    [{ code: 'PROTOCOL_CONNECTION_LOST' }, 'connection'],
    [{ code: 'ER_CON_COUNT_ERROR', errno: 1040 }, 'connection'],
    [{ code: 'ER_SERVER_SHUTDOWN', errno: 1053 }, 'connection'],
    [{ errno: 1053 }, 'connection'],
    [{ errno: 2006 }, 'connection'],
    [{ errno: 2013 }, 'connection'],
    [{ errno: 1927 }, 'connection'],
    [{ code: 'POOL_CLOSED' }, 'connection'],
    [{ code: 'ER_DATA_TOO_LONG', errno: 1406 }, 'data'],
    [{ code: 'ER_TRUNCATED_WRONG_VALUE', errno: 1292 }, 'data'],
    [{ code: 'ER_TRUNCATED_WRONG_VALUE_FOR_FIELD', errno: 1366 }, 'data'],
    [{ errno: 1366 }, 'data'],
    [{ code: 'ER_BAD_NULL_ERROR', errno: 1048 }, 'data'],
    [{ code: 'ER_WARN_DATA_OUT_OF_RANGE', errno: 1264 }, 'data'],
    [{ code: 'ER_DUP_ENTRY', errno: 1062 }, 'data'],
    [{ code: 'ER_NO_REFERENCED_ROW_2', errno: 1452 }, 'data'],
    [{ code: 'ER_NO_REFERENCED_ROW', errno: 1216 }, 'data'],
    [{ errno: 4025 }, 'data'],
    [{ code: 'ER_LOCK_DEADLOCK', errno: 1213 }, 'transient'],
    [{ code: 'ER_LOCK_WAIT_TIMEOUT', errno: 1205 }, 'transient'],
    [{ code: 'ER_PARSE_ERROR', errno: 1064 }, 'fatal'],
    [{ code: 'ER_NO_SUCH_TABLE', errno: 1146 }, 'fatal'],
    [{ code: 'ER_ACCESS_DENIED_ERROR', errno: 1045 }, 'fatal'],
    [{ code: 'ER_DBACCESS_DENIED_ERROR', errno: 1044 }, 'fatal'],
    [{ code: 'ER_BINLOG_CREATE_ROUTINE_NEED_SUPER', errno: 1419 }, 'fatal'],
    [{}, 'fatal'],
  ];
  for (const [props, kind] of table) {
    it(`${JSON.stringify(props)} -> ${kind}`, () => {
      const err = classifyError(driverError({ sqlState: 'HY000', ...props }), 'mysql');
      assert.ok(err instanceof DatabaseError);
      assert.equal(err.kind, kind);
      assert.equal(err.dialect, 'mysql');
      if (typeof props.code === 'string') assert.equal(err.code, props.code);
      if (typeof props.errno === 'number') assert.equal(err.errno, props.errno);
    });
  }

  it('recognises mysql2 pool states that carry no code', () => {
    const closed = classifyError(new Error('Pool is closed.'), 'mysql');
    assert.deepEqual([closed.kind, closed.code], ['connection', 'POOL_CLOSED']);
    const full = classifyError(new Error('Queue limit reached.'), 'mysql');
    assert.deepEqual([full.kind, full.code], ['transient', 'POOL_QUEUE_FULL']);
    assert.equal(classifyError(new Error("Can't add new command when connection is in closed state"), 'mysql').kind, 'connection');
  });

  it('prefers sqlMessage and keeps sqlState', () => {
    const err = classifyError(
      driverError({ code: 'ER_DUP_ENTRY', errno: 1062, sqlState: '23000', sqlMessage: "Duplicate entry '1' for key 'PRIMARY'" }, 'ignored'),
      'mysql',
    );
    assert.equal(err.message, "Duplicate entry '1' for key 'PRIMARY'");
    assert.equal(err.sqlState, '23000');
  });

  it('scrubs secrets from the message and drops the cause that could hold them', () => {
    const err = classifyError(driverError({ code: 'ER_ACCESS_DENIED_ERROR' }, "Access denied for 'u' using 'Sup3rSecret'"), 'mysql', [
      'Sup3rSecret',
    ]);
    assert.ok(!err.message.includes('Sup3rSecret'));
    assert.equal(err.cause, undefined);
    assert.equal(redact('a pw b', ['pw']), 'a pw b', 'too short to scrub safely');
  });

  it('passes DatabaseErrors through and wraps non-errors', () => {
    const original = new DatabaseError('x', { kind: 'data', code: 'X' });
    assert.equal(classifyError(original, 'mysql'), original);
    const wrapped = classifyError('boom', 'sqlite');
    assert.equal(wrapped.message, 'boom');
    assert.equal(wrapped.kind, 'fatal');
    assert.equal(classifyError(null, 'mysql').kind, 'fatal');
  });
});

describe('db/errors: classifyError (SQLite)', () => {
  const table: Array<[string, DbErrorKind]> = [
    ['SQLITE_CONSTRAINT', 'data'],
    ['SQLITE_CONSTRAINT_UNIQUE', 'data'],
    ['SQLITE_CONSTRAINT_NOTNULL', 'data'],
    ['SQLITE_CONSTRAINT_FOREIGNKEY', 'data'],
    ['SQLITE_CONSTRAINT_CHECK', 'data'],
    ['SQLITE_TOOBIG', 'data'],
    ['SQLITE_MISMATCH', 'data'],
    ['SQLITE_BUSY', 'transient'],
    ['SQLITE_BUSY_SNAPSHOT', 'transient'],
    ['SQLITE_LOCKED', 'transient'],
    ['SQLITE_CANTOPEN', 'connection'],
    ['SQLITE_IOERR_WRITE', 'connection'],
    ['SQLITE_FULL', 'connection'],
    ['SQLITE_ERROR', 'fatal'],
    ['SQLITE_READONLY', 'fatal'],
    ['SQLITE_CORRUPT', 'fatal'],
    ['SQLITE_NOTADB', 'fatal'],
  ];
  for (const [code, kind] of table) {
    it(`${code} -> ${kind}`, () => {
      const err = classifyError(driverError({ code }), 'sqlite');
      assert.equal(err.kind, kind);
      assert.equal(err.code, code);
    });
  }

  it('classifies better-sqlite3 TypeErrors: unbindable value -> data, closed handle -> connection', () => {
    assert.equal(classifyError(new TypeError('SQLite3 can only bind numbers, strings, bigints, buffers, and null'), 'sqlite').kind, 'data');
    const closed = classifyError(new TypeError('The database connection is not open'), 'sqlite');
    assert.deepEqual([closed.kind, closed.code], ['connection', 'DB_CLOSED']);
  });

  it('kindOf does not mix dialect tables', () => {
    assert.equal(kindOf('sqlite', 'ER_DUP_ENTRY'), 'fatal');
    assert.equal(kindOf('mysql', 'SQLITE_BUSY'), 'fatal');
  });
});
