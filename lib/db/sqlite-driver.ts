/**
 * The two SQLite drivers behind one small synchronous interface, so lib/db/sqlite.ts is written
 * once: Node's built-in `node:sqlite` (nothing to install or build) and the optional dependency
 * better-sqlite3. Both are synchronous, in-process SQLite; the adapter evens out their
 * differences so callers see one behaviour:
 * - errors: node:sqlite throws `ERR_SQLITE_ERROR` with a numeric `errcode`; it is re-thrown with
 *   better-sqlite3's `SQLITE_BUSY`/`SQLITE_CONSTRAINT_UNIQUE`-style code, which classifyError maps;
 *   a closed handle reads "The database connection is not open" on both;
 * - rows: node:sqlite returns null-prototype objects and BLOBs as Uint8Array; they become plain
 *   objects with Buffers, as better-sqlite3 returns them;
 * - whether a statement returns rows: better-sqlite3's `reader`, node:sqlite's `columns()`.
 * One difference stays: an INTEGER beyond +-2^53 is read by better-sqlite3 as the nearest double,
 * while node:sqlite refuses it (reported as a `data` error naming the value) instead of rounding.
 *
 * Which driver: `auto` picks node:sqlite where it is complete (Node 22.16+, 24, 26) and not
 * experimental, else better-sqlite3 where it loads, else node:sqlite on Node 22. On Node 22
 * node:sqlite prints an ExperimentalWarning when first loaded; this module loads it quietly
 * (only that one warning, only during its own synchronous require) so no per-start noise appears.
 */
import type BetterSqlite3 from 'better-sqlite3';
import { IotpError } from '../errors';
import { DatabaseError } from './errors';

export type SqliteDriverName = 'node:sqlite' | 'better-sqlite3';
/** What a config asks for: a driver, or `auto` (see pickDriver). */
export type SqliteDriverChoice = 'auto' | SqliteDriverName;
export const SQLITE_DRIVER_CHOICES: readonly SqliteDriverChoice[] = ['auto', 'node:sqlite', 'better-sqlite3'];

/** A value as both drivers bind it (lib/db/values.ts toSqliteValue produces these). */
export type SqliteBindValue = string | number | bigint | Buffer | null;

export interface SqliteRunResult {
  changes: number;
  lastInsertRowid: number | bigint;
}

export interface SqliteStatement {
  /** True when the statement returns rows (SELECT, PRAGMA, ... RETURNING). */
  readonly reader: boolean;
  all(values: readonly SqliteBindValue[]): Record<string, unknown>[];
  /** Steps row by row; leaving the loop early finalises the step. */
  iterate(values: readonly SqliteBindValue[]): IterableIterator<Record<string, unknown>>;
  run(values: readonly SqliteBindValue[]): SqliteRunResult;
}

export interface SqliteConnection {
  readonly driver: SqliteDriverName;
  prepare(sql: string): SqliteStatement;
  /** Runs SQL without parameters or results (BEGIN, COMMIT, PRAGMA x = y). */
  exec(sql: string): void;
  readonly inTransaction: boolean;
  close(): void;
}

/** The Node.js major from which node:sqlite is no longer experimental (no ExperimentalWarning when loaded). */
const NODE_SQLITE_STABLE_MAJOR = 24;
/** The first Node.js release whose node:sqlite has everything used here (StatementSync.columns). */
export const NODE_SQLITE_MIN_VERSION = '22.16';

/**
 * better-sqlite3 is missing, or cannot load here, and node:sqlite cannot stand in (this Node.js
 * has none, or the config asks for better-sqlite3 by name). The message says what to do.
 */
export class SqliteUnavailableError extends DatabaseError {
  /** True when better-sqlite3 itself is absent (rather than present with an unloadable addon). */
  readonly notInstalled: boolean;

  constructor(message: string, cause?: unknown, notInstalled = false) {
    super(message, { kind: 'fatal', code: 'DB_SQLITE_UNAVAILABLE', dialect: 'sqlite', cause });
    this.name = 'SqliteUnavailableError';
    this.notInstalled = notInstalled;
  }
}

// ---- node:sqlite (typed here: the project's @types/node predates it) ----

interface NodeStatementSync {
  run(...values: SqliteBindValue[]): { changes: number | bigint; lastInsertRowid: number | bigint };
  all(...values: SqliteBindValue[]): Record<string, unknown>[];
  iterate(...values: SqliteBindValue[]): IterableIterator<Record<string, unknown>>;
  columns(): unknown[];
}

