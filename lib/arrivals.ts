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
 * What this cannot see: rows written by another process or Node-RED instance, and messages that
 * publishers themselves hold back. For those, the settle delay (or a request for the span) is the
 * remedy; the README says so.
 */

/** One way rows reach a database. */
export interface ArrivalSource {
  /** The database identity (see databaseIdentity) it writes to; undefined: any database (an ingest feeds writers it cannot name). */
  readonly database?: string;
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

  /** The earliest time since which rows for `database` may still be arriving, or null when none may be. */
  heldSince(database: string, now: number, settleMs: number): number | null {
    return this.earliest(database, now, settleMs)?.since ?? null;
  }

  /** That time and the source holding it (for a status that says what it waits for). */
  earliest(database: string, now: number, settleMs: number): { since: number; source: ArrivalSource } | null {
    let found: { since: number; source: ArrivalSource } | null = null;
    for (const source of this.sources.values()) {
      if (source.database !== undefined && source.database !== database) continue;
      const since = source.heldSince(now, settleMs);
      if (since !== null && (found === null || since < found.since)) found = { since, source };
    }
    return found;
  }

  get size(): number {
    return this.sources.size;
  }
}

/** The registry of this process: node modules load separately but share it through the module cache. */
export const arrivals = new ArrivalRegistry();

/**
 * An MQTT ingest as an arrival source. While it is disconnected, messages published since the
 * connection was lost wait at the broker (a persistent session) or at the publishers; after it
 * connects, the broker hands over its queue at once, so the source keeps holding for one settle
 * delay after the connection is back. Before its first connection it holds everything (since 0):
 * how long the broker has been collecting for it is unknown.
 */
export class ConnectionWatch implements ArrivalSource {
  private connectedAt: number | null = null;
  private lostAt = 0;

  constructor(readonly label?: string) {}

  /** Called with the connection state now and then (the ingest's status ticker). */
  observe(connected: boolean, now: number): void {
    if (connected && this.connectedAt === null) this.connectedAt = now;
    else if (!connected && this.connectedAt !== null) {
      this.connectedAt = null;
      this.lostAt = now;
    }
  }

  heldSince(now: number, settleMs: number): number | null {
    if (this.connectedAt === null || now - this.connectedAt < settleMs) return this.lostAt;
    return null;
  }
}
