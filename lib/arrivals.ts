/**
 * Where rows may still be on their way into a database, so the connector's schedule does not post
 * a window before its rows have arrived.
 *
 * A schedule window is fetched once and its bookmark moves past it, so a row stored after that is
 * never posted. The settle delay covers ordinary lateness; an outage does not fit in it: a writer
 * replaying 30 s of buffered rows, or an MQTT ingest that was disconnected (or not yet started)
 * while the broker queued messages for it. Writers and ingests in this Node-RED register here as
 * sources, each saying since when data may still be arriving through it (its "held since" time),
 * and the connector only posts windows that end at least the settle delay before the earliest of
 * those times.
 *
 * Only the sources that feed what the connector reads count: a writer into one of the tables its
 * query names (or a table a trigger fills from the writer's table), in the same database, and an
 * ingest whose messages reach such a writer. One pipeline's broker outage then holds back no
 * other pipeline's schedule. A source that cannot say what it feeds counts for everything.
 *
 * What this cannot see: rows written by another process or Node-RED instance, and messages that
 * publishers themselves hold back. For those, the settle delay (or a request for the span) is the
 * remedy; docs/limits.md says so.
 */

/** A table rows end up in: database identity (lib/db/url.ts databaseIdentity) and table name (lib/sql-tables.ts normalizeTableName; undefined: any table). */
export interface ArrivalTarget {
  database: string;
  table?: string;
}

/** What a connector reads: a database and the tables its query names (undefined: it cannot tell, so any). */
export interface ArrivalReader {
  database: string;
  tables?: readonly string[];
}

/** One way rows reach a database. */
export interface ArrivalSource {
  /** The database identity (see databaseIdentity) it writes to; undefined: see `feeds`, else any database. */
  readonly database?: string;
  /** The tables it fills there (normalized names, incl. trigger-filled ones); undefined: any. */
  readonly tables?: readonly string[];
  /**
   * For a source that feeds writers rather than a table (an MQTT ingest): the tables its messages
   * end up in, looked up when asked (the flow may have changed); undefined: unknown, so any.
   */
  feeds?(): readonly ArrivalTarget[] | undefined;
  /** What to call it in a status, e.g. `db write "raw readings"`. */
  readonly label?: string;
  /**
   * Epoch ms since which rows through this source may still be on their way (null: none are).
   * `settleMs` is the asking connector's settle delay, for sources that need a grace period.
   */
  heldSince(now: number, settleMs: number): number | null;
}

export class ArrivalRegistry {
  private readonly sources = new Map<string | symbol, ArrivalSource>();

  /**
   * Adds a source; the returned function removes it. A source registered under the `key` of an
   * earlier one replaces it: a node redeployed keeps its place until its successor takes over,
   * so no tick in between sees the rows it journaled as arrived.
   */
  register(source: ArrivalSource, key: string | symbol = Symbol('arrival source')): () => void {
    this.sources.set(key, source);
    return () => {
      if (this.sources.get(key) === source) this.sources.delete(key);
    };
  }

  /** The earliest time since which rows `reader` reads (a database identity: any of its tables) may still be arriving, or null when none may be. */
  heldSince(reader: ArrivalReader | string, now: number, settleMs: number): number | null {
    return this.earliest(reader, now, settleMs)?.since ?? null;
  }

  /** That time and the source holding it (for a status that says what it waits for). */
  earliest(reader: ArrivalReader | string, now: number, settleMs: number): { since: number; source: ArrivalSource } | null {
    const wanted: ArrivalReader = typeof reader === 'string' ? { database: reader } : reader;
    let found: { since: number; source: ArrivalSource } | null = null;
    for (const source of this.sources.values()) {
      // The time first: it is cheap, and only a source holding something needs the (maybe costly) match.
      const since = source.heldSince(now, settleMs);
      if (since === null || (found !== null && since >= found.since)) continue;
      if (feeds(source, wanted)) found = { since, source };
    }
    return found;
  }

  get size(): number {
    return this.sources.size;
  }
}

const tableRead = (reader: ArrivalReader, table: string | undefined): boolean =>
  table === undefined || reader.tables === undefined || reader.tables.includes(table);

/** Whether rows through `source` may end up where `reader` reads. */
export function feeds(source: ArrivalSource, reader: ArrivalReader): boolean {
  if (source.feeds) {
    const targets = source.feeds();
    if (targets === undefined) return true;
    return targets.some((target) => target.database === reader.database && tableRead(reader, target.table));
  }
  if (source.database !== undefined && source.database !== reader.database) return false;
  return source.tables === undefined || source.tables.some((table) => tableRead(reader, table));
}

/** The registry of this process: node modules load separately but share it through the module cache. */
export const arrivals = new ArrivalRegistry();

/**
 * An MQTT ingest as an arrival source. While it is disconnected, messages published since the
 * connection was lost wait at the broker (a persistent session) or at the publishers; after it
 * connects, the broker hands over its queue at once, so the source keeps holding for one settle
 * delay after the connection is back. Before its first connection it holds everything (since 0):
 * how long the broker has been collecting for it is unknown. An ingest with a receive journal has
 * acknowledged what it journaled, so the broker no longer holds those messages: the journal's
 * backlog (`waiting`) holds the schedule too, for as long as the flow has not finished with it.
 */
export class ConnectionWatch implements ArrivalSource {
  private connectedAt: number | null = null;
  private lostAt = 0;
  readonly feeds?: () => readonly ArrivalTarget[] | undefined;

  /**
   * `feeds`: the tables the ingest's messages end up in (see ArrivalSource.feeds); omitted: any.
   * `waiting`: since when messages it has taken from the broker may still wait for the flow
   * (ReceiveJournal.waitingSince); omitted: it takes none ahead of the flow.
   */
  constructor(
    readonly label?: string,
    feeds?: () => readonly ArrivalTarget[] | undefined,
    private readonly waiting: () => number | null = () => null,
  ) {
    if (feeds) this.feeds = feeds;
  }

  /** Called with the connection state now and then (the ingest's status ticker). */
  observe(connected: boolean, now: number): void {
    if (connected && this.connectedAt === null) this.connectedAt = now;
    else if (!connected && this.connectedAt !== null) {
      this.connectedAt = null;
      this.lostAt = now;
    }
  }

  heldSince(now: number, settleMs: number): number | null {
    const waiting = this.waiting();
    if (this.connectedAt === null || now - this.connectedAt < settleMs)
      return waiting === null ? this.lostAt : Math.min(waiting, this.lostAt);
    return waiting;
  }
}