interface NodeDatabaseSync {
  prepare(sql: string): NodeStatementSync;
  exec(sql: string): void;
  close(): void;
  readonly isTransaction?: boolean;
}

interface NodeSqliteModule {
  DatabaseSync: new (path: string) => NodeDatabaseSync;
  StatementSync: { prototype: Partial<NodeStatementSync> };
}

type Loaded<T> = { ok: true; value: T } | { ok: false; error: unknown; reason: string };

let nodeSqlite: Loaded<NodeSqliteModule> | undefined;
let betterSqlite3: Loaded<typeof BetterSqlite3> | undefined;

function nodeMajor(): number {
  return Number(process.versions.node.split('.')[0]);
}

function shortReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const first = message.split('\n')[0];
  return first.length > 200 ? `${first.slice(0, 200)}...` : first;
}

/**
 * require('node:sqlite') without Node 22's one-time ExperimentalWarning. The warning is emitted
 * synchronously by the require; process.emitWarning is wrapped only for that synchronous call and
 * drops only that warning (every other warning passes through), then restored.
 */
function requireNodeSqliteQuietly(): NodeSqliteModule {
  const original = process.emitWarning;
  const filtered = function (this: unknown, warning: string | Error, ...rest: unknown[]): void {
    const text = typeof warning === 'string' ? warning : warning?.message;
    const type = typeof rest[0] === 'string' ? rest[0] : ((rest[0] as { type?: unknown } | undefined)?.type ?? (warning as Error)?.name);
    if (type === 'ExperimentalWarning' && typeof text === 'string' && text.startsWith('SQLite is an experimental feature')) return;
    (original as (...args: unknown[]) => void).call(process, warning, ...rest);
  };
  process.emitWarning = filtered as typeof process.emitWarning;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('node:sqlite') as NodeSqliteModule;
  } finally {
    if (process.emitWarning === filtered) process.emitWarning = original;
  }
}

function loadNodeSqlite(): Loaded<NodeSqliteModule> {
  if (nodeSqlite) return nodeSqlite;
  try {
    const module = requireNodeSqliteQuietly();
    const proto = module.StatementSync?.prototype ?? {};
    if (typeof proto.columns !== 'function' || typeof proto.iterate !== 'function') {
      nodeSqlite = {
        ok: false,
        error: undefined,
        reason: `node:sqlite of Node.js ${process.versions.node} lacks StatementSync.columns() (Node.js ${NODE_SQLITE_MIN_VERSION} or later has it)`,
      };
    } else {
      nodeSqlite = { ok: true, value: module };
    }
  } catch (err) {
    nodeSqlite = { ok: false, error: err, reason: `Node.js ${process.versions.node} has no node:sqlite (${shortReason(err)})` };
  }
  return nodeSqlite;
}

/** require('better-sqlite3') found no such package (not: one of its own files failed to load). */
function isPackageMissing(err: unknown): boolean {
  return (
    (err as { code?: unknown } | null)?.code === 'MODULE_NOT_FOUND' &&
    /['"]better-sqlite3['"]/.test(err instanceof Error ? err.message.split('\n')[0] : '')
  );
}

/** better-sqlite3 13 and later need Node.js 22 (their prebuilt addon crashes Node 20 rather than failing to load). */
function betterSqlite3TooNew(): string | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { version } = require('better-sqlite3/package.json') as { version: string };
    if (Number(version.split('.')[0]) >= 13 && nodeMajor() < 22)
      return `better-sqlite3 ${version} needs Node.js 22 or later, this is ${process.versions.node}`;
  } catch {
    // Missing or unreadable: the require below reports it.
  }
  return undefined;
}

function loadBetterSqlite3(): Loaded<typeof BetterSqlite3> {
  if (betterSqlite3) return betterSqlite3;
  const tooNew = betterSqlite3TooNew();
  if (tooNew) return (betterSqlite3 = { ok: false, error: new Error(tooNew), reason: tooNew });
  try {
    // Required lazily: an install without it must still load every node.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const Driver = require('better-sqlite3') as typeof BetterSqlite3;
    // The package loads its native addon on the first open; open once so "loads" means usable.
    new Driver(':memory:').close();
    betterSqlite3 = { ok: true, value: Driver };
  } catch (err) {
    betterSqlite3 = { ok: false, error: err, reason: shortReason(err) };
  }
  return betterSqlite3;
}

