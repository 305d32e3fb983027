/**
 * Both SQLite drivers under test: every SQLite suite runs once per driver. node:sqlite exists
 * only from Node.js 22.16 on (lib/db/sqlite-driver.ts), so on Node 20 its variant is skipped with
 * a message (the Node 22/24/26 legs of `npm test` run it); anywhere else a driver that does not
 * load fails the suite under CI=true and is skipped with a message otherwise.
 */
import { NODE_SQLITE_MIN_VERSION, sqliteDriverAvailability, type SqliteDriverName } from '../../lib/db/sqlite-driver';
import { inCi } from './services';

export const SQLITE_DRIVERS: readonly SqliteDriverName[] = ['node:sqlite', 'better-sqlite3'];

/** This Node.js predates a usable node:sqlite, so its absence is expected, not a broken setup. */
function nodeSqliteNotExpected(): boolean {
  const [major, minor] = process.versions.node.split('.').map(Number);
  const [needMajor, needMinor] = NODE_SQLITE_MIN_VERSION.split('.').map(Number);
  return major < needMajor || (major === needMajor && minor < needMinor);
}

/** Skips (or, under CI, fails) the current suite when `driver` does not load in this process. */
export function requireSqliteDriver(context: Mocha.Context, driver: SqliteDriverName): void {
  const status = sqliteDriverAvailability()[driver];
  if (status.available) return;
  const message = `SQLite driver ${driver} is not available on Node.js ${process.versions.node}: ${status.reason}`;
  if (inCi() && !(driver === 'node:sqlite' && nodeSqliteNotExpected())) throw new Error(`${message} (CI=true requires it)`);
  console.log(`      [skip] ${message}`);
  context.skip();
}

/** describe(`${title} [driver]`) once per SQLite driver, the suite skipped where its driver is missing. */
export function describeEachSqliteDriver(title: string, body: (driver: SqliteDriverName) => void): void {
  for (const driver of SQLITE_DRIVERS) {
    describe(`${title} [${driver}]`, function () {
      before(function () {
        requireSqliteDriver(this, driver);
      });
      body(driver);
    });
  }
}
