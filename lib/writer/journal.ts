/**
 * The writer's local journal: append-only segment files of JSON lines in one directory.
 *
 * File `seg-<12-digit seq>.jsonl`: a header line `{"journal":"iotp-writer","version":1,"columns":[...]}`,
 * then one JSON array of column values per row (Date/Buffer/bigint tagged as {"$d"}, {"$b"}, {"$n"}).
 * Segments are replayed in sequence order. Appends are grouped and made durable with one
 * write + fdatasync per group (never per row); a new file's directory entry is fsynced too.
 * Rows from an earlier run are remapped by column name, so a changed mapping still replays.
 *
 * Crash safety: only complete, fsynced lines count. A torn last line (no newline) in a segment
 * left by a crash is skipped with a warning; an unparsable line likewise. A segment is deleted
 * only once every row read from it was committed (or rejected), so a crash replays it: rows
 * committed just before the crash may be written twice (an `ignore` conflict policy on a unique
 * key makes that idempotent). A clean close records, beside a partly committed segment, how many
 * of its leading rows are committed (`<segment>.done`), so a restart does not write them again.
 */
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { syncDirectory, writeFully } from '../durable-files';
import type { SqlValue } from '../db/types';
import { WriterError } from './errors';

export interface JournalOptions {
  dir: string;
  /** The columns rows are written for (stored in each segment's header). */
  columns: readonly string[];
  /** Cap on bytes on disk plus bytes waiting to be written. */
  maxBytes: number;
  /** A segment is closed and a new one started once it reaches this size. */
  segmentBytes: number;
  /** A group is written as soon as this many rows, or this many bytes, wait... */
  syncRows: number;
  syncBytes: number;
  /** ...or once its first row has waited this long. */
  syncMs: number;
  warn(message: string): void;
  /** The journal wants `tick()` called at (or after) this Date.now() time; the owner runs the one timer. */
  requestWake(at: number): void;
  /** Called after rows became durable (the owner may now read them back). */
  onDurable(): void;
}

export interface Segment {
  readonly seq: number;
  readonly path: string;
  /** Durable bytes (complete lines only). */
  size: number;
  readOffset: number;
  /** No more bytes will be added. */
  complete: boolean;
  /** Complete rows in the file (from the start-up scan, or counted as appended). */
  rows: number;
  rowsRead: number;
  rowsDone: number;
  /** Rows 0..settledPrefix-1 are all settled; settledAhead holds settled ordinals beyond it. */
  settledPrefix: number;
  settledAhead: Set<number>;
  /** Leading rows settled in an earlier run (from the `.done` checkpoint): read past, not returned. */
  skip: number;
  /** For each current column, its index in this segment's header (-1: absent → NULL); null until the header is read. */
  columnIndex: number[] | null;
  handle: FileHandle | null;
  headerWritten: boolean;
}

export interface JournalRecord {
  values: SqlValue[];
  segment: Segment;
  /** Position of the row among the segment's rows. */
  ordinal: number;
}

type Done = (err?: Error) => void;

const FILE = /^seg-(\d{12})\.jsonl$/;
const FIRST_SEQ = 100_000_000_000; // leaves room below for segments prepended ahead of older ones
const READ_CHUNK = 1 << 20;
const openDirs = new Set<string>();

function segmentName(seq: number): string {
  return `seg-${String(seq).padStart(12, '0')}.jsonl`;
}

function encodeRow(values: readonly SqlValue[]): string {
  let plain = true;
  for (const v of values) {
    if (v !== null && (typeof v === 'object' || typeof v === 'bigint')) {
      plain = false;
      break;
    }
  }
  if (plain) return JSON.stringify(values);
  return JSON.stringify(
    values.map((v) => {
      if (typeof v === 'bigint') return { $n: v.toString() };
      if (v instanceof Date) return { $d: v.toISOString() };
      if (Buffer.isBuffer(v)) return { $b: v.toString('base64') };
      return v;
    }),
  );
}

