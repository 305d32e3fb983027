/**
 * The dead-letter file: where an ingest puts a message its flow cannot process (the payload does
 * not decode, Node-RED cannot copy it to a second wired node, a node refuses it), so that the
 * message can be acknowledged to the broker, i.e. is never handed over again, and is still there
 * for the user to inspect.
 *
 * One JSON object per line (`<userDir>/iot-pipelines/dead-letters/<node id>.jsonl` by default):
 *
 *   {"time":"…Z","topic":"…","reason":"…","code":"…","tries":1,"bytes":200001,"sha256":"…",
 *    "encoding":"utf8","payload":"[[[[…","truncated":true}
 *
 * `payload` is the message's bytes as text when they are UTF-8, else base64 (`encoding` says
 * which), cut to `maxPayloadBytes`; `bytes` and `sha256` describe the whole payload, so a
 * truncated record still identifies what was sent.
 *
 * Bounded: a file holds at most `maxBytes`. When the next record would pass that, the file is
 * renamed to `<node id>.1.jsonl` (replacing the previous one) and a new file begins, so at most
 * twice `maxBytes` lie on disk and the newest records are kept; the oldest generation is dropped.
 * A record's payload is cut further when the record would not fit a file otherwise (topic and
 * reason are cut to 2,048 characters each, so only a bound of a few KiB comes near).
 *
 * Appends are written in batches (one write and one fdatasync for all records that arrived while
 * the previous batch was written): a promise resolves once its record is on disk, and only then
 * may the caller acknowledge the message.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, open, rename, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { IotpError } from './errors';

export type DeadLetterErrorCode = 'DEAD_LETTER_UNWRITABLE';

export class DeadLetterError extends IotpError<DeadLetterErrorCode> {}

/** Per file, before it rotates (so at most twice this on disk). */
export const DEFAULT_DEAD_LETTER_MAX_BYTES = 1024 * 1024;
/** Payload bytes kept in a record; the record's `bytes` and `sha256` cover the whole payload. */
export const DEFAULT_DEAD_LETTER_PAYLOAD_BYTES = 16 * 1024;
/** Topic and reason are cut to this many characters, so one record always fits a file. */
const MAX_TEXT_CHARS = 2048;

/** What a caller hands over: the message and why it is dead. */
export interface DeadLetter {
  topic: string;
  payload: Buffer | Uint8Array | string;
  /** Why the flow could not process it, in words (an error's message). */
  reason: string;
  /** A stable code when the reason was a typed error (`MQTT_PAYLOAD_TOO_DEEP`), else absent. */
  code?: string;
  /** How often it was handed to the flow (1: refused at once, not retried). */
  tries: number;
  time?: Date;
}

/** One line of the file. */
export interface DeadLetterRecord {
  time: string;
  topic: string;
  reason: string;
  code?: string;
  tries: number;
  /** Size of the whole payload. */
  bytes: number;
  /** SHA-256 of the whole payload, hex. */
  sha256: string;
  encoding: 'utf8' | 'base64';
  payload: string;
  truncated: boolean;
}

export interface DeadLetterOptions {
  maxBytes?: number;
  maxPayloadBytes?: number;
}

/** Where the dead-letter files live unless the `iotpDeadLetterDir` setting says otherwise. */
export function defaultDeadLetterDir(userDir: string): string {
  return join(userDir, 'iot-pipelines', 'dead-letters');
}

/** The file an ingest node writes its dead letters to. */
export function deadLetterPath(dir: string, nodeId: string): string {
  return join(dir, `${nodeId.replace(/[^A-Za-z0-9_.-]/g, '_')}.jsonl`);
}

/** Where a full file goes when it rotates: `x.jsonl` → `x.1.jsonl`. */
export function rotatedPath(path: string): string {
  return path.endsWith('.jsonl') ? `${path.slice(0, -'.jsonl'.length)}.1.jsonl` : `${path}.1`;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  // Not between the halves of a surrogate pair.
  let end = max;
  const c = text.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}

