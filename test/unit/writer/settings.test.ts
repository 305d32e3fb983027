/**
 * The db write node's settings (lib/writer/settings.ts): what the editor allows is what the writer
 * runs with, also for a hand-edited flow that holds more.
 */
import assert from 'node:assert/strict';
import { parseColumnMapping, WRITER_LIMITS, writerNumbers, writerTableSettings } from '../../../lib/writer/settings';

describe('writer settings', () => {
  it('takes the defaults for empty, missing or non-numeric values', () => {
    assert.deepEqual(writerNumbers({}), { batchSize: 500, maxLatencyMs: 50, maxBufferedRows: 10_000, maxInFlight: 2 });
    assert.deepEqual(writerNumbers({ batchSize: '', maxLatency: 'soon', maxBuffered: null, maxInFlight: '${X}' }), writerNumbers({}));
  });

  it('clamps values beyond the editor range to it (batchSize was capped only in the editor)', () => {
    const numbers = writerNumbers({ batchSize: 50_000, maxLatency: '600000', maxInFlight: 99, maxBuffered: 2.9 });
    assert.equal(numbers.batchSize, WRITER_LIMITS.batchSize.max);
    assert.equal(numbers.maxLatencyMs, WRITER_LIMITS.maxLatency.max);
    assert.equal(numbers.maxInFlight, WRITER_LIMITS.maxInFlight.max);
    assert.equal(numbers.maxBufferedRows, 2, 'whole rows');
    assert.equal(writerNumbers({ batchSize: '250' }).batchSize, 250, 'text from the editor');
    assert.equal(writerNumbers({ batchSize: -3 }).batchSize, 500, 'not positive: the default');
  });

  it('reads the column mapping and conflict settings', () => {
    assert.deepEqual(parseColumnMapping('ts = payload.time\nvalue, sensor_id=id'), { ts: 'payload.time', value: 'value', sensor_id: 'id' });
    assert.deepEqual(writerTableSettings({ columns: 'a', conflict: '', conflictKeys: 'a, b', updateColumns: '' }), {
      columns: { a: 'a' },
      conflict: 'error',
      keyColumns: ['a', 'b'],
      updateColumns: undefined,
    });
    assert.deepEqual(writerTableSettings({ conflict: 'upsert', updateColumns: 'v\nw' }).updateColumns, ['v', 'w']);
  });
});
