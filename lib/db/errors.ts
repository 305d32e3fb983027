/**
 * Typed database errors and the classification that tells a caller what to do next:
 * retry later (connection), isolate the row (data), retry soon (transient) or report (fatal).
 *
 * Every error leaving lib/db is a DatabaseError (or a subclass), so callers switch on `kind`
 * and `code` and never on driver-specific shapes.
 */
import { IotpError } from '../errors';
import type { DbErrorKind, Dialect } from './types';

export interface DatabaseErrorOptions {
  kind: DbErrorKind;
  /** Machine-readable code: the driver's (`ER_DUP_ENTRY`, `SQLITE_BUSY`, `ECONNREFUSED`) or ours (`DB_...`). */
  code: string;
  sqlState?: string;
  /** The server's numeric error number (MySQL errno), when there is one. */
  errno?: number;
  dialect?: Dialect;
  cause?: unknown;
}

export class DatabaseError extends IotpError {
  /** What to do next: retry later (connection), isolate the row (data), retry soon (transient) or report (fatal). */
  readonly kind: DbErrorKind;
  readonly sqlState?: string;
  readonly errno?: number;
  readonly dialect?: Dialect;

  constructor(message: string, options: DatabaseErrorOptions) {
    super(options.code, message, { cause: options.cause });
    this.kind = options.kind;
    if (options.sqlState !== undefined) this.sqlState = options.sqlState;
    if (options.errno !== undefined) this.errno = options.errno;
    if (options.dialect !== undefined) this.dialect = options.dialect;
  }
}

/** A database URL or connection setting is malformed; `variable` names where it came from. */
export class DatabaseConfigError extends DatabaseError {
  readonly variable: string;
  constructor(variable: string, message: string, code = 'DB_CONFIG_INVALID') {
    super(message, { kind: 'fatal', code });
    this.variable = variable;
  }
}

/** SQL and its parameters do not fit together (a named parameter without a value, ...). */
export class SqlParameterError extends DatabaseError {
  constructor(message: string, code: string) {
    super(message, { kind: 'fatal', code });
  }
}

/** A table or column name that cannot be used as an identifier. */
export class IdentifierError extends DatabaseError {
  constructor(message: string) {
    super(message, { kind: 'fatal', code: 'DB_IDENTIFIER_INVALID' });
  }
}

export function isDatabaseError(err: unknown): err is DatabaseError {
  return err instanceof DatabaseError;
}

// MySQL/MariaDB error numbers (server and client) by kind. Names are in comments because
// mysql2 only knows names for the errnos of its own table; MariaDB-only errors arrive as numbers.
const MYSQL_CONNECTION_ERRNOS = new Set([
  1040, // ER_CON_COUNT_ERROR: too many connections
  1053, // ER_SERVER_SHUTDOWN
  1077, // ER_NORMAL_SHUTDOWN
  1079, // ER_SHUTDOWN_COMPLETE
  1152, // ER_ABORTING_CONNECTION
  1184, // ER_NEW_ABORTING_CONNECTION
  1203, // ER_TOO_MANY_USER_CONNECTIONS
  1226, // ER_USER_LIMIT_REACHED
  1927, // ER_CONNECTION_KILLED (MariaDB)
  2002, // CR_CONNECTION_ERROR
  2003, // CR_CONN_HOST_ERROR
  2006, // CR_SERVER_GONE_ERROR
  2013, // CR_SERVER_LOST
  4031, // ER_CLIENT_INTERACTION_TIMEOUT (MySQL 8)
]);

