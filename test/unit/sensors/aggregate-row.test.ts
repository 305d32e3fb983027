import assert from 'node:assert/strict';
import { AggregateError, aggregateRow } from '../../../lib/sensors/aggregate-row';
import { AGGREGATED_PART_COLUMNS } from '../../../lib/sensors/schema';
import { defaultSensors } from '../../../lib/sensors/sensors-file';

describe('sensors/aggregate-row', () => {
  const sensors = defaultSensors();
  const start = Date.UTC(2024, 5, 14, 16, 1);

  it('is a part of the minute: the window mean and count, stamped with the window start, with the instance that saw it', () => {
    const row = aggregateRow({ series: '2', start, end: start + 60_000, count: 30, mean: 21.25, sum: 637.5 }, sensors, { instance: 'a' });
    assert.deepEqual(row, {
      sensor_id: 2,
      timestamp: '2024-06-14 16:01:00.000000',
      value: 21.25,
      lat: 90,
      lng: 90,
      unit: 'C',
      type: 'temperature',
      description: 'Kitchen',
      samples: 30,
      instance: 'a',
    });
    assert.deepEqual(Object.keys(row).sort(), [...AGGREGATED_PART_COLUMNS].sort(), 'exactly the columns of aggregated_sensor_parts');
  });

  it('takes the sensor from the topic when the result has no series', () => {
    const row = aggregateRow({ start: '2024-06-14T16:02:00Z', count: 1, mean: 7.5 }, sensors, {
      instance: '#0123456789abcdef',
      topic: '9',
    });
    assert.deepEqual([row.sensor_id, row.unit, row.instance], [9, null, '#0123456789abcdef']);
  });

  it('names the field of a malformed result, and refuses a missing instance as a programming error', () => {
    assert.throws(
      () => aggregateRow({ series: '1', start, count: 0, mean: 1 }, sensors, { instance: 'a' }),
      (err: unknown) => err instanceof AggregateError && err.field === 'count',
    );
    for (const instance of ['', 'x'.repeat(65), undefined]) {
      assert.throws(
        () => aggregateRow({ series: '1', start, count: 1, mean: 1 }, sensors, { instance } as never),
        (err: unknown) => err instanceof TypeError && !(err instanceof AggregateError),
      );
    }
  });
});
