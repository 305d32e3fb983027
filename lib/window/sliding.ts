/**
 * Sliding time windows (e.g. 1, 5 and 30 minutes) over numeric readings, per series.
 *
 * Memory does not depend on the message rate: readings are added into time buckets, and every
 * window keeps a running sum and count over its buckets (O(1) per reading).
 *
 * Bucket resolution ("levels"):
 * - default: each window gets `bucketsPerWindow` (60) buckets of window/60, so 1/5/30 min use
 *   1 s, 5 s and 30 s buckets: 180 buckets, about 2.2 KB per series. A window of length W at time
 *   `now` then holds the buckets `floor(now/b) - W/b + 1 ..= floor(now/b)`: the current bucket and
 *   the W/b - 1 before it, i.e. between W - b and W of history (at most 1/60 of W of edge error).
 * - `bucketMs` set (e.g. 1000): one shared ring at that resolution serves every window ("exact
 *   mode": 1800 buckets for 30 min at 1 s, about 21.6 KB per series).
 * Windows with the same bucket width share one ring of the longest of them.
 *
 * Floating point: bucket sums are plain doubles; the running window sums are Neumaier-compensated
 * and follow the *rounded* bucket sums exactly (each addition also applies the TwoSum rounding
 * error of its bucket), so subtracting an expired bucket removes precisely what was added. On top
 * of that each window is re-summed from its buckets once per rotation (amortised O(1)), so no
 * rounding error can outlive a window length, however long the engine runs.
 *
 * min/max (only when requested): a monotonic deque of bucket indices per window, amortised O(1)
 * for in-order readings; a reading that lowers the min (raises the max) of an older bucket
 * rebuilds that window's deque from its buckets (O(window buckets), only for out-of-order data).
 *
 * Time and late data: times are epoch milliseconds, processing time (`clock()`) unless the caller
 * passes an event time. A series' clock never goes backwards: its newest bucket is the maximum
 * time seen (by `add` or `read`). A reading older than that is placed into its own bucket when
 * that bucket is still inside a window (out of order is fine), is ignored by the windows it is
 * too old for, and is rejected as late (`add` returns false, `stats.late` counts it) when it is
 * older than the longest window. A reading in the future of the clock moves the clock forward.
 *
 * Series: keyed by any string. A series idle for `idleMs` (default: longest window + one bucket,
 * when all its windows are empty) is evicted by `evictIdle`/`tick`; at most `maxSeries` live
 * series are kept, the least recently updated one is evicted to make room (counted).
 *
 * Storage is a slab: every per-series number lives in typed arrays indexed by a slot number, so
 * a series costs its buckets plus a few doubles, not a graph of JS objects.
 */
import { WindowError } from './errors';
import { roundTo, toReading, toWindowTime } from './value';

export type SlidingAggregate = 'mean' | 'count' | 'sum' | 'min' | 'max';

export interface WindowLength {
  ms: number;
  /** Used in output names; default derived from ms: `1min`, `5min`, `30min`, `1h`, `10s`, `1d`. */
  label?: string;
}

export interface SlidingWindowOptions {
  /** Window lengths in ms (or {ms, label}); default 1, 5 and 30 minutes. */
  windows?: ReadonlyArray<number | WindowLength>;
  /** One shared bucket width for every window (exact mode). Default: per window, window / bucketsPerWindow. */
  bucketMs?: number;
  /** Buckets per window when bucketMs is not set; default 60. */
  bucketsPerWindow?: number;
  /** Aggregates in the output; default ['mean']. */
  aggregates?: readonly SlidingAggregate[];
  /** Output name templates, `{label}` is replaced; defaults avg_{label}, count_{label}, sum_{label}, min_{label}, max_{label}. */
  names?: Partial<Record<SlidingAggregate, string>>;
  /** Round mean/sum/min/max to this many decimals in the output; default: full precision. */
  decimals?: number;
  /** Most live series; the least recently updated is evicted beyond it. Default 10,000. */
  maxSeries?: number;
  /** A series without readings for this long is evicted by evictIdle/tick. Default: longest window + its bucket. */
  idleMs?: number;
  /** Processing-time clock in epoch ms; default Date.now. */
  clock?: () => number;
}