const MYSQL_DATA_ERRNOS = new Set([
  1048, // ER_BAD_NULL_ERROR
  1062, // ER_DUP_ENTRY
  1153, // ER_NET_PACKET_TOO_LARGE: one value or row exceeds max_allowed_packet
  1216, // ER_NO_REFERENCED_ROW
  1217, // ER_ROW_IS_REFERENCED
  1263, // ER_WARN_NULL_TO_NOTNULL
  1264, // ER_WARN_DATA_OUT_OF_RANGE
  1265, // WARN_DATA_TRUNCATED
  1292, // ER_TRUNCATED_WRONG_VALUE
  1300, // ER_INVALID_CHARACTER_STRING
  1301, // ER_WARN_ALLOWED_PACKET_OVERFLOWED
  1364, // ER_NO_DEFAULT_FOR_FIELD
  1366, // ER_TRUNCATED_WRONG_VALUE_FOR_FIELD (incorrect string value, e.g. emoji into utf8mb3)
  1367, // ER_ILLEGAL_VALUE_FOR_TYPE
  1406, // ER_DATA_TOO_LONG
  1411, // ER_WRONG_VALUE_FOR_TYPE
  1451, // ER_ROW_IS_REFERENCED_2
  1452, // ER_NO_REFERENCED_ROW_2
  1586, // ER_DUP_ENTRY_WITH_KEY_NAME
  1690, // ER_DATA_OUT_OF_RANGE
  3140, // ER_INVALID_JSON_TEXT (MySQL 8)
  3819, // ER_CHECK_CONSTRAINT_VIOLATED (MySQL 8)
  4025, // ER_CONSTRAINT_FAILED (MariaDB CHECK constraint)
]);

const MYSQL_TRANSIENT_ERRNOS = new Set([
  1205, // ER_LOCK_WAIT_TIMEOUT
  1213, // ER_LOCK_DEADLOCK
  1614, // ER_XA_RBDEADLOCK
  1637, // ER_TOO_MANY_CONCURRENT_TRXS
  3572, // ER_LOCK_NOWAIT
]);

/** Codes without an errno: Node socket errors, mysql2 protocol/pool states. */
const MYSQL_CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'PROTOCOL_PACKETS_OUT_OF_ORDER',
  'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  'PROTOCOL_ENQUEUE_AFTER_QUIT',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_NORMAL_SHUTDOWN',
  'ER_TOO_MANY_USER_CONNECTIONS',
  'ER_CONNECTION_KILLED',
  'POOL_CLOSED',
  'DB_CLOSED',
]);

const MYSQL_DATA_CODES = new Set([
  'ER_DATA_TOO_LONG',
  'ER_TRUNCATED_WRONG_VALUE',
  'ER_TRUNCATED_WRONG_VALUE_FOR_FIELD',
  'ER_BAD_NULL_ERROR',
  'ER_WARN_DATA_OUT_OF_RANGE',
  'ER_DUP_ENTRY',
  'ER_DUP_ENTRY_WITH_KEY_NAME',
  'ER_NO_REFERENCED_ROW',
  'ER_NO_REFERENCED_ROW_2',
  'ER_ROW_IS_REFERENCED',
  'ER_ROW_IS_REFERENCED_2',
  'ER_NO_DEFAULT_FOR_FIELD',
  'ER_NET_PACKET_TOO_LARGE',
  'ER_DATA_OUT_OF_RANGE',
  'WARN_DATA_TRUNCATED',
  'DB_VALUE_INVALID',
]);

const MYSQL_TRANSIENT_CODES = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT', 'DB_LOCK_TIMEOUT', 'POOL_QUEUE_FULL']);

/** SQLite primary result codes (extended codes like SQLITE_CONSTRAINT_UNIQUE map by their prefix). */
const SQLITE_KIND_BY_PRIMARY: Record<string, DbErrorKind> = {
  SQLITE_CONSTRAINT: 'data',
  SQLITE_TOOBIG: 'data',
  SQLITE_MISMATCH: 'data',
  SQLITE_BUSY: 'transient',
  SQLITE_LOCKED: 'transient',
  SQLITE_PROTOCOL: 'transient',
  SQLITE_INTERRUPT: 'transient',
  SQLITE_CANTOPEN: 'connection',
  SQLITE_IOERR: 'connection',
  // A full disk clears when space is freed: keep the data and retry later.
  SQLITE_FULL: 'connection',
  SQLITE_NOMEM: 'transient',
};

