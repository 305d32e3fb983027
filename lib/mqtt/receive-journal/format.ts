/**
 * The receive journal's on-disk format.
 *
 * Segment `rj-<12-digit first seq>.seg`: an 8-byte magic, then records. A record is
 *   u32 body length | u32 CRC-32 of the body | body
 * and the body is
 *   6 bytes seq | 6 bytes received-at (ms since 1970) | u8 flags (qos bits 0-1, retain bit 2, dup bit 3)
 *   | u16 packet identifier (0: none) | u16 topic length | topic (UTF-8) | u32 properties length | properties (JSON, MQTT 5 only) | payload
 * Every entry carries its own sequence number, so a compacted segment (only its unreleased records
 * rewritten) keeps every entry's identity, and marks that name a sequence number stay valid.
 * The length and CRC find a record torn by a crash: reading stops there.
 *
 * Marks file `rj-<first seq>.marks`, beside its segment: 5-byte records
 *   u8 kind (1 = released, 2 = handed to the flow once more, 3 = acknowledged to the broker) | u32 seq - first seq
 * written without fsync: a lost release mark only replays an entry again (at least once), a lost
 * attempt mark only undercounts. A zero kind (a block the file system zero-filled after a power
 * cut) is skipped.
 */
import { crc32 } from 'node:zlib';

export const MAGIC = Buffer.from('IOTPRJ1\n', 'latin1');
export const RECORD_HEAD = 8;
const BODY_FIXED = 6 + 6 + 1 + 2 + 2 + 4;
export const MARK_BYTES = 5;
export const MARK_RELEASED = 1;
export const MARK_ATTEMPT = 2;
export const MARK_ACKED = 3;

const SEGMENT = /^rj-(\d{12})\.seg$/;
const MARKS = /^rj-(\d{12})\.marks$/;

/** What the ingest journals of one received message. */
export interface EntryInput {
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  retain: boolean;
  dup: boolean;
  /** The broker's packet identifier (QoS 1/2), to recognise its redelivery after a crash. */
  messageId?: number | undefined;
  /** MQTT 5 properties (JSON-encodable; Buffers survive). */
  properties?: Record<string, unknown> | undefined;
  receivedAt: number;
}

export interface DecodedEntry extends EntryInput {
  seq: number;
}

export function segmentName(firstSeq: number): string {
  return `rj-${String(firstSeq).padStart(12, '0')}.seg`;
}

export function marksName(firstSeq: number): string {
  return `rj-${String(firstSeq).padStart(12, '0')}.marks`;
}

/** The first seq a segment file name stands for, or undefined for other files. */
export function parseSegmentName(name: string): number | undefined {
  const match = SEGMENT.exec(name);
  return match ? Number(match[1]) : undefined;
}

export function parseMarksName(name: string): number | undefined {
  const match = MARKS.exec(name);
  return match ? Number(match[1]) : undefined;
}

function encodeProperties(properties: Record<string, unknown> | undefined): Buffer {
  if (!properties || Object.keys(properties).length === 0) return Buffer.alloc(0);
  return Buffer.from(JSON.stringify(properties));
}

function reviveBuffers(_key: string, value: unknown): unknown {
  const tagged = value as { type?: unknown; data?: unknown } | null;
  if (tagged && typeof tagged === 'object' && tagged.type === 'Buffer' && Array.isArray(tagged.data))
    return Buffer.from(tagged.data as number[]);
  return value;
}

/** One complete record (head and body) for `entry` under `seq`. */
export function encodeRecord(seq: number, entry: EntryInput): Buffer {
  const topic = Buffer.from(entry.topic);
  const properties = encodeProperties(entry.properties);
  const bodyLength = BODY_FIXED + topic.length + properties.length + entry.payload.length;
  const buf = Buffer.allocUnsafe(RECORD_HEAD + bodyLength);
  let at = RECORD_HEAD;
  buf.writeUIntBE(seq, at, 6);
  at += 6;
  buf.writeUIntBE(Math.max(0, Math.floor(entry.receivedAt)), at, 6);
  at += 6;
  buf.writeUInt8((entry.qos & 3) | (entry.retain ? 4 : 0) | (entry.dup ? 8 : 0), at);
  at += 1;
  buf.writeUInt16BE((entry.messageId ?? 0) & 0xffff, at);
  at += 2;
  buf.writeUInt16BE(topic.length, at);
  at += 2;
  topic.copy(buf, at);
  at += topic.length;
  buf.writeUInt32BE(properties.length, at);
  at += 4;
  properties.copy(buf, at);
  at += properties.length;
  entry.payload.copy(buf, at);
  buf.writeUInt32BE(bodyLength, 0);
  buf.writeUInt32BE(crc32(buf.subarray(RECORD_HEAD)), 4);
  return buf;
}

