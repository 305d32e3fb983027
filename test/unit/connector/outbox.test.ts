import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildBatches, type Reading } from '../../../lib/connector/batches';
import { ConnectorError } from '../../../lib/connector/errors';
import { Outbox } from '../../../lib/connector/outbox';
import { makeTempDir, removeTempDir } from '../../support/tmp';

const window = { start: Date.parse('2021-07-01T12:00:00Z'), end: Date.parse('2021-07-01T12:05:00Z') };
const readings = (n: number): Reading[] =>
  Array.from({ length: n }, (_, i) => ({
    sensor: 'a',
    ms: window.start + i * 1000,
    timestamp: new Date(window.start + i * 1000).toISOString().slice(0, 19),
    value: i,
  }));
const unitFields = (key: string) => ({ key, origin: 'schedule' as const, envelope: window, fetch: window });

describe('connector outbox', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir('iotp-outbox-');
  });
  afterEach(() => removeTempDir(dir));

  it('stores a window durably and reloads it byte for byte, in order', async () => {
    const { outbox } = await Outbox.open(dir);
    const batches = buildBatches(window, readings(5), 2);
    await outbox.addUnit(unitFields('s-1-2'), batches, 1000);
    await outbox.addUnit(unitFields('s-2-3'), buildBatches(window, readings(1), 2), 1001);
    assert.equal(outbox.batchCount, 4);
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.endsWith('.tmp')),
      [],
    );
    const { outbox: again, problems } = await Outbox.open(dir);
    assert.deepEqual(problems, []);
    assert.deepEqual(
      again.pendingUnits().map((u) => u.manifest.key),
      ['s-1-2', 's-2-3'],
    );
    const unit = again.getUnit('s-1-2');
    assert.deepEqual(
      [...(unit?.batches.values() ?? [])].map((b) => [b.id, b.body]),
      batches.map((b) => [b.id, b.body]),
    );
    assert.equal(unit?.manifest.readingCount, 5);
    assert.equal(again.byteCount, outbox.byteCount);
  });

  it('forgets acknowledged batches and completed windows on disk too', async () => {
    const { outbox } = await Outbox.open(dir);
    await outbox.addUnit(unitFields('s-1-2'), buildBatches(window, readings(4), 2));
    await outbox.ackBatch('s-1-2', 0);
    assert.equal((await Outbox.open(dir)).outbox.batchCount, 1);
    await outbox.completeUnit('s-1-2');
    assert.deepEqual(readdirSync(dir), []);
    assert.equal(outbox.batchCount, 0);
    assert.equal(outbox.byteCount, 0);
  });

  it('is bounded: full by count or bytes, refuses new windows with OUTBOX_FULL', async () => {
    const { outbox } = await Outbox.open(dir, { maxBatches: 2 });
    await outbox.addUnit(unitFields('s-1-2'), buildBatches(window, readings(6), 2));
    assert.equal(outbox.isFull(), true, 'one window may overshoot the bound');
    await assert.rejects(
      outbox.addUnit(unitFields('s-2-3'), buildBatches(window, readings(1), 2)),
      (e: unknown) => e instanceof ConnectorError && e.code === 'OUTBOX_FULL',
    );
    const { outbox: small } = await Outbox.open(join(dir, 'bytes'), { maxBytes: 100 });
    await small.addUnit(unitFields('s-1-2'), buildBatches(window, readings(1), 2));
    assert.equal(small.isFull(), true);
  });

  it('quarantines unreadable files instead of sending or deleting them', async () => {
    const { outbox } = await Outbox.open(dir);
    await outbox.addUnit(unitFields('s-1-2'), buildBatches(window, readings(4), 2));
    writeFileSync(join(dir, 's-1-2.1.batch.json'), 'garbage without header');
    writeFileSync(join(dir, 's-9-9.unit.json'), '{"v":1,"key":"../../etc"}');
    const { outbox: again, problems } = await Outbox.open(dir);
    assert.deepEqual(problems.map((p) => p.file).sort(), ['s-1-2.1.batch.json', 's-9-9.unit.json']);
    assert.equal(again.batchCount, 1);
    assert.ok(existsSync(join(dir, 's-1-2.1.batch.json.corrupt')));
    assert.equal(readFileSync(join(dir, 's-1-2.1.batch.json.corrupt'), 'utf8'), 'garbage without header');
  });

  it('refuses unsafe or duplicate unit keys', async () => {
    const { outbox } = await Outbox.open(dir);
    await assert.rejects(outbox.addUnit(unitFields('../x'), []), /file-name safe/);
    await outbox.addUnit(unitFields('s-1'), []);
    await assert.rejects(outbox.addUnit(unitFields('s-1'), []), /already holds/);
  });
});