/** Whether each driver loads in this process, and why not (for the error, tests and the benchmark). */
export function sqliteDriverAvailability(): Record<SqliteDriverName, { available: boolean; reason?: string }> {
  const node = loadNodeSqlite();
  const better = loadBetterSqlite3();
  return {
    'node:sqlite': node.ok ? { available: true } : { available: false, reason: node.reason },
    'better-sqlite3': better.ok ? { available: true } : { available: false, reason: better.reason },
  };
}

/**
 * The driver `auto` means here (unless IOTP_SQLITE_DRIVER says otherwise): node:sqlite where it
 * is complete and stable (Node 24+: as fast as better-sqlite3 within run-to-run noise in
 * bench/sqlite-drivers, and it cannot be missing); on Node 22, where node:sqlite is experimental
 * and reads text only up to a NUL, better-sqlite3 if it loads; otherwise whichever loads.
 */
export function pickDriver(requested: SqliteDriverChoice): SqliteDriverName {
  const choice = requested === 'auto' ? (autoOverride() ?? 'auto') : requested;
  if (choice !== 'auto') {
    const loaded = choice === 'node:sqlite' ? loadNodeSqlite() : loadBetterSqlite3();
    if (!loaded.ok) throw unavailable(choice);
    return choice;
  }
  const preferNode = nodeMajor() >= NODE_SQLITE_STABLE_MAJOR;
  const order: SqliteDriverName[] = preferNode ? ['node:sqlite', 'better-sqlite3'] : ['better-sqlite3', 'node:sqlite'];
  for (const name of order) {
    if ((name === 'node:sqlite' ? loadNodeSqlite() : loadBetterSqlite3()).ok) return name;
  }
  throw unavailable('auto');
}

/**
 * IOTP_SQLITE_DRIVER=node:sqlite|better-sqlite3 in Node-RED's environment says what `auto` means
 * for the whole process (an operator's switch for every SQLite database at once; the test legs use
 * it to run the SQLite suites on both drivers). Unset, empty or `auto`: the rule above.
 */
function autoOverride(): SqliteDriverName | undefined {
  const value = (process.env.IOTP_SQLITE_DRIVER ?? '').trim().toLowerCase();
  if (value === 'node:sqlite' || value === 'node') return 'node:sqlite';
  if (value === 'better-sqlite3') return 'better-sqlite3';
  return undefined;
}

const NPM12_STEPS =
  'with npm 12 or later, run `npm install-scripts approve better-sqlite3` and then `npm rebuild better-sqlite3` in the Node-RED user directory ' +
  '(older npm: `npm rebuild better-sqlite3`; a build needs python3, make and g++)';

/** One message for "no SQLite driver": what is missing, and the two ways out. */
function unavailable(choice: SqliteDriverChoice): SqliteUnavailableError {
  const node = loadNodeSqlite();
  const better = loadBetterSqlite3();
  const betterError = better.ok ? undefined : better.error;
  const notInstalled = !better.ok && isPackageMissing(betterError);
  const betterFix = notInstalled
    ? 'install it with `npm install better-sqlite3` in the Node-RED user directory (where no prebuilt binary fits this system, that builds it and needs python3, make and g++)'
    : `its native addon does not load here: ${NPM12_STEPS}`;
  const nodeFix = `Node.js ${NODE_SQLITE_MIN_VERSION} or later (24 and 26 recommended) has SQLite built in and needs nothing installed or built`;
  let message: string;
  if (choice === 'node:sqlite') {
    message = `This SQLite database asks for the driver node:sqlite, but ${node.ok ? 'it' : node.reason}; ${nodeFix}; or choose the driver auto or better-sqlite3`;
  } else if (choice === 'better-sqlite3') {
    message =
      `This SQLite database asks for the driver better-sqlite3, but ${notInstalled ? 'it is not installed' : 'it does not load'}: ${betterFix}; ` +
      `or choose the driver auto${node.ok ? ' (node:sqlite is available here)' : ''}`;
  } else {
    message =
      `SQLite needs a driver and none loads here: ${node.ok ? 'node:sqlite loads' : node.reason}, and the optional dependency better-sqlite3 ${notInstalled ? 'is not installed' : 'does not load'}. ` +
      `Either upgrade: ${nodeFix}; or ${betterFix}; then restart Node-RED. MySQL/MariaDB databases keep working`;
  }
  const detail = better.ok ? '' : ` (${better.reason})`;
  return new SqliteUnavailableError(message + detail, betterError, notInstalled);
}

// ---- errors ----