function decodeValue(v: unknown): SqlValue {
  if (v === null || typeof v !== 'object') return v as SqlValue;
  const tagged = v as { $n?: string; $d?: string; $b?: string };
  if (typeof tagged.$n === 'string') return BigInt(tagged.$n);
  if (typeof tagged.$d === 'string') return new Date(tagged.$d);
  if (typeof tagged.$b === 'string') return Buffer.from(tagged.$b, 'base64');
  return JSON.stringify(v);
}

function readCheckpoint(path: string): number {
  try {
    const value = Number.parseInt(readFileSync(path, 'utf8'), 10);
    return Number.isSafeInteger(value) && value > 0 ? value : 0;
  } catch {
    return 0;
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

function countLines(path: string, size: number): number {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, Math.max(size, 1)));
    let lines = 0;
    for (let pos = 0; pos < size;) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n <= 0) break;
      for (let i = buf.indexOf(10, 0); i !== -1 && i < n; i = buf.indexOf(10, i + 1)) lines++;
      pos += n;
    }
    return lines;
  } finally {
    closeSync(fd);
  }
}

export class Journal {
  readonly dir: string;
  private readonly options: JournalOptions;
  private readonly header: string;
  /** In replay order. The active segment (appends) is last; prepended ones go first. */
  private segments: Segment[] = [];
  private active: Segment | null = null;
  private nextSeq = FIRST_SEQ;
  private pendingParts: string[] = [];
  private pendingBytes = 0;
  private pendingRows = 0;
  private pendingDones: Done[] = [];
  private pendingSince = 0;
  /** Bytes handed to the file system and not yet durable (one group write or prepends). */
  private writingBytes = 0;
  private writing = false;
  private unreadBytes = 0;
  private closed = false;
  private flushed: (() => void)[] = [];
  /** Lines skipped as torn or unparsable since start. */
  corruptLines = 0;

  /** Opens (creating if needed) the directory and finds segments left by an earlier run. */
  constructor(options: JournalOptions) {
    this.options = options;
    this.dir = resolve(options.dir);
    if (openDirs.has(this.dir)) {
      throw new WriterError('WRITER_CONFIG', `journal directory ${this.dir} is already used by another writer in this process`);
    }
    this.header = `${JSON.stringify({ journal: 'iotp-writer', version: 1, columns: options.columns })}\n`;
    let names: string[];
    try {
      mkdirSync(this.dir, { recursive: true });
      names = readdirSync(this.dir);
    } catch (err) {
      throw new WriterError('WRITER_CONFIG', `journal directory ${this.dir} is not usable: ${(err as Error).message}`, { cause: err });
    }
    for (const name of names.sort()) {
      const match = FILE.exec(name);
      if (!match) {
        // A checkpoint whose segment is gone (deleted after the checkpoint was written).
        if (name.endsWith('.jsonl.done') && !names.includes(name.slice(0, -5))) unlinkQuietly(join(this.dir, name));
        continue;
      }
      const path = join(this.dir, name);
      const size = statSync(path).size;
      if (size === 0) {
        unlinkSync(path);
        continue;
      }
      const seq = Number(match[1]);
      const skip = readCheckpoint(`${path}.done`);
      this.segments.push({
        seq,
        path,
        size,
        readOffset: 0,
        complete: true,
        rows: Math.max(0, countLines(path, size) - 1),
        rowsRead: 0,
        rowsDone: skip,
        settledPrefix: skip,
        settledAhead: new Set(),
        skip,
        columnIndex: null,
        handle: null,
        headerWritten: true,
      });
      this.unreadBytes += size;
      this.nextSeq = Math.max(this.nextSeq, seq + 1);
    }
    openDirs.add(this.dir);
  }

  /** Bytes on disk plus bytes waiting to be written. */
  get bytes(): number {
    let bytes = this.pendingBytes + this.writingBytes;
    for (const s of this.segments) bytes += s.size;
    return bytes;
  }

  /** Rows in the journal not yet committed (including those waiting for their group write). */
  get rows(): number {
    let rows = this.pendingRows;
    for (const s of this.segments) rows += Math.max(0, s.rows - s.rowsDone);
    return rows;
  }

