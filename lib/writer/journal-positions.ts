/**
 * Journal positions: how a writer tells, after a crash, that a message an MQTT receive journal
 * replays is already stored, so our own crash stores nothing twice, on keyless tables too.
 *
 * The ingest acknowledges a message once it is in its receive journal and releases it once the
 * flow completed it. A crash between the writer's commit and that release replays the message.
 * So every batch records, in the same transaction as its rows, the positions (journal id + entry
 * sequence number) of the messages whose last rows it commits, as ranges in
 * `iotp_journal_positions` (one row per run of consecutive positions, usually one per batch). A
 * replayed message is first looked up there: found, its rows are not written again.
 *
 * Rows older than POSITION_RETENTION_MS are pruned: a replay comes at the next start, and an
 * entry unreleased for longer than that is written again (at least once) rather than lost.
 */
import type { Database, Dialect, SqlStatement } from '../db/types';
import { classifyDbError, describeError } from './errors';

export const JOURNAL_POSITION_TABLE = 'iotp_journal_positions';
export const POSITION_RETENTION_MS = 24 * 60 * 60 * 1000;
const PRUNE_INTERVAL_MS = 60 * 60 * 1000;
const PRUNE_CHUNK_ROWS = 5000;

/** PostgreSQL's and SQLite's indexes (MySQL declares the same keys inside CREATE TABLE). */
const STANDALONE_INDEXES = [
  `CREATE INDEX IF NOT EXISTS ${JOURNAL_POSITION_TABLE}_lookup ON ${JOURNAL_POSITION_TABLE} (journal, target, last_seq)`,
  `CREATE INDEX IF NOT EXISTS ${JOURNAL_POSITION_TABLE}_age ON ${JOURNAL_POSITION_TABLE} (created_at)`,
];

const CREATE: Record<Dialect, string[]> = {
  mysql: [
    `CREATE TABLE IF NOT EXISTS ${JOURNAL_POSITION_TABLE} (` +
      'journal VARCHAR(64) NOT NULL, target VARCHAR(255) NOT NULL, first_seq BIGINT NOT NULL, last_seq BIGINT NOT NULL, ' +
      'created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3), ' +
      `KEY ${JOURNAL_POSITION_TABLE}_lookup (journal, target, last_seq), KEY ${JOURNAL_POSITION_TABLE}_age (created_at)) ENGINE=InnoDB`,
  ],
  postgres: [
    `CREATE TABLE IF NOT EXISTS ${JOURNAL_POSITION_TABLE} (` +
      'journal VARCHAR(64) NOT NULL, target VARCHAR(255) NOT NULL, first_seq BIGINT NOT NULL, last_seq BIGINT NOT NULL, ' +
      'created_at TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3))',
    ...STANDALONE_INDEXES,
  ],
  sqlite: [
    `CREATE TABLE IF NOT EXISTS ${JOURNAL_POSITION_TABLE} (` +
      'journal TEXT NOT NULL, target TEXT NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL, ' +
      "created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))",
    ...STANDALONE_INDEXES,
  ],
};

const LOOKUP = `SELECT last_seq FROM ${JOURNAL_POSITION_TABLE} WHERE journal = ? AND target = ? AND first_seq <= ? AND last_seq >= ? LIMIT 1`;
const PRUNE: Record<Dialect, string> = {
  mysql: `DELETE FROM ${JOURNAL_POSITION_TABLE} WHERE created_at < ? ORDER BY created_at LIMIT ${PRUNE_CHUNK_ROWS}`,
  postgres: `DELETE FROM ${JOURNAL_POSITION_TABLE} WHERE ctid IN (SELECT ctid FROM ${JOURNAL_POSITION_TABLE} WHERE created_at < ? LIMIT ${PRUNE_CHUNK_ROWS})`,
  sqlite: `DELETE FROM ${JOURNAL_POSITION_TABLE} WHERE rowid IN (SELECT rowid FROM ${JOURNAL_POSITION_TABLE} WHERE created_at < ? LIMIT ${PRUNE_CHUNK_ROWS})`,
};