export type RecordRead =
  | { kind: 'record'; length: number; seq: number }
  | { kind: 'end' }
  /** Bytes that do not form a complete, intact record: a write a crash interrupted. */
  | { kind: 'torn'; bytes: number };

/**
 * Looks at the record starting at `offset` of `buf` (which holds the file from its start or a
 * window of it): its length and seq when it is complete and intact.
 */
export function peekRecord(buf: Buffer, offset: number, end = buf.length): RecordRead {
  if (offset >= end) return { kind: 'end' };
  if (end - offset < RECORD_HEAD + BODY_FIXED) return { kind: 'torn', bytes: end - offset };
  const bodyLength = buf.readUInt32BE(offset);
  if (bodyLength < BODY_FIXED || offset + RECORD_HEAD + bodyLength > end) return { kind: 'torn', bytes: end - offset };
  const body = buf.subarray(offset + RECORD_HEAD, offset + RECORD_HEAD + bodyLength);
  if (crc32(body) !== buf.readUInt32BE(offset + 4)) return { kind: 'torn', bytes: end - offset };
  return { kind: 'record', length: RECORD_HEAD + bodyLength, seq: body.readUIntBE(0, 6) };
}

/** Decodes an intact record (checked by peekRecord) at `offset`. */
export function decodeRecord(buf: Buffer, offset: number): DecodedEntry {
  const bodyLength = buf.readUInt32BE(offset);
  let at = offset + RECORD_HEAD;
  const end = at + bodyLength;
  const seq = buf.readUIntBE(at, 6);
  at += 6;
  const receivedAt = buf.readUIntBE(at, 6);
  at += 6;
  const flags = buf.readUInt8(at);
  at += 1;
  const messageId = buf.readUInt16BE(at) || undefined;
  at += 2;
  const topicLength = buf.readUInt16BE(at);
  at += 2;
  const topic = buf.toString('utf8', at, at + topicLength);
  at += topicLength;
  const propertiesLength = buf.readUInt32BE(at);
  at += 4;
  let properties: Record<string, unknown> | undefined;
  if (propertiesLength > 0) {
    try {
      properties = JSON.parse(buf.toString('utf8', at, at + propertiesLength), reviveBuffers) as Record<string, unknown>;
    } catch {
      properties = undefined; // intact by CRC, so only a bug could get here; the message itself still counts
    }
  }
  at += propertiesLength;
  // A copy: the read buffer is reused and may be large.
  const payload = Buffer.from(buf.subarray(at, end));
  return {
    seq,
    receivedAt,
    qos: (flags & 3) as 0 | 1 | 2,
    retain: (flags & 4) !== 0,
    dup: (flags & 8) !== 0,
    messageId,
    topic,
    properties,
    payload,
  };
}

export function encodeMark(kind: number, relative: number): Buffer {
  const buf = Buffer.allocUnsafe(MARK_BYTES);
  buf.writeUInt8(kind, 0);
  buf.writeUInt32BE(relative, 1);
  return buf;
}

/** Released and acknowledged offsets (seq - first seq) and attempt counts per offset, from a marks file's bytes. */
export function decodeMarks(buf: Buffer): { released: Set<number>; attempts: Map<number, number>; acked: Set<number> } {
  const released = new Set<number>();
  const acked = new Set<number>();
  const attempts = new Map<number, number>();
  for (let at = 0; at + MARK_BYTES <= buf.length; at += MARK_BYTES) {
    const kind = buf.readUInt8(at);
    const relative = buf.readUInt32BE(at + 1);
    if (kind === MARK_RELEASED) released.add(relative);
    else if (kind === MARK_ATTEMPT) attempts.set(relative, (attempts.get(relative) ?? 0) + 1);
    else if (kind === MARK_ACKED) acked.add(relative);
  }
  return { released, attempts, acked };
}
