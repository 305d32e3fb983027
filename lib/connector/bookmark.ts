/**
 * The schedule bookmark ("everything before window_end has been delivered") and the lease that lets
 * only one Node-RED instance run schedule windows at a time, both in the `connector_bookmarks` table.
 *
 * The original advanced its bookmark before posting, and to `datetime.now()` rather than to the end
 * of the window it sent, so a failed post lost a window for good. Here the bookmark moves only when
 * every batch of a window has been acknowledged, by a compare-and-set
 * (`UPDATE ... WHERE name = ? AND window_end = <expected> AND lease_owner = <me>`): two instances
 * cannot both advance it, and an instance that lost its lease cannot advance it at all.
 * Times are stored as BIGINT epoch milliseconds (UTC), which means the same thing in every dialect
 * and every server time zone.
 */
import type { Database, MigrationSet, SqlExecutor } from '../db/types';
import { connectorAdoption, ORIGINAL_BOOKMARK } from './adopt';

export const connectorMigrations: MigrationSet = {
  name: 'connector',
  description: 'Data connector: schedule bookmarks and the single-instance lease',
  migrations: [
    {
      version: 1,
      name: 'create-connector-bookmarks',
      mysql: [
        `CREATE TABLE IF NOT EXISTS connector_bookmarks (
  name VARCHAR(191) NOT NULL,
  window_end BIGINT NULL COMMENT 'end (exclusive, epoch ms UTC) of the last fully delivered window',
  updated_at BIGINT NOT NULL COMMENT 'epoch ms UTC',
  lease_owner VARCHAR(191) NULL,
  lease_until BIGINT NULL COMMENT 'epoch ms UTC',
  PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
      ],
      sqlite: [
        `CREATE TABLE IF NOT EXISTS connector_bookmarks (
  name TEXT NOT NULL PRIMARY KEY,
  window_end INTEGER NULL,
  updated_at INTEGER NOT NULL,
  lease_owner TEXT NULL,
  lease_until INTEGER NULL
)`,
      ],
      postgres: [
        `CREATE TABLE IF NOT EXISTS connector_bookmarks (
  name VARCHAR(191) NOT NULL PRIMARY KEY,
  window_end BIGINT NULL,
  updated_at BIGINT NOT NULL,
  lease_owner VARCHAR(191) NULL,
  lease_until BIGINT NULL
)`,
        "COMMENT ON COLUMN connector_bookmarks.window_end IS 'end (exclusive, epoch ms UTC) of the last fully delivered window'",
      ],
    },
  ],
  // Carrying on from the original connector's `bookmarks` row (lib/connector/adopt.ts).
  adoption: connectorAdoption,
};

export interface BookmarkState {
  windowEnd: number | null;
  leaseOwner: string | null;
  leaseUntil: number | null;
}

function toMs(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

export class BookmarkStore {
  /**
   * @param db the database holding `connector_bookmarks` (migration set "connector" applied)
   * @param name one row per connector (several connectors may share the table)
   */
  constructor(
    private readonly db: Database | SqlExecutor,
    readonly name: string,
  ) {
    if (typeof name !== 'string' || name.length === 0 || name.length > 191) throw new TypeError('bookmark name must be 1-191 characters');
  }

  /**
   * Creates the row if missing, without a lease. Its bookmark is the original connector's, when
   * the database was taken over from it (lib/connector/adopt.ts), else none yet. Idempotent and
   * race-free: an existing row is never changed.
   */
  async ensure(now: number): Promise<void> {
    // The inner SELECT reads a derived table: MySQL refuses an INSERT reading its own table directly.
    const insert =
      'INTO connector_bookmarks (name, window_end, updated_at, lease_owner, lease_until) ' +
      'SELECT ?, (SELECT o.window_end FROM (SELECT window_end FROM connector_bookmarks WHERE name = ?) o), ?, NULL, NULL';
    const sql = {
      mysql: `INSERT IGNORE ${insert}`,
      sqlite: `INSERT OR IGNORE ${insert}`,
      postgres: `INSERT ${insert} ON CONFLICT (name) DO NOTHING`,
    }[this.db.dialect];
    await this.db.query(sql, [this.name, ORIGINAL_BOOKMARK, now]);
  }

  async read(): Promise<BookmarkState | null> {
    const { rows } = await this.db.query('SELECT window_end, lease_owner, lease_until FROM connector_bookmarks WHERE name = ?', [
      this.name,
    ]);
    const row = rows[0];
    if (!row) return null;
    return {
      windowEnd: toMs(row.window_end),
      leaseOwner: typeof row.lease_owner === 'string' ? row.lease_owner : null,
      leaseUntil: toMs(row.lease_until),
    };
  }

  /**
   * Takes or renews the lease for `owner` until `now + ttlMs` if it is free, expired or already
   * ours. The conditional UPDATE decides; the read-back confirms (some drivers report "changed"
   * rather than "matched" rows, which would make a same-millisecond renewal look like a failure).
   */
  async acquireLease(owner: string, now: number, ttlMs: number): Promise<boolean> {
    const until = now + ttlMs;
    await this.db.query(
      'UPDATE connector_bookmarks SET lease_owner = ?, lease_until = ? WHERE name = ? AND (lease_owner IS NULL OR lease_owner = ? OR lease_until IS NULL OR lease_until <= ?)',
      [owner, until, this.name, owner, now],
    );
    const state = await this.read();
    return state !== null && state.leaseOwner === owner && state.leaseUntil === until;
  }

  /** Gives the lease up (on close) so another instance can take over at once. */
  async releaseLease(owner: string): Promise<void> {
    await this.db.query('UPDATE connector_bookmarks SET lease_owner = NULL, lease_until = NULL WHERE name = ? AND lease_owner = ?', [
      this.name,
      owner,
    ]);
  }

  /**
   * Moves the bookmark from `expected` (null: none yet) to `next`, only if it still is `expected`
   * and `owner` holds the lease. Returns false when someone else moved it or the lease was lost.
   */
  async advance(owner: string, expected: number | null, next: number, now: number): Promise<boolean> {
    const sql =
      expected === null
        ? 'UPDATE connector_bookmarks SET window_end = ?, updated_at = ? WHERE name = ? AND window_end IS NULL AND lease_owner = ?'
        : 'UPDATE connector_bookmarks SET window_end = ?, updated_at = ? WHERE name = ? AND window_end = ? AND lease_owner = ?';
    const params = expected === null ? [next, now, this.name, owner] : [next, now, this.name, expected, owner];
    const result = await this.db.query(sql, params);
    return result.affectedRows === 1;
  }
}