/** The longest prefix of UTF-8 `bytes` no longer than `max` bytes that ends on a character boundary. */
function utf8Prefix(bytes: Buffer, max: number): Buffer {
  if (bytes.length <= max) return bytes;
  let end = max;
  // Back off continuation bytes (10xxxxxx) to the start of the character the cut falls in.
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

/** The record for `letter`: payload as text when it is UTF-8, else base64, cut to maxPayloadBytes. */
export function deadLetterRecord(letter: DeadLetter, options: DeadLetterOptions = {}): DeadLetterRecord {
  const maxPayload = Math.max(0, options.maxPayloadBytes ?? DEFAULT_DEAD_LETTER_PAYLOAD_BYTES);
  const bytes =
    typeof letter.payload === 'string'
      ? Buffer.from(letter.payload, 'utf8')
      : Buffer.isBuffer(letter.payload)
        ? letter.payload
        : Buffer.from(letter.payload.buffer, letter.payload.byteOffset, letter.payload.byteLength);
  let text = true;
  try {
    strictUtf8.decode(bytes);
  } catch {
    text = false;
  }
  const kept = text ? utf8Prefix(bytes, maxPayload) : bytes.subarray(0, maxPayload);
  const record: DeadLetterRecord = {
    time: (letter.time ?? new Date()).toISOString(),
    topic: clip(String(letter.topic), MAX_TEXT_CHARS),
    reason: clip(String(letter.reason), MAX_TEXT_CHARS),
    tries: Math.max(1, Math.floor(Number(letter.tries) || 1)),
    bytes: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    encoding: text ? 'utf8' : 'base64',
    payload: text ? kept.toString('utf8') : kept.toString('base64'),
    truncated: kept.length < bytes.length,
  };
  if (letter.code !== undefined) record.code = clip(String(letter.code), 100);
  return record;
}

/** The payload bytes a record kept (all of them unless `truncated`). */
export function recordPayload(record: Pick<DeadLetterRecord, 'encoding' | 'payload'>): Buffer {
  return Buffer.from(record.payload, record.encoding === 'base64' ? 'base64' : 'utf8');
}

interface Pending {
  line: string;
  record: DeadLetterRecord;
  resolve: (record: DeadLetterRecord) => void;
  reject: (err: Error) => void;
}

/**
 * Appends dead letters to one file, bounded and rotated as the module header states. One
 * instance per file: records queued while a batch is written go out together in the next one.
 */
export class DeadLetterFile {
  readonly path: string;
  private readonly maxBytes: number;
  private readonly maxPayloadBytes: number;
  private queue: Pending[] = [];
  private writing: Promise<void> | undefined;
  /** Records written and rotations made by this instance (for status and tests). */
  readonly counts = { written: 0, rotations: 0, failed: 0 };

  constructor(path: string, options: DeadLetterOptions = {}) {
    this.path = path;
    this.maxBytes = Math.max(1024, options.maxBytes ?? DEFAULT_DEAD_LETTER_MAX_BYTES);
    this.maxPayloadBytes = Math.max(0, options.maxPayloadBytes ?? DEFAULT_DEAD_LETTER_PAYLOAD_BYTES);
  }

  /** Resolves with the record once it is on disk; rejects with DeadLetterError when it could not be written. */
  append(letter: DeadLetter): Promise<DeadLetterRecord> {
    // A record fits a file: a payload too long for it is cut further (rare: only a bound smaller
    // than the payload limit and the other fields together).
    let limit = this.maxPayloadBytes;
    let record = deadLetterRecord(letter, { maxPayloadBytes: limit });
    let line = `${JSON.stringify(record)}\n`;
    while (limit > 0 && Buffer.byteLength(line) > this.maxBytes) {
      limit = Math.floor(limit / 2);
      record = deadLetterRecord(letter, { maxPayloadBytes: limit });
      line = `${JSON.stringify(record)}\n`;
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ line, record, resolve, reject });
      this.kick();
    });
  }

  /** Resolves when every record appended so far is written (or has failed). */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private kick(): void {
    if (this.writing) return;
    this.writing = this.drain().finally(() => {
      this.writing = undefined;
      if (this.queue.length > 0) this.kick();
    });
  }

  private async drain(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    try {
      await this.write(batch.map((p) => p.line));
    } catch (err) {
      this.counts.failed += batch.length;
      const failure = new DeadLetterError(
        'DEAD_LETTER_UNWRITABLE',
        `dead-letter file ${this.path} could not be written: ${(err as Error)?.message ?? String(err)}`,
        { cause: err },
      );
      for (const p of batch) p.reject(failure);
      return;
    }
    this.counts.written += batch.length;
    for (const p of batch) p.resolve(p.record);
  }

  private async write(lines: string[]): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    let handle = await open(this.path, 'a+');
    try {
      // Read the size on every batch: the user may have emptied or removed the file meanwhile.
      let size = (await handle.stat()).size;
      let chunk = '';
      let chunkBytes = 0;
      if (size > 0 && !(await endsWithNewline(handle, size))) {
        // A record torn by a crash: end it, so the next one starts on a line of its own.
        chunk = '\n';
        chunkBytes = 1;
      }
      for (const line of lines) {
        const bytes = Buffer.byteLength(line);
        if (size + chunkBytes + bytes > this.maxBytes && size + chunkBytes > 0) {
          if (chunkBytes > 0) await writeDurably(handle, chunk);
          await handle.close();
          await rename(this.path, rotatedPath(this.path));
          this.counts.rotations++;
          handle = await open(this.path, 'a+');
          size = 0;
          chunk = '';
          chunkBytes = 0;
        }
        chunk += line;
        chunkBytes += bytes;
      }
      if (chunkBytes > 0) await writeDurably(handle, chunk);
    } finally {
      await handle.close().catch(() => undefined);
    }
  }
}

async function endsWithNewline(handle: FileHandle, size: number): Promise<boolean> {
  const last = Buffer.alloc(1);
  await handle.read(last, 0, 1, size - 1);
  return last[0] === 0x0a;
}

async function writeDurably(handle: FileHandle, text: string): Promise<void> {
  await handle.write(text);
  await handle.datasync();
}

/** What a dead-letter file (and its rotated predecessor) holds, oldest first; lines that are not records are counted, not returned. */
export function readDeadLetters(path: string): { records: DeadLetterRecord[]; unreadable: number } {
  const records: DeadLetterRecord[] = [];
  let unreadable = 0;
  for (const file of [rotatedPath(path), path]) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    for (const line of text.split('\n')) {
      if (line === '') continue;
      try {
        const value = JSON.parse(line) as DeadLetterRecord;
        if (value && typeof value === 'object' && typeof value.topic === 'string' && typeof value.reason === 'string') records.push(value);
        else unreadable++;
      } catch {
        unreadable++;
      }
    }
  }
  return { records, unreadable };
}