const SQLITE_OTHER_CODES: Record<string, DbErrorKind> = {
  DB_CLOSED: 'connection',
  DB_VALUE_INVALID: 'data',
  DB_LOCK_TIMEOUT: 'transient',
};

/**
 * PostgreSQL SQLSTATEs (pg puts them in `code`) by kind; whole classes first, then single codes
 * that differ from their class. https://www.postgresql.org/docs/current/errcodes-appendix.html
 */
const POSTGRES_KIND_BY_CLASS: Record<string, DbErrorKind> = {
  '08': 'connection', // connection exception
  '21': 'data', // cardinality violation
  '22': 'data', // data exception (too long, bad value, out of range, NUL in text)
  '23': 'data', // integrity constraint violation (unique, foreign key, NOT NULL, check)
  '40': 'transient', // transaction rollback: serialization failure 40001, deadlock 40P01
};
const POSTGRES_KIND_BY_CODE: Record<string, DbErrorKind> = {
  '53100': 'connection', // disk_full: clears when space is freed, keep the data
  '53200': 'transient', // out_of_memory
  '53300': 'connection', // too_many_connections
  '53400': 'transient', // configuration_limit_exceeded
  '54000': 'data', // program_limit_exceeded: e.g. an index row larger than a page
  '55P03': 'transient', // lock_not_available (lock_timeout)
  '57014': 'transient', // query_canceled (statement_timeout)
  '57P01': 'connection', // admin_shutdown
  '57P02': 'connection', // crash_shutdown
  '57P03': 'connection', // cannot_connect_now (starting up, shutting down, recovery)
  '57P05': 'connection', // idle_session_timeout
  '25P03': 'connection', // idle_in_transaction_session_timeout: the server closed the session
};
/** pg's code-less errors about a connection that is gone or never came. */
const POSTGRES_CONNECTION_MESSAGES =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable|Cannot use a pool after calling end|Client was closed|Connection ended|the database system is (starting up|shutting down)|server closed the connection/i;

function postgresKind(code: string | undefined, message: string | undefined): DbErrorKind {
  if (code) {
    // Node's socket codes first: 'EPIPE' also looks like a SQLSTATE.
    if (MYSQL_CONNECTION_CODES.has(code) || code === 'DB_CONNECTION_LOST') return 'connection';
    if (/^[0-9A-Z]{5}$/.test(code)) return POSTGRES_KIND_BY_CODE[code] ?? POSTGRES_KIND_BY_CLASS[code.slice(0, 2)] ?? 'fatal';
    if (code === 'DB_VALUE_INVALID') return 'data';
    if (code === 'DB_LOCK_TIMEOUT' || code === 'DB_QUEUE_FULL') return 'transient';
  }
  if (message && POSTGRES_CONNECTION_MESSAGES.test(message)) return 'connection';
  return 'fatal';
}

interface DriverErrorShape {
  message?: unknown;
  code?: unknown;
  errno?: unknown;
  sqlState?: unknown;
  sqlMessage?: unknown;
}

/** The kind of a driver error code/errno, without building an error. Exposed for tables and tests. */
export function kindOf(dialect: Dialect, code: string | undefined, errno?: number, message?: string): DbErrorKind {
  if (dialect === 'postgres') return postgresKind(code, message);
  if (dialect === 'sqlite') {
    if (code) {
      const direct = SQLITE_OTHER_CODES[code];
      if (direct) return direct;
      const primary = /^SQLITE_[A-Z]+/.exec(code)?.[0];
      const kind = primary ? SQLITE_KIND_BY_PRIMARY[primary] : undefined;
      if (kind) return kind;
    }
    // better-sqlite3 raises a plain TypeError for a value it cannot bind, and for a closed handle.
    if (message && /can only bind|cannot bind/i.test(message)) return 'data';
    if (message && /database connection is not open/i.test(message)) return 'connection';
    return 'fatal';
  }
  if (errno !== undefined && errno > 0) {
    if (MYSQL_CONNECTION_ERRNOS.has(errno)) return 'connection';
    if (MYSQL_DATA_ERRNOS.has(errno)) return 'data';
    if (MYSQL_TRANSIENT_ERRNOS.has(errno)) return 'transient';
  }
  if (code) {
    if (MYSQL_CONNECTION_CODES.has(code)) return 'connection';
    if (MYSQL_DATA_CODES.has(code) || code.startsWith('ER_TRUNCATED_WRONG_VALUE')) return 'data';
    if (MYSQL_TRANSIENT_CODES.has(code)) return 'transient';
  }
  if (message) {
    // mysql2 pool states arrive as code-less Errors.
    if (/^Pool is closed/.test(message)) return 'connection';
    if (/^Queue limit reached/.test(message)) return 'transient';
    if (/closed state|connection lost|server closed the connection/i.test(message)) return 'connection';
  }
  return 'fatal';
}