/**
 * One series' aggregates by output name, e.g. `{avg_1min: 46, avg_5min: 45.7, avg_30min: null}`.
 * An empty window gives `null` for mean/min/max (never 0 or NaN), 0 for count and sum.
 */
export type WindowValues = Record<string, number | null>;

export interface SeriesValues {
  series: string;
  values: WindowValues;
}

export interface SlidingStats {
  /** Live series now. */
  series: number;
  /** Readings accepted since creation (or restore). */
  accepted: number;
  /** Readings older than the longest window, rejected. */
  late: number;
  /** Series evicted because they went idle. */
  evictedIdle: number;
  /** Series evicted because maxSeries was reached. */
  evictedLru: number;
}

/** The persisted state (JSON-safe). Buckets are stored sparsely: `[index, sum, count(, min, max)]...` flattened. */
export interface SlidingSnapshot {
  kind: 'sliding-windows';
  version: 1;
  levels: Array<{ bucketMs: number; ring: number }>;
  extrema: boolean;
  series: Array<[key: string, lastSeen: number, levels: Array<[head: number | null, buckets: number[]]>]>;
  stats: { accepted: number; late: number; evictedIdle: number; evictedLru: number };
}

const DEFAULT_WINDOWS = [60_000, 300_000, 1_800_000];
const DEFAULT_NAMES: Record<SlidingAggregate, string> = {
  mean: 'avg_{label}',
  count: 'count_{label}',
  sum: 'sum_{label}',
  min: 'min_{label}',
  max: 'max_{label}',
};
const AGGREGATES: readonly SlidingAggregate[] = ['mean', 'count', 'sum', 'min', 'max'];
const INITIAL_CAPACITY = 16;
const NONE = -1;