/** A message's place in a receive journal: `<journal id>:<seq>` as the ingest stamps it. */
export interface JournalPosition {
  journal: string;
  seq: number;
}

/** Parses `<journal id>:<seq>`; undefined for anything else. */
export function parsePosition(value: unknown): JournalPosition | undefined {
  if (typeof value !== 'string') return undefined;
  const colon = value.lastIndexOf(':');
  if (colon <= 0 || colon > 64) return undefined;
  const seq = Number(value.slice(colon + 1));
  if (!Number.isSafeInteger(seq) || seq < 0) return undefined;
  return { journal: value.slice(0, colon), seq };
}

/** Consecutive positions of one journal folded into ranges. */
export function positionRanges(positions: readonly JournalPosition[]): Array<{ journal: string; first: number; last: number }> {
  const sorted = [...positions].sort((a, b) => (a.journal < b.journal ? -1 : a.journal > b.journal ? 1 : a.seq - b.seq));
  const ranges: Array<{ journal: string; first: number; last: number }> = [];
  for (const p of sorted) {
    const last = ranges[ranges.length - 1];
    if (last && last.journal === p.journal && p.seq <= last.last + 1) last.last = Math.max(last.last, p.seq);
    else ranges.push({ journal: p.journal, first: p.seq, last: p.seq });
  }
  return ranges;
}

export class JournalPositions {
  private ready: Promise<boolean> | null = null;
  private nextPruneAt = 0;
  private pruning = false;

  constructor(
    private readonly db: Database,
    /** What the positions are recorded for (the writer's table): a message may reach several writers. */
    private readonly target: string,
    private readonly warn: (message: string) => void,
  ) {}

  /** Creates the table once; false (with one warning) when it cannot be created: replays are then written again. */
  available(): Promise<boolean> {
    this.ready ??= (async () => {
      try {
        for (const sql of CREATE[this.db.dialect]) await this.db.query(sql);
        return true;
      } catch (err) {
        const kind = classifyDbError(err);
        if (kind === 'connection' || kind === 'transient') {
          this.ready = null;
          throw err;
        }
        this.warn(
          `journal positions are off: ${JOURNAL_POSITION_TABLE} could not be created (${describeError(err).message}); ` +
            'a message replayed after a crash may be stored twice',
        );
        return false;
      }
    })();
    return this.ready;
  }

  /** The statement recording `positions`, for the batch's transaction; undefined when there are none. */
  statement(positions: readonly JournalPosition[]): SqlStatement | undefined {
    if (positions.length === 0) return undefined;
    const ranges = positionRanges(positions);
    const values: (string | number)[] = [];
    for (const r of ranges) values.push(r.journal, this.target, r.first, r.last);
    return {
      sql: `INSERT INTO ${JOURNAL_POSITION_TABLE} (journal, target, first_seq, last_seq) VALUES ${ranges.map(() => '(?, ?, ?, ?)').join(', ')}`,
      values,
    };
  }

  /** True when a batch recorded `position` for this target. Throws the database's error. */
  async stored(position: JournalPosition): Promise<boolean> {
    if (!(await this.available())) return false;
    const { rows } = await this.db.query(LOOKUP, [position.journal, this.target, position.seq, position.seq]);
    return rows.length > 0;
  }

  /** Deletes old positions in the background, at most once an hour; errors only warn. */
  prune(now = Date.now()): void {
    if (this.pruning || now < this.nextPruneAt) return;
    this.nextPruneAt = now + PRUNE_INTERVAL_MS;
    this.pruning = true;
    const cutoff =
      this.db.dialect === 'sqlite' ? new Date(now - POSITION_RETENTION_MS).toISOString() : new Date(now - POSITION_RETENTION_MS);
    void (async () => {
      try {
        for (;;) {
          const { affectedRows } = await this.db.query(PRUNE[this.db.dialect], [cutoff]);
          if (affectedRows < PRUNE_CHUNK_ROWS) break;
        }
      } catch (err) {
        this.warn(`pruning old journal positions failed (tried again in an hour): ${describeError(err).message}`);
      } finally {
        this.pruning = false;
      }
    })();
  }
}
