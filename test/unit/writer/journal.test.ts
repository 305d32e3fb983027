import assert from 'node:assert/strict';
import { appendFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Journal, type JournalOptions } from '../../../lib/writer/journal';
import type { SqlValue } from '../../../lib/db/types';
import { makeTempDir, removeTempDir } from '../../support/tmp';

function options(dir: string, extra: Partial<JournalOptions> = {}): JournalOptions & { warnings: string[] } {
  const warnings: string[] = [];
  return {
    dir,
    columns: ['a', 'b'],
    maxBytes: 1 << 20,
    segmentBytes: 1 << 16,
    syncRows: 100,
    syncBytes: 1 << 20,
    syncMs: 5,
    warn: (m) => warnings.push(m),
    requestWake: () => undefined,
    onDurable: () => undefined,
    warnings,
    ...extra,
  };
}

function append(journal: Journal, rows: SqlValue[][]): Promise<void> {
  return new Promise((resolve, reject) => {
    journal.append(rows, (err) => (err ? reject(err) : resolve()));
    journal.flush();
  });
}

function readAll(journal: Journal): SqlValue[][] {
  const out: SqlValue[][] = [];
  for (let batch = journal.read(7, 1 << 20); batch.length > 0; batch = journal.read(7, 1 << 20)) {
    for (const record of batch) {
      out.push(record.values);
      journal.settle(record.segment, record.ordinal);
    }
  }
  return out;
}

describe('writer journal: segment files', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir('iotp-journal-');
  });
  afterEach(() => removeTempDir(dir));

  it('appends durably, reads back in order with types intact, and deletes drained segments', async () => {
    const journal = new Journal(options(dir));
    const rows: SqlValue[][] = [
      ['x', 1],
      [new Date(86_400_000), Buffer.from([0, 255])],
      [12345678901234567890n, null],
      ['line\nbreak "q"', true],
    ];
    await append(journal, rows);
    assert.equal(journal.rows, 4);
    assert.ok(journal.hasUnread());
    assert.deepEqual(readAll(journal), rows);
    assert.equal(journal.hasUnread(), false);
    await journal.close();
    assert.deepEqual(readdirSync(dir), []);
  });

  it('rotates segments and never reads past a segment still being written', async () => {
    const journal = new Journal(options(dir, { segmentBytes: 60 }));
    for (let i = 0; i < 30; i++) await append(journal, [[`row-${i}`, i]]);
    assert.ok(readdirSync(dir).length >= 10, `${readdirSync(dir).length} segments`);
    const values = readAll(journal).map((row) => row[1]);
    assert.deepEqual(
      values,
      Array.from({ length: 30 }, (_, i) => i),
    );
    await journal.close();
    assert.deepEqual(readdirSync(dir), []);
  });

  it('keeps unsettled rows on disk for the next start, which replays them (remapped by column name)', async () => {
    const first = new Journal(options(dir));
    await append(first, [
      ['a1', 1],
      ['a2', 2],
    ]);
    const read = first.read(1, 1 << 20); // read but never committed (crash)
    assert.equal(read.length, 1);
    await first.close();
    const second = new Journal(options(dir, { columns: ['b', 'c', 'a'] }));
    assert.equal(second.rows, 2);
    assert.deepEqual(readAll(second), [
      [1, null, 'a1'],
      [2, null, 'a2'],
    ]);
    await second.close();
  });

  it('records the committed prefix on close so a restart does not replay it; a crash replays it all', async () => {
    const first = new Journal(options(dir));
    await append(first, [
      ['a', 1],
      ['b', 2],
      ['c', 3],
      ['d', 4],
    ]);
    const read = first.read(3, 1 << 20);
    first.settle(read[0].segment, read[0].ordinal);
    first.settle(read[2].segment, read[2].ordinal); // out of order: the prefix stops at row 1
    await first.close();
    const second = new Journal(options(dir));
    assert.deepEqual(
      readAll(second).map((row) => row[1]),
      [2, 3, 4],
    );
    await second.close();
    assert.deepEqual(readdirSync(dir), []);
  });

  it('skips a torn last line left by a crash with a warning, keeping the complete ones', async () => {
    const first = new Journal(options(dir));
    await append(first, [
      ['ok1', 1],
      ['ok2', 2],
    ]);
    await first.close();
    const [file] = readdirSync(dir);
    appendFileSync(join(dir, file), '["torn", 3'); // the write that never finished
    const opts = options(dir);
    const second = new Journal(opts);
    assert.deepEqual(readAll(second), [
      ['ok1', 1],
      ['ok2', 2],
    ]);
    assert.equal(second.corruptLines, 1);
    assert.match(opts.warnings.join('\n'), /incomplete last line/);
    await second.close();
    assert.deepEqual(readdirSync(dir), []);
  });

  it('skips garbage lines and a segment without header, never throwing', async () => {
    writeFileSync(join(dir, 'seg-000000000001.jsonl'), 'not json at all\n["a",1]\n{"x":1}\n\u0000\u0000\u0000');
    writeFileSync(join(dir, 'seg-000000000002.jsonl'), '');
    writeFileSync(join(dir, 'unrelated.txt'), 'keep me');
    const opts = options(dir);
    const journal = new Journal(opts);
    assert.deepEqual(readAll(journal), [['a', 1]]);
    assert.ok(journal.corruptLines >= 2);
    await journal.close();
    assert.deepEqual(readdirSync(dir), ['unrelated.txt']);
  });

  it('places prepended rows ahead of the unread ones', async () => {
    const journal = new Journal(options(dir));
    await append(journal, [['later', 2]]);
    await new Promise<void>((resolve, reject) => journal.prepend([['earlier', 1]], (err) => (err ? reject(err) : resolve())));
    assert.deepEqual(readAll(journal), [
      ['earlier', 1],
      ['later', 2],
    ]);
    await journal.close();
  });

  it('groups appends into one write and reports its size against the cap', async () => {
    const journal = new Journal(options(dir, { syncRows: 1000, maxBytes: 400 }));
    const done: number[] = [];
    for (let i = 0; i < 5; i++) journal.append([[`r${i}`, i]], () => done.push(i));
    assert.equal(done.length, 0); // nothing durable before the group is written
    assert.ok(journal.hasUnread());
    journal.flush();
    await journal.close();
    assert.deepEqual(done, [0, 1, 2, 3, 4]);
    const text = readFileSync(join(dir, readdirSync(dir)[0]), 'utf8');
    assert.equal(text.split('\n').length, 7); // header + 5 rows + trailing ''
    const reopened = new Journal(options(dir, { maxBytes: 400 }));
    assert.equal(reopened.hasRoom(400), false);
    await reopened.close();
  });

  it('refuses a directory already used by another writer in this process', async () => {
    const journal = new Journal(options(dir));
    assert.throws(() => new Journal(options(dir)), { code: 'WRITER_CONFIG' });
    await journal.close();
    const again = new Journal(options(dir));
    await again.close();
  });
});
