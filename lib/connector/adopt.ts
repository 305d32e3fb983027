/**
 * Carrying on the original data connector's schedule (CONTRACTS §6.5). The original kept its
 * bookmark in `bookmarks(id, name, timestamp DATETIME)`: the first row's `timestamp` is the end of
 * the last window it sent (naive UTC, like all its times). Adoption keeps that table untouched and
 * copies the instant into `connector_bookmarks` under the name ORIGINAL_BOOKMARK; a schedule whose
 * own bookmark row does not exist yet starts from it (BookmarkStore.ensure), so the first window
 * after the switch starts exactly where the original stopped.
 *
 * The original ran on PostgreSQL (its README's DATABASE_URL) as well as MySQL and SQLite.
 * The readings table is the user's own and is not touched. A `bookmarks` table of another shape
 * belongs to something else: it is left alone and the schedule starts as on a fresh database.
 */
import { refuse, type AdoptionPlan, type SchemaAdoption } from '../db/adopt';
import { column, readSchema, type ColumnInfo } from '../db/introspect';
import type { Dialect, SqlExecutor } from '../db/types';
import { parseIsoTime } from './time';

/** The row of `connector_bookmarks` that holds the original's bookmark. */
export const ORIGINAL_BOOKMARK = 'original:bookmarks';

/**
 * The first bookmark as naive UTC text, per dialect, by the column it is in: read as text, so no
 * driver reads it through a time zone (MySQL: CAST). PostgreSQL: SQLAlchemy's DateTime is a
 * `timestamp` (naive, as the original wrote it); a `timestamptz` column is an instant, turned into
 * UTC wall time first. `to_char(... US)` keeps the microseconds, which bookmarkInstant() cuts.
 */
const FIRST_BOOKMARK: Partial<Record<Dialect, (timestamp: ColumnInfo) => string>> = {
  mysql: () => 'SELECT CAST(`timestamp` AS CHAR) AS ts FROM `bookmarks` ORDER BY `id` LIMIT 1',
  sqlite: () => 'SELECT CAST("timestamp" AS TEXT) AS ts FROM "bookmarks" ORDER BY "id" LIMIT 1',
  postgres: (timestamp) => {
    if (timestamp.family === 'text') return 'SELECT "timestamp" AS ts FROM "bookmarks" ORDER BY "id" LIMIT 1';
    const utc = /with time zone/.test(timestamp.type) ? `"timestamp" AT TIME ZONE 'UTC'` : '"timestamp"';
    return `SELECT to_char(${utc}, 'YYYY-MM-DD HH24:MI:SS.US') AS ts FROM "bookmarks" ORDER BY "id" LIMIT 1`;
  },
};

/** Naive UTC text → epoch ms; sub-millisecond digits are cut (a reading at the boundary is sent again rather than skipped). */
export function bookmarkInstant(text: string): number {
  return parseIsoTime(text.trim().replace(/(\.\d{3})\d+$/, '$1'), 'bookmarks.timestamp').ms;
}

async function inspect(executor: SqlExecutor): Promise<AdoptionPlan> {
  const snapshot = await readSchema(executor, ['bookmarks', 'connector_bookmarks']);
  const original = snapshot.tables.get('bookmarks');
  const timestamp = column(original, 'timestamp');
  const shaped = original && column(original, 'id') && timestamp && ['datetime', 'text'].includes(timestamp.family);
  if (!shaped || snapshot.tables.has('connector_bookmarks')) return { action: 'none' };
  const { rows } = await executor.query(FIRST_BOOKMARK[executor.dialect]!(timestamp));
  const text = rows[0]?.ts;
  let instant: number | null = null;
  if (text !== null && text !== undefined) {
    try {
      instant = bookmarkInstant(String(text));
    } catch (err) {
      return refuse(
        `the first row of bookmarks holds ${JSON.stringify(String(text))}, which is not a time (${(err as Error).message})`,
        'Correct or delete that row, then deploy the flow again.',
      );
    }
  }
  return {
    action: 'adopt',
    record: 'adopt-original',
    version: 1,
    summary:
      instant === null
        ? "the original connector's bookmarks table (no bookmark set)"
        : `the original connector's bookmark ${new Date(instant).toISOString()}`,
    run: async (ex) => {
      const { connectorMigrations } = await import('./bookmark');
      for (const sql of connectorMigrations.migrations[0][ex.dialect]!) await ex.query(sql);
      await ex.query(
        'INSERT INTO connector_bookmarks (name, window_end, updated_at, lease_owner, lease_until) VALUES (?, ?, ?, NULL, NULL)',
        [ORIGINAL_BOOKMARK, instant, Date.now()],
      );
      return instant === null ? undefined : 'A schedule without a bookmark of its own continues from there.';
    },
  };
}

export const connectorAdoption: SchemaAdoption = {
  inspect: { mysql: inspect, sqlite: inspect, postgres: inspect },
};
