/**
 * Errors the writer reports, and how it reads the errors the database throws.
 */
import type { DbErrorKind } from '../db/types';
import { IotpError } from '../errors';

/** Machine-readable codes of every error the writer itself creates. */
export type WriterErrorCode =
  /** Bad options: unknown policy, invalid identifier, unusable journal directory. */
  | 'WRITER_CONFIG'
  /** A row that is not a plain object, or holds a value no database column can take. */
  | 'WRITER_BAD_ROW'
  /** Memory and journal are full and the overflow policy is `reject-new`. */
  | 'WRITER_OVERFLOW'
  /** The delivery was dropped to make room (overflow policy `drop-oldest`). */
  | 'WRITER_DROPPED'
  /** The writer is closed or closing. */
  | 'WRITER_CLOSED'
  /** Appending to the journal failed (disk full, I/O error). */
  | 'WRITER_JOURNAL';

export class WriterError extends IotpError<WriterErrorCode> {}

const KINDS: ReadonlySet<string> = new Set<DbErrorKind>(['connection', 'data', 'transient', 'fatal']);

// Used only when an error carries no `kind` (e.g. a raw driver error slipped through lib/db):
// the codes below are unambiguous about what happened; anything else is treated as fatal.
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_CON_COUNT_ERROR',
  'POOL_CLOSED',
]);
const TRANSIENT_CODES = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT', 'SQLITE_BUSY', 'SQLITE_LOCKED']);

/** What kind of failure a database error is: its `kind` when lib/db set one, otherwise a best guess that defaults to fatal. */
export function classifyDbError(err: unknown): DbErrorKind {
  if (err !== null && typeof err === 'object') {
    const { kind, code } = err as { kind?: unknown; code?: unknown };
    if (typeof kind === 'string' && KINDS.has(kind)) return kind as DbErrorKind;
    if (typeof code === 'string') {
      if (CONNECTION_CODES.has(code)) return 'connection';
      if (TRANSIENT_CODES.has(code)) return 'transient';
    }
  }
  return 'fatal';
}

/** A short description of any thrown value, for reports and status. */
export function describeError(err: unknown): { message: string; code?: string } {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? { message: err.message, code } : { message: err.message };
  }
  return { message: String(err) };
}
