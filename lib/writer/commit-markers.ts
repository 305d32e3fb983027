/**
 * Commit markers: how the writer tells, after a connection cut, whether a batch it sent was
 * committed, so a cut neither loses nor duplicates rows.
 *
 * Every batch attempt on MySQL/MariaDB or PostgreSQL inserts one row carrying a fresh random token into
 * `iotp_commit_markers`, in the same transaction as its rows. When the attempt fails with a
 * connection error the answer is ambiguous (the server may have committed before the cut), so the
 * writer keeps the token and, before sending those rows again, *claims* it: it inserts the same
 * token on its own.
 *   - inserted: the earlier attempt did not commit, and now never can (its own marker insert would
 *     hit the claimed key), so the rows are sent again under a new token;
 *   - duplicate key: the earlier attempt committed (its rows are settled as committed, not
 *     resent), unless the row found is an earlier claim of ours whose answer a cut swallowed too:
 *     claim rows say so (`is_claim`), and then the attempt did not commit.
 * Claiming rather than just looking (SELECT) closes a race: after a cut the earlier attempt's
 * transaction may still be open or queued on the server; the primary key makes the claim wait for
 * it and then see its outcome, where a SELECT would find nothing and let both commit.
 *
 * Used by default with the conflict policy `error` (plain INSERT); with `ignore`/`upsert` the
 * unique key already makes a retry idempotent (RowWriterOptions.commitMarkers says why and what
 * it costs). SQLite needs none of this: it runs in-process, a commit's answer cannot get lost.
 */
import { randomBytes } from 'node:crypto';
import { isUniqueViolation } from '../db/errors';
import type { Database, Dialect, SqlStatement } from '../db/types';
import { WriterError, classifyDbError, describeError } from './errors';

export const COMMIT_MARKER_TABLE = 'iotp_commit_markers';

/**
 * The token's first 6 bytes are its creation time (ms since 1970, big-endian), the other 10 are
 * random: tokens sort by age, so the primary key grows at its end (cheap inserts) and pruning is
 * a range delete on the primary key, with no index on created_at to maintain per batch.
 */
const TIME_BYTES = 6;
const TOKEN_BYTES = 16;

/** Markers older than this are deleted: a writer resolves its ambiguous batches at its first contact with the database after a cut. */
export const MARKER_RETENTION_MS = 24 * 60 * 60 * 1000;
/** How often one writer prunes (no timer: checked when a batch commits). */
export const PRUNE_INTERVAL_MS = 60 * 60 * 1000;
/** Rows per DELETE, so pruning never holds many locks or a long transaction. */
export const PRUNE_CHUNK_ROWS = 1000;

const CREATE_TABLE: Partial<Record<Dialect, string>> = {
  mysql:
    `CREATE TABLE IF NOT EXISTS ${COMMIT_MARKER_TABLE} (` +
    'token BINARY(16) NOT NULL PRIMARY KEY, ' +
    'is_claim BOOLEAN NOT NULL DEFAULT FALSE, ' +
    'created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)' +
    ') ENGINE=InnoDB',
  postgres:
    `CREATE TABLE IF NOT EXISTS ${COMMIT_MARKER_TABLE} (` +
    'token BYTEA NOT NULL PRIMARY KEY, ' +
    'is_claim BOOLEAN NOT NULL DEFAULT FALSE, ' +
    'created_at TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3))',
};
const INSERT_MARKER = `INSERT INTO ${COMMIT_MARKER_TABLE} (token) VALUES (?)`;
const INSERT_CLAIM = `INSERT INTO ${COMMIT_MARKER_TABLE} (token, is_claim) VALUES (?, TRUE)`;
const READ_CLAIM = `SELECT is_claim FROM ${COMMIT_MARKER_TABLE} WHERE token = ?`;
const PRUNE: Partial<Record<Dialect, string>> = {
  mysql: `DELETE FROM ${COMMIT_MARKER_TABLE} WHERE token < ? ORDER BY token LIMIT ${PRUNE_CHUNK_ROWS}`,
  // PostgreSQL's DELETE has no ORDER BY/LIMIT: the chunk is chosen by the primary key in a subquery.
  postgres: `DELETE FROM ${COMMIT_MARKER_TABLE} WHERE token IN (SELECT token FROM ${COMMIT_MARKER_TABLE} WHERE token < ? ORDER BY token LIMIT ${PRUNE_CHUNK_ROWS})`,
};
const PROBE = `SELECT token FROM ${COMMIT_MARKER_TABLE} WHERE 1 = 0`;

