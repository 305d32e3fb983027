/**
 * Exponential backoff with jitter: the one place every retry loop of the package takes its waits
 * from (MQTT reconnects, the connector's POST retries, the row writer's database retries).
 *
 * The step after `failures` failures in a row (counted from 0) is `initialMs · 2^failures`, capped
 * at `maxMs`. Jitter spreads the waits so that many clients recovering from one outage do not come
 * back in lockstep; which kind a caller takes depends on who else is retrying against the same peer:
 *
 * | jitter          | wait, in whole ms              | for                                                        |
 * |-----------------|--------------------------------|------------------------------------------------------------|
 * | `'none'`        | step                           | a local contention (a lock, a busy SQLite file): nobody else to desynchronise from |
 * | `'full'`        | uniform in [0, step)           | many independent clients of one server (connector POSTs): the widest spread |
 * | `'equal'`       | uniform in [step/2, step)      | spread, yet never shorter than half the step (writer reconnects) |
 * | `{ spread: f }` | step · (1 ± f), at most maxMs  | keeps the doubling recognisable in logs (MQTT reconnects, f = 0.2) |
 *
 * `random` returns a number in [0, 1) like Math.random, injected so tests can pin it.
 */

export type Jitter = 'none' | 'full' | 'equal' | { readonly spread: number };

export interface Backoff {
  /** The first step (after 0 failures). */
  readonly initialMs: number;
  /** No step and no wait is longer, jitter included. */
  readonly maxMs: number;
  readonly jitter: Jitter;
}

/**
 * Doublings counted at most: far beyond any cap, and it keeps a zero initial delay at 0
 * (0 · 2^1024 would be 0 · Infinity = NaN).
 */
const MAX_DOUBLINGS = 52;

/** The un-jittered step after `failures` failures in a row: initialMs doubled per failure, capped at maxMs. */
export function backoffStep(failures: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(0, failures), MAX_DOUBLINGS));
}

/** How long to wait after `failures` failures in a row (counted from 0), in whole milliseconds from 0 to maxMs. */
export function retryDelay(failures: number, backoff: Backoff, random: () => number = Math.random): number {
  const step = backoffStep(failures, backoff.initialMs, backoff.maxMs);
  const { jitter } = backoff;
  let delay: number;
  if (jitter === 'none') delay = step;
  else if (jitter === 'full') delay = random() * step;
  else if (jitter === 'equal') delay = step / 2 + random() * (step / 2);
  else delay = step * (1 - jitter.spread + 2 * jitter.spread * random());
  return Math.max(0, Math.min(backoff.maxMs, Math.floor(delay)));
}
