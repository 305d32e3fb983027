/**
 * Reading the journal back: the start-up scan of what an earlier run (or this node before a
 * redeploy) left, and the sequential reads that feed those entries to the flow again.
 *
 * The scan checks each segment record by record (length + CRC) and keeps the intact prefix: a
 * record torn by a crash, and anything after it, is ignored with a warning. The entries of a
 * segment are numbered without gaps when written, so an entry missing from the file was released
 * and compacted away; together with the release marks that gives the live entries to replay.
 */
import { closeSync, openSync, readdirSync, readFileSync, readSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { decodeMarks, decodeRecord, MAGIC, parseMarksName, parseSegmentName, peekRecord, RECORD_HEAD, type DecodedEntry } from './format';
import { newSegment, type SegmentState } from './segment';

/** An entry an earlier run journaled without (as far as its marks say) acknowledging it: the broker may deliver it again. */
export interface Unacknowledged {
  messageId: number;
  topic: string;
  payload: Buffer;
}

export interface ScanResult {
  unacknowledged: Unacknowledged[];
  /** Segments in seq order, all sealed. */
  segments: SegmentState[];
  /** The seq the next appended entry gets. */
  nextSeq: number;
  /** Bytes skipped as torn or unreadable. */
  tornBytes: number;
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // gone already
  }
}

/** Reads the directory's segments; removes leftovers that hold nothing (empty files, an interrupted compaction's temporary file). */
export function scanDirectory(dir: string, warn: (message: string) => void): ScanResult {
  const names = readdirSync(dir).sort();
  const segments: SegmentState[] = [];
  let nextSeq = 1;
  let tornBytes = 0;
  const unacknowledged: Unacknowledged[] = [];
  const seen = new Set<number>();
  for (const name of names) {
    const path = join(dir, name);
    if (name.endsWith('.tmp')) {
      unlinkQuietly(path);
      continue;
    }
    const firstSeq = parseSegmentName(name);
    if (firstSeq === undefined) continue;
    const segment = newSegment(dir, firstSeq);
    segment.sealed = true;
    segment.earlier = true;
    const buf = readFileSync(path);
    if (buf.length < MAGIC.length || !buf.subarray(0, MAGIC.length).equals(MAGIC)) {
      if (buf.length > 0 && !MAGIC.subarray(0, buf.length).equals(buf.subarray(0, MAGIC.length))) {
        warn(`receive journal ${path} is not a journal segment; moved aside as ${name}.bad`);
        renameSync(path, `${path}.bad`);
      } else {
        unlinkQuietly(path); // created, but its first write never completed
        unlinkQuietly(segment.marksPath);
      }
      continue;
    }
    const present = new Map<number, number>();
    let offset = MAGIC.length;
    let lastSeq = firstSeq - 1;
    for (;;) {
      const read = peekRecord(buf, offset);
      if (read.kind === 'end') break;
      if (read.kind === 'torn' || read.seq < firstSeq || read.seq <= lastSeq) {
        const bytes = buf.length - offset;
        tornBytes += bytes;
        warn(`receive journal ${path}: ignoring ${bytes} bytes after the last intact entry (a write a crash interrupted)`);
        break;
      }
      present.set(read.seq - firstSeq, offset);
      lastSeq = read.seq;
      offset += read.length;
    }
    segment.size = offset;
    segment.entries = lastSeq - firstSeq + 1;
    let marks: ReturnType<typeof decodeMarks> = { released: new Set(), attempts: new Map(), acked: new Set() };
    try {
      marks = decodeMarks(readFileSync(segment.marksPath));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    for (let relative = 0; relative < segment.entries; relative++) {
      if (!present.has(relative) || marks.released.has(relative)) segment.released.add(relative);
    }
    segment.attempts = marks.attempts;
    for (const [relative, at] of present) {
      if (marks.released.has(relative) || marks.acked.has(relative)) continue;
      const entry = decodeRecord(buf, at);
      if (entry.messageId !== undefined && entry.qos > 0)
        unacknowledged.push({ messageId: entry.messageId, topic: entry.topic, payload: entry.payload });
    }
    seen.add(firstSeq);
    nextSeq = Math.max(nextSeq, lastSeq + 1, firstSeq + 1);
    segments.push(segment);
  }
  // Marks whose segment is gone (deleted after its last release, before the marks file).
  for (const name of names) {
    const firstSeq = parseMarksName(name);
    if (firstSeq !== undefined && !seen.has(firstSeq)) unlinkQuietly(join(dir, name));
  }
  return { segments, nextSeq, tornBytes, unacknowledged };
}

export interface ReadEntry extends DecodedEntry {
  segment: SegmentState;
  offset: number;
  length: number;
  /** Hand-overs to the flow so far (earlier runs included). */
  attempts: number;
}

const READ_WINDOW = 1 << 20;

/**
 * Reads the entries of `segment` from byte `offset` on, up to `maxEntries`, skipping released
 * ones. Returns them and the offset after the last record read (the segment's end when done).
 */
export function readEntries(segment: SegmentState, offset: number, maxEntries: number): { entries: ReadEntry[]; next: number } {
  const entries: ReadEntry[] = [];
  if (offset >= segment.size) return { entries, next: segment.size };
  const fd = openSync(segment.path, 'r');
  try {
    let window = Buffer.allocUnsafe(Math.min(READ_WINDOW, segment.size - offset));
    while (offset < segment.size && entries.length < maxEntries) {
      const length = Math.min(window.length, segment.size - offset);
      const n = readSync(fd, window, 0, length, offset);
      let pos = 0;
      while (entries.length < maxEntries) {
        const read = peekRecord(window, pos, n);
        if (read.kind !== 'record') break;
        const relative = read.seq - segment.firstSeq;
        if (!segment.released.has(relative)) {
          const entry = decodeRecord(window, pos);
          entries.push({ ...entry, segment, offset: offset + pos, length: read.length, attempts: segment.attempts.get(relative) ?? 0 });
        }
        pos += read.length;
      }
      if (pos === 0) {
        // One record larger than the window (the durable size says it is complete): read it whole.
        if (n < RECORD_HEAD) break;
        const needed = RECORD_HEAD + window.readUInt32BE(0);
        if (needed <= window.length || offset + needed > segment.size) break; // cannot be: the scan or append checked it
        window = Buffer.allocUnsafe(needed);
        continue;
      }
      offset += pos;
    }
  } finally {
    closeSync(fd);
  }
  return { entries, next: offset };
}

/** Size of a file, or 0 when it is gone. */
export function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