/** `60000` -> `1min`, `3600000` -> `1h`, `86400000` -> `1d`, `10000` -> `10s`, otherwise `<n>ms`. */
export function windowLabel(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}min`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** A window: its running sums per slot and, optionally, its min/max deques. */
class Window {
  sum: Float64Array;
  comp: Float64Array;
  count: Float64Array;
  readonly min: ExtremaDeque | undefined;
  readonly max: ExtremaDeque | undefined;

  constructor(
    readonly ms: number,
    readonly label: string,
    /** Buckets in this window. */
    readonly n: number,
    capacity: number,
    extrema: boolean,
  ) {
    this.sum = new Float64Array(capacity);
    this.comp = new Float64Array(capacity);
    this.count = new Float64Array(capacity);
    this.min = extrema ? new ExtremaDeque(n, 1, capacity) : undefined;
    this.max = extrema ? new ExtremaDeque(n, -1, capacity) : undefined;
  }

  grow(capacity: number): void {
    this.sum = grown(this.sum, capacity);
    this.comp = grown(this.comp, capacity);
    this.count = grown(this.count, capacity);
    this.min?.grow(capacity);
    this.max?.grow(capacity);
  }

  clear(slot: number): void {
    this.sum[slot] = 0;
    this.comp[slot] = 0;
    this.count[slot] = 0;
    this.min?.clear(slot);
    this.max?.clear(slot);
  }

  /** Neumaier-compensated `sum += x`. */
  addToSum(slot: number, x: number): void {
    const s = this.sum[slot];
    const t = s + x;
    this.comp[slot] += Math.abs(s) >= Math.abs(x) ? s - t + x : x - t + s;
    this.sum[slot] = t;
  }
}

/** Bucket ring of one resolution, shared by the windows with that bucket width. */
class Level {
  sum: Float64Array;
  count: Uint32Array;
  min: Float64Array | undefined;
  max: Float64Array | undefined;
  /** Absolute bucket index (floor(time / bucketMs)) of each slot's newest bucket; -Infinity: none. */
  head: Float64Array;
  /**
   * Ring position of the newest bucket. Positions are kept relative to it instead of `k % ring`:
   * bucket indices are doubles, and a floating-point modulo on every reading costs more than
   * the rest of the update.
   */
  headPos: Int32Array;

  constructor(
    readonly bucketMs: number,
    /** Buckets in the ring: those of the longest window at this resolution. */
    readonly ring: number,
    readonly windows: Window[],
    capacity: number,
    extrema: boolean,
  ) {
    this.sum = new Float64Array(capacity * ring);
    this.count = new Uint32Array(capacity * ring);
    this.min = extrema ? new Float64Array(capacity * ring) : undefined;
    this.max = extrema ? new Float64Array(capacity * ring) : undefined;
    this.head = new Float64Array(capacity).fill(-Infinity);
    this.headPos = new Int32Array(capacity);
  }

  grow(capacity: number): void {
    this.sum = grown(this.sum, capacity * this.ring);
    this.count = grown(this.count, capacity * this.ring);
    if (this.min) this.min = grown(this.min, capacity * this.ring);
    if (this.max) this.max = grown(this.max, capacity * this.ring);
    const old = this.head.length;
    this.head = grown(this.head, capacity);
    this.head.fill(-Infinity, old);
    this.headPos = grown(this.headPos, capacity);
    for (const w of this.windows) w.grow(capacity);
  }

  /** Array position of absolute bucket `k` of `slot`; k must be within the ring (head - ring, head]. */
  at(slot: number, k: number): number {
    let p = this.headPos[slot] - (this.head[slot] - k);
    if (p < 0) p += this.ring;
    return slot * this.ring + p;
  }

  clear(slot: number): void {
    const base = slot * this.ring;
    this.sum.fill(0, base, base + this.ring);
    this.count.fill(0, base, base + this.ring);
    this.head[slot] = -Infinity;
    this.headPos[slot] = 0;
    for (const w of this.windows) w.clear(slot);
  }

  /**
   * Moves `slot`'s newest bucket to `k` (> head): buckets leaving each window are subtracted,
   * the ring positions of the new buckets are emptied, and windows crossing a rotation boundary
   * are re-summed from their buckets.
   */
  advance(slot: number, k: number): void {
    const h = this.head[slot];
    const base = slot * this.ring;
    if (k - h >= this.ring) {
      // Everything expired (or the series is new): an empty ring.
      if (h !== -Infinity) {
        this.sum.fill(0, base, base + this.ring);
        this.count.fill(0, base, base + this.ring);
        for (const w of this.windows) w.clear(slot);
      }
      this.head[slot] = k;
      this.headPos[slot] = 0;
      return;
    }
    for (const w of this.windows) {
      if (k - h >= w.n) {
        w.clear(slot);
        continue;
      }
      for (let j = Math.max(0, h + 1 - w.n); j <= k - w.n; j++) {
        const i = this.at(slot, j);
        const c = this.count[i];
        if (c !== 0) {
          w.addToSum(slot, -this.sum[i]);
          w.count[slot] -= c;
        }
      }
    }
    let p = this.headPos[slot];
    for (let j = h + 1; j <= k; j++) {
      if (++p === this.ring) p = 0;
      this.sum[base + p] = 0;
      this.count[base + p] = 0;
    }
    this.head[slot] = k;
    this.headPos[slot] = p;
    for (const w of this.windows) {
      if (Math.floor(k / w.n) !== Math.floor(h / w.n)) this.resync(slot, w);
      if (w.min) {
        w.min.expire(slot, k - w.n);
        w.max?.expire(slot, k - w.n);
      }
    }
  }

  /** Recomputes a window's sum and count from its buckets (compensated), dropping accumulated rounding. */
  resync(slot: number, w: Window): void {
    const k = this.head[slot];
    let s = 0;
    let c = 0;
    let count = 0;
    for (let j = Math.max(0, k - w.n + 1); j <= k; j++) {
      const i = this.at(slot, j);
      if (this.count[i] === 0) continue;
      const x = this.sum[i];
      const t = s + x;
      c += Math.abs(s) >= Math.abs(x) ? s - t + x : x - t + s;
      s = t;
      count += this.count[i];
    }
    w.sum[slot] = s;
    w.comp[slot] = c;
    w.count[slot] = count;
  }

  /** Adds reading `v` to bucket `k` of `slot`, which is within the ring. */
  add(slot: number, k: number, v: number): void {
    const i = this.at(slot, k);
    const old = this.sum[i];
    const s = old + v;
    // TwoSum: old + v == s + err exactly, so the bucket grew by v - err.
    const bv = s - old;
    const err = old - (s - bv) + (v - bv);
    this.sum[i] = s;
    const first = this.count[i]++ === 0;
    let lowered = false;
    let raised = false;
    if (this.min !== undefined && this.max !== undefined) {
      if (first || v < this.min[i]) {
        this.min[i] = v;
        lowered = true;
      }
      if (first || v > this.max[i]) {
        this.max[i] = v;
        raised = true;
      }
    }
    const h = this.head[slot];
    for (const w of this.windows) {
      if (k <= h - w.n) continue; // too old for this window
      w.addToSum(slot, v);
      if (err !== 0) w.addToSum(slot, -err);
      w.count[slot]++;
      // A new extreme in the newest bucket extends the deque; in an older bucket (out of order)
      // it may dominate buckets after it, so that window's deque is rebuilt.
      if (lowered) {
        if (k === h) w.min!.pushBack(slot, k, this.min!, this);
        else w.min!.rebuild(slot, h, this.min!, this);
      }
      if (raised) {
        if (k === h) w.max!.pushBack(slot, k, this.max!, this);
        else w.max!.rebuild(slot, h, this.max!, this);
      }
    }
  }
}

/**
 * Per slot, bucket indices of a window whose extremes are strictly improving from front to back
 * (sign 1: min, -1: max); the front is the window's extreme.
 */
class ExtremaDeque {
  idx: Float64Array;
  front: Int32Array;
  len: Int32Array;

  constructor(
    readonly n: number,
    readonly sign: 1 | -1,
    capacity: number,
  ) {
    this.idx = new Float64Array(capacity * n);
    this.front = new Int32Array(capacity);
    this.len = new Int32Array(capacity);
  }

  grow(capacity: number): void {
    this.idx = grown(this.idx, capacity * this.n);
    this.front = grown(this.front, capacity);
    this.len = grown(this.len, capacity);
  }

  clear(slot: number): void {
    this.front[slot] = 0;
    this.len[slot] = 0;
  }

  /** Bucket `k` (the newest) got a new extreme: drop the buckets it dominates, append it. */
  pushBack(slot: number, k: number, values: Float64Array, level: Level): void {
    const base = slot * this.n;
    const e = this.sign * values[level.at(slot, k)];
    let len = this.len[slot];
    const front = this.front[slot];
    while (len > 0) {
      let b = front + len - 1;
      if (b >= this.n) b -= this.n;
      const back = this.idx[base + b];
      if (this.sign * values[level.at(slot, back)] < e) break;
      len--;
    }
    let end = front + len;
    if (end >= this.n) end -= this.n;
    this.idx[base + end] = k;
    this.len[slot] = len + 1;
  }

  /** Drops buckets with index <= `oldest`. */
  expire(slot: number, oldest: number): void {
    const base = slot * this.n;
    let front = this.front[slot];
    let len = this.len[slot];
    while (len > 0 && this.idx[base + front] <= oldest) {
      if (++front === this.n) front = 0;
      len--;
    }
    this.front[slot] = front;
    this.len[slot] = len;
  }

  rebuild(slot: number, head: number, values: Float64Array, level: Level): void {
    this.clear(slot);
    for (let j = Math.max(0, head - this.n + 1); j <= head; j++) {
      if (level.count[level.at(slot, j)] !== 0) this.pushBack(slot, j, values, level);
    }
  }

  peek(slot: number, values: Float64Array, level: Level): number | null {
    if (this.len[slot] === 0) return null;
    return values[level.at(slot, this.idx[slot * this.n + this.front[slot]])];
  }
}

function grown<T extends Float64Array | Uint32Array | Int32Array>(array: T, length: number): T {
  const next = new (array.constructor as new (n: number) => T)(length);
  next.set(array);
  return next;
}

interface OutputField {
  window: Window;
  level: Level;
  aggregate: SlidingAggregate;
  name: string;
}

export class SlidingWindows {
  private readonly levels: Level[];
  /** Windows in the order given (output order). */
  private readonly windows: Window[];
  private readonly fields: OutputField[];
  private readonly decimals: number | undefined;
  private readonly maxSeries: number;
  private readonly idleMs: number;
  private readonly clock: () => number;
  private readonly extrema: boolean;

  private capacity = 0;
  private readonly slots = new Map<string, number>();
  private keys: (string | undefined)[] = [];
  private lastSeen = new Float64Array(0);
  /** Least-recently-updated list over slots (prev/next), newest at `lruHead`. */
  private prev = new Int32Array(0);
  private next = new Int32Array(0);
  private lruHead = NONE;
  private lruTail = NONE;
  private readonly free: number[] = [];
  private counters = { accepted: 0, late: 0, evictedIdle: 0, evictedLru: 0 };

  constructor(options: SlidingWindowOptions = {}) {
    const specs = (options.windows ?? DEFAULT_WINDOWS).map((w) => (typeof w === 'number' ? { ms: w } : w));
    if (specs.length === 0) throw new WindowError('INVALID_OPTIONS', 'at least one window length is required');
    const perWindow = options.bucketsPerWindow ?? 60;
    if (!Number.isInteger(perWindow) || perWindow < 1 || perWindow > 100_000) {
      throw new WindowError('INVALID_OPTIONS', 'bucketsPerWindow must be an integer from 1 to 100000');
    }
    if (options.bucketMs !== undefined && !(options.bucketMs > 0 && Number.isFinite(options.bucketMs))) {
      throw new WindowError('INVALID_OPTIONS', 'bucketMs must be a positive number of milliseconds');
    }
    const aggregates = options.aggregates ?? ['mean'];
    for (const a of aggregates) {
      if (!AGGREGATES.includes(a)) throw new WindowError('INVALID_OPTIONS', `unknown aggregate ${String(a)}`);
    }
    this.extrema = aggregates.includes('min') || aggregates.includes('max');
    this.decimals = options.decimals;
    if (this.decimals !== undefined && !(Number.isInteger(this.decimals) && this.decimals >= 0 && this.decimals <= 15)) {
      throw new WindowError('INVALID_OPTIONS', 'decimals must be an integer from 0 to 15');
    }
    this.maxSeries = options.maxSeries ?? 10_000;
    if (!Number.isInteger(this.maxSeries) || this.maxSeries < 1) {
      throw new WindowError('INVALID_OPTIONS', 'maxSeries must be a positive integer');
    }
    this.clock = options.clock ?? Date.now;

    const byBucket = new Map<number, { windows: Window[]; ring: number }>();
    this.windows = specs.map((spec) => {
      if (!(spec.ms > 0 && Number.isFinite(spec.ms))) {
        throw new WindowError('INVALID_OPTIONS', `window length must be a positive number of ms, got ${String(spec.ms)}`);
      }
      const bucketMs = options.bucketMs ?? spec.ms / perWindow;
      const n = Math.round(spec.ms / bucketMs);
      if (n < 1 || Math.abs(n * bucketMs - spec.ms) > 1e-9 * spec.ms) {
        throw new WindowError('INVALID_OPTIONS', `window ${spec.ms} ms is not a whole number of ${bucketMs} ms buckets`);
      }
      if (n > 1_000_000) throw new WindowError('INVALID_OPTIONS', `window ${spec.ms} ms needs more than 1e6 buckets`);
      const window = new Window(spec.ms, spec.label ?? windowLabel(spec.ms), n, 0, this.extrema);
      const group = byBucket.get(bucketMs) ?? { windows: [], ring: 0 };
      group.windows.push(window);
      group.ring = Math.max(group.ring, n);
      byBucket.set(bucketMs, group);
      return window;
    });
    this.levels = [...byBucket].map(([bucketMs, g]) => new Level(bucketMs, g.ring, g.windows, 0, this.extrema));
    const longest = Math.max(...this.windows.map((w) => w.ms));
    const widest = Math.max(...this.levels.map((l) => l.bucketMs));
    this.idleMs = options.idleMs ?? longest + widest;

    const names = { ...DEFAULT_NAMES, ...options.names };
    this.fields = [];
    const seen = new Set<string>();
    for (const window of this.windows) {
      const level = this.levels.find((l) => l.windows.includes(window))!;
      for (const aggregate of aggregates) {
        const name = names[aggregate].split('{label}').join(window.label);
        if (seen.has(name)) throw new WindowError('INVALID_OPTIONS', `output name ${name} is used twice`);
        seen.add(name);
        this.fields.push({ window, level, aggregate, name });
      }
    }
  }

  /** Output property names, in output order. */
  get outputNames(): string[] {
    return this.fields.map((f) => f.name);
  }

  get stats(): SlidingStats {
    return { series: this.slots.size, ...this.counters };
  }

  /**
   * Adds one reading to `series` at `time` (epoch ms; default the processing clock). Returns false
   * when the reading is older than the longest window (rejected, counted in stats.late). Throws
   * WindowError (INVALID_VALUE, INVALID_TIME, INVALID_SERIES) without touching any window.
   */
  add(series: string, value: unknown, time?: number): boolean {
    // `+ 0` turns -0 into 0, so a snapshot (JSON has no -0) restores identical min/max.
    const v = (typeof value === 'number' && value - value === 0 ? value : toReading(value)) + 0;
    const t = time === undefined ? this.clock() : toWindowTime(time);
    let slot = this.slots.get(series);
    if (slot === undefined) {
      if (typeof series !== 'string') throw new WindowError('INVALID_SERIES', 'series key must be a string');
      slot = this.allocate(series);
    } else if (slot !== this.lruHead) {
      this.touch(slot);
    }
    let accepted = false;
    for (let l = 0; l < this.levels.length; l++) {
      const level = this.levels[l];
      const k = Math.floor(t / level.bucketMs);
      const h = level.head[slot];
      if (k > h) level.advance(slot, k);
      else if (k <= h - level.ring) continue;
      level.add(slot, k, v);
      accepted = true;
    }
    if (!accepted) {
      this.counters.late++;
      return false;
    }
    this.counters.accepted++;
    if (t > this.lastSeen[slot]) this.lastSeen[slot] = t;
    return true;
  }

  /**
   * The aggregates of `series` at `now` (default: the processing clock), expiring what `now`
   * pushes out. `now` earlier than the series' newest time reads the current state (the clock
   * never goes backwards). An unknown series reads as all windows empty.
   */
  read(series: string, now?: number): WindowValues {
    const slot = this.slots.get(series);
    if (slot !== undefined) this.advanceTo(slot, now === undefined ? this.clock() : toWindowTime(now));
    return this.valuesOf(slot);
  }

  /** `add` then `read` at the reading's time, for emission on every value. */
  update(series: string, value: unknown, time?: number): { accepted: boolean; values: WindowValues } {
    const t = time === undefined ? this.clock() : time;
    const accepted = this.add(series, value, t);
    return { accepted, values: this.read(series, t) };
  }

  /**
   * For a shared timer: evicts idle series, then returns the aggregates of every live series at
   * `now` (in order of first appearance).
   */
  tick(now?: number): SeriesValues[] {
    const t = now === undefined ? this.clock() : toWindowTime(now);
    this.evictIdle(t);
    const out: SeriesValues[] = [];
    for (const [series, slot] of this.slots) {
      this.advanceTo(slot, t);
      out.push({ series, values: this.valuesOf(slot) });
    }
    return out;
  }

  /** Evicts the series without readings for idleMs before `now`; returns how many. */
  evictIdle(now?: number): number {
    const t = now === undefined ? this.clock() : toWindowTime(now);
    let evicted = 0;
    // Walk from the least recently updated; with event times out of order the list is only
    // approximately time-ordered, which delays (never advances) an eviction.
    let slot = this.lruTail;
    while (slot !== NONE && t - this.lastSeen[slot] >= this.idleMs) {
      const older = this.prev[slot];
      this.release(slot);
      evicted++;
      slot = older;
    }
    this.counters.evictedIdle += evicted;
    return evicted;
  }

  /** Forgets `series` (its windows read empty afterwards); returns whether it existed. */
  reset(series: string): boolean {
    const slot = this.slots.get(series);
    if (slot === undefined) return false;
    this.release(slot);
    return true;
  }

  /** Forgets every series (counters are kept). */
  clear(): void {
    for (const slot of [...this.slots.values()]) this.release(slot);
  }

  has(series: string): boolean {
    return this.slots.has(series);
  }

  get seriesKeys(): string[] {
    return [...this.slots.keys()];
  }

  toJSON(): SlidingSnapshot {
    const series: SlidingSnapshot['series'] = [];
    // Least recently updated first, so that restoring (which appends) rebuilds the LRU order.
    for (let slot = this.lruTail; slot !== NONE; slot = this.prev[slot]) {
      const key = this.keys[slot]!;
      const levels = this.levels.map((level): [number | null, number[]] => {
        const h = level.head[slot];
        if (h === -Infinity) return [null, []];
        const buckets: number[] = [];
        for (let k = Math.max(0, h - level.ring + 1); k <= h; k++) {
          const i = level.at(slot, k);
          if (level.count[i] === 0) continue;
          buckets.push(k, level.sum[i], level.count[i]);
          if (level.min && level.max) buckets.push(level.min[i], level.max[i]);
        }
        return [h, buckets];
      });
      series.push([key, this.lastSeen[slot], levels]);
    }
    return {
      kind: 'sliding-windows',
      version: 1,
      levels: this.levels.map((l) => ({ bucketMs: l.bucketMs, ring: l.ring })),
      extrema: this.extrema,
      series,
      stats: { ...this.counters },
    };
  }

  /**
   * Rebuilds an engine from `toJSON()` output (e.g. read back from context or a database) with
   * the same window options; with `now`, what expired meanwhile is expired and idle series are
   * evicted. Throws WindowError INVALID_SNAPSHOT for a malformed or incompatible snapshot.
   */
  static fromJSON(snapshot: unknown, options: SlidingWindowOptions = {}, now?: number): SlidingWindows {
    const engine = new SlidingWindows(options);
    engine.restore(snapshot);
    if (now !== undefined) {
      const t = toWindowTime(now);
      engine.evictIdle(t);
      for (const slot of engine.slots.values()) engine.advanceTo(slot, t);
    }
    return engine;
  }

  private restore(input: unknown): void {
    const bad = (why: string): never => {
      throw new WindowError('INVALID_SNAPSHOT', `sliding window snapshot rejected: ${why}`);
    };
    if (typeof input !== 'object' || input === null) bad('not an object');
    const snap = input as Partial<SlidingSnapshot>;
    if (snap.kind !== 'sliding-windows' || snap.version !== 1) bad('unknown kind or version');
    const levels = snap.levels;
    if (
      !Array.isArray(levels) ||
      levels.length !== this.levels.length ||
      levels.some((l, i) => l?.bucketMs !== this.levels[i].bucketMs || l?.ring !== this.levels[i].ring)
    ) {
      bad('made with different window lengths or bucket widths');
    }
    if (snap.extrema !== this.extrema) bad('made with different aggregates (min/max)');
    if (!Array.isArray(snap.series)) bad('series missing');
    const stride = this.extrema ? 5 : 3;
    for (const entry of snap.series!) {
      if (!Array.isArray(entry) || entry.length !== 3) bad('malformed series entry');
      const [key, lastSeen, levelStates] = entry;
      if (typeof key !== 'string' || this.slots.has(key)) bad('series key missing or repeated');
      if (typeof lastSeen !== 'number' || !Number.isFinite(lastSeen)) bad(`bad lastSeen for ${key}`);
      if (!Array.isArray(levelStates) || levelStates.length !== this.levels.length) bad(`bad levels for ${key}`);
      const slot = this.allocate(key);
      this.lastSeen[slot] = lastSeen;
      levelStates.forEach((state, l) => {
        const level = this.levels[l];
        if (!Array.isArray(state) || state.length !== 2) bad(`bad level state for ${key}`);
        const [head, buckets] = state;
        if (head === null) return;
        if (!Number.isInteger(head) || head < 0 || !Array.isArray(buckets) || buckets.length % stride !== 0) {
          bad(`bad buckets for ${key}`);
        }
        level.head[slot] = head;
        for (let b = 0; b < buckets.length; b += stride) {
          const [k, sum, count, min, max] = buckets.slice(b, b + stride);
          const ok =
            Number.isInteger(k) &&
            k >= 0 &&
            k <= head &&
            k > head - level.ring &&
            Number.isFinite(sum) &&
            Number.isInteger(count) &&
            count > 0 &&
            count <= 0xffffffff &&
            (stride === 3 || (Number.isFinite(min) && Number.isFinite(max) && min <= max));
          if (!ok) bad(`bad bucket for ${key}`);
          const i = level.at(slot, k);
          level.sum[i] = sum;
          level.count[i] = count;
          if (level.min && level.max) {
            level.min[i] = min;
            level.max[i] = max;
          }
        }
        for (const w of level.windows) {
          level.resync(slot, w);
          w.min?.rebuild(slot, head, level.min!, level);
          w.max?.rebuild(slot, head, level.max!, level);
        }
      });
    }
    const stats = snap.stats;
    if (stats && typeof stats === 'object') {
      for (const name of ['accepted', 'late', 'evictedIdle', 'evictedLru'] as const) {
        if (Number.isSafeInteger(stats[name]) && stats[name] >= 0) this.counters[name] = stats[name];
      }
    }
  }

  private advanceTo(slot: number, now: number): void {
    for (const level of this.levels) {
      const k = Math.floor(now / level.bucketMs);
      if (k > level.head[slot] && level.head[slot] !== -Infinity) level.advance(slot, k);
    }
  }

  private valuesOf(slot: number | undefined): WindowValues {
    const out: WindowValues = {};
    for (const { window: w, level, aggregate, name } of this.fields) {
      const count = slot === undefined ? 0 : w.count[slot];
      let value: number | null;
      switch (aggregate) {
        case 'count':
          value = count;
          break;
        case 'sum':
          value = count === 0 ? 0 : roundTo(w.sum[slot!] + w.comp[slot!], this.decimals);
          break;
        case 'mean':
          value = count === 0 ? null : roundTo((w.sum[slot!] + w.comp[slot!]) / count, this.decimals);
          break;
        case 'min': {
          const m = count === 0 ? null : w.min!.peek(slot!, level.min!, level);
          value = m === null ? null : roundTo(m, this.decimals);
          break;
        }
        case 'max': {
          const m = count === 0 ? null : w.max!.peek(slot!, level.max!, level);
          value = m === null ? null : roundTo(m, this.decimals);
          break;
        }
      }
      out[name] = value;
    }
    return out;
  }

  private allocate(series: string): number {
    if (this.slots.size >= this.maxSeries) {
      this.release(this.lruTail);
      this.counters.evictedLru++;
    }
    let slot = this.free.pop();
    if (slot === undefined) {
      if (this.keys.length === this.capacity) this.grow(Math.min(this.maxSeries, Math.max(INITIAL_CAPACITY, this.capacity * 2)));
      slot = this.keys.length;
      this.keys.push(undefined);
    }
    this.keys[slot] = series;
    this.slots.set(series, slot);
    this.lastSeen[slot] = -Infinity;
    this.prev[slot] = NONE;
    this.next[slot] = this.lruHead;
    if (this.lruHead !== NONE) this.prev[this.lruHead] = slot;
    this.lruHead = slot;
    if (this.lruTail === NONE) this.lruTail = slot;
    return slot;
  }

  private grow(capacity: number): void {
    this.capacity = capacity;
    this.lastSeen = grown(this.lastSeen, capacity);
    this.prev = grown(this.prev, capacity);
    this.next = grown(this.next, capacity);
    for (const level of this.levels) level.grow(capacity);
  }

  /** Moves `slot` to the most-recently-updated end of the LRU list. */
  private touch(slot: number): void {
    this.unlink(slot);
    this.prev[slot] = NONE;
    this.next[slot] = this.lruHead;
    if (this.lruHead !== NONE) this.prev[this.lruHead] = slot;
    this.lruHead = slot;
    if (this.lruTail === NONE) this.lruTail = slot;
  }

  private unlink(slot: number): void {
    const p = this.prev[slot];
    const n = this.next[slot];
    if (p !== NONE) this.next[p] = n;
    else this.lruHead = n;
    if (n !== NONE) this.prev[n] = p;
    else this.lruTail = p;
  }

  private release(slot: number): void {
    this.unlink(slot);
    this.slots.delete(this.keys[slot]!);
    this.keys[slot] = undefined;
    for (const level of this.levels) level.clear(slot);
    this.free.push(slot);
  }
}
