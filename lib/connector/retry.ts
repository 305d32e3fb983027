/**
 * When to retry a POST and how long to wait (the original never retried).
 *
 * Retry: network errors, timeouts, 5xx, 408 and 429: the receiver or the path to it is having
 * trouble that may pass. Never retry other 4xx: the receiver refused this request (bad key, bad
 * body), and sending the same bytes again cannot succeed. Waits are exponential backoff with full
 * jitter (uniform in [0, min(cap, base·2^(n-1))), lib/backoff.ts) so many connectors recovering
 * at once do not stampede; a `Retry-After` header (seconds or HTTP date) takes precedence, capped.
 */
import { retryDelay } from '../backoff';
import { positiveNumber } from './errors';
import type { PostOutcome } from './poster';

export type Verdict = 'delivered' | 'retry' | 'reject';

export function classify(outcome: PostOutcome): Verdict {
  if (outcome.kind !== 'response') return 'retry';
  const { status } = outcome;
  if (status >= 200 && status < 300) return 'delivered';
  if (status >= 500 || status === 408 || status === 429) return 'retry';
  // 1xx/3xx (redirects are not followed: the body must not go to an unconfigured host) and other 4xx.
  return 'reject';
}

export interface RetryPolicy {
  /** Attempts in total, including the first. */
  maxAttempts: number;
  /** No new attempt starts later than this after the first one. */
  maxElapsedMs: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** A Retry-After longer than this is shortened to it. */
  retryAfterCapMs: number;
}

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 6,
  maxElapsedMs: 120_000,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  retryAfterCapMs: 120_000,
});

export function checkRetryPolicy(policy: RetryPolicy): RetryPolicy {
  positiveNumber('maxAttempts', policy.maxAttempts, { integer: true, min: 1 });
  positiveNumber('maxElapsedMs', policy.maxElapsedMs, { min: 0 });
  positiveNumber('baseDelayMs', policy.baseDelayMs, { min: 0 });
  positiveNumber('maxDelayMs', policy.maxDelayMs, { min: 0 });
  positiveNumber('retryAfterCapMs', policy.retryAfterCapMs, { min: 0 });
  return policy;
}

/**
 * Milliseconds asked for by a Retry-After header: delta-seconds (`120`) or an HTTP date
 * (`Wed, 21 Oct 2015 07:28:00 GMT`, relative to `now`). Past dates give 0; garbage gives undefined.
 */
export function parseRetryAfter(header: string | undefined, now: number): number | undefined {
  if (header === undefined) return undefined;
  const text = header.trim();
  if (/^\d{1,10}$/.test(text)) return Number(text) * 1000;
  if (text.length > 64 || !/^[A-Za-z]{3}/.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** The wait before attempt `attempt + 1` (attempt counts from 1): full jitter, see lib/backoff.ts. */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  return retryDelay(attempt - 1, { initialMs: policy.baseDelayMs, maxMs: policy.maxDelayMs, jitter: 'full' }, random);
}

export type RetryDecision = { retry: true; delayMs: number } | { retry: false; reason: string };

/**
 * After attempt number `attempt` (from 1) ended in `outcome`, begun first at `firstAttemptAt`:
 * retry after some delay, or stop and say why.
 */
export function decideRetry(
  outcome: PostOutcome,
  attempt: number,
  firstAttemptAt: number,
  now: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): RetryDecision {
  const verdict = classify(outcome);
  if (verdict === 'delivered') return { retry: false, reason: 'delivered' };
  if (verdict === 'reject') return { retry: false, reason: `${describeOutcome(outcome)} is not retryable` };
  if (attempt >= policy.maxAttempts) return { retry: false, reason: `${describeOutcome(outcome)} after ${attempt} attempt(s)` };
  const asked = outcome.kind === 'response' ? parseRetryAfter(outcome.retryAfter, now) : undefined;
  const delayMs = asked !== undefined ? Math.min(asked, policy.retryAfterCapMs) : backoffDelay(attempt, policy, random);
  if (now + delayMs - firstAttemptAt > policy.maxElapsedMs) {
    return { retry: false, reason: `${describeOutcome(outcome)}; giving up after ${attempt} attempt(s) (max elapsed time)` };
  }
  return { retry: true, delayMs };
}

export function describeOutcome(outcome: PostOutcome): string {
  switch (outcome.kind) {
    case 'response':
      return `HTTP ${outcome.status}`;
    case 'timeout':
      return `no complete answer within ${outcome.timeoutMs} ms`;
    case 'network':
      return `network error ${outcome.code}`;
  }
}