/** A fresh token created at `now`. */
export function newCommitToken(now = Date.now()): Buffer {
  const token = randomBytes(TOKEN_BYTES);
  token.writeUIntBE(Math.max(0, Math.floor(now)), 0, TIME_BYTES);
  return token;
}

/** When `token` was created (ms since 1970). */
export function commitTokenTime(token: Buffer): number {
  return token.readUIntBE(0, TIME_BYTES);
}

/** The smallest token created at `time`: every token below it is older. */
export function commitTokenFloor(time: number): Buffer {
  const floor = Buffer.alloc(TOKEN_BYTES);
  floor.writeUIntBE(Math.max(0, Math.floor(time)), 0, TIME_BYTES);
  return floor;
}

/** A cut or a lock wait says nothing about the table: try again later. */
function retriable(err: unknown): boolean {
  const kind = classifyDbError(err);
  return kind === 'connection' || kind === 'transient';
}

export type ClaimOutcome = 'committed' | 'not-committed';

export class CommitMarkers {
  private ready: Promise<boolean> | null = null;
  private nextPruneAt = 0;
  private pruning: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly db: Database,
    private readonly warn: (message: string) => void,
  ) {}

  /**
   * Creates the marker table once (CREATE TABLE IF NOT EXISTS: idempotent, so instances sharing
   * the database need no coordination). Resolves false when markers cannot be used here (no
   * privilege to create or read the table): the writer then warns once and retries ambiguous
   * batches as before (at least once). Rejects on connection and transient errors, to be tried again.
   */
  available(): Promise<boolean> {
    this.ready ??= this.create().catch((err: unknown) => {
      this.ready = null;
      throw err;
    });
    return this.ready;
  }

  private async create(): Promise<boolean> {
    try {
      await this.db.query(CREATE_TABLE[this.db.dialect] ?? '');
      return true;
    } catch (err) {
      if (retriable(err)) throw err;
      try {
        // The table may exist while this user may not create tables: enough to use it.
        await this.db.query(PROBE);
        return true;
      } catch (probeErr) {
        if (retriable(probeErr)) throw probeErr;
        this.warn(
          `commit markers are off: ${COMMIT_MARKER_TABLE} could not be created (${describeError(err).message}); ` +
            'a batch whose commit answer a connection cut swallows will be written again (at least once)',
        );
        return false;
      }
    }
  }

  /** The statement that records `token`, to run in the batch's transaction before its rows. */
  statement(token: Buffer): SqlStatement {
    return { sql: INSERT_MARKER, values: [token] };
  }

  /**
   * Settles an ambiguous attempt: inserts its token alone (see the file comment). Throws the
   * database's error when the claim itself fails (connection, lock wait): still ambiguous.
   */
  async claim(token: Buffer, now = Date.now()): Promise<ClaimOutcome> {
    if (now - commitTokenTime(token) > MARKER_RETENTION_MS) {
      this.warn(
        `a batch's commit stayed unknown for longer than the ${MARKER_RETENTION_MS / 3_600_000} h its marker is kept; ` +
          'if that commit succeeded and the marker was pruned, the batch is stored twice',
      );
    }
    try {
      await this.db.query(INSERT_CLAIM, [token]);
      return 'not-committed';
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
    }
    // The key is taken, by a committed row (a duplicate key is reported once the holder committed).
    const { rows } = await this.db.query(READ_CLAIM, [token]);
    if (rows.length === 0)
      throw new WriterError('WRITER_CONFIG', `${COMMIT_MARKER_TABLE} reported a duplicate token but holds no such row`);
    return Number(rows[0].is_claim) === 1 ? 'not-committed' : 'committed';
  }

  /**
   * Deletes markers older than MARKER_RETENTION_MS in chunks, at most once per PRUNE_INTERVAL_MS,
   * in the background. Errors only warn: old markers cost disk space, nothing else.
   */
  prune(now = Date.now()): void {
    if (this.stopped || this.pruning || now < this.nextPruneAt) return;
    this.nextPruneAt = now + PRUNE_INTERVAL_MS;
    this.pruning = this.pruneChunks(commitTokenFloor(now - MARKER_RETENTION_MS)).finally(() => {
      this.pruning = null;
    });
  }

  /** No further pruning; resolves once a running prune has stopped (the database belongs to the caller, who may close it next). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.pruning;
  }

  private async pruneChunks(floor: Buffer): Promise<void> {
    try {
      while (!this.stopped) {
        const { affectedRows } = await this.db.query(PRUNE[this.db.dialect] ?? '', [floor]);
        if (affectedRows < PRUNE_CHUNK_ROWS) return;
      }
    } catch (err) {
      if (!this.stopped) this.warn(`pruning old commit markers failed (tried again in an hour): ${describeError(err).message}`);
    }
  }
}
