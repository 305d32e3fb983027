/**
 * The durable outbox: batches waiting for the receiver's 2xx survive a restart (at-least-once).
 *
 * Why files and not a database table: the database is the *source* of readings (often the user's
 * own production database, reached with a read-mostly account), while the receiver is what fails;
 * during a long receiver outage the outbox can grow to many megabytes, which belongs in Node-RED's
 * user directory rather than in someone else's schema. Files also keep working when the database
 * connection is the thing that is flapping, so nothing already fetched has to be fetched again.
 *
 * Layout of `dir`: one `<unit>.<index>.batch.json` per batch (a JSON header line, then the body as posted) and one `<unit>.unit.json` manifest
 * per window ("unit"), each written atomically (write `*.tmp`, fsync, rename, fsync the directory).
 * The manifest is written last, so a crash while a window is being stored leaves batch files
 * without a manifest, which `open` discards (that window was never sent and will be fetched again);
 * a manifest means "this window is complete on disk". A batch file is deleted only after a 2xx.
 *
 * Bounded by batch count and bytes. Overflow policy: backpressure. While the outbox is full the
 * engine fetches no new windows (nothing is dropped); one window may overshoot the bound, because a
 * window must be stored whole before any of it is sent.
 */
import { promises as fs } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { ConnectorError, positiveNumber } from './errors';
import type { Batch } from './batches';
import type { TimeWindow } from './windows';

export type UnitOrigin = 'schedule' | 'request';

export interface UnitManifest {
  /** File-name-safe unique key: `s-<start>-<end>` for schedule windows, `r-<task>-<chunk>` for request pieces. */
  key: string;
  origin: UnitOrigin;
  taskId?: string;
  /** The envelope sent in every batch (for request mode: the whole requested window). */
  envelope: TimeWindow;
  /** The rows this unit holds were fetched from [fetch.start, fetch.end). */
  fetch: TimeWindow;
  batchCount: number;
  readingCount: number;
  /** Stored at (epoch ms); orders delivery. */
  createdAt: number;
  seq: number;
}

export interface StoredBatch {
  unit: string;
  id: string;
  index: number;
  readingCount: number;
  body: string;
  /** Bytes on disk (approximately the body), for the byte bound. */
  bytes: number;
}

export interface OutboxUnit {
  manifest: UnitManifest;
  /** Batches not yet acknowledged, by index. */
  batches: Map<number, StoredBatch>;
}

export interface OutboxLimits {
  maxBatches?: number;
  maxBytes?: number;
  /** fsync files and directory (default true); false only for benchmarks/tests on throwaway dirs. */
  fsync?: boolean;
}

export interface OutboxProblem {
  file: string;
  reason: string;
}

const KEY_PATTERN = /^[A-Za-z0-9_-]{1,160}$/;

export class Outbox {
  readonly dir: string;
  readonly maxBatches: number;
  readonly maxBytes: number;
  private readonly fsyncEnabled: boolean;
  private readonly units = new Map<string, OutboxUnit>();
  private batchTotal = 0;
  private byteTotal = 0;
  private nextSeq = 0;

  private constructor(dir: string, limits: OutboxLimits) {
    this.dir = dir;
    this.maxBatches = positiveNumber('outbox maxBatches', limits.maxBatches ?? 10_000, { integer: true, min: 1 });
    this.maxBytes = positiveNumber('outbox maxBytes', limits.maxBytes ?? 64 * 1024 * 1024, { integer: true, min: 1 });
    this.fsyncEnabled = limits.fsync ?? true;
  }

  /**
   * Opens (creating if needed) the outbox in `dir` and loads what a previous run left. Leftover
   * temp files and batches of incomplete windows are removed; unreadable files are renamed to
   * `*.corrupt` and reported in `problems` (kept for a human, never sent).
   */
  static async open(dir: string, limits: OutboxLimits = {}): Promise<{ outbox: Outbox; problems: OutboxProblem[] }> {
    const outbox = new Outbox(dir, limits);
    await fs.mkdir(dir, { recursive: true });
    const problems = await outbox.load();
    return { outbox, problems };
  }

