/**
 * What an HTTP client is told when the database fails its request: what failed, in words, and
 * whether trying again later helps. The driver's text (server addresses and ports, database and
 * user names, SQL) goes to the node's error path and the log, never to a client: an endpoint may
 * be public, and `connect ECONNREFUSED 10.0.0.5:3306` maps the network for whoever asks.
 */
import { DatabaseConfigError, isDatabaseError } from './db/errors';

export interface DatabaseFailure {
  status: 500 | 503;
  /** The words for the client. */
  error: string;
  /** A stable code of this package (never the driver's). */
  code: string;
  /** Seconds after which a retry may succeed (503 only). */
  retryAfterSeconds?: number;
}

/** The server refused the configured database or user: the database is unavailable, not the query wrong. */
const UNAVAILABLE_CODES = new Set([
  'ER_BAD_DB_ERROR', // MySQL/MariaDB: unknown database
  'ER_ACCESS_DENIED_ERROR',
  'ER_DBACCESS_DENIED_ERROR',
  '3D000', // PostgreSQL: invalid_catalog_name
  '28000', // PostgreSQL: invalid_authorization_specification
  '28P01', // PostgreSQL: invalid_password
]);

export function databaseFailure(err: unknown): DatabaseFailure {
  if (err instanceof DatabaseConfigError) return { status: 500, error: 'database not configured', code: 'DATABASE_NOT_CONFIGURED' };
  if (isDatabaseError(err)) {
    if (err.kind === 'connection' || UNAVAILABLE_CODES.has(err.code))
      return { status: 503, error: 'database unavailable', code: 'DATABASE_UNAVAILABLE', retryAfterSeconds: 10 };
    if (err.kind === 'transient') return { status: 503, error: 'database busy', code: 'DATABASE_BUSY', retryAfterSeconds: 5 };
  }
  return { status: 500, error: 'database query failed', code: 'QUERY_FAILED' };
}
