import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { classifyError } from '../../../lib/db/errors';
import { pickDriver, sqliteCodeName, sqliteDriverAvailability, SqliteUnavailableError } from '../../../lib/db/sqlite-driver';

describe('db: SQLite driver adapter', () => {
  it("names node:sqlite's numeric result codes as better-sqlite3 does, so both classify alike", () => {
    assert.equal(sqliteCodeName(5), 'SQLITE_BUSY');
    assert.equal(sqliteCodeName(517), 'SQLITE_BUSY_SNAPSHOT');
    assert.equal(sqliteCodeName(6), 'SQLITE_LOCKED');
    assert.equal(sqliteCodeName(2067), 'SQLITE_CONSTRAINT_UNIQUE');
    assert.equal(sqliteCodeName(1555), 'SQLITE_CONSTRAINT_PRIMARYKEY');
    assert.equal(sqliteCodeName(1299), 'SQLITE_CONSTRAINT_NOTNULL');
    assert.equal(sqliteCodeName(13), 'SQLITE_FULL');
    assert.equal(sqliteCodeName(14), 'SQLITE_CANTOPEN');
    assert.equal(sqliteCodeName(1), 'SQLITE_ERROR');
    // An extended code without a name falls back to its primary code (the low byte).
    assert.equal(sqliteCodeName(10 | (60 << 8)), 'SQLITE_IOERR');
    for (const [errcode, kind] of [
      [5, 'transient'],
      [6, 'transient'],
      [2067, 'data'],
      [13, 'connection'],
      [266, 'connection'],
      [1, 'fatal'],
    ] as const) {
      assert.equal(classifyError(Object.assign(new Error('x'), { code: sqliteCodeName(errcode) }), 'sqlite').kind, kind, String(errcode));
    }
  });

  it('refuses a driver that does not load here with one message naming both ways out', () => {
    const availability = sqliteDriverAvailability();
    for (const driver of ['node:sqlite', 'better-sqlite3'] as const) {
      if (availability[driver].available) {
        assert.equal(pickDriver(driver), driver);
        continue;
      }
      assert.throws(
        () => pickDriver(driver),
        (err: unknown) => {
          assert.ok(err instanceof SqliteUnavailableError);
          assert.equal(err.code, 'DB_SQLITE_UNAVAILABLE');
          assert.equal(err.kind, 'fatal');
          assert.match(
            err.message,
            /Node\.js 22\.16 or later \(24 and 26 recommended\) has SQLite built in|npm install-scripts approve better-sqlite3|npm install better-sqlite3/,
          );
          return true;
        },
      );
    }
  });

  it('auto prefers node:sqlite from Node 24 and better-sqlite3 before that, and follows IOTP_SQLITE_DRIVER', () => {
    const availability = sqliteDriverAvailability();
    const saved = process.env.IOTP_SQLITE_DRIVER;
    try {
      delete process.env.IOTP_SQLITE_DRIVER;
      const major = Number(process.versions.node.split('.')[0]);
      const preferred = major >= 24 ? 'node:sqlite' : 'better-sqlite3';
      const other = preferred === 'node:sqlite' ? 'better-sqlite3' : 'node:sqlite';
      if (availability[preferred].available) assert.equal(pickDriver('auto'), preferred);
      else if (availability[other].available) assert.equal(pickDriver('auto'), other);
      for (const driver of ['node:sqlite', 'better-sqlite3'] as const) {
        process.env.IOTP_SQLITE_DRIVER = driver;
        if (availability[driver].available) assert.equal(pickDriver('auto'), driver);
        else assert.throws(() => pickDriver('auto'), SqliteUnavailableError);
        // A database that names its driver is not overridden.
        if (availability[other].available) assert.equal(pickDriver(other), other);
      }
    } finally {
      if (saved === undefined) delete process.env.IOTP_SQLITE_DRIVER;
      else process.env.IOTP_SQLITE_DRIVER = saved;
    }
  });

  it('loads node:sqlite without an ExperimentalWarning (Node 22), and lets every other warning through', function () {
    if (!sqliteDriverAvailability()['node:sqlite'].available) this.skip();
    // A fresh process: Node prints the warning once per process, on the first load.
    const driverModule = require.resolve('../../../lib/db/sqlite-driver');
    const script = `require(${JSON.stringify(driverModule)}).pickDriver('node:sqlite'); process.emitWarning('a warning of someone else', 'ExperimentalWarning'); require('node:sqlite');`;
    const result = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    assert.doesNotMatch(result.stderr, /SQLite is an experimental feature/);
    assert.match(result.stderr, /ExperimentalWarning: a warning of someone else/);
    assert.equal(result.stderr.match(/ExperimentalWarning/g)?.length, 1, result.stderr);
  });
});