const PRIMARY_NAMES = [
  'OK',
  'ERROR',
  'INTERNAL',
  'PERM',
  'ABORT',
  'BUSY',
  'LOCKED',
  'NOMEM',
  'READONLY',
  'INTERRUPT',
  'IOERR',
  'CORRUPT',
  'NOTFOUND',
  'FULL',
  'CANTOPEN',
  'PROTOCOL',
  'EMPTY',
  'SCHEMA',
  'TOOBIG',
  'CONSTRAINT',
  'MISMATCH',
  'MISUSE',
  'NOLFS',
  'AUTH',
  'FORMAT',
  'RANGE',
  'NOTADB',
];

/** SQLite's extended result codes as better-sqlite3 names them (the ones a caller can meet). */
const EXTENDED_NAMES: Record<number, string> = {
  261: 'BUSY_RECOVERY',
  517: 'BUSY_SNAPSHOT',
  773: 'BUSY_TIMEOUT',
  262: 'LOCKED_SHAREDCACHE',
  518: 'LOCKED_VTAB',
  264: 'READONLY_RECOVERY',
  520: 'READONLY_CANTLOCK',
  776: 'READONLY_ROLLBACK',
  1032: 'READONLY_DBMOVED',
  1288: 'READONLY_CANTINIT',
  1544: 'READONLY_DIRECTORY',
  270: 'CANTOPEN_NOTEMPDIR',
  526: 'CANTOPEN_ISDIR',
  782: 'CANTOPEN_FULLPATH',
  1038: 'CANTOPEN_CONVPATH',
  266: 'IOERR_READ',
  522: 'IOERR_SHORT_READ',
  778: 'IOERR_WRITE',
  1034: 'IOERR_FSYNC',
  1546: 'IOERR_TRUNCATE',
  1802: 'IOERR_FSTAT',
  3338: 'IOERR_ACCESS',
  3850: 'IOERR_LOCK',
  4618: 'IOERR_SHMOPEN',
  4874: 'IOERR_SHMSIZE',
  267: 'CORRUPT_VTAB',
  523: 'CORRUPT_SEQUENCE',
  779: 'CORRUPT_INDEX',
  516: 'ABORT_ROLLBACK',
  275: 'CONSTRAINT_CHECK',
  531: 'CONSTRAINT_COMMITHOOK',
  787: 'CONSTRAINT_FOREIGNKEY',
  1043: 'CONSTRAINT_FUNCTION',
  1299: 'CONSTRAINT_NOTNULL',
  1555: 'CONSTRAINT_PRIMARYKEY',
  1811: 'CONSTRAINT_TRIGGER',
  2067: 'CONSTRAINT_UNIQUE',
  2323: 'CONSTRAINT_VTAB',
  2579: 'CONSTRAINT_ROWID',
  3091: 'CONSTRAINT_DATATYPE',
};

/** `SQLITE_BUSY`, `SQLITE_CONSTRAINT_UNIQUE`, ... for a numeric (extended) result code. */
export function sqliteCodeName(errcode: number): string {
  const extended = EXTENDED_NAMES[errcode];
  if (extended) return `SQLITE_${extended}`;
  const primary = PRIMARY_NAMES[errcode & 0xff];
  return primary ? `SQLITE_${primary}` : `SQLITE_UNKNOWN_${errcode}`;
}

/** A driver error as better-sqlite3 would have thrown it: `code` is SQLite's result-code name. */
class SqliteDriverError extends IotpError {
  constructor(message: string, code: string, cause?: unknown) {
    super(code, message, { cause });
    this.name = 'SqliteError';
  }
}

const CLOSED_MESSAGE = 'The database connection is not open';

function translateNodeError(err: unknown): unknown {
  const shape = err as { code?: unknown; errcode?: unknown; message?: unknown } | null;
  if (!shape || typeof shape !== 'object') return err;
  const message = typeof shape.message === 'string' ? shape.message : String(err);
  if (shape.code === 'ERR_SQLITE_ERROR' && typeof shape.errcode === 'number')
    return new SqliteDriverError(message, sqliteCodeName(shape.errcode), err);
  if (shape.code === 'ERR_INVALID_STATE' && /not open/i.test(message)) return new SqliteDriverError(CLOSED_MESSAGE, 'DB_CLOSED', err);
  if (shape.code === 'ERR_INVALID_ARG_TYPE' && /cannot be bound/i.test(message))
    return new SqliteDriverError(message, 'DB_VALUE_INVALID', err);
  if (shape.code === 'ERR_OUT_OF_RANGE') {
    return new SqliteDriverError(
      `${message} (node:sqlite refuses to round an INTEGER beyond +-2^53; read it as TEXT, e.g. CAST(x AS TEXT))`,
      'DB_VALUE_INVALID',
      err,
    );
  }
  return err;
}

