/**
 * Group commit: records appended while earlier groups are being flushed wait and go out together
 * in the next group, so a burst costs one fdatasync per group, not per message, and a lone
 * message waits for no timer (`delayMs` 0: the next turn of the event loop).
 *
 * Groups are pipelined: a group is written into the page cache at once (a synchronous write of
 * a few kilobytes) and its fdatasync started without waiting for the previous group's, up to
 * MAX_SYNCS at a time. An fdatasync makes everything written to the file before it started
 * durable, so when one completes, every group written before it is complete too, in order. A
 * message therefore waits for about one flush, not for the end of the one under way plus its own.
 *
 * Records go to the active segment until it reaches `segmentBytes`; once its flushes are done
 * the next group starts a new segment (created with its magic, flushed, its directory entry
 * fsynced). A failed write or flush is cut off the file again (back to the durable size) and the
 * segment sealed: the callers hear the error and nothing after it lands behind a torn record.
 */
import { writeSync } from 'node:fs';
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

/** Flushes under way at once, at most. */
const MAX_SYNCS = 2;

interface Written {
  segment: SegmentState;
  group: Waiting[];
  placements: Placement[];
  /** File size once this group is durable. */
  end: number;
  bytes: number;
}

export class GroupAppender {
  private waiting: Waiting[] = [];
  private waitingBytes = 0;
  private writingBytes = 0;
  /** Groups written, waiting for a flush, in file order. */
  private written: Written[] = [];
  /** Bytes in the active segment's file, durable or not. */
  private writtenSize = 0;
  private syncs = 0;
  /** A segment is being created or sealed: no group starts meanwhile. */
  private preparing = false;
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

  private get busy(): boolean {
    return this.waiting.length > 0 || this.syncs > 0 || this.preparing;
  }

  /** Resolves once nothing waits or is being written. */
  whenIdle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
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
    if (this.active !== segment || this.busy) return;
    this.active = null;
    const sealing = this.seal(segment).finally(() => this.sealing.delete(sealing));
    this.sealing.add(sealing);
  }

  private schedule(): void {
    if (this.scheduled || this.waiting.length === 0 || this.preparing || this.syncs >= MAX_SYNCS) return;
    this.scheduled = true;
    const go = (): void => {
      this.scheduled = false;
      this.startGroup();
    };
    if (this.options.delayMs > 0) setTimeout(go, this.options.delayMs);
    else setImmediate(go);
  }

  private startGroup(): void {
    if (this.waiting.length === 0 || this.preparing || this.syncs >= MAX_SYNCS) return;
    const current = this.active;
    if (current && this.writtenSize >= this.options.segmentBytes) {
      if (this.syncs > 0) return; // its flushes first (a flush of another file would not cover them)
      this.active = null;
      this.preparing = true;
      void this.seal(current).then(() => this.prepared());
      return;
    }
    if (!current) {
      this.preparing = true;
      void this.createSegment(this.waiting[0].seq).then(() => this.prepared());
      return;
    }
    const segment = current;
    const group = this.waiting;
    const bytes = this.waitingBytes;
    this.waiting = [];
    this.waitingBytes = 0;
    const placements: Placement[] = [];
    let offset = this.writtenSize;
    for (const item of group) {
      placements.push({ segment, offset, length: item.record.length });
      offset += item.record.length;
    }
    const buf =
      group.length === 1
        ? group[0].record
        : Buffer.concat(
            group.map((item) => item.record),
            bytes,
          );
    try {
      // Into the page cache at once (microseconds); only the flush is waited for.
      const fd = segment.handle!.fd;
      for (let off = 0; off < buf.length;) off += writeSync(fd, buf, off, buf.length - off, this.writtenSize + off);
    } catch (err) {
      this.fail(segment, [{ segment, group, placements, end: offset, bytes }], err as Error);
      return;
    }
    this.writtenSize = offset;
    this.written.push({ segment, group, placements, end: offset, bytes });
    this.writingBytes += bytes;
    this.syncs++;
    this.groups++;
    const boundary = offset;
    segment
      .handle!.datasync()
      .then(
        () => this.durableUpTo(segment, boundary),
        (err: Error) =>
          this.fail(
            segment,
            this.written.filter((w) => w.segment === segment),
            err,
          ),
      )
      .finally(() => {
        this.syncs--;
        this.schedule(); // what arrived while MAX_SYNCS flushes were under way
        this.settled();
      });
    this.schedule(); // the next group may start while this one is flushed
  }

  private async createSegment(firstSeq: number): Promise<void> {
    const segment = newSegment(this.options.dir, firstSeq);
    try {
      segment.handle = await open(segment.path, 'wx');
      await writeFully(segment.handle, MAGIC, 0);
      await segment.handle.datasync();
      await syncDirectory(this.options.dir);
    } catch (err) {
      await segment.handle?.close().catch(() => undefined);
      // Nothing of it counts: the scan removes a file without a complete magic.
      const failed = this.waiting;
      this.waiting = [];
      this.waitingBytes = 0;
      for (const item of failed) item.done(err as Error, undefined);
      this.options.onGroup();
      return;
    }
    segment.size = MAGIC.length;
    this.writtenSize = MAGIC.length;
    this.active = segment;
    this.options.onSegment(segment);
  }

  private prepared(): void {
    this.preparing = false;
    this.schedule();
    this.settled();
  }

  /** Every group of `segment` written up to `boundary` is durable: completed in file order. */
  private durableUpTo(segment: SegmentState, boundary: number): void {
    let completed = false;
    while (this.written.length > 0 && this.written[0].segment === segment && this.written[0].end <= boundary) {
      const item = this.written.shift() as Written;
      this.writingBytes -= item.bytes;
      segment.size = item.end;
      segment.entries += item.group.length;
      for (let i = 0; i < item.group.length; i++) item.group[i].done(undefined, item.placements[i]);
      completed = true;
    }
    if (completed) this.options.onGroup();
  }

  /** A write or flush failed: its groups (and every later one of the segment) fail, the segment is cut back to its durable size and sealed. */
  private fail(segment: SegmentState, groups: Written[], err: Error): void {
    for (const item of groups) {
      const index = this.written.indexOf(item);
      if (index >= 0) {
        this.written.splice(index, 1);
        this.writingBytes -= item.bytes;
      }
      for (const waiting of item.group) waiting.done(err, undefined);
    }
    if (this.active === segment) {
      this.active = null;
      this.writtenSize = 0;
      const handle = segment.handle;
      this.preparing = true;
      void (async () => {
        await handle?.truncate(segment.size).catch(() => undefined);
        await this.seal(segment);
      })().then(() => this.prepared());
    }
    this.options.onGroup();
  }

  private settled(): void {
    if (this.busy) return;
    const idle = this.idle;
    this.idle = [];
    for (const resolve of idle) resolve();
  }

  private async seal(segment: SegmentState): Promise<void> {
    segment.sealed = true;
    const handle = segment.handle;
    segment.handle = null;
    await handle?.close().catch(() => undefined);
    this.options.onSealed(segment);
  }
}
