/** The ISEMS nodes' settings (lib/isems/settings.ts): clamped for the collector, refused for the query node. */
import assert from 'node:assert/strict';
import { IsemsError } from '../../../lib/isems/errors';
import { isemsQuerySettings, isemsSettings } from '../../../lib/isems/settings';

describe('ISEMS settings', () => {
  it('collector: whole numbers clamped to their ranges, anything else the default', () => {
    assert.deepEqual(
      isemsSettings({ interval: '${ISEMS_POLL_INTERVAL}', simulatedNodes: 0, timeout: '9999', concurrency: '8', maxLineErrors: 'x' }),
      {
        intervalSeconds: 60,
        simulatedNodes: 1,
        timeoutSeconds: 600,
        concurrency: 8,
        maxLineErrors: 20,
      },
    );
  });

  it('query: defaults for unset variables, the reason for a value out of range', () => {
    assert.deepEqual(isemsQuerySettings({ hideInactiveAfterDays: '', limit: '', keepPerNode: '' }), {
      days: 30,
      limit: 1440,
      keep: 20_000,
    });
    assert.deepEqual(isemsQuerySettings({ hideInactiveAfterDays: '0.5', limit: 100_000, keepPerNode: '1' }), {
      days: 0.5,
      limit: 100_000,
      keep: 1,
    });
    assert.throws(
      () => isemsQuerySettings({ limit: 100_001 }),
      (err: IsemsError) => err.code === 'ISEMS_BAD_CONFIG' && /limit must be a whole number from 1 to 100000/.test(err.message),
    );
    assert.throws(() => isemsQuerySettings({ keepPerNode: 0 }), /ISEMS_RETENTION_ROWS must be a whole number >= 1/);
    assert.throws(() => isemsQuerySettings({ hideInactiveAfterDays: '-1' }), /HIDE_INACTIVE_AFTER_DAYS/);
  });
});
