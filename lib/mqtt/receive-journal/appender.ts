/**
 * Group commit: every record appended while one write + fdatasync is under way waits for it and
 * then goes out in the next one, so a burst costs one fdatasync per group, not per message, and a
 * lone message still waits for no timer (`delayMs` 0) or only a few milliseconds.
 *
 * Records go to the active segment until it reaches `segmentBytes`; the next group then starts a
 * new segment (its file created, its directory entry fsynced with the group). A failed group is
 * cut off the file again and its segment sealed: the callers hear the error and nothing after it
 * lands behind a torn record.
 */
import { open } from 'node:fs/promises';
import { syncDirectory, writeFully } from '../../durable-files';
import { MAGIC } from './format';
import { newSegment, type SegmentState } from './segment';

/** Where a record ended up, once durable. */
export interface Placement {
  segment: SegmentState;
  offset: number;
  length: number;
}

export type AppendDone = (err: Error | undefined, placement: Placement | undefined) => void;

export interface AppenderOptions {
  dir: string;
  segmentBytes: number;
  /** Extra wait before a group is written (0: the next turn of the event loop). */
  delayMs: number;
  /** A segment was created (the journal lists it). */
  onSegment(segment: SegmentState): void;
  /** A segment will get no more records. */
  onSealed(segment: SegmentState): void;
  /** A group became durable (after its callbacks ran). */
  onGroup(): void;
}

interface Waiting {
  seq: number;
  record: Buffer;
  done: AppendDone;
}

export class GroupAppender {
  private waiting: Waiting[] = [];
  private waitingBytes = 0;
  private writingBytes = 0;
  private writing = false;
  private scheduled = false;
  private active: SegmentState | null = null;
  private idle: Array<() => void> = [];
  /** Retired segments whose file is being closed. */
  private readonly sealing = new Set<Promise<void>>();
  /** Groups written (for tests and status: fdatasyncs issued). */
  groups = 0;

  constructor(private readonly options: AppenderOptions) {}

  /** Bytes accepted and not yet durable. */
  get pendingBytes(): number {
    return this.waitingBytes + this.writingBytes;
  }

  get activeSegment(): SegmentState | null {
    return this.active;
  }

  append(seq: number, record: Buffer, done: AppendDone): void {
    this.waiting.push({ seq, record, done });
    this.waitingBytes += record.length;
    this.schedule();
  }

  /** Resolves once nothing waits or is being written. */
  whenIdle(): Promise<void> {
    if (!this.writing && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** Seals the active segment (closing: the next run appends to a new one). */
  async sealActive(): Promise<void> {
    await this.whenIdle();
    await Promise.all(this.sealing);
    const segment = this.active;
    if (!segment) return;
    this.active = null;
    await this.seal(segment);
  }

  /**
   * Seals `segment` if it is the active one and nothing is being written to it (its entries are
   * all released: the caller then deletes it, rather than keeping a drained file until it fills).
   */
  retireIfIdle(segment: SegmentState): void {
    if (this.active !== segment || this.writing || this.waiting.length > 0) return;
    this.active = null;
    const sealing = this.seal(segment).finally(() => this.sealing.delete(sealing));
    this.sealing.add(sealing);
  }

  private schedule(): void {
    if (this.writing || this.scheduled) return;
    this.scheduled = true;
    const go = (): void => {
      this.scheduled = false;
      void this.writeGroup();
    };
    if (this.options.delayMs > 0) setTimeout(go, this.options.delayMs);
    else setImmediate(go);
  }

  private async writeGroup(): Promise<void> {
    if (this.writing || this.waiting.length === 0) return;
    this.writing = true;
    const group = this.waiting;
    const bytes = this.waitingBytes;
    this.waiting = [];
    this.waitingBytes = 0;
    this.writingBytes = bytes;
    let segment = this.active;
    let error: Error | undefined;
    const placements: Placement[] = [];
    try {
      if (segment && segment.size >= this.options.segmentBytes) {
        this.active = null;
        await this.seal(segment);
        segment = null;
      }
      let fresh = false;
      if (!segment) {
        const created = newSegment(this.options.dir, group[0].seq);
        created.handle = await open(created.path, 'wx');
        segment = created;
        this.active = segment;
        this.options.onSegment(segment);
        fresh = true;
      }
      const parts: Buffer[] = fresh ? [MAGIC] : [];
      let offset = segment.size + (fresh ? MAGIC.length : 0);
      for (const item of group) {
        parts.push(item.record);
        placements.push({ segment, offset, length: item.record.length });
        offset += item.record.length;
      }
      const buf = parts.length === 1 ? parts[0] : Buffer.concat(parts);
      await writeFully(segment.handle!, buf, segment.size);
      await segment.handle!.datasync();
      if (fresh) await syncDirectory(this.options.dir);
      segment.size += buf.length;
      segment.entries += group.length;
      this.groups++;
    } catch (err) {
      error = err as Error;
      if (segment) {
        // Nothing of this group may stay behind a later one: cut it off and start a new segment.
        await segment.handle?.truncate(segment.size).catch(() => undefined);
        if (this.active === segment) this.active = null;
        await this.seal(segment);
      }
    }
    this.writingBytes = 0;
    this.writing = false;
    for (let i = 0; i < group.length; i++) group[i].done(error, error ? undefined : placements[i]);
    this.options.onGroup();
    if (this.waiting.length > 0) this.schedule();
    else {
      const idle = this.idle;
      this.idle = [];
      for (const resolve of idle) resolve();
    }
  }

  private async seal(segment: SegmentState): Promise<void> {
    segment.sealed = true;
    const handle = segment.handle;
    segment.handle = null;
    await handle?.close().catch(() => undefined);
    this.options.onSealed(segment);
  }
}
