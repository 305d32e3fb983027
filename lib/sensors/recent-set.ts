/**
 * A bounded set of recently seen numbers (reading timestamps in epoch microseconds), for
 * duplicate detection. Entries leave after `horizonMs` of arrival time or, when the set is at
 * its maximum capacity, oldest first: the effective horizon of a sensor that reports faster than
 * `maxCapacity / horizon` shrinks to its last `maxCapacity` readings.
 *
 * Storage is typed arrays only (a ring in arrival order plus an open-addressing index), so a
 * thousand sensors at 10 Hz cost neither per-entry objects nor garbage-collector work. Capacity
 * starts small and doubles on demand, so a 1 Hz sensor with a two-minute horizon holds 128 slots.
 */
export class RecentSet {
  private keys: Float64Array;
  private times: Float64Array;
  /** Ring index of the oldest entry. */
  private head = 0;
  private count = 0;
  /** Open addressing, linear probing: ring index + 1, 0 = empty. Twice the ring's size. */
  private index: Int32Array;
  private mask: number;

  constructor(
    private readonly maxCapacity: number,
    initialCapacity = 64,
  ) {
    const capacity = Math.min(nextPowerOfTwo(Math.max(4, initialCapacity)), nextPowerOfTwo(Math.max(4, maxCapacity)));
    this.keys = new Float64Array(capacity);
    this.times = new Float64Array(capacity);
    this.index = new Int32Array(capacity * 2);
    this.mask = capacity * 2 - 1;
  }

  get size(): number {
    return this.count;
  }

  /** Bytes held in typed arrays (the set's whole variable-size footprint). */
  get byteLength(): number {
    return this.keys.byteLength + this.times.byteLength + this.index.byteLength;
  }

  /**
   * True when `key` was seen within the horizon (a duplicate); otherwise records it and returns
   * false. `nowMs` is the arrival time; entries that arrived before `nowMs - horizonMs` are
   * forgotten first.
   */
  seen(key: number, nowMs: number, horizonMs: number): boolean {
    this.expire(nowMs - horizonMs);
    if (this.find(key) >= 0) return true;
    this.add(key, nowMs);
    return false;
  }

  /** Forgets entries that arrived before `cutoffMs`. */
  expire(cutoffMs: number): void {
    const capacity = this.keys.length;
    while (this.count > 0 && this.times[this.head] < cutoffMs) {
      this.removeRingSlot(this.head);
      this.head = (this.head + 1) & (capacity - 1);
      this.count--;
    }
  }

  /** Entries oldest first, as parallel arrays (for persistence). */
  entries(): { keys: number[]; times: number[] } {
    const keys: number[] = [];
    const times: number[] = [];
    const capacity = this.keys.length;
    for (let i = 0; i < this.count; i++) {
      const slot = (this.head + i) & (capacity - 1);
      keys.push(this.keys[slot]);
      times.push(this.times[slot]);
    }
    return { keys, times };
  }

  private add(key: number, nowMs: number): void {
    let capacity = this.keys.length;
    if (this.count === capacity) {
      if (capacity < this.maxCapacity) {
        this.grow();
        capacity = this.keys.length;
      } else {
        // Full at the maximum: the oldest entry makes room (stated horizon caveat above).
        this.removeRingSlot(this.head);
        this.head = (this.head + 1) & (capacity - 1);
        this.count--;
      }
    }
    const slot = (this.head + this.count) & (capacity - 1);
    this.keys[slot] = key;
    this.times[slot] = nowMs;
    this.count++;
    let i = hash(key) & this.mask;
    while (this.index[i] !== 0) i = (i + 1) & this.mask;
    this.index[i] = slot + 1;
  }

  /** Index position holding `key`, or -1. */
  private find(key: number): number {
    let i = hash(key) & this.mask;
    for (;;) {
      const entry = this.index[i];
      if (entry === 0) return -1;
      if (this.keys[entry - 1] === key) return i;
      i = (i + 1) & this.mask;
    }
  }

  /** Removes the index entry pointing at ring slot `slot` (backward-shift deletion, no tombstones). */
  private removeRingSlot(slot: number): void {
    const mask = this.mask;
    let i = hash(this.keys[slot]) & mask;
    while (this.index[i] !== slot + 1) i = (i + 1) & mask;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const entry = this.index[j];
      if (entry === 0) break;
      const home = hash(this.keys[entry - 1]) & mask;
      // Move entry j back into the hole at i unless its home lies cyclically in (i, j].
      const inRange = i <= j ? home > i && home <= j : home > i || home <= j;
      if (!inRange) {
        this.index[i] = entry;
        i = j;
      }
    }
    this.index[i] = 0;
  }

  private grow(): void {
    const old = this.entries();
    const capacity = this.keys.length * 2;
    this.keys = new Float64Array(capacity);
    this.times = new Float64Array(capacity);
    this.index = new Int32Array(capacity * 2);
    this.mask = capacity * 2 - 1;
    this.head = 0;
    this.count = 0;
    for (let i = 0; i < old.keys.length; i++) this.add(old.keys[i], old.times[i]);
  }
}

function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** 32-bit mix of an integer-valued double (timestamps are multiples of 1000 or 10^6: low bits are zero). */
function hash(key: number): number {
  let h = (key >>> 0) ^ Math.imul((key / 4294967296) | 0, 0x27d4eb2d);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}
