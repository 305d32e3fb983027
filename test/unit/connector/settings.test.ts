import assert from 'node:assert/strict';
import { join } from 'node:path';
import fc from 'fast-check';
import { isConnectorError } from '../../../lib/connector/errors';
import { DEFAULT_READINGS_QUERY } from '../../../lib/connector/query';
import { HELD_RECHECK_MS, nextTickDelay, resolveBatchPostConfig, RETRY_TICK_MS, settingText } from '../../../lib/connector/settings';

const context = { userDir: '/data', nodeId: 'a1b2.c3' };
const base = { endpoint: 'https://receiver.example/ingest' };

function refused(settings: Record<string, unknown>, key: unknown = 'k'): string {
  try {
    resolveBatchPostConfig(settings, key, context);
  } catch (err) {
    assert.ok(isConnectorError(err), String(err));
    return err.message;
  }
  throw new Error(`accepted ${JSON.stringify(settings)}`);
}

describe('connector node settings', () => {
  it('treats empty values and unresolved ${VAR} references as unset', () => {
    assert.equal(settingText('${BATCH_SIZE}'), undefined);
    assert.equal(settingText('  '), undefined);
    assert.equal(settingText(undefined), undefined);
    assert.equal(settingText(' 12 '), '12');
    const config = resolveBatchPostConfig(
      { ...base, batchSize: '${BATCH_SIZE}', interval: '${FETCH_DATA_INTERVAL}', query: '', outboxDir: '' },
      'key',
      context,
    );
    assert.equal(config.batchSize, 30);
    assert.equal(config.intervalMs, 60_000);
    assert.equal(config.settleMs, 30_000);
    assert.equal(config.waitForArrivals, true, 'windows wait for late rows unless turned off');
    assert.equal(config.query, DEFAULT_READINGS_QUERY);
    assert.equal(config.schedule, true);
    assert.equal(config.outboxDir, join('/data', 'iot-pipelines', 'outbox', 'a1b2.c3'));
    assert.deepEqual(config.columns, { sensor: 'sensor', timestamp: 'timestamp', value: 'value' });
  });

  it('reads the environment-style strings the editor stores', () => {
    const config = resolveBatchPostConfig(
      {
        ...base,
        batchSize: '500',
        interval: '0.5',
        settle: '0',
        schedule: 'false',
        startFrom: '2021-07-01T12:00:00',
        maxAttempts: '2',
        maxRetrySeconds: '5',
        timeout: '2.5',
        outboxDir: 'outbox',
        outboxMaxMegabytes: '1.5',
        sendEmpty: false,
      },
      'key',
      context,
    );
    assert.equal(config.batchSize, 500);
    assert.equal(config.intervalMs, 30_000);
    assert.equal(config.settleMs, 0);
    assert.equal(config.schedule, false);
    assert.equal(config.initialStart, Date.parse('2021-07-01T12:00:00Z'));
    assert.equal(config.retry.maxAttempts, 2);
    assert.equal(config.retry.maxElapsedMs, 5000);
    assert.equal(config.timeoutMs, 2500);
    assert.equal(config.outboxDir, join('/data', 'outbox'));
    assert.equal(config.outboxMaxBytes, Math.round(1.5 * 1024 * 1024));
    assert.equal(config.sendEmptyWindows, false);
  });

  it('names the setting to fix', () => {
    assert.match(refused({}), /POST_DATA_ENDPOINT/);
    assert.match(refused({ endpoint: '${POST_DATA_ENDPOINT}' }), /POST_DATA_ENDPOINT/);
    assert.match(refused({ endpoint: 'not a url' }), /valid URL/);
    assert.match(refused({ endpoint: 'ftp://x/' }), /http/);
    assert.match(refused({ endpoint: 'https://user:pw@x/' }), /credentials/);
    assert.match(refused(base, null), /POST_DATA_API_KEY/);
    assert.match(refused(base, ''), /POST_DATA_API_KEY/);
    assert.match(refused(base, '${POST_DATA_API_KEY}'), /POST_DATA_API_KEY/);
    assert.match(refused(base, 'has space'), /printable/);
    assert.match(refused({ ...base, batchSize: '0' }), /BATCH_SIZE/);
    assert.match(refused({ ...base, batchSize: '2.5' }), /BATCH_SIZE/);
    assert.match(refused({ ...base, interval: 'hourly' }), /FETCH_DATA_INTERVAL/);
    assert.match(refused({ ...base, interval: '0.001' }), /FETCH_DATA_INTERVAL/);
    assert.match(refused({ ...base, startFrom: 'last tuesday' }), /start from/);
    assert.match(refused({ ...base, sensorColumn: 'two words' }), /sensor column/);
    assert.match(refused({ ...base, timeout: '-1' }), /timeout/);
  });

  it("posts a path endpoint to this Node-RED (the example's simulated receiver), without a key", () => {
    const own = { ...context, httpNodeBaseUrl: 'http://127.0.0.1:1999/api/' };
    const config = resolveBatchPostConfig({ endpoint: '/simulated-receiver' }, undefined, own);
    assert.equal(config.endpoint, 'http://127.0.0.1:1999/api/simulated-receiver');
    assert.equal(config.apiKey, undefined, 'no Authorization header');
    assert.equal(resolveBatchPostConfig({ endpoint: '/simulated-receiver' }, 'k', own).apiKey, 'k', 'a key, when given, is still sent');
    // Without HTTP-in endpoints (httpNodeRoot: false) there is nothing to post to.
    assert.match(refused({ endpoint: '/simulated-receiver' }, undefined), /httpNodeRoot/);
    // A protocol-relative or absolute endpoint elsewhere still needs its key.
    assert.match(refused({ endpoint: '//receiver.example/x' }, undefined), /valid URL/);
  });

  it('never throws anything but a ConnectorError for hostile settings', () => {
    const anything = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.constant(null), fc.boolean(), fc.object());
    fc.assert(
      fc.property(
        fc.record({
          endpoint: anything,
          batchSize: anything,
          interval: anything,
          settle: anything,
          startFrom: anything,
          timeout: anything,
          outboxDir: anything,
        }),
        anything,
        (settings, key) => {
          try {
            resolveBatchPostConfig(settings, key, context);
          } catch (err) {
            assert.ok(isConnectorError(err), String(err));
          }
        },
      ),
    );
  });

  describe('nextTickDelay', () => {
    const MIN = 60_000;
    const at = (iso: string): number => Date.parse(`${iso}Z`);

    it('fires when the next window becomes due: its end plus the settle delay', () => {
      assert.equal(nextTickDelay(at('2021-07-01T12:00:31'), MIN, 30_000, { backlog: 0, failed: 0 }), 59_000);
      assert.equal(nextTickDelay(at('2021-07-01T12:00:29'), MIN, 30_000, { backlog: 0, failed: 0 }), 1000);
      assert.equal(nextTickDelay(at('2021-07-01T12:00:30'), MIN, 30_000, { backlog: 0, failed: 0 }), MIN);
      assert.equal(nextTickDelay(at('2021-07-01T12:00:00'), 15 * MIN, 0, { backlog: 0, failed: 0 }), 15 * MIN);
    });

    it('continues a catch-up at once, but waits after a failure (at least 1 s, at most RETRY_TICK_MS)', () => {
      assert.equal(nextTickDelay(at('2021-07-01T12:00:31'), MIN, 30_000, { backlog: 5, failed: 0 }), 0);
      assert.equal(nextTickDelay(at('2021-07-01T12:00:31'), 60 * MIN, 30_000, { backlog: 5, failed: 1 }), RETRY_TICK_MS);
      assert.equal(nextTickDelay(at('2021-07-01T12:00:29.900'), MIN, 30_000, { backlog: 0, failed: 1 }), 1000);
      assert.equal(nextTickDelay(at('2021-07-01T12:00:31'), MIN, 30_000, { backlog: 3, failed: 0, skipped: 'lease-busy' }), 59_000);
    });

    it('looks again soon while due windows wait for rows still arriving, but never later than the next due window', () => {
      assert.equal(nextTickDelay(at('2021-07-01T12:00:31'), 60 * MIN, 30_000, { backlog: 0, failed: 0, held: 2 }), HELD_RECHECK_MS);
      assert.equal(nextTickDelay(at('2021-07-01T12:00:28'), MIN, 30_000, { backlog: 0, failed: 0, held: 1 }), 2000);
      assert.equal(
        nextTickDelay(at('2021-07-01T12:00:31'), MIN, 30_000, { backlog: 1, failed: 0, held: 1 }),
        0,
        'windows before the held ones are posted at once',
      );
    });

    it('is always within [0, interval] and never 0 without a backlog', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 4_102_444_800_000 }),
          fc.integer({ min: 1000, max: 86_400_000 }),
          fc.integer({ min: 0, max: 3_600_000 }),
          (now, interval, settle) => {
            const delay = nextTickDelay(now, interval, settle, { backlog: 0, failed: 0 });
            assert.ok(delay > 0 && delay <= interval, `${delay}`);
          },
        ),
      );
    });
  });
});
