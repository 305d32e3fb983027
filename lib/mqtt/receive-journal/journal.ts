/**
 * The MQTT receive journal: what the ingest node has acknowledged to the broker and not yet seen
 * completed by every node of the flow.
 *
 *   append   a received message goes into the current group; once the group is durable
 *            (one write + fdatasync, appender.ts) the callback runs: the broker may be
 *            acknowledged now.
 *   take     the next durable entries, in the order they were received, for the flow: from
 *            memory while the flow keeps up, read back from the segment files when it does not
 *            (memory stays bounded), and from an earlier run's segments first.
 *   release  every node an entry reached completed it: it will not be replayed.
 *
 * After a crash, restart or redeploy the next journal on the directory replays the entries not
 * released, oldest first, with their attempt counts. Bounded: `hasRoom` says whether `maxBytes`
 * still has space; the caller decides what to do when it has not (the ingest stops acknowledging).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Deque } from '../../writer/deque';
import { GroupAppender, type Placement } from './appender';
import { ReceiveJournalError } from './errors';
import { encodeRecord, type EntryInput } from './format';
import { readEntries, scanDirectory, type ReadEntry, type Unacknowledged } from './reader';
import { compactSegment, deleteIfDrained, markAcked, markAttempt, markReleased, worthCompacting, writeMarks } from './release';
import { liveEntries, type SegmentState } from './segment';

export interface ReceiveJournalOptions {
  dir: string;
  /** Bytes on disk (plus bytes being written) beyond which hasRoom() says no. */
  maxBytes: number;
  /** A new segment is started once the active one reaches this size (default 8 MiB, at most an eighth of maxBytes). */
  segmentBytes?: number;
  /** Extra wait before a group is written (default 0: appends of one event-loop turn and those arriving during a write form a group). */
  groupDelayMs?: number;
  /** Payload bytes of durable entries kept in memory for the flow (default 16 MiB); beyond it they are read back from disk. */
  memoryBytes?: number;
  /** Compaction rewrites a fully read segment whose live entries are at most this fraction (default 0.1)... */
  compactLiveFraction?: number;
  /** ...once the journal holds more than this fraction of maxBytes (default 0.5). */
  compactAbove?: number;
  warn(message: string): void;
}

/** One journaled message as the flow gets it. */
export interface JournalEntry extends ReadEntry {
  /** Left by an earlier run (or this node before a redeploy): handed to the flow again. */
  replayed: boolean;
}

export type AppendCallback = (err: ReceiveJournalError | undefined, entry: JournalEntry | undefined) => void;

export interface JournalStats {
  /** Bytes on disk plus bytes being written. */
  bytes: number;
  maxBytes: number;
  /** Entries not released (durable). */
  live: number;
  /** Entries taken for the flow and not released. */
  handedOut: number;
  /** Durable entries not taken yet. */
  backlog: number;
  segments: number;
  /** Groups written (each one write + fdatasync). */
  groups: number;
  appended: number;
  released: number;
  /** Entries an earlier run left that were replayed. */
  replayed: number;
  tornBytes: number;
  compactions: number;
}

const openDirs = new Set<string>();

/** How far apart arrival times are remembered (see ReceiveJournal.waitingSince). */
const ARRIVAL_CHECKPOINT_MS = 1000;

interface ArrivalCheckpoint {
  seq: number;
  at: number;
}

/**
 * The journal's identity, made once per directory (`id` file): positions a writer records
 * (`<id>:<seq>`) then stay apart from those of another instance's journal with the same node id.
 */
