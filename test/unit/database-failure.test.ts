import assert from 'node:assert/strict';
import { databaseFailure } from '../../lib/database-failure';
import { classifyError, DatabaseConfigError, DatabaseError } from '../../lib/db/errors';
import { databaseErrorAnswer } from '../../lib/sensors/http';

describe('databaseFailure: what a client is told when the database fails', () => {
  const driverTexts = [
    Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:13306'), { code: 'ECONNREFUSED', errno: -111 }),
    Object.assign(new Error("Unknown database 'iotp_secret_db'"), {
      code: 'ER_BAD_DB_ERROR',
      errno: 1049,
      sqlMessage: "Unknown database 'iotp_secret_db'",
    }),
    Object.assign(new Error("Access denied for user 'iot'@'10.1.2.3' (using password: YES)"), {
      code: 'ER_ACCESS_DENIED_ERROR',
      errno: 1045,
    }),
    Object.assign(new Error('Lock wait timeout exceeded; try restarting transaction'), { code: 'ER_LOCK_WAIT_TIMEOUT', errno: 1205 }),
    Object.assign(new Error("Table 'iot.sensor_data' doesn't exist"), { code: 'ER_NO_SUCH_TABLE', errno: 1146 }),
  ];

  it('words and a code of this package, never the driver text, address or names', () => {
    const seen = driverTexts.map((raw) => {
      const failure = databaseFailure(classifyError(raw, 'mysql'));
      const text = JSON.stringify(failure);
      assert.doesNotMatch(text, /ECONNREFUSED|127\.0\.0\.1|13306|iotp_secret_db|10\.1\.2\.3|sensor_data|ER_/, text);
      return [failure.status, failure.error];
    });
    assert.deepEqual(seen, [
      [503, 'database unavailable'],
      [503, 'database unavailable'],
      [503, 'database unavailable'],
      [503, 'database busy'],
      [500, 'database query failed'],
    ]);
  });

  it('a configuration error, a SQLite file that cannot open, and anything else', () => {
    assert.equal(
      databaseFailure(new DatabaseConfigError('DATABASE_URL', 'mysql://u:p@db.internal/x is malformed')).error,
      'database not configured',
    );
    assert.equal(
      databaseFailure(
        classifyError(Object.assign(new Error('unable to open database file /var/lib/x.db'), { code: 'SQLITE_CANTOPEN' }), 'sqlite'),
      ).error,
      'database unavailable',
    );
    assert.deepEqual(databaseFailure(new TypeError('x is undefined')), {
      status: 500,
      error: 'database query failed',
      code: 'QUERY_FAILED',
    });
    assert.equal(
      databaseFailure(new DatabaseError('server closed the connection', { kind: 'connection', code: 'DB_CLOSED' })).retryAfterSeconds,
      10,
    );
  });

  it('as the sensors endpoints answer it: JSON, no-store, Retry-After on a 503', () => {
    const answer = databaseErrorAnswer(classifyError(driverTexts[0], 'mysql'));
    assert.equal(answer.statusCode, 503);
    assert.deepEqual(answer.payload, { error: 'database unavailable', code: 'DATABASE_UNAVAILABLE' });
    assert.equal(answer.headers['retry-after'], '10');
    assert.equal(answer.headers['cache-control'], 'no-store');
  });
});