  hasRoom(bytes: number): boolean {
    return this.bytes + bytes <= this.options.maxBytes;
  }

  /** True while rows exist that have not been read back yet (including rows not yet durable). */
  hasUnread(): boolean {
    return this.unreadBytes > 0 || this.pendingRows > 0 || this.writingBytes > 0;
  }

  /** Appends rows at the end; `done` is called once they are durable (or with the write error). */
  append(rows: readonly (readonly SqlValue[])[], done: Done): void {
    if (this.closed) {
      done(new WriterError('WRITER_CLOSED', 'the journal is closed'));
      return;
    }
    let text = '';
    for (const values of rows) text += `${encodeRow(values)}\n`;
    if (this.pendingRows === 0) {
      this.pendingSince = Date.now();
      this.options.requestWake(this.pendingSince + this.options.syncMs);
    }
    this.pendingParts.push(text);
    this.pendingBytes += Buffer.byteLength(text);
    this.pendingRows += rows.length;
    this.pendingDones.push(done);
    if (this.pendingRows >= this.options.syncRows || this.pendingBytes >= this.options.syncBytes) this.flush();
  }

  /**
   * Writes rows into a new segment placed before every existing one (they are older than what the
   * journal holds). Only valid when every row read so far has been committed.
   */
  prepend(rows: readonly (readonly SqlValue[])[], done: Done): void {
    if (this.closed) {
      done(new WriterError('WRITER_CLOSED', 'the journal is closed'));
      return;
    }
    const first = this.segments.length > 0 ? this.segments[0].seq : this.nextSeq;
    if (first - 1 < 0) {
      // Only reachable with hand-made segment names near zero; never invent an unreadable name.
      done(new WriterError('WRITER_JOURNAL', 'no sequence number left before the oldest journal segment'));
      return;
    }
    const segment = this.newSegment(first - 1);
    this.segments.unshift(segment);
    let text = this.header;
    for (const values of rows) text += `${encodeRow(values)}\n`;
    const buf = Buffer.from(text);
    this.writingBytes += buf.length;
    void this.writeDurably(segment, buf).then(
      () => {
        this.writingBytes -= buf.length;
        segment.size = buf.length;
        segment.rows = rows.length;
        segment.complete = true;
        this.unreadBytes += buf.length;
        return this.closeHandle(segment).then(() => {
          this.notifyFlushed();
          done();
          this.options.onDurable();
        });
      },
      (err: unknown) => {
        this.writingBytes -= buf.length;
        segment.complete = true;
        this.forget(segment);
        void this.closeHandle(segment).then(() => {
          try {
            unlinkSync(segment.path);
          } catch {
            // nothing durable was promised for it
          }
          this.notifyFlushed();
          done(new WriterError('WRITER_JOURNAL', `journal write failed: ${(err as Error).message}`, { cause: err }));
        });
      },
    );
  }

  /** Called by the owner's timer: writes the waiting group once its time has come. */
  tick(now: number): void {
    if (this.pendingRows === 0) return;
    if (now >= this.pendingSince + this.options.syncMs) this.flush();
    else this.options.requestWake(this.pendingSince + this.options.syncMs);
  }

  /** Starts writing the waiting group now (one group at a time; the next waits for this one). */
  flush(): void {
    if (this.writing || this.pendingRows === 0) return;
    this.writing = true;
    const text = this.pendingParts.join('');
    const rows = this.pendingRows;
    const dones = this.pendingDones;
    this.pendingParts = [];
    this.pendingBytes = 0;
    this.pendingRows = 0;
    this.pendingDones = [];
    let segment = this.active;
    if (segment && segment.size >= this.options.segmentBytes) {
      this.seal(segment);
      segment = null;
    }
    if (!segment) {
      segment = this.newSegment(this.nextSeq++);
      this.segments.push(segment);
      this.active = segment;
    }
    const target = segment;
    const buf = Buffer.from(target.headerWritten ? text : this.header + text);
    this.writingBytes += buf.length;
    void this.writeDurably(target, buf).then(
      () => {
        this.writingBytes -= buf.length;
        target.headerWritten = true;
        target.size += buf.length;
        target.rows += rows;
        this.unreadBytes += buf.length;
        this.afterGroup(dones);
        this.options.onDurable();
      },
      (err: unknown) => {
        this.writingBytes -= buf.length;
        this.options.warn(`journal write to ${target.path} failed: ${(err as Error).message}`);
        // Cut off whatever part of the group reached the file, then start a fresh segment next time.
        void target.handle?.truncate(target.size).catch(() => undefined);
        this.seal(target);
        const error = new WriterError('WRITER_JOURNAL', `journal write failed: ${(err as Error).message}`, { cause: err });
        this.afterGroup(dones, error);
      },
    );
  }