function journalId(dir: string): string {
  const path = join(dir, 'id');
  try {
    const id = readFileSync(path, 'utf8').trim();
    if (/^[0-9a-f]{16}$/.test(id)) return id;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const id = randomBytes(8).toString('hex');
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, `${id}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return id;
}

export class ReceiveJournal {
  readonly dir: string;
  /** Stable identity of this journal directory (16 hex digits). */
  readonly id: string;
  private readonly options: Required<Omit<ReceiveJournalOptions, 'warn'>> & Pick<ReceiveJournalOptions, 'warn'>;
  private readonly appender: GroupAppender;
  /** Every segment, in seq order; the active one (if any) last. */
  private segments: SegmentState[];
  private nextSeq: number;
  /** Durable entries not taken yet, kept in memory; valid only while `memoValid`. */
  private readonly memo = new Deque<JournalEntry>();
  private memoBytes = 0;
  /** True while every durable entry not taken yet is in `memo` (false: read them from disk). */
  private memoValid: boolean;
  private live = 0;
  private handedOut = 0;
  private closed = false;
  private marksScheduled = false;
  private marksFailing = false;
  private readonly counts = { appended: 0, released: 0, replayed: 0, tornBytes: 0, compactions: 0 };
  private unacknowledged: Unacknowledged[];
  /** The arrival checkpoint at or before the oldest live entry of this run (see waitingSince). */
  private arrivalAtOrBefore: ArrivalCheckpoint | undefined;
  /** Later checkpoints, in sequence order. */
  private readonly laterArrivals = new Deque<ArrivalCheckpoint>();
  private lastCheckpointAt = 0;

  /** Opens (creating if needed) the directory and reads what an earlier run left. Throws ReceiveJournalError. */
  constructor(options: ReceiveJournalOptions) {
    this.options = {
      segmentBytes: Math.max(4096, Math.min(8 * 1024 * 1024, Math.floor(options.maxBytes / 8))),
      groupDelayMs: 0,
      memoryBytes: 16 * 1024 * 1024,
      compactLiveFraction: 0.1,
      compactAbove: 0.5,
      ...options,
    };
    if (!(this.options.maxBytes > 0))
      throw new ReceiveJournalError('JOURNAL_UNUSABLE', `maxBytes must be positive (got ${options.maxBytes})`);
    this.dir = resolve(options.dir);
    if (openDirs.has(this.dir))
      throw new ReceiveJournalError('JOURNAL_IN_USE', `receive journal ${this.dir} is already open in this process`);
    try {
      mkdirSync(this.dir, { recursive: true });
      this.id = journalId(this.dir);
      const scan = scanDirectory(this.dir, options.warn);
      this.segments = scan.segments;
      this.nextSeq = scan.nextSeq;
      this.counts.tornBytes = scan.tornBytes;
      this.unacknowledged = scan.unacknowledged;
    } catch (err) {
      throw new ReceiveJournalError('JOURNAL_UNUSABLE', `receive journal directory ${this.dir} is not usable: ${(err as Error).message}`, {
        cause: err,
      });
    }
    for (const segment of this.segments) this.live += liveEntries(segment);
    this.segments = this.segments.filter((segment) => !deleteIfDrained(segment, options.warn));
    this.memoValid = this.live === 0;
    this.appender = new GroupAppender({
      dir: this.dir,
      segmentBytes: this.options.segmentBytes,
      delayMs: this.options.groupDelayMs,
      onSegment: (segment) => this.segments.push(segment),
      onSealed: (segment) => this.dropIfDone(segment),
      onGroup: () => undefined,
    });
    openDirs.add(this.dir);
  }

  /** Bytes on disk plus bytes being written. */
  get bytes(): number {
    let bytes = this.appender.pendingBytes;
    for (const segment of this.segments) bytes += segment.size;
    return bytes;
  }

  /** Room for `bytes` more (a message's encoded size is close to its topic + payload + 27 bytes). */
  hasRoom(bytes = 0): boolean {
    return this.bytes + bytes <= this.options.maxBytes;
  }

  /** Durable entries not taken yet. */
  get backlog(): number {
    return this.live - this.handedOut;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  stats(): JournalStats {
    return {
      bytes: this.bytes,
      maxBytes: this.options.maxBytes,
      live: this.live,
      handedOut: this.handedOut,
      backlog: this.backlog,
      segments: this.segments.length,
      groups: this.appender.groups,
      appended: this.counts.appended,
      released: this.counts.released,
      replayed: this.counts.replayed,
      tornBytes: this.counts.tornBytes,
      compactions: this.counts.compactions,
    };
  }

  /** Appends a message; `done` runs once it is durable (or with the error that kept it from being so). */
  append(input: EntryInput, done: AppendCallback): void {
    if (this.closed) {
      done(new ReceiveJournalError('JOURNAL_CLOSED', 'the receive journal is closed'), undefined);
      return;
    }
    const seq = this.nextSeq++;
    const record = encodeRecord(seq, input);
    this.appender.append(seq, record, (err, placement) => {
      if (err || !placement) {
        done(
          new ReceiveJournalError('JOURNAL_WRITE', `receive journal write in ${this.dir} failed: ${err?.message ?? 'unknown error'}`, {
            cause: err,
          }),
          undefined,
        );
        return;
      }
      this.counts.appended++;
      this.live++;
      this.noteArrival(seq, input.receivedAt);
      const entry = this.entryAt(seq, input, placement);
      if (this.memoValid) {
        if (this.memoBytes + placement.length <= this.options.memoryBytes) {
          this.memo.push(entry);
          this.memoBytes += placement.length;
        } else {
          // Too much waits for the flow: from here on it is read back from disk.
          this.memoValid = false;
          this.memo.drain();
          this.memoBytes = 0;
        }
      }
      done(undefined, entry);
    });
  }

  /**
   * Epoch ms since which messages acknowledged to the broker may still wait here for the flow
   * (null: every entry is released): when the oldest unreleased entry arrived, to within
   * ARRIVAL_CHECKPOINT_MS and never later; 0 when an earlier run left it (its arrival is not
   * looked up). Entries arrive in sequence order, so the oldest is the lowest live sequence
   * number; arrival times are kept as checkpoints (one per ARRIVAL_CHECKPOINT_MS), not per entry.
   */
  waitingSince(): number | null {
    for (const segment of this.segments) {
      if (liveEntries(segment) === 0) continue;
      if (segment.earlier) return 0;
      while (segment.released.has(segment.lowestLive)) segment.lowestLive++;
      const oldest = segment.firstSeq + segment.lowestLive;
      while (this.laterArrivals.length > 0 && (this.laterArrivals.peek() as ArrivalCheckpoint).seq <= oldest)
        this.arrivalAtOrBefore = this.laterArrivals.shift();
      return this.arrivalAtOrBefore?.at ?? 0;
    }
    // Nothing waits: the checkpoints start again with the next entry.
    this.arrivalAtOrBefore = undefined;
    this.laterArrivals.drain();
    return null;
  }

  /** Records when entry `seq` arrived, if the last checkpoint is ARRIVAL_CHECKPOINT_MS old. */
  private noteArrival(seq: number, at: number): void {
    if (this.arrivalAtOrBefore === undefined) this.arrivalAtOrBefore = { seq, at };
    else if (at - this.lastCheckpointAt >= ARRIVAL_CHECKPOINT_MS) this.laterArrivals.push({ seq, at });
    else return;
    this.lastCheckpointAt = at;
  }

  /** Up to `max` durable entries not taken yet, oldest first. */
  take(max: number): JournalEntry[] {
    const out: JournalEntry[] = [];
    if (max <= 0 || this.closed) return out;
    if (this.memoValid) {
      while (out.length < max && this.memo.length > 0) {
        const entry = this.memo.shift() as JournalEntry;
        this.memoBytes -= entry.length;
        entry.segment.readOffset = entry.offset + entry.length;
        out.push(entry);
      }
    } else {
      this.readFromDisk(out, max);
    }
    this.handedOut += out.length;
    return out;
  }

  /**
   * Counts a hand-over to the flow for each entry (its `attempts` grows) and writes the marks at
   * once, so a message that brings the process down is counted even then.
   */
  attempt(entries: readonly JournalEntry[]): void {
    if (this.closed || entries.length === 0) return;
    for (const entry of entries) {
      entry.attempts++;
      markAttempt(entry.segment, entry.seq);
    }
    this.writeAllMarks();
  }

  /**
   * The entries were just acknowledged to the broker (their PUBACKs handed to the connection):
   * marked at once, in the same turn, so that after a crash only entries whose acknowledgement may
   * not have reached the broker are compared with its redeliveries (takeUnacknowledged).
   */
  acknowledged(entries: readonly JournalEntry[]): void {
    if (this.closed) return;
    let any = false;
    for (const entry of entries) {
      if (entry.messageId === undefined) continue;
      markAcked(entry.segment, entry.seq);
      any = true;
    }
    if (any) this.writeAllMarks();
  }

  /**
   * Entries an earlier run journaled but may not have acknowledged (a crash between the flush and
   * the PUBACK): the broker delivers those again, with their packet identifier. Handed out once.
   */
  takeUnacknowledged(): Unacknowledged[] {
    const out = this.unacknowledged;
    this.unacknowledged = [];
    return out;
  }

  /** Every node the entry reached has completed it: it will not be replayed. */
  release(entry: JournalEntry): void {
    if (this.closed) return; // a late completion after close: the next journal on the directory owns the files
    if (!markReleased(entry.segment, entry.seq)) return;
    this.live--;
    this.handedOut--;
    this.counts.released++;
    const segment = entry.segment;
    if (!segment.sealed && liveEntries(segment) === 0 && segment.readOffset >= segment.size) this.appender.retireIfIdle(segment);
    else this.dropIfDone(segment);
    this.scheduleMarks();
  }

  /**
   * Compacts segments a few unfinished entries keep on disk, once the journal is half full, and
   * trims the arrival checkpoints (call now and then, e.g. every second).
   */
  maintain(): void {
    this.waitingSince(); // drops the arrival checkpoints behind the oldest live entry, asked for or not
    if (this.closed || this.bytes <= this.options.maxBytes * this.options.compactAbove) return;
    for (const segment of this.segments) {
      if (segment.readOffset < segment.size || !worthCompacting(segment, this.options.compactLiveFraction)) continue;
      try {
        compactSegment(segment);
        this.counts.compactions++;
      } catch (err) {
        this.options.warn(`receive journal ${segment.path} could not be compacted: ${(err as Error).message}`);
        return;
      }
    }
  }

  /** Writes what waits (the callbacks run), seals the active segment and writes the marks. Entries not released stay for the next run. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.appender.sealActive();
    this.closed = true;
    this.writeAllMarks();
    this.memo.drain();
    this.memoBytes = 0;
    openDirs.delete(this.dir);
  }

  private entryAt(seq: number, input: EntryInput, placement: Placement): JournalEntry {
    return {
      seq,
      topic: input.topic,
      payload: input.payload,
      qos: input.qos,
      retain: input.retain,
      dup: input.dup,
      messageId: input.messageId,
      properties: input.properties,
      receivedAt: input.receivedAt,
      segment: placement.segment,
      offset: placement.offset,
      length: placement.length,
      attempts: 0,
      replayed: false,
    };
  }

  private readFromDisk(out: JournalEntry[], max: number): void {
    for (const segment of this.segments) {
      if (out.length >= max) return;
      while (segment.readOffset < segment.size && out.length < max) {
        const { entries, next } = readEntries(segment, segment.readOffset, max - out.length);
        if (next <= segment.readOffset && entries.length === 0) {
          this.options.warn(
            `receive journal ${segment.path}: unreadable from byte ${segment.readOffset} on; the rest of the segment is skipped`,
          );
          segment.readOffset = segment.size;
          break;
        }
        segment.readOffset = next;
        for (const entry of entries) {
          if (segment.earlier) this.counts.replayed++;
          out.push({ ...entry, replayed: segment.earlier });
        }
      }
      if (segment.readOffset < segment.size) return;
      this.dropIfDone(segment);
    }
    // Read up to the newest durable entry: from now on new entries are served from memory.
    if (this.segments.every((s) => s.readOffset >= s.size)) {
      this.memoValid = true;
      this.memo.drain();
      this.memoBytes = 0;
    }
  }

  /** Deletes a sealed, fully read segment without live entries. */
  private dropIfDone(segment: SegmentState): void {
    if (segment.readOffset < segment.size || !segment.sealed) return;
    if (!deleteIfDrained(segment, this.options.warn)) return;
    const index = this.segments.indexOf(segment);
    if (index >= 0) this.segments.splice(index, 1);
  }

  private scheduleMarks(): void {
    if (this.marksScheduled) return;
    this.marksScheduled = true;
    setImmediate(() => {
      this.marksScheduled = false;
      this.writeAllMarks();
    });
  }

  private writeAllMarks(): void {
    for (const segment of this.segments) {
      if (segment.marks.length === 0) continue;
      try {
        writeMarks(segment);
        this.marksFailing = false;
      } catch (err) {
        if (!this.marksFailing) {
          this.options.warn(
            `receive journal marks for ${segment.path} not written (released entries may be replayed again): ${(err as Error).message}`,
          );
        }
        this.marksFailing = true;
      }
    }
  }
}