  private async load(): Promise<OutboxProblem[]> {
    const problems: OutboxProblem[] = [];
    const names = await fs.readdir(this.dir);
    const quarantine = async (name: string, reason: string): Promise<void> => {
      problems.push({ file: name, reason });
      await fs.rename(join(this.dir, name), join(this.dir, `${name}.corrupt`)).catch(() => undefined);
    };
    for (const name of names.filter((n) => n.endsWith('.tmp'))) await fs.rm(join(this.dir, name), { force: true });
    for (const name of names.filter((n) => n.endsWith('.unit.json'))) {
      try {
        const manifest = parseManifest(JSON.parse(await fs.readFile(join(this.dir, name), 'utf8')));
        if (`${manifest.key}.unit.json` !== name) throw new Error('manifest key does not match its file name');
        this.units.set(manifest.key, { manifest, batches: new Map() });
        this.nextSeq = Math.max(this.nextSeq, manifest.seq + 1);
      } catch (err) {
        await quarantine(name, `unreadable window manifest: ${(err as Error).message}`);
      }
    }
    for (const name of names.filter((n) => n.endsWith('.batch.json'))) {
      const unitKey = name.slice(0, name.indexOf('.'));
      const unit = this.units.get(unitKey);
      if (!unit) {
        // Written before its manifest: the window was never complete on disk, so never sent.
        await fs.rm(join(this.dir, name), { force: true });
        continue;
      }
      try {
        const text = await fs.readFile(join(this.dir, name), 'utf8');
        const batch = parseBatch(text, unitKey);
        if (`${unitKey}.${batch.index}.batch.json` !== name) throw new Error('batch index does not match its file name');
        unit.batches.set(batch.index, batch);
        this.batchTotal += 1;
        this.byteTotal += batch.bytes;
      } catch (err) {
        await quarantine(name, `unreadable batch: ${(err as Error).message}`);
      }
    }
    return problems;
  }

  get batchCount(): number {
    return this.batchTotal;
  }

  get byteCount(): number {
    return this.byteTotal;
  }

  /** True while at or over a bound: the engine must not fetch new windows (backpressure). */
  isFull(): boolean {
    return this.batchTotal >= this.maxBatches || this.byteTotal >= this.maxBytes;
  }

  /** Units in delivery order (oldest first). */
  pendingUnits(): OutboxUnit[] {
    return [...this.units.values()].sort((a, b) => a.manifest.seq - b.manifest.seq);
  }

  getUnit(key: string): OutboxUnit | undefined {
    return this.units.get(key);
  }

  /** Stores a whole window durably: every batch, then the manifest. Throws OUTBOX_FULL when full. */
  async addUnit(
    fields: Omit<UnitManifest, 'batchCount' | 'readingCount' | 'createdAt' | 'seq'>,
    batches: readonly Batch[],
    now = Date.now(),
  ): Promise<OutboxUnit> {
    if (!KEY_PATTERN.test(fields.key))
      throw new ConnectorError('INVALID_OPTION', `outbox unit key ${JSON.stringify(fields.key)} is not file-name safe`);
    if (this.units.has(fields.key)) throw new ConnectorError('INVALID_OPTION', `outbox already holds unit ${fields.key}`);
    if (this.isFull()) throw new ConnectorError('OUTBOX_FULL', `outbox is full (${this.batchTotal} batches, ${this.byteTotal} bytes)`);
    const manifest: UnitManifest = {
      ...fields,
      batchCount: batches.length,
      readingCount: batches.reduce((sum, b) => sum + b.readingCount, 0),
      createdAt: now,
      seq: this.nextSeq++,
    };
    const files = batches.map((b) => {
      const text = serializeBatch(manifest.key, b);
      const stored: StoredBatch = {
        unit: manifest.key,
        id: b.id,
        index: b.index,
        readingCount: b.readingCount,
        body: b.body,
        bytes: Buffer.byteLength(text),
      };
      return { stored, text };
    });
    await Promise.all(files.map(({ stored, text }) => this.writeAtomically(`${manifest.key}.${stored.index}.batch.json`, text)));
    await this.writeAtomically(`${manifest.key}.unit.json`, JSON.stringify({ v: 1, ...manifest }));
    await this.syncDir();
    const unit: OutboxUnit = { manifest, batches: new Map() };
    for (const { stored } of files) {
      unit.batches.set(stored.index, stored);
      this.batchTotal += 1;
      this.byteTotal += stored.bytes;
    }
    this.units.set(manifest.key, unit);
    return unit;
  }

  /** Forgets one batch after the receiver acknowledged it with a 2xx. */
  async ackBatch(unitKey: string, index: number): Promise<void> {
    const unit = this.units.get(unitKey);
    const batch = unit?.batches.get(index);
    if (!unit || !batch) return;
    await fs.rm(join(this.dir, `${unitKey}.${index}.batch.json`), { force: true });
    unit.batches.delete(index);
    this.batchTotal -= 1;
    this.byteTotal -= batch.bytes;
  }

