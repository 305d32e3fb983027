/**
 * BurstTracker: the memory behind the `state` / timestamp collision rule (see parser.ts).
 *
 * Home Assistant publishes one entity update as a burst: `state`, then `last_updated`,
 * `last_changed`, then every attribute, within a few milliseconds. An attribute named `state`
 * (or `last_updated`/`last_changed`) lands on the same topic later in the same burst. So, for a
 * message whose payload shape cannot tell which it is, the first one of a burst is the reserved
 * key and a repeat within the burst is the attribute.
 *
 * A burst is an entity's run of messages with gaps of at most `gapMs`. A payload that can only be
 * a state (wire text that is not JSON, like `on`) after a state of the same burst starts a new
 * burst. Limitation, stated plainly: two genuine updates of one entity closer than `gapMs` whose
 * states are JSON-shaped (`21.5`) read the second state as the attribute; keep `gapMs` small (the
 * bursts themselves take a few ms).
 *
 * Memory is bounded: at most `maxEntities` entities are remembered; beyond that, closed bursts are
 * dropped first, then the oldest entries (forgetting a burst only means its next message starts a
 * new one).
 */
import type { BurstResolver, KeyEvidence } from './parser';

const RESERVED_BIT: Readonly<Record<string, number>> = { state: 1, last_updated: 2, last_changed: 4 };

interface Burst {
  lastAt: number;
  /** Bit set of the reserved keys already read as reserved within this burst. */
  seen: number;
}

export interface BurstTrackerOptions {
  /** Largest gap between two messages of one entity's burst, ms. Default 100. */
  gapMs?: number;
  /** Entities remembered at most. Default 10,000. */
  maxEntities?: number;
}

export class BurstTracker implements BurstResolver {
  readonly gapMs: number;
  readonly maxEntities: number;
  private readonly bursts = new Map<string, Burst>();

  constructor(options: BurstTrackerOptions = {}) {
    this.gapMs = options.gapMs ?? 100;
    this.maxEntities = Math.max(1, options.maxEntities ?? 10_000);
  }

  get size(): number {
    return this.bursts.size;
  }

  classify(entityKey: string, key: string, evidence: KeyEvidence, now: number): 'reserved' | 'attribute' {
    let burst = this.bursts.get(entityKey);
    if (burst === undefined) {
      if (this.bursts.size >= this.maxEntities) this.makeRoom(now);
      burst = { lastAt: now, seen: 0 };
      this.bursts.set(entityKey, burst);
    } else if (now - burst.lastAt > this.gapMs) {
      burst.seen = 0; // the previous burst is over
    }
    burst.lastAt = now;

    const bit = RESERVED_BIT[key];
    if (bit === undefined || evidence === 'attribute') return 'attribute';
    if ((burst.seen & bit) !== 0) {
      if (evidence === 'ambiguous') return 'attribute';
      // A definite state again: a new update has begun.
      if (key === 'state') burst.seen = 0;
    }
    burst.seen |= bit;
    return 'reserved';
  }

  /** Forgets every burst (e.g. on reconnect, when the broker replays retained topics). */
  clear(): void {
    this.bursts.clear();
  }

  private makeRoom(now: number): void {
    for (const [entityKey, burst] of this.bursts) {
      if (now - burst.lastAt > this.gapMs) this.bursts.delete(entityKey);
    }
    // Still full of open bursts: drop the oldest tenth so this sweep stays amortised O(1).
    const target = Math.floor(this.maxEntities * 0.9);
    for (const entityKey of this.bursts.keys()) {
      if (this.bursts.size <= target) break;
      this.bursts.delete(entityKey);
    }
  }
}
