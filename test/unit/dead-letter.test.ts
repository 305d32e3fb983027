/**
 * The dead-letter file (lib/dead-letter.ts): what a record keeps of a message, that an append
 * resolves only with the record on disk, the size bound and its rotation, a torn last line, and
 * an unwritable place reported as a typed error.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { IotpError } from '../../lib/errors';
import {
  DeadLetterError,
  DeadLetterFile,
  deadLetterPath,
  defaultDeadLetterDir,
  deadLetterRecord,
  readDeadLetters,
  recordPayload,
  rotatedPath,
} from '../../lib/dead-letter';
import { makeTempDir, removeTempDir } from '../support/tmp';

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

describe('dead-letter records', () => {
  it('keeps a UTF-8 payload as text with its size and hash', () => {
    const rec = deadLetterRecord({
      topic: 'sensors',
      payload: Buffer.from('{"a":"ä"}'),
      reason: 'refused',
      code: 'X_CODE',
      tries: 3,
      time: new Date(Date.UTC(2026, 0, 2, 3, 4, 5)),
    });
    assert.deepEqual(rec, {
      time: '2026-01-02T03:04:05.000Z',
      topic: 'sensors',
      reason: 'refused',
      code: 'X_CODE',
      tries: 3,
      bytes: 10,
      sha256: sha('{"a":"ä"}'),
      encoding: 'utf8',
      payload: '{"a":"ä"}',
      truncated: false,
    });
  });

  it('keeps bytes that are not UTF-8 as base64, and has no code unless given one', () => {
    const bytes = Buffer.from([0x7b, 0xff, 0xfe, 0x00, 0x7d]);
    const rec = deadLetterRecord({ topic: 't', payload: bytes, reason: 'r', tries: 1 });
    assert.equal(rec.encoding, 'base64');
    assert.deepEqual(recordPayload(rec), bytes);
    assert.equal('code' in rec, false);
  });

  it('cuts a long payload on a character boundary and says so; bytes and hash describe the whole', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const rec = deadLetterRecord({ topic: 't', payload: deep, reason: 'too deep', tries: 1 }, { maxPayloadBytes: 1000 });
    assert.equal(rec.payload, '['.repeat(1000));
    assert.equal(rec.truncated, true);
    assert.equal(rec.bytes, 200_000);
    assert.equal(rec.sha256, sha(deep));
    // 'é' is two bytes: a cut inside it keeps the character out.
    const accented = deadLetterRecord({ topic: 't', payload: 'aé', reason: 'r', tries: 1 }, { maxPayloadBytes: 2 });
    assert.equal(accented.payload, 'a');
    assert.deepEqual(
      recordPayload(deadLetterRecord({ topic: 't', payload: Buffer.from([0xff, 1, 2, 3]), reason: 'r', tries: 1 }, { maxPayloadBytes: 2 })),
      Buffer.from([0xff, 1]),
    );
  });

  it('clips a huge topic and reason, and counts at least one try', () => {
    const rec = deadLetterRecord({ topic: 'x'.repeat(10_000), payload: '', reason: 'y'.repeat(10_000), tries: 0 });
    assert.ok(rec.topic.length < 2100 && rec.topic.endsWith('…'));
    assert.ok(rec.reason.length < 2100 && rec.reason.endsWith('…'));
    assert.equal(rec.tries, 1);
  });

  it('names a file per node under the user directory, with a safe name', () => {
    assert.equal(defaultDeadLetterDir('/data'), join('/data', 'iot-pipelines', 'dead-letters'));
    assert.equal(deadLetterPath('/d', 'a1b2.c3'), join('/d', 'a1b2.c3.jsonl'));
    assert.equal(deadLetterPath('/d', '../x/y'), join('/d', '.._x_y.jsonl'));
    assert.equal(rotatedPath('/d/n.jsonl'), '/d/n.1.jsonl');
  });
});

describe('DeadLetterFile', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir('iotp-dead-letter-');
  });
  afterEach(() => removeTempDir(dir));

  it('appends records as JSON lines that read back in order, creating the directory', async () => {
    const path = join(dir, 'deep', 'er', 'n1.jsonl');
    const file = new DeadLetterFile(path);
    const first = await file.append({ topic: 'a', payload: 'one', reason: 'r1', tries: 1 });
    assert.equal(first.payload, 'one');
    assert.ok(existsSync(path), 'on disk when the promise resolves');
    await Promise.all([2, 3, 4].map((n) => file.append({ topic: 'a', payload: String(n), reason: `r${n}`, tries: n })));
    const { records, unreadable } = readDeadLetters(path);
    assert.equal(unreadable, 0);
    assert.deepEqual(
      records.map((r) => [r.payload, r.tries]),
      [
        ['one', 1],
        ['2', 2],
        ['3', 3],
        ['4', 4],
      ],
    );
    assert.equal(file.counts.written, 4);
  });

  it('stays within its bound: a full file rotates, the newest records are kept, at most two files', async () => {
    const path = join(dir, 'n.jsonl');
    const file = new DeadLetterFile(path, { maxBytes: 4096 });
    for (let i = 0; i < 100; i++) await file.append({ topic: 't', payload: `reading ${i} ${'x'.repeat(100)}`, reason: 'r', tries: 1 });
    assert.ok(statSync(path).size <= 4096, 'the current file');
    assert.ok(statSync(rotatedPath(path)).size <= 4096, 'the rotated one');
    assert.ok(file.counts.rotations > 1);
    const { records } = readDeadLetters(path);
    const numbers = records.map((r) => Number(/reading (\d+)/.exec(r.payload)?.[1]));
    assert.equal(numbers.at(-1), 99, 'the newest kept');
    assert.deepEqual(
      numbers,
      numbers.slice().sort((a, b) => a - b),
      'in order across both files',
    );
    assert.ok(numbers[0] > 0, 'the oldest generation dropped');
  });

  it('keeps a record within the bound by cutting its payload', async () => {
    const path = join(dir, 'n.jsonl');
    const file = new DeadLetterFile(path, { maxBytes: 32 * 1024, maxPayloadBytes: 1024 * 1024 });
    const rec = await file.append({ topic: 't', payload: Buffer.alloc(100_000, 0xff), reason: 'r', tries: 1 });
    assert.equal(rec.truncated, true);
    assert.ok(statSync(path).size <= 32 * 1024);
  });

  it('starts a new line after a record a crash tore, and the reader skips the torn one', async () => {
    const path = join(dir, 'n.jsonl');
    writeFileSync(path, '{"time":"2026-01-01T00:00:00.000Z","topic":"a","reas');
    await new DeadLetterFile(path).append({ topic: 'b', payload: 'p', reason: 'r', tries: 1 });
    const { records, unreadable } = readDeadLetters(path);
    assert.deepEqual(
      records.map((r) => r.topic),
      ['b'],
    );
    assert.equal(unreadable, 1);
  });

  it('starts afresh when the user removed the file meanwhile', async () => {
    const path = join(dir, 'n.jsonl');
    const file = new DeadLetterFile(path);
    await file.append({ topic: 'a', payload: 'p', reason: 'r', tries: 1 });
    writeFileSync(path, '');
    await file.append({ topic: 'b', payload: 'p', reason: 'r', tries: 1 });
    assert.deepEqual(
      readDeadLetters(path).records.map((r) => r.topic),
      ['b'],
    );
    assert.equal(readFileSync(path, 'utf8').split('\n').length, 2);
  });

  it('rejects with a typed error when the place cannot be written, and writes again once it can', async function () {
    if (process.getuid?.() === 0) {
      // root writes through permissions: block the directory with a file instead.
      const blocked = join(dir, 'blocked');
      writeFileSync(blocked, '');
      const file = new DeadLetterFile(join(blocked, 'n.jsonl'));
      const err = await file.append({ topic: 'a', payload: 'p', reason: 'r', tries: 1 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof DeadLetterError && err instanceof IotpError);
      assert.equal(err.code, 'DEAD_LETTER_UNWRITABLE');
      assert.equal(file.counts.failed, 1);
      return;
    }
    const locked = join(dir, 'locked');
    mkdirSync(locked);
    chmodSync(locked, 0o500);
    const file = new DeadLetterFile(join(locked, 'n.jsonl'));
    const err = await file.append({ topic: 'a', payload: 'p', reason: 'r', tries: 1 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof DeadLetterError);
    assert.equal(err.code, 'DEAD_LETTER_UNWRITABLE');
    chmodSync(locked, 0o700);
    await file.append({ topic: 'b', payload: 'p', reason: 'r', tries: 1 });
    assert.deepEqual(
      readDeadLetters(join(locked, 'n.jsonl')).records.map((r) => r.topic),
      ['b'],
    );
  });

  it('reads nothing from a file that does not exist', () => {
    assert.deepEqual(readDeadLetters(join(dir, 'none.jsonl')), { records: [], unreadable: 0 });
  });
});