function codeFor(dialect: Dialect, shape: DriverErrorShape, message: string): string {
  if (typeof shape.code === 'string' && shape.code) return shape.code;
  if (dialect === 'mysql') {
    if (/^Pool is closed/.test(message)) return 'POOL_CLOSED';
    if (/^Queue limit reached/.test(message)) return 'POOL_QUEUE_FULL';
  }
  if (dialect === 'sqlite' && /database connection is not open/i.test(message)) return 'DB_CLOSED';
  if (dialect === 'postgres' && POSTGRES_CONNECTION_MESSAGES.test(message)) return 'DB_CONNECTION_LOST';
  if (/can only bind|cannot bind/i.test(message)) return 'DB_VALUE_INVALID';
  return 'DB_ERROR';
}

/** Replaces each secret (e.g. the password) in `text`; secrets shorter than 3 characters are left alone (they would shred the text). */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const secret of secrets) {
    if (secret && secret.length >= 3) out = out.split(secret).join('***');
  }
  return out;
}

/**
 * Turns whatever a driver threw into a DatabaseError with a kind. A DatabaseError passes through
 * unchanged. `secrets` (the password) are scrubbed from the message as a last line of defence:
 * drivers do not normally echo them, but a message is logged and shown in status, so be sure.
 */
export function classifyError(err: unknown, dialect: Dialect, secrets: readonly string[] = []): DatabaseError {
  if (err instanceof DatabaseError) return err;
  const shape: DriverErrorShape = err !== null && typeof err === 'object' ? (err as DriverErrorShape) : {};
  const rawMessage =
    typeof shape.sqlMessage === 'string' && shape.sqlMessage
      ? shape.sqlMessage
      : typeof shape.message === 'string' && shape.message
        ? shape.message
        : String(err);
  // PostgreSQL explains data errors in `detail` (which key, which value): worth the log line.
  const detail =
    dialect === 'postgres' && typeof (shape as { detail?: unknown }).detail === 'string'
      ? ` (${(shape as { detail: string }).detail})`
      : '';
  const message = redact(rawMessage + detail, secrets);
  const errno = typeof shape.errno === 'number' ? shape.errno : undefined;
  const code = codeFor(dialect, shape, rawMessage);
  const kind = kindOf(dialect, code, errno, rawMessage);
  const sqlState =
    typeof shape.sqlState === 'string' ? shape.sqlState : dialect === 'postgres' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
  // The cause keeps the driver's stack for debugging; it carries no secret beyond the message we scrubbed.
  return new DatabaseError(message, { kind, code, errno, sqlState, dialect, cause: secrets.length > 0 ? undefined : err });
}

/** A duplicate key on a unique index or primary key, in any dialect. */
export function isUniqueViolation(err: unknown): boolean {
  if (err === null || typeof err !== 'object') return false;
  const { code, errno, sqlState, dialect } = err as { code?: unknown; errno?: unknown; sqlState?: unknown; dialect?: unknown };
  if (code === 'ER_DUP_ENTRY' || code === 'ER_DUP_ENTRY_WITH_KEY_NAME' || errno === 1062 || errno === 1586) return true;
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return true;
  return sqlState === '23505' || (dialect === 'postgres' && code === '23505');
}