function rethrowNode(err: unknown): never {
  throw translateNodeError(err);
}

/** node:sqlite rows -> what better-sqlite3 returns: ordinary objects, BLOBs as Buffers. */
function plainRow(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key in row) {
    const value = row[key];
    out[key] =
      value instanceof Uint8Array && !Buffer.isBuffer(value) ? Buffer.from(value.buffer, value.byteOffset, value.byteLength) : value;
  }
  return out;
}

class NodeStatement implements SqliteStatement {
  readonly reader: boolean;
  constructor(private readonly statement: NodeStatementSync) {
    this.reader = statement.columns().length > 0;
  }

  all(values: readonly SqliteBindValue[]): Record<string, unknown>[] {
    let rows: Record<string, unknown>[];
    try {
      rows = this.statement.all(...values);
    } catch (err) {
      rethrowNode(err);
    }
    for (let i = 0; i < rows.length; i++) rows[i] = plainRow(rows[i]);
    return rows;
  }

  *iterate(values: readonly SqliteBindValue[]): IterableIterator<Record<string, unknown>> {
    let iterator: IterableIterator<Record<string, unknown>>;
    try {
      iterator = this.statement.iterate(...values);
    } catch (err) {
      rethrowNode(err);
    }
    try {
      for (;;) {
        let step: IteratorResult<Record<string, unknown>>;
        try {
          step = iterator.next();
        } catch (err) {
          rethrowNode(err);
        }
        if (step.done) return;
        yield plainRow(step.value);
      }
    } finally {
      // An early exit from the caller's loop lands here: reset the statement so it can run again.
      iterator.return?.();
    }
  }

  run(values: readonly SqliteBindValue[]): SqliteRunResult {
    try {
      const info = this.statement.run(...values);
      return { changes: Number(info.changes), lastInsertRowid: info.lastInsertRowid };
    } catch (err) {
      rethrowNode(err);
    }
  }
}

class NodeConnection implements SqliteConnection {
  readonly driver = 'node:sqlite' as const;
  private open = true;
  constructor(private readonly database: NodeDatabaseSync) {}

  prepare(sql: string): SqliteStatement {
    try {
      return new NodeStatement(this.database.prepare(sql));
    } catch (err) {
      rethrowNode(err);
    }
  }

  exec(sql: string): void {
    try {
      this.database.exec(sql);
    } catch (err) {
      rethrowNode(err);
    }
  }

  get inTransaction(): boolean {
    return this.open && this.database.isTransaction === true;
  }

  close(): void {
    this.open = false;
    this.database.close();
  }
}

class BetterStatement implements SqliteStatement {
  readonly reader: boolean;
  constructor(private readonly statement: BetterSqlite3.Statement<unknown[], unknown>) {
    this.reader = statement.reader;
  }

  all(values: readonly SqliteBindValue[]): Record<string, unknown>[] {
    return this.statement.all(values) as Record<string, unknown>[];
  }

  iterate(values: readonly SqliteBindValue[]): IterableIterator<Record<string, unknown>> {
    return this.statement.iterate(values) as IterableIterator<Record<string, unknown>>;
  }

  run(values: readonly SqliteBindValue[]): SqliteRunResult {
    return this.statement.run(values);
  }
}

class BetterConnection implements SqliteConnection {
  readonly driver = 'better-sqlite3' as const;
  constructor(private readonly database: BetterSqlite3.Database) {}

  prepare(sql: string): SqliteStatement {
    return new BetterStatement(this.database.prepare(sql));
  }

  exec(sql: string): void {
    this.database.exec(sql);
  }

  get inTransaction(): boolean {
    return this.database.open && this.database.inTransaction;
  }

  close(): void {
    this.database.close();
  }
}

/** Opens `file` (a path or `:memory:`) with the driver `choice` resolves to. Throws SqliteUnavailableError or the driver's (translated) error. */
export function openSqliteConnection(file: string, choice: SqliteDriverChoice): SqliteConnection {
  const driver = pickDriver(choice);
  if (driver === 'node:sqlite') {
    const { DatabaseSync } = (loadNodeSqlite() as { value: NodeSqliteModule }).value;
    try {
      return new NodeConnection(new DatabaseSync(file));
    } catch (err) {
      rethrowNode(err);
    }
  }
  const Driver = (loadBetterSqlite3() as { value: typeof BetterSqlite3 }).value;
  return new BetterConnection(new Driver(file));
}
