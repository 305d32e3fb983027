/**
 * Shutdown's last question to the database: rows whose commit a connection cut left unknown (a
 * batch waiting for retry with a pending token, or a run spilled to the journal with one) are
 * claimed once more before close() journals or fails them, so rows that were committed are not
 * written again by the next start or by the source's redelivery.
 */
import type { Entry } from './delivery';
import type { Batch } from './batch-executor';
import type { ClaimOutcome, CommitMarkers } from './commit-markers';
import type { Journal } from './journal';
import type { JournalRun } from './journal-spill';

/** What the writer lends for the claims at close. */
export interface PendingAtClose {
  markers: CommitMarkers | null;
  journal: Journal | null;
  /** Batches waiting for retry; a resolved batch's `pending` is cleared. */
  retryQueue: readonly Batch[];
  /** The writer's journal runs, handed over (the writer keeps none after this). */
  takeJournalRuns(): JournalRun[];
  /** entries[lo, hi) are committed. */
  commit(entries: Entry[], lo: number, hi: number): void;
  warn(message: string): void;
}

/**
 * Batches whose commit a cut left unknown are asked about once more (a claim each, within the
 * close timeout) before their rows are journaled or failed: rows that were committed must not
 * be written again by the next start or by the source's redelivery.
 */
export async function resolvePendingAtClose(deadline: number, writer: PendingAtClose): Promise<void> {
  const markers = writer.markers;
  if (!markers) return;
  const claim = async (token: Buffer): Promise<ClaimOutcome | null> => {
    const left = deadline - Date.now();
    if (left <= 0) return null;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), left)));
    const outcome = await Promise.race([markers.claim(token).catch(() => null), timeout]);
    clearTimeout(timer);
    return outcome;
  };
  for (const batch of [...writer.retryQueue]) {
    const pending = batch.pending;
    if (!pending) continue;
    const outcome = await claim(pending.token);
    if (outcome === 'committed') writer.commit(batch.entries, 0, pending.rows);
    if (outcome !== null) {
      batch.pending = null;
      continue;
    }
    writer.warn(
      `closing while the commit of ${pending.rows} rows is unknown (the database did not answer): ` +
        `they are ${batch.durable || writer.journal ? 'kept in the journal and written again at the next start' : 'failed, for the source to redeliver'}, ` +
        'which stores them twice if that commit had succeeded',
    );
  }
  // Spilled rows still unread in the journal, read here in order: a claim now makes the next
  // start's replay safe when they were not committed, and settles them when they were.
  const runs = writer.takeJournalRuns();
  for (const [i, run] of runs.entries()) {
    // Fewer rows than the run (not yet fsynced): the runs after it cannot be found any more.
    const records = writer.journal ? writer.journal.read(run.rows, Number.MAX_SAFE_INTEGER) : [];
    const outcome = run.token && records.length === run.rows ? await claim(run.token) : null;
    if (outcome === 'committed') for (const record of records) writer.journal?.settle(record.segment, record.ordinal);
    if ((run.token && outcome === null) || records.length !== run.rows) {
      const unknown = runs
        .slice(i)
        .filter((later) => later.token)
        .reduce((sum, later) => sum + later.rows, 0);
      if (unknown > 0) {
        writer.warn(
          `closing with ${unknown} journaled rows whose commit is unknown (the database did not answer): ` +
            'the next start replays them, which stores them twice if that commit had succeeded',
        );
      }
      break;
    }
  }
}
