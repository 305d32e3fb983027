/**
 * Watermarks of the ISEMS collector (per source: highest timestamp stored downstream) and their
 * persistence in one small JSON file.
 *
 * At-least-once: a watermark only moves after the rows at or below it were completed downstream
 * (committed or journaled by the writer). A crash between emitting and completing therefore
 * re-emits those rows on the next start instead of skipping them; the table's unique key
 * (nodeId, timestamp) turns the repeat into nothing.
 *
 * Keys: a polled node's log URL (`http://...`), or `mqtt:<nodeid>` for logs arriving on
 * `/isems/<nodeid>/csvlog`. Both live in one snapshot in the poller's format (WatermarkSnapshot).
 */
import { promises as fs, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { IsemsError } from './errors';
import { readWatermarkSnapshot, type WatermarkSnapshot } from './poller';

/** The watermark key of logs published on MQTT by node `nodeId`. */
export function mqttWatermarkKey(nodeId: string): string {
  return `mqtt:${nodeId}`;
}

/** Highest completed timestamp per source; values only ever move forward. */
export class WatermarkLedger {
  private readonly marks = new Map<string, number>();

  constructor(snapshot?: unknown) {
    if (snapshot !== undefined && snapshot !== null) this.merge(snapshot);
  }

  get(key: string): number | undefined {
    return this.marks.get(key);
  }

  /** Moves `key` forward to `epochSeconds`; false (and no change) when it is not newer. */
  advance(key: string, epochSeconds: number): boolean {
    if (!Number.isSafeInteger(epochSeconds) || epochSeconds < 0) return false;
    if (epochSeconds <= (this.marks.get(key) ?? -1)) return false;
    this.marks.set(key, epochSeconds);
    return true;
  }

  /** Merges a snapshot (validated; throws ISEMS_BAD_WATERMARKS), keeping the newer value per key. */
  merge(snapshot: unknown): void {
    for (const [key, seconds] of readWatermarkSnapshot(snapshot)) this.advance(key, seconds);
  }

  /**
   * Moves the watermarks of every key `matches` accepts onto `key` (the newest wins) and forgets
   * those keys; true when anything changed. For a source whose key changed while its data did
   * not, e.g. the simulated solar nodes, which listen on a new port after every restart.
   */
  adopt(key: string, matches: (other: string) => boolean): boolean {
    let changed = false;
    for (const [other, seconds] of [...this.marks]) {
      if (other === key || !matches(other)) continue;
      this.marks.delete(other);
      this.advance(key, seconds);
      changed = true;
    }
    return changed;
  }

  snapshot(): WatermarkSnapshot {
    return { version: 1, watermarks: Object.fromEntries(this.marks) };
  }

  get size(): number {
    return this.marks.size;
  }
}

/**
 * One JSON file holding a snapshot, written atomically (temporary file + rename, so a crash leaves
 * the old or the new content, never half of one). Saves are coalesced: while a write runs, later
 * saves only remember the newest state, written once the running write is done. No timers.
 */
export class WatermarkFile {
  private writing: Promise<void> | null = null;
  private next: WatermarkSnapshot | null = null;
  private lastError: Error | null = null;

  constructor(
    readonly path: string,
    private readonly onError: (error: Error) => void = () => undefined,
  ) {}

  /**
   * The saved snapshot, or null when there is none yet. A file that is not a snapshot throws
   * ISEMS_BAD_WATERMARKS (the caller decides: start from scratch and say so).
   */
  load(): WatermarkSnapshot | null {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new IsemsError('ISEMS_BAD_WATERMARKS', `cannot read ${this.path}: ${(error as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new IsemsError('ISEMS_BAD_WATERMARKS', `${this.path} is not JSON: ${(error as Error).message}`);
    }
    readWatermarkSnapshot(parsed);
    return parsed as WatermarkSnapshot;
  }

  /** Schedules writing `snapshot` (the newest one wins when several wait). */
  save(snapshot: WatermarkSnapshot): void {
    this.next = snapshot;
    if (!this.writing) this.writing = this.drain();
  }

  /** Resolves once everything saved so far is on disk (or failed, reported through onError). */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  /** The last write error, if the last write failed. */
  get error(): Error | null {
    return this.lastError;
  }

  private async drain(): Promise<void> {
    try {
      while (this.next) {
        const snapshot = this.next;
        this.next = null;
        try {
          await this.write(snapshot);
          this.lastError = null;
        } catch (error) {
          this.lastError = error as Error;
          this.onError(error as Error);
        }
      }
    } finally {
      this.writing = null;
    }
  }

  private async write(snapshot: WatermarkSnapshot): Promise<void> {
    await fs.mkdir(dirname(this.path), { recursive: true });
    const temporary = `${this.path}.${process.pid}.tmp`;
    const handle = await fs.open(temporary, 'w');
    try {
      await handle.writeFile(`${JSON.stringify(snapshot)}\n`, 'utf8');
      // Durable before the rename makes it the current file: a power cut cannot leave an empty one.
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temporary, this.path);
  }
}
