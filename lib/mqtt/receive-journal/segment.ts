/** One segment file of the receive journal and what is known about its entries. */
import { join } from 'node:path';
import type { FileHandle } from 'node:fs/promises';
import { MAGIC, marksName, segmentName } from './format';

export interface SegmentState {
  readonly firstSeq: number;
  readonly path: string;
  readonly marksPath: string;
  /** Durable bytes: the magic and every intact record. */
  size: number;
  /** Entries written to the segment (a compaction keeps the count: its released entries stay counted as released). */
  entries: number;
  /** Entries (by seq - firstSeq) released: every node they reached completed them. */
  released: Set<number>;
  /** Attempt counts an earlier run left in the marks file (by seq - firstSeq). */
  attempts: Map<number, number>;
  /** Where the next entry for the flow is read (bytes; the magic's end at first). */
  readOffset: number;
  /** Left by an earlier run: its entries are replays. */
  earlier: boolean;
  /** Entries below this offset (seq - first seq) are all released: where the oldest live one is looked for. */
  lowestLive: number;
  /** No more records will be appended. */
  sealed: boolean;
  /** Open for appending (the active segment) or null. */
  handle: FileHandle | null;
  /** Marks waiting to be written to the marks file. */
  marks: Buffer[];
}

export function newSegment(dir: string, firstSeq: number): SegmentState {
  return {
    firstSeq,
    path: join(dir, segmentName(firstSeq)),
    marksPath: join(dir, marksName(firstSeq)),
    size: 0,
    entries: 0,
    released: new Set(),
    attempts: new Map(),
    readOffset: MAGIC.length,
    earlier: false,
    lowestLive: 0,
    sealed: false,
    handle: null,
    marks: [],
  };
}

/** Entries of the segment not released yet. */
export function liveEntries(segment: SegmentState): number {
  return segment.entries - segment.released.size;
}

export const HEADER_BYTES = MAGIC.length;