  /**
   * Reads up to `maxRows` durable rows (and roughly `maxBytes`) in replay order. Never reads past a
   * segment still being written, so order holds across segments.
   */
  read(maxRows: number, maxBytes: number): JournalRecord[] {
    const out: JournalRecord[] = [];
    let bytes = 0;
    for (let i = 0; i < this.segments.length && out.length < maxRows && bytes < maxBytes;) {
      const segment = this.segments[i];
      bytes += this.readSegment(segment, out, maxRows, maxBytes - bytes);
      if (segment.readOffset < segment.size || !segment.complete) break;
      if (this.deleteIfDone(segment)) continue; // the array shifted under i
      i++;
    }
    return out;
  }

  /** Marks the row `ordinal` of `segment` settled (committed or rejected); deletes drained segments. */
  settle(segment: Segment, ordinal: number): void {
    if (this.closed) return; // a late batch after close: the next writer on this directory owns the files
    segment.rowsDone++;
    if (ordinal === segment.settledPrefix) {
      segment.settledPrefix++;
      while (segment.settledAhead.delete(segment.settledPrefix)) segment.settledPrefix++;
    } else if (ordinal > segment.settledPrefix) {
      segment.settledAhead.add(ordinal);
    }
    this.deleteIfDone(segment);
    this.retireActiveIfDrained();
  }

  /** Writes what waits, closes files. Segments stay on disk for the next start. */
  async close(): Promise<void> {
    this.flush();
    while (this.writing || this.writingBytes > 0) {
      await new Promise<void>((resolve) => this.flushed.push(resolve));
      this.flush();
    }
    this.closed = true;
    for (const segment of this.segments) {
      await this.closeHandle(segment);
      if (segment.settledPrefix > segment.skip) {
        try {
          writeFileSync(`${segment.path}.done`, `${segment.settledPrefix}\n`);
        } catch (err) {
          this.options.warn(
            `journal checkpoint for ${segment.path} not written (its committed rows will be replayed again): ${(err as Error).message}`,
          );
        }
      }
    }
    openDirs.delete(this.dir);
  }

  private newSegment(seq: number): Segment {
    return {
      seq,
      path: join(this.dir, segmentName(seq)),
      size: 0,
      readOffset: 0,
      complete: false,
      rows: 0,
      rowsRead: 0,
      rowsDone: 0,
      settledPrefix: 0,
      settledAhead: new Set(),
      skip: 0,
      columnIndex: null,
      handle: null,
      headerWritten: false,
    };
  }

  private async writeDurably(segment: Segment, buf: Buffer): Promise<void> {
    const isNew = segment.handle === null;
    if (isNew) segment.handle = await open(segment.path, 'wx');
    const handle = segment.handle as FileHandle;
    await writeFully(handle, buf, segment.size);
    await handle.datasync();
    // The new file's name must survive a crash too.
    if (isNew) await syncDirectory(this.dir);
  }

  private afterGroup(dones: Done[], err?: Error): void {
    this.writing = false;
    for (const done of dones) done(err);
    this.notifyFlushed();
    if (this.pendingRows >= this.options.syncRows || this.pendingBytes >= this.options.syncBytes) this.flush();
    else if (this.pendingRows > 0) this.options.requestWake(this.pendingSince + this.options.syncMs);
    this.retireActiveIfDrained();
  }

  private notifyFlushed(): void {
    const waiting = this.flushed;
    this.flushed = [];
    for (const resolve of waiting) resolve();
  }