  /** Removes a unit whose batches are all acknowledged (and whose bookmark, if any, has advanced). */
  async completeUnit(unitKey: string): Promise<void> {
    const unit = this.units.get(unitKey);
    if (!unit) return;
    for (const index of [...unit.batches.keys()]) await this.ackBatch(unitKey, index);
    await fs.rm(join(this.dir, `${unitKey}.unit.json`), { force: true });
    this.units.delete(unitKey);
  }

  private async writeAtomically(name: string, text: string): Promise<void> {
    const target = join(this.dir, name);
    const temp = `${target}.tmp`;
    const handle = await fs.open(temp, 'w');
    try {
      await handle.writeFile(text, 'utf8');
      if (this.fsyncEnabled) await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, target);
  }

  private async syncDir(): Promise<void> {
    if (!this.fsyncEnabled) return;
    const handle = await fs.open(this.dir, 'r');
    try {
      await handle.sync();
    } catch {
      // Some platforms (Windows) cannot fsync a directory; the renames are still atomic there.
    } finally {
      await handle.close();
    }
  }
}

function isWindow(value: unknown): value is TimeWindow {
  const w = value as TimeWindow;
  return typeof w === 'object' && w !== null && Number.isSafeInteger(w.start) && Number.isSafeInteger(w.end) && w.start < w.end;
}

function parseManifest(raw: unknown): UnitManifest {
  const m = raw as UnitManifest & { v?: unknown };
  if (typeof m !== 'object' || m === null || m.v !== 1) throw new Error('not a version-1 manifest');
  if (typeof m.key !== 'string' || !KEY_PATTERN.test(m.key)) throw new Error('bad key');
  if (m.origin !== 'schedule' && m.origin !== 'request') throw new Error('bad origin');
  if (!isWindow(m.envelope) || !isWindow(m.fetch)) throw new Error('bad window');
  for (const field of ['batchCount', 'readingCount', 'createdAt', 'seq'] as const) {
    if (!Number.isSafeInteger(m[field]) || m[field] < 0) throw new Error(`bad ${field}`);
  }
  if (m.taskId !== undefined && typeof m.taskId !== 'string') throw new Error('bad taskId');
  return {
    key: m.key,
    origin: m.origin,
    ...(m.taskId !== undefined ? { taskId: m.taskId } : {}),
    envelope: { start: m.envelope.start, end: m.envelope.end },
    fetch: { start: m.fetch.start, end: m.fetch.end },
    batchCount: m.batchCount,
    readingCount: m.readingCount,
    createdAt: m.createdAt,
    seq: m.seq,
  };
}

/**
 * A batch file is one JSON header line, a newline, then the body exactly as it is posted: the body
 * is neither re-escaped on write nor re-parsed on load.
 */
function serializeBatch(unitKey: string, batch: Batch): string {
  return `${JSON.stringify({ v: 1, unit: unitKey, id: batch.id, index: batch.index, readingCount: batch.readingCount })}\n${batch.body}`;
}

function parseBatch(text: string, unitKey: string): StoredBatch {
  const newline = text.indexOf('\n');
  if (newline < 0) throw new Error('no header line');
  const b = JSON.parse(text.slice(0, newline)) as Omit<StoredBatch, 'body' | 'bytes'> & { v?: unknown };
  const body = text.slice(newline + 1);
  if (typeof b !== 'object' || b === null || b.v !== 1) throw new Error('not a version-1 batch');
  if (b.unit !== unitKey) throw new Error('batch belongs to another window');
  if (typeof b.id !== 'string' || body.length === 0) throw new Error('bad id or body');
  if (!Number.isSafeInteger(b.index) || b.index < 0 || !Number.isSafeInteger(b.readingCount) || b.readingCount < 0) {
    throw new Error('bad index or readingCount');
  }
  return { unit: unitKey, id: b.id, index: b.index, readingCount: b.readingCount, body, bytes: Buffer.byteLength(text) };
}

const INSTANCE_FILE = 'instance.id';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The schedule lease owner id of whoever uses this outbox directory, kept beside the batches
 * (created once). A process restarted after a crash is then the same owner and takes its lease
 * back at once, instead of standing by until the lease a previous run held expires; a second
 * installation has its own directory and so its own id.
 */
export async function outboxOwnerId(dir: string): Promise<string> {
  const file = join(dir, INSTANCE_FILE);
  const existing = await fs.readFile(file, 'utf8').catch(() => '');
  if (UUID.test(existing.trim())) return existing.trim();
  const id = randomUUID();
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(`${file}.tmp`, id);
  await fs.rename(`${file}.tmp`, file);
  return id;
}
