/**
 * Giving disk space back: release and attempt marks, deleting a drained segment, compacting one
 * that a few long-unfinished entries keep alive.
 *
 * Marks are appended to the segment's marks file without fsync (format.ts says why that is safe)
 * and written in one go per call of `writeMarks`, not per message.
 *
 * Compaction rewrites a sealed segment with only its live records into `<segment>.tmp`, fsyncs
 * it, and renames it over the segment (then fsyncs the directory): a crash leaves either the old
 * file or the new one, and a leftover .tmp is deleted by the next scan. Records keep their seq, so
 * the marks file stays valid as it is.
 */
import { closeSync, openSync, readFileSync, renameSync, unlinkSync, writeSync, fsyncSync } from 'node:fs';
import { dirname } from 'node:path';
import { encodeMark, MAGIC, MARK_ACKED, MARK_ATTEMPT, MARK_RELEASED, peekRecord } from './format';
import { liveEntries, type SegmentState } from './segment';

export function markReleased(segment: SegmentState, seq: number): boolean {
  const relative = seq - segment.firstSeq;
  if (segment.released.has(relative)) return false;
  segment.released.add(relative);
  segment.marks.push(encodeMark(MARK_RELEASED, relative));
  return true;
}

export function markAcked(segment: SegmentState, seq: number): void {
  segment.marks.push(encodeMark(MARK_ACKED, seq - segment.firstSeq));
}

export function markAttempt(segment: SegmentState, seq: number): void {
  segment.marks.push(encodeMark(MARK_ATTEMPT, seq - segment.firstSeq));
}

/** Appends the segment's waiting marks to its marks file. Throws the file system's error. */
export function writeMarks(segment: SegmentState): void {
  if (segment.marks.length === 0) return;
  const buf = segment.marks.length === 1 ? segment.marks[0] : Buffer.concat(segment.marks);
  segment.marks = [];
  const fd = openSync(segment.marksPath, 'a');
  try {
    for (let off = 0; off < buf.length;) off += writeSync(fd, buf, off, buf.length - off);
  } finally {
    closeSync(fd);
  }
}

/** Deletes a sealed segment whose every entry was released (and its marks). True when deleted. */
export function deleteIfDrained(segment: SegmentState, warn: (message: string) => void): boolean {
  if (!segment.sealed || segment.handle || liveEntries(segment) > 0) return false;
  segment.marks = [];
  try {
    unlinkSync(segment.path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      warn(`receive journal ${segment.path} could not be deleted (its entries may be replayed again): ${(err as Error).message}`);
      return false;
    }
  }
  try {
    unlinkSync(segment.marksPath);
  } catch {
    // never written, or gone: a marks file without its segment is removed by the next scan anyway
  }
  return true;
}

/**
 * Worth compacting: sealed, and its live records take at most `liveFraction` of its entries.
 * (A segment still being read is never compacted: its read offset would move.)
 */
export function worthCompacting(segment: SegmentState, liveFraction: number): boolean {
  return (
    segment.sealed &&
    !segment.handle &&
    segment.entries > 0 &&
    liveEntries(segment) > 0 &&
    liveEntries(segment) <= segment.entries * liveFraction
  );
}

/** Rewrites the segment with only its live records. Returns the bytes freed. Throws on file system errors (the old file then stays). */
export function compactSegment(segment: SegmentState): number {
  const buf = readFileSync(segment.path);
  const kept: Buffer[] = [MAGIC];
  let size = MAGIC.length;
  for (let offset = MAGIC.length; offset < segment.size;) {
    const read = peekRecord(buf, offset, segment.size);
    if (read.kind !== 'record') break;
    if (!segment.released.has(read.seq - segment.firstSeq)) {
      kept.push(buf.subarray(offset, offset + read.length));
      size += read.length;
    }
    offset += read.length;
  }
  const tmp = `${segment.path}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    const out = Buffer.concat(kept, size);
    for (let off = 0; off < out.length;) off += writeSync(fd, out, off, out.length - off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // the scan removes it
    }
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, segment.path);
  const dirFd = openSync(dirname(segment.path), 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
  const freed = segment.size - size;
  segment.size = size;
  return freed;
}