  private readSegment(segment: Segment, out: JournalRecord[], maxRows: number, maxBytes: number): number {
    if (segment.readOffset >= segment.size) return 0;
    let consumedTotal = 0;
    const fd = openSync(segment.path, 'r');
    try {
      let chunk = READ_CHUNK;
      while (segment.readOffset < segment.size && out.length < maxRows && consumedTotal < maxBytes) {
        const length = Math.min(chunk, segment.size - segment.readOffset);
        const buf = Buffer.allocUnsafe(length);
        const n = readSync(fd, buf, 0, length, segment.readOffset);
        let pos = 0;
        for (let nl = buf.indexOf(10, 0); nl !== -1 && nl < n; nl = buf.indexOf(10, pos)) {
          this.takeLine(segment, buf.toString('utf8', pos, nl), out);
          pos = nl + 1;
          if (out.length >= maxRows || consumedTotal + pos >= maxBytes) break;
        }
        if (pos === 0) {
          if (segment.readOffset + n < segment.size) {
            chunk *= 2; // one line longer than the chunk: read more of it
            continue;
          }
          // Durable data ending without a newline: a line torn by a crash during an earlier run.
          this.options.warn(`journal ${segment.path}: skipping an incomplete last line (${n} bytes), left by an interrupted write`);
          this.corruptLines++;
          pos = n;
        }
        segment.readOffset += pos;
        this.unreadBytes -= pos;
        consumedTotal += pos;
      }
    } finally {
      closeSync(fd);
    }
    return consumedTotal;
  }

  private takeLine(segment: Segment, line: string, out: JournalRecord[]): void {
    if (line.length === 0) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      parsed = undefined;
    }
    if (segment.columnIndex === null) {
      const columns = (parsed as { columns?: unknown } | undefined)?.columns;
      if (Array.isArray(columns) && (parsed as { journal?: unknown }).journal === 'iotp-writer') {
        segment.columnIndex = this.options.columns.map((c) => columns.indexOf(c));
        return;
      }
      this.options.warn(`journal ${segment.path}: no valid header line; assuming the current columns`);
      segment.columnIndex = this.options.columns.map((_, i) => i);
    }
    if (!Array.isArray(parsed)) {
      this.options.warn(`journal ${segment.path}: skipping an unreadable line (${line.length} characters)`);
      this.corruptLines++;
      return;
    }
    const values: SqlValue[] = segment.columnIndex.map((i) => (i < 0 || i >= parsed.length ? null : decodeValue(parsed[i])));
    const ordinal = segment.rowsRead++;
    if (ordinal < segment.skip) return; // committed in an earlier run
    out.push({ values, segment, ordinal });
  }

  private seal(segment: Segment): void {
    segment.complete = true;
    if (this.active === segment) this.active = null;
    void this.closeHandle(segment);
    this.deleteIfDone(segment);
  }

  /** When everything appended has been read and settled, the active segment is closed and deleted. */
  private retireActiveIfDrained(): void {
    const segment = this.active;
    if (!segment || this.writing || this.pendingRows > 0) return;
    if (segment.readOffset >= segment.size && segment.rowsDone >= segment.rowsRead) this.seal(segment);
  }

  private deleteIfDone(segment: Segment): boolean {
    if (!segment.complete || segment.readOffset < segment.size || segment.rowsDone < segment.rowsRead) return false;
    if (segment.handle) return false; // closing; deleted on a later settle
    unlinkQuietly(`${segment.path}.done`);
    try {
      unlinkSync(segment.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.options.warn(`journal ${segment.path} could not be deleted (its rows may be replayed again): ${(err as Error).message}`);
      }
    }
    this.forget(segment);
    return true;
  }

  private forget(segment: Segment): void {
    const index = this.segments.indexOf(segment);
    if (index >= 0) this.segments.splice(index, 1);
  }

  private async closeHandle(segment: Segment): Promise<void> {
    const handle = segment.handle;
    if (!handle) return;
    segment.handle = null;
    await handle.close().catch(() => undefined);
    this.deleteIfDone(segment);
  }
}
