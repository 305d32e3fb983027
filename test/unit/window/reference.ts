/**
 * Brute-force model of SlidingWindows for the tests: stores every reading and recomputes each
 * window from scratch with the engine's bucket rule (a reading at t is in window W at `now` iff
 * floor(t/b) > floor(now/b) - W/b, with the series clock never going backwards).
 */
export interface ReferenceConfig {
  windows: number[];
  bucketMs?: number;
  bucketsPerWindow?: number;
  idleMs?: number;
  maxSeries?: number;
}

interface RefLevel {
  bucketMs: number;
  ring: number;
}

interface RefSeries {
  readings: Array<{ v: number; t: number }>;
  heads: number[];
  lastSeen: number;
}

export interface RefWindowValues {
  count: number;
  sum: number;
  mean: number | null;
  min: number | null;
  max: number | null;
}

export class ReferenceWindows {
  readonly levels: RefLevel[] = [];
  private readonly windowLevel: number[] = [];
  private readonly windowBuckets: number[] = [];
  /** Most recently updated first. */
  private order: string[] = [];
  private readonly series = new Map<string, RefSeries>();
  readonly idleMs: number;
  late = 0;

  constructor(private readonly config: ReferenceConfig) {
    const perWindow = config.bucketsPerWindow ?? 60;
    for (const ms of config.windows) {
      const bucketMs = config.bucketMs ?? ms / perWindow;
      const n = Math.round(ms / bucketMs);
      let l = this.levels.findIndex((x) => x.bucketMs === bucketMs);
      if (l < 0) l = this.levels.push({ bucketMs, ring: n }) - 1;
      this.levels[l].ring = Math.max(this.levels[l].ring, n);
      this.windowLevel.push(l);
      this.windowBuckets.push(n);
    }
    this.idleMs = config.idleMs ?? Math.max(...config.windows) + Math.max(...this.levels.map((l) => l.bucketMs));
  }

  add(key: string, v: number, t: number): boolean {
    let s = this.series.get(key);
    if (s === undefined) {
      if (this.series.size >= (this.config.maxSeries ?? 10_000)) this.series.delete(this.order.pop()!);
      s = { readings: [], heads: this.levels.map(() => -Infinity), lastSeen: -Infinity };
      this.series.set(key, s);
    } else {
      this.order.splice(this.order.indexOf(key), 1);
    }
    this.order.unshift(key);
    let accepted = false;
    this.levels.forEach((level, l) => {
      const k = Math.floor(t / level.bucketMs);
      if (k > s.heads[l]) s.heads[l] = k;
      if (k > s.heads[l] - level.ring) accepted = true;
    });
    if (!accepted) {
      this.late++;
      return false;
    }
    s.readings.push({ v: v + 0, t });
    s.lastSeen = Math.max(s.lastSeen, t);
    return true;
  }

  read(key: string, now: number): RefWindowValues[] {
    const s = this.series.get(key);
    if (s !== undefined) {
      this.levels.forEach((level, l) => {
        if (s.heads[l] !== -Infinity) s.heads[l] = Math.max(s.heads[l], Math.floor(now / level.bucketMs));
      });
    }
    return this.config.windows.map((_, w) => {
      if (s === undefined) return { count: 0, sum: 0, mean: null, min: null, max: null };
      const l = this.windowLevel[w];
      const b = this.levels[l].bucketMs;
      const head = s.heads[l];
      const members = s.readings.filter((r) => {
        const k = Math.floor(r.t / b);
        return k <= head && k > head - this.windowBuckets[w];
      });
      const sum = exactSum(members.map((r) => r.v));
      const count = members.length;
      return {
        count,
        sum,
        mean: count === 0 ? null : sum / count,
        min: count === 0 ? null : Math.min(...members.map((r) => r.v)),
        max: count === 0 ? null : Math.max(...members.map((r) => r.v)),
      };
    });
  }

  reset(key: string): void {
    if (this.series.delete(key)) this.order.splice(this.order.indexOf(key), 1);
  }

  evictIdle(now: number): void {
    while (this.order.length > 0) {
      const key = this.order[this.order.length - 1];
      if (now - this.series.get(key)!.lastSeen < this.idleMs) break;
      this.order.pop();
      this.series.delete(key);
    }
  }

  keys(): string[] {
    return [...this.series.keys()];
  }
}

/** Sum of doubles correct to within an ulp or so (Neumaier), independent of the engine's code. */
export function exactSum(values: number[]): number {
  let s = 0;
  let c = 0;
  for (const x of values) {
    const t = s + x;
    c += Math.abs(s) >= Math.abs(x) ? s - t + x : x - t + s;
    s = t;
  }
  return s + c;
}

/** Small seeded PRNG (mulberry32) for long deterministic runs. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
