/**
 * A bounded least-recently-used map (Map keeps insertion order, so the first key is the oldest).
 * Used for prepared statements and compiled SQL, where the set of distinct statements is small
 * but must not grow without limit when callers build SQL dynamically.
 */
export class LruMap<K, V> {
  private readonly entries = new Map<K, V>();

  constructor(
    readonly capacity: number,
    /** Called for an entry pushed out by a newer one (e.g. to finalize a statement). */
    private readonly onEvict?: (key: K, value: V) => void,
  ) {
    if (!(capacity >= 1)) throw new RangeError('LruMap capacity must be at least 1');
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: K): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      // Re-insert to mark as most recently used.
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  set(key: K, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as K;
      const evicted = this.entries.get(oldest) as V;
      this.entries.delete(oldest);
      this.onEvict?.(oldest, evicted);
    }
  }

  clear(): void {
    this.entries.clear();
  }
}
