import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ReceiveJournal,
  ReceiveJournalError,
  type EntryInput,
  type JournalEntry,
  type ReceiveJournalOptions,
} from '../../../lib/mqtt/receive-journal';
import { makeTempDir, removeTempDir } from '../../support/tmp';

function message(i: number, extra: Partial<EntryInput> = {}): EntryInput {
  return {
    topic: `home/sensor/t${i}/state`,
    payload: Buffer.from(`value-${i}`),
    qos: 1,
    retain: false,
    dup: false,
    receivedAt: 1_700_000_000_000 + i,
    ...extra,
  };
}

function open(dir: string, extra: Partial<ReceiveJournalOptions> = {}): ReceiveJournal & { warnings: string[] } {
  const warnings: string[] = [];
  const journal = new ReceiveJournal({ dir, maxBytes: 1 << 20, warn: (m) => warnings.push(m), ...extra }) as ReceiveJournal & {
    warnings: string[];
  };
  journal.warnings = warnings;
  return journal;
}

function append(journal: ReceiveJournal, input: EntryInput): Promise<JournalEntry> {
  return new Promise((resolve, reject) => journal.append(input, (err, entry) => (err ? reject(err) : resolve(entry as JournalEntry))));
}

function takeAll(journal: ReceiveJournal, chunk = 7): JournalEntry[] {
  const out: JournalEntry[] = [];
  for (let batch = journal.take(chunk); batch.length > 0; batch = journal.take(chunk)) out.push(...batch);
  return out;
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('MQTT receive journal', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir('iotp-rj-');
  });
  afterEach(() => removeTempDir(dir));

  it('hands durable entries out in order with every field intact, and deletes released segments on close', async () => {
    const journal = open(dir);
    const inputs = [
      message(0, { retain: true, qos: 2 }),
      message(1, { dup: true, payload: Buffer.from([0, 255, 10, 13]) }),
      message(2, { properties: { userProperties: { a: 'b' }, correlationData: Buffer.from([1, 2, 3]), contentType: 'text/plain' } }),
      message(3, { topic: 'é/🙂/#no', payload: Buffer.alloc(0) }),
    ];
    await Promise.all(inputs.map((input) => append(journal, input)));
    const entries = takeAll(journal);
    assert.deepEqual(
      entries.map((e) => ({
        topic: e.topic,
        payload: e.payload,
        qos: e.qos,
        retain: e.retain,
        dup: e.dup,
        properties: e.properties,
        receivedAt: e.receivedAt,
      })),
      inputs.map((i) => ({ ...i, properties: i.properties })),
    );
    assert.deepEqual(
      entries.map((e) => e.seq),
      [entries[0].seq, entries[0].seq + 1, entries[0].seq + 2, entries[0].seq + 3],
    );
    assert.ok(entries.every((e) => !e.replayed && e.attempts === 0));
    assert.equal(journal.stats().handedOut, 4);
    for (const entry of entries) journal.release(entry);
    assert.equal(journal.stats().live, 0);
    await journal.close();
    assert.deepEqual(readdirSync(dir), ['id']);
    assert.match(readFileSync(join(dir, 'id'), 'utf8'), /^[0-9a-f]{16}\n$/);
    const again = open(dir);
    assert.equal(again.id, journal.id, 'the journal keeps its identity');
    await again.close();
  });

  it('groups the appends of one burst into few fdatasyncs', async () => {
    const journal = open(dir);
    await Promise.all(Array.from({ length: 200 }, (_, i) => append(journal, message(i))));
    assert.ok(journal.stats().groups <= 2, `${journal.stats().groups} groups for 200 appends made in one turn`);
    await journal.close();
  });

  it('completes appends that arrive while earlier groups are still being flushed, in order', async () => {
    const journal = open(dir, { segmentBytes: 2000 });
    const done: number[] = [];
    const all: Promise<JournalEntry>[] = [];
    // Appends spread over many turns of the event loop, so groups overlap their flushes.
    for (let i = 0; i < 120; i++) {
      all.push(append(journal, message(i)).then((e) => (done.push(i), e)));
      if (i % 7 === 0) await tick();
    }
    const entries = await Promise.all(all);
    assert.deepEqual(
      done,
      Array.from({ length: 120 }, (_, i) => i),
      'callbacks in append order',
    );
    assert.deepEqual(
      takeAll(journal).map((e) => e.seq),
      entries.map((e) => e.seq),
    );
    await journal.close();
  });

  it('replays after a restart only what was not released, oldest first, with attempt counts', async () => {
    const first = open(dir, { segmentBytes: 200 });
    for (let i = 0; i < 20; i++) await append(first, message(i));
    const taken = takeAll(first);
    first.attempt(taken.slice(0, 5));
    first.attempt(taken.slice(0, 1));
    for (const entry of taken) if (entry.seq % 3 === 0) first.release(entry);
    await first.close();
    const second = open(dir, { segmentBytes: 200 });
    const replay = takeAll(second);
    const expected = taken.filter((e) => e.seq % 3 !== 0);
    assert.deepEqual(
      replay.map((e) => e.topic),
      expected.map((e) => e.topic),
    );
    assert.ok(replay.every((e) => e.replayed));
    assert.deepEqual(
      replay.map((e) => e.attempts),
      expected.map((e) => (e.seq === taken[0].seq ? 2 : taken.slice(0, 5).includes(e) ? 1 : 0)),
    );
    // New entries follow the replayed ones and get higher sequence numbers.
    const fresh = await append(second, message(99));
    assert.ok(fresh.seq > Math.max(...taken.map((e) => e.seq)));
    assert.deepEqual(
      takeAll(second).map((e) => e.topic),
      [message(99).topic],
    );
    await second.close();
  });

  it("says since when acknowledged messages wait for the flow: the oldest unreleased entry's arrival, within a second and never later", async () => {
    const first = open(dir, { segmentBytes: 200 });
    assert.equal(first.waitingSince(), null, 'empty: nothing waits');
    const at = (i: number): number => 1_700_000_000_000 + i * 600;
    for (let i = 0; i < 10; i++) await append(first, message(i, { receivedAt: at(i) }));
    assert.equal(first.waitingSince(), at(0));
    const taken = takeAll(first);
    assert.equal(first.waitingSince(), at(0), 'handed to the flow but not finished: still waiting');
    for (const entry of taken.slice(0, 5)) first.release(entry);
    const since = first.waitingSince() as number;
    assert.ok(since <= at(5) && since > at(5) - 1000, `the sixth arrived at ${at(5)}, said ${since}`);
    first.release(taken[7]); // out of order: the oldest unreleased is still the sixth
    assert.equal(first.waitingSince(), since);
    for (const entry of taken.slice(5)) first.release(entry);
    assert.equal(first.waitingSince(), null, 'all released');
    await append(first, message(10, { receivedAt: at(20) }));
    assert.equal(first.waitingSince(), at(20), 'a new entry after a quiet spell: its own arrival');
    await first.close();
    const second = open(dir, { segmentBytes: 200 });
    assert.equal(second.waitingSince(), 0, "an earlier run's entry: its arrival is not looked up");
    for (const entry of takeAll(second)) second.release(entry);
    assert.equal(second.waitingSince(), null);
    await second.close();
  });

  it('ignores a torn last record, and everything after a corrupted one', async () => {
    const first = open(dir);
    for (let i = 0; i < 5; i++) await append(first, message(i));
    await first.close();
    const [segment] = readdirSync(dir).filter((n) => n.endsWith('.seg'));
    const path = join(dir, segment);
    const intact = statSync(path).size;
    appendFileSync(path, Buffer.from([0, 0, 0, 40, 1, 2, 3])); // a record header and a few bytes: a crash mid-write
    const second = open(dir);
    assert.deepEqual(
      takeAll(second).map((e) => e.topic),
      [0, 1, 2, 3, 4].map((i) => message(i).topic),
    );
    assert.equal(second.stats().tornBytes, 7);
    assert.match(second.warnings.join('\n'), /ignoring 7 bytes/);
    await second.close();

    // Flip a payload byte of the third record: its CRC fails, so it and the rest are ignored.
    const bytes = readFileSync(path).subarray(0, intact);
    const records: number[] = [];
    for (let at = 8; at < bytes.length; at += 8 + bytes.readUInt32BE(at)) records.push(at);
    bytes[records[2] + 8 + 20] ^= 0xff;
    writeFileSync(path, bytes);
    const third = open(dir);
    assert.deepEqual(
      takeAll(third).map((e) => e.topic),
      [0, 1].map((i) => message(i).topic),
    );
    await third.close();
  });

  it('keeps what a SIGKILLed process appended and did not release', async function () {
    this.timeout(20000);
    const module = require.resolve('../../../lib/mqtt/receive-journal');
    const script = `
      const { ReceiveJournal } = require(${JSON.stringify(module)});
      const j = new ReceiveJournal({ dir: ${JSON.stringify(dir)}, maxBytes: 1 << 20, segmentBytes: 300, warn() {} });
      let durable = 0;
      for (let i = 0; i < 50; i++) j.append({ topic: 't/' + i, payload: Buffer.from('p' + i), qos: 1, retain: false, dup: false, receivedAt: 0 }, (err) => {
        if (err) throw err;
        if (++durable === 50) {
          for (const e of j.take(100)) if (Number(e.topic.slice(2)) < 20) j.release(e);
          setImmediate(() => { process.stdout.write('ready\\n'); setInterval(() => {}, 1000); });
        }
      });`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => (String(d).includes('ready') ? resolve() : undefined));
      child.on('exit', (code) => reject(new Error(`child exited with ${code}`)));
    });
    child.removeAllListeners('exit');
    child.kill('SIGKILL');
    await new Promise((resolve) => child.on('exit', resolve));
    const journal = open(dir, { segmentBytes: 300 });
    assert.deepEqual(
      takeAll(journal).map((e) => e.topic),
      Array.from({ length: 30 }, (_, i) => `t/${i + 20}`),
    );
    await journal.close();
  });

  it('reads entries back from disk in order when more waits than its memory holds', async () => {
    const journal = open(dir, { memoryBytes: 100, segmentBytes: 256 });
    for (let i = 0; i < 40; i++) await append(journal, message(i));
    const early = journal.take(3);
    for (let i = 40; i < 60; i++) await append(journal, message(i));
    const rest = takeAll(journal, 5);
    assert.deepEqual(
      [...early, ...rest].map((e) => e.topic),
      Array.from({ length: 60 }, (_, i) => message(i).topic),
    );
    // Caught up: new entries come from memory again, still in order.
    await append(journal, message(60));
    assert.deepEqual(
      journal.take(10).map((e) => e.topic),
      [message(60).topic],
    );
    await journal.close();
  });

  it('says when it is full, and has room again once entries are released', async () => {
    const journal = open(dir, { maxBytes: 2000, segmentBytes: 300 });
    const entries: JournalEntry[] = [];
    while (journal.hasRoom(100)) entries.push(await append(journal, message(entries.length)));
    assert.ok(journal.bytes > 1900 && journal.bytes <= 2000, `${journal.bytes} bytes`);
    for (const entry of takeAll(journal)) journal.release(entry);
    assert.ok(journal.hasRoom(1000), `${journal.bytes} bytes after releasing everything`);
    await journal.close();
  });

  it('compacts segments that a few unreleased entries keep alive', async () => {
    const journal = open(dir, { maxBytes: 10_000, segmentBytes: 400, compactAbove: 0, compactLiveFraction: 0.25 });
    for (let i = 0; i < 60; i++) await append(journal, message(i));
    const entries = takeAll(journal);
    const kept = entries.filter((_, i) => i % 10 === 0);
    for (const entry of entries) if (!kept.includes(entry)) journal.release(entry);
    await tick();
    const before = journal.bytes;
    journal.maintain();
    assert.ok(journal.stats().compactions > 0);
    assert.ok(journal.bytes < before / 2, `${before} → ${journal.bytes} bytes`);
    await journal.close();
    const again = open(dir, { segmentBytes: 400 });
    assert.deepEqual(
      takeAll(again).map((e) => e.topic),
      kept.map((e) => e.topic),
    );
    await again.close();
  });

  it('refuses an unusable directory and reports a failed write to the appender', async () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    assert.throws(
      () => open(join(file, 'journal')),
      (err: unknown) => err instanceof ReceiveJournalError && err.code === 'JOURNAL_UNUSABLE',
    );
    const journalDir = join(dir, 'j');
    const journal = open(journalDir);
    assert.throws(
      () => open(journalDir),
      (err: unknown) => err instanceof ReceiveJournalError && err.code === 'JOURNAL_IN_USE',
    );
    rmSync(journalDir, { recursive: true });
    await assert.rejects(append(journal, message(0)), (err: unknown) => err instanceof ReceiveJournalError && err.code === 'JOURNAL_WRITE');
    await journal.close();
  });
});
