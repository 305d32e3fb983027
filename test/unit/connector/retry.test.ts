import assert from 'node:assert/strict';
import fc from 'fast-check';
import { backoffDelay, classify, decideRetry, DEFAULT_RETRY_POLICY, parseRetryAfter, type RetryPolicy } from '../../../lib/connector/retry';
import type { PostOutcome } from '../../../lib/connector/poster';

const response = (status: number, retryAfter?: string): PostOutcome => ({
  kind: 'response',
  status,
  body: '',
  truncated: false,
  ...(retryAfter ? { retryAfter } : {}),
});
const policy: RetryPolicy = { maxAttempts: 5, maxElapsedMs: 60_000, baseDelayMs: 100, maxDelayMs: 10_000, retryAfterCapMs: 30_000 };

describe('connector retry', () => {
  it('classifies outcomes: 2xx delivered; network, timeout, 5xx, 408, 429 retried; other 4xx and 3xx refused', () => {
    for (const s of [200, 201, 202, 204, 299]) assert.equal(classify(response(s)), 'delivered', String(s));
    for (const s of [500, 502, 503, 504, 599, 408, 429]) assert.equal(classify(response(s)), 'retry', String(s));
    for (const s of [400, 401, 403, 404, 409, 413, 422, 301, 302, 100]) assert.equal(classify(response(s)), 'reject', String(s));
    assert.equal(classify({ kind: 'timeout', timeoutMs: 1 }), 'retry');
    assert.equal(classify({ kind: 'network', code: 'ECONNREFUSED', message: '' }), 'retry');
  });

  it('backs off exponentially with full jitter, capped', () => {
    assert.equal(
      backoffDelay(1, policy, () => 0.999999),
      99,
    );
    assert.equal(
      backoffDelay(3, policy, () => 0.999999),
      399,
    );
    assert.equal(
      backoffDelay(40, policy, () => 0.999999),
      9999,
    );
    assert.equal(
      backoffDelay(3, policy, () => 0),
      0,
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2000 }), fc.double({ min: 0, max: 0.9999999, noNaN: true }), (attempt, r) => {
        const d = backoffDelay(attempt, policy, () => r);
        assert.ok(d >= 0 && d < policy.maxDelayMs && d < policy.baseDelayMs * 2 ** (attempt - 1));
      }),
    );
  });

  it('reads Retry-After as seconds or an HTTP date; ignores garbage', () => {
    const now = Date.parse('2015-10-21T07:27:00Z');
    assert.equal(parseRetryAfter('120', now), 120_000);
    assert.equal(parseRetryAfter(' 0 ', now), 0);
    assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', now), 60_000);
    assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:00:00 GMT', now), 0);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter('-5', now), undefined);
    assert.equal(parseRetryAfter('1.5', now), undefined);
    assert.equal(parseRetryAfter(undefined, now), undefined);
  });

  it('decides: honours Retry-After (capped), stops at max attempts, max elapsed, and on refusals', () => {
    const now = 1_000_000;
    assert.deepEqual(
      decideRetry(response(429, '3'), 1, now, now, policy, () => 0.5),
      { retry: true, delayMs: 3000 },
    );
    assert.deepEqual(
      decideRetry(response(503, '3600'), 1, now, now, policy, () => 0.5),
      { retry: true, delayMs: 30_000 },
    );
    assert.deepEqual(
      decideRetry(response(500), 2, now, now, policy, () => 0.5),
      { retry: true, delayMs: 100 },
    );
    const last = decideRetry(response(500), 5, now, now, policy);
    assert.equal(last.retry, false);
    assert.match((last as { reason: string }).reason, /HTTP 500 after 5 attempt/);
    const late = decideRetry({ kind: 'timeout', timeoutMs: 5000 }, 2, now - 59_990, now, policy, () => 0.5);
    assert.equal(late.retry, false);
    assert.match((late as { reason: string }).reason, /max elapsed/);
    const refused = decideRetry(response(400), 1, now, now, policy);
    assert.deepEqual(refused, { retry: false, reason: 'HTTP 400 is not retryable' });
    assert.equal(DEFAULT_RETRY_POLICY.maxAttempts > 1, true);
  });
});
