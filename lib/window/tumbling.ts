/**
 * Tumbling windows aligned to UTC clock boundaries (e.g. one aggregate per sensor per minute).
 *
 * A reading at time t (epoch ms; event time when given, else the processing clock) belongs to
 * the window starting at floor(t / sizeMs) * sizeMs: windows line up with UTC minutes, hours, and
 * days at UTC midnight, whatever the local time zone.
 *
 * Closing: a window [start, end) closes when the watermark reaches end + graceMs. The watermark is
 * - 'processing' (default): the largest `now` passed to `tick()` (one shared timer drives it);
 * - 'event': the largest event time accepted so far (the data drives it; `tick()` only collects).
 *   It is shared by all series: one device whose clock runs ahead makes the others' readings
 *   late, so use 'processing' for devices without synchronised clocks.
 * The watermark never goes backwards. `tick()` returns each closed window once, per series,
 * stamped with its start; a window that received nothing emits nothing. `flush()` closes all.
 *
 * Late data: a reading for a window that is not closed yet counts, even when it arrives after
 * the window's end (that is what the grace period is for). A closed window stays revisable for
 * `latenessMs` more: a reading for it is added (`add` returns 'revised') and the next `tick()`
 * emits the window again with every reading it now holds, once however many late readings came
 * in between, so a consumer that upserts by (series, start) ends up with the complete window.
 * That is what a backlog needs: after a restart, a redeploy or an overloaded spell, readings reach
 * the window minutes after their minute closed, and under processing time each of them would
 * otherwise be refused. A reading for a window past its lateness too is not added: `add` returns
 * 'late' and `stats.late` counts it, so the caller can report it; nothing is dropped silently.
 * At most `maxOpenWindows` (series x window) accumulators are open; beyond that `add` returns
 * 'overflow' (counted) instead of growing without bound. Closed windows kept for revision share
 * that bound and give way first: the oldest is forgotten (a reading for it is then late).
 */
import { WindowError } from './errors';
import { roundTo, toReading, toWindowTime } from './value';

export type TumblingOutcome = 'accepted' | 'revised' | 'late' | 'overflow';

export interface TumblingOptions {
  /** Window length in ms; default 60,000 (one minute). */
  sizeMs?: number;
  /** How long after its end a window still accepts readings; default 5,000 ms. */
  graceMs?: number;
  /** What moves time forward; default 'processing'. */
  watermark?: 'processing' | 'event';
  /** How long after closing a window still takes late readings and is emitted again; default 0 (never). */
  latenessMs?: number;
  /** Bound on open (series, window) accumulators; default 100,000. */
  maxOpenWindows?: number;
  /** Round mean/sum/min/max to this many decimals; default full precision. */
  decimals?: number;
  /** Processing-time clock in epoch ms; default Date.now. */
  clock?: () => number;
}

export interface TumblingResult {
  series: string;
  /** Window start, epoch ms (UTC aligned). */
  start: number;
  /** Window end (exclusive), epoch ms. */
  end: number;
  count: number;
  sum: number;
  mean: number;
  min: number;
  max: number;
  /** On a window emitted again with late readings: how many times it was emitted before (1, 2, ...). */
  revision?: number;
}

export interface TumblingStats {
  open: number;
  /** Closed windows still taking late readings. */
  revisable: number;
  accepted: number;
  /** Readings added to a closed window (counted in `accepted` too). */
  revised: number;
  late: number;
  overflow: number;
  emitted: number;
  /** The watermark in epoch ms, or null before the first one. */
  watermark: number | null;
}

export interface TumblingSnapshot {
  kind: 'tumbling-windows';
  version: 1;
  sizeMs: number;
  watermark: number | null;
  open: Array<[series: string, start: number, sum: number, comp: number, count: number, min: number, max: number]>;
  stats: { accepted: number; revised?: number; late: number; overflow: number; emitted: number };
}

interface Accumulator {
  sum: number;
  comp: number;
  count: number;
  min: number;
  max: number;
}

/** A closed window kept for late readings: its accumulator and how often it was emitted. */
interface ClosedWindow extends Accumulator {
  emissions: number;
  /** A late reading came in since it was last emitted. */
  dirty: boolean;
}

export class TumblingWindows {
  readonly sizeMs: number;
  readonly graceMs: number;
  readonly latenessMs: number;
  private readonly mode: 'processing' | 'event';
  private readonly maxOpen: number;
  private readonly decimals: number | undefined;
  private readonly clock: () => number;
  /** Open windows by start, then by series (insertion order = first reading). */
  private readonly open = new Map<number, Map<string, Accumulator>>();
  private openCount = 0;
  /** Closed windows within their lateness, by start (ascending: windows close oldest first), then series. */
  private readonly closed = new Map<number, Map<string, ClosedWindow>>();
  private closedCount = 0;
  /** Closed windows with late readings not emitted yet. */
  private dirty: Array<[start: number, series: string, window: ClosedWindow]> = [];
  /** Processing time of the oldest revision not emitted yet. */
  private dirtySince: number | undefined;
  private watermark = -Infinity;
  /**
   * Windows starting before this may have been emitted by an earlier run of the node (before a
   * restart, or before the snapshot it was restored from) or were forgotten to make room: a late
   * reading for one of them is refused, never emitted as a window that holds only the late readings.
   */
  private revisableFrom = -Infinity;
  private counters = { accepted: 0, revised: 0, late: 0, overflow: 0, emitted: 0 };

  constructor(options: TumblingOptions = {}) {
    this.sizeMs = options.sizeMs ?? 60_000;
    this.graceMs = options.graceMs ?? 5_000;
    this.latenessMs = options.latenessMs ?? 0;
    this.mode = options.watermark ?? 'processing';
    this.maxOpen = options.maxOpenWindows ?? 100_000;
    this.decimals = options.decimals;
    this.clock = options.clock ?? Date.now;
    if (!(Number.isInteger(this.sizeMs) && this.sizeMs > 0)) throw new WindowError('INVALID_OPTIONS', 'sizeMs must be a positive integer');
    if (!(this.graceMs >= 0 && Number.isFinite(this.graceMs))) throw new WindowError('INVALID_OPTIONS', 'graceMs must be >= 0');
    if (!(this.latenessMs >= 0 && Number.isFinite(this.latenessMs))) throw new WindowError('INVALID_OPTIONS', 'latenessMs must be >= 0');
    if (this.mode !== 'processing' && this.mode !== 'event')
      throw new WindowError('INVALID_OPTIONS', "watermark must be 'processing' or 'event'");
    if (!(Number.isInteger(this.maxOpen) && this.maxOpen > 0))
      throw new WindowError('INVALID_OPTIONS', 'maxOpenWindows must be a positive integer');
    if (this.decimals !== undefined && !(Number.isInteger(this.decimals) && this.decimals >= 0 && this.decimals <= 15)) {
      throw new WindowError('INVALID_OPTIONS', 'decimals must be an integer from 0 to 15');
    }
  }

  get stats(): TumblingStats {
    return {
      open: this.openCount,
      revisable: this.closedCount,
      ...this.counters,
      watermark: this.watermark === -Infinity ? null : this.watermark,
    };
  }

  /** Start (epoch ms) of the window holding time `t`. */
  windowStart(t: number): number {
    return Math.floor(t / this.sizeMs) * this.sizeMs;
  }

  /**
   * Adds a reading to `series` at `time` (default the processing clock). Throws WindowError for a
   * bad value, time or series key, leaving every window untouched.
   */
  add(series: string, value: unknown, time?: number): TumblingOutcome {
    const v = toReading(value) + 0; // -0 -> 0: JSON snapshots have no -0
    const t = time === undefined ? this.clock() : toWindowTime(time);
    if (typeof series !== 'string') throw new WindowError('INVALID_SERIES', 'series key must be a string');
    const start = this.windowStart(t);
    if (start + this.sizeMs + this.graceMs <= this.watermark) return this.addLate(series, v, start);
    let bySeries = this.open.get(start);
    let acc = bySeries?.get(series);
    if (acc === undefined) {
      if (this.openCount >= this.maxOpen) {
        this.counters.overflow++;
        return 'overflow';
      }
      if (this.openCount + this.closedCount >= this.maxOpen) this.forgetOldestClosed();
      if (bySeries === undefined) {
        bySeries = new Map();
        this.open.set(start, bySeries);
      }
      acc = { sum: 0, comp: 0, count: 0, min: v, max: v };
      bySeries.set(series, acc);
      this.openCount++;
    }
    addTo(acc, v);
    this.counters.accepted++;
    if (this.mode === 'event' && t > this.watermark) this.advanceTo(t);
    return 'accepted';
  }

  /** A reading for a closed window: added while the window is within its lateness, else 'late'. */
  private addLate(series: string, v: number, start: number): TumblingOutcome {
    if (start < this.revisableFrom || start + this.sizeMs + this.graceMs + this.latenessMs <= this.watermark) {
      this.counters.late++;
      return 'late';
    }
    let window = this.closed.get(start)?.get(series);
    if (window === undefined) {
      // The series had no reading in this window when it closed: it is emitted for the first time.
      if (this.openCount >= this.maxOpen) {
        this.counters.late++;
        return 'late';
      }
      if (this.openCount + this.closedCount >= this.maxOpen) this.forgetOldestClosed();
      if (start < this.revisableFrom) {
        this.counters.late++;
        return 'late';
      }
      window = { sum: 0, comp: 0, count: 0, min: v, max: v, emissions: 0, dirty: false };
      let bySeries = this.closed.get(start);
      if (bySeries === undefined) {
        bySeries = new Map();
        // Kept in ascending order of start: a window closing late is rare, so re-sorting is too.
        const later = [...this.closed.keys()].some((s) => s > start);
        this.closed.set(start, bySeries);
        if (later) this.sortClosed();
      }
      bySeries.set(series, window);
      this.closedCount++;
    }
    addTo(window, v);
    this.counters.accepted++;
    this.counters.revised++;
    if (!window.dirty) {
      window.dirty = true;
      this.dirty.push([start, series, window]);
      this.dirtySince ??= this.clock();
    }
    return 'revised';
  }

  /**
   * Returns the windows closed by the watermark (oldest first, then series in order of first
   * reading), each once. In processing mode `now` (default the clock) advances the watermark;
   * in event mode the watermark is the newest event time and `now` is ignored. Windows past their
   * lateness are forgotten here.
   */
  tick(now?: number): TumblingResult[] {
    if (this.mode === 'processing') {
      const t = now === undefined ? this.clock() : toWindowTime(now);
      if (t > this.watermark) this.advanceTo(t);
    }
    const results = this.close((start) => start + this.sizeMs + this.graceMs <= this.watermark);
    this.forgetExpired();
    return results;
  }

  /** Processing time of the oldest late reading not emitted yet in a revision, or undefined. */
  get revisionsPendingSince(): number | undefined {
    return this.dirtySince;
  }

  /**
   * The closed windows that took late readings since they were last emitted, each once with all
   * its readings (`revision` 1 for the first re-emission), oldest late reading first.
   */
  revisions(): TumblingResult[] {
    const results: TumblingResult[] = [];
    for (const [start, series, window] of this.dirty) {
      window.dirty = false;
      // Forgotten since (expired or evicted): its revision goes with it.
      if (this.closed.get(start)?.get(series) !== window) continue;
      results.push(this.result(series, start, window, window.emissions));
      window.emissions++;
    }
    this.dirty = [];
    this.dirtySince = undefined;
    this.counters.emitted += results.length;
    return results;
  }

  /** Closes and returns every open window (e.g. when the node shuts down without persisting). */
  flush(): TumblingResult[] {
    return this.close(() => true);
  }

  /** Drops the open windows of `series` without emitting them; returns whether any existed. */
  reset(series: string): boolean {
    let found = false;
    for (const [start, bySeries] of this.open) {
      if (bySeries.delete(series)) {
        found = true;
        this.openCount--;
        if (bySeries.size === 0) this.open.delete(start);
      }
    }
    for (const [start, bySeries] of this.closed) {
      if (bySeries.delete(series)) {
        this.closedCount--;
        if (bySeries.size === 0) this.closed.delete(start);
      }
    }
    return found;
  }

  /** Drops every window, open or closed, without emitting it (counters and watermark are kept). */
  clear(): void {
    this.open.clear();
    this.openCount = 0;
    this.closed.clear();
    this.closedCount = 0;
    this.dirty = [];
    this.dirtySince = undefined;
  }

  /** Start of the oldest open window, or undefined when none is open. */
  get oldestOpenStart(): number | undefined {
    let oldest: number | undefined;
    for (const start of this.open.keys()) if (oldest === undefined || start < oldest) oldest = start;
    return oldest;
  }

  toJSON(): TumblingSnapshot {
    const open: TumblingSnapshot['open'] = [];
    for (const [start, bySeries] of this.open) {
      for (const [series, a] of bySeries) open.push([series, start, a.sum, a.comp, a.count, a.min, a.max]);
    }
    return {
      kind: 'tumbling-windows',
      version: 1,
      sizeMs: this.sizeMs,
      watermark: this.watermark === -Infinity ? null : this.watermark,
      open,
      stats: { ...this.counters },
    };
  }

  /**
   * Rebuilds the engine from `toJSON()` output. In processing mode, `now` advances the
   * watermark so the next `tick()` emits the windows that closed while the node was down.
   */
  static fromJSON(snapshot: unknown, options: TumblingOptions = {}, now?: number): TumblingWindows {
    const engine = new TumblingWindows(options);
    const bad = (why: string): never => {
      throw new WindowError('INVALID_SNAPSHOT', `tumbling window snapshot rejected: ${why}`);
    };
    if (typeof snapshot !== 'object' || snapshot === null) bad('not an object');
    const snap = snapshot as Partial<TumblingSnapshot>;
    if (snap.kind !== 'tumbling-windows' || snap.version !== 1) bad('unknown kind or version');
    if (snap.sizeMs !== engine.sizeMs) bad('made with a different window size');
    if (snap.watermark !== null && !(typeof snap.watermark === 'number' && Number.isFinite(snap.watermark))) bad('bad watermark');
    if (!Array.isArray(snap.open)) bad('open windows missing');
    if (snap.watermark !== null) engine.advanceTo(snap.watermark!);
    for (const entry of snap.open!) {
      if (!Array.isArray(entry) || entry.length !== 7) bad('malformed window');
      const [series, start, sum, comp, count, min, max] = entry;
      const ok =
        typeof series === 'string' &&
        Number.isInteger(start) &&
        start % engine.sizeMs === 0 &&
        [sum, comp, min, max].every(Number.isFinite) &&
        Number.isInteger(count) &&
        count > 0 &&
        min <= max;
      if (!ok) bad('malformed window');
      let bySeries = engine.open.get(start);
      if (bySeries === undefined) engine.open.set(start, (bySeries = new Map()));
      if (bySeries.has(series)) bad('repeated window');
      bySeries.set(series, { sum, comp, count, min, max });
      engine.openCount++;
    }
    // Map order must be by start for tick() to emit oldest first.
    const sorted = [...engine.open].sort((a, b) => a[0] - b[0]);
    engine.open.clear();
    for (const [start, bySeries] of sorted) engine.open.set(start, bySeries);
    const stats = snap.stats;
    if (stats && typeof stats === 'object') {
      for (const name of ['accepted', 'revised', 'late', 'overflow', 'emitted'] as const) {
        const value = stats[name];
        if (value !== undefined && Number.isSafeInteger(value) && value >= 0) engine.counters[name] = value;
      }
    }
    if (now !== undefined && engine.mode === 'processing') {
      const t = toWindowTime(now);
      if (t > engine.watermark) engine.advanceTo(t);
    }
    return engine;
  }

  private close(isClosed: (start: number) => boolean): TumblingResult[] {
    const results: TumblingResult[] = [];
    if (this.openCount === 0) return results;
    // Starts are few (one per window still within grace); sorting them keeps output oldest first
    // even when an out-of-order reading opened an older window after a newer one.
    const starts = [...this.open.keys()].filter(isClosed).sort((a, b) => a - b);
    for (const start of starts) {
      const bySeries = this.open.get(start)!;
      this.open.delete(start);
      this.openCount -= bySeries.size;
      for (const [series, a] of bySeries) results.push(this.result(series, start, a, 0));
      if (this.latenessMs > 0) this.keepForLateReadings(start, bySeries);
    }
    this.counters.emitted += results.length;
    return results;
  }

  private result(series: string, start: number, a: Accumulator, revision: number): TumblingResult {
    const sum = a.sum + a.comp;
    return {
      series,
      start,
      end: start + this.sizeMs,
      count: a.count,
      sum: roundTo(sum, this.decimals),
      mean: roundTo(sum / a.count, this.decimals),
      min: roundTo(a.min, this.decimals),
      max: roundTo(a.max, this.decimals),
      ...(revision > 0 ? { revision } : {}),
    };
  }

  private keepForLateReadings(start: number, bySeries: Map<string, Accumulator>): void {
    const kept = new Map<string, ClosedWindow>();
    for (const [series, a] of bySeries) kept.set(series, { ...a, emissions: 1, dirty: false });
    const later = this.closed.size > 0 && [...this.closed.keys()].some((s) => s > start);
    this.closed.set(start, kept);
    if (later) this.sortClosed();
    this.closedCount += kept.size;
    while (this.closedCount > 0 && this.openCount + this.closedCount > this.maxOpen) this.forgetOldestClosed();
  }

  private advanceTo(t: number): void {
    // The first watermark: the windows it closes at once closed before this engine existed.
    if (this.watermark === -Infinity) this.revisableFrom = this.windowStart(t - this.sizeMs - this.graceMs) + this.sizeMs;
    this.watermark = t;
  }

  /** Forgets the closed windows whose lateness the watermark has passed (oldest first). */
  private forgetExpired(): void {
    for (const [start, bySeries] of this.closed) {
      if (start + this.sizeMs + this.graceMs + this.latenessMs > this.watermark) break;
      this.closed.delete(start);
      this.closedCount -= bySeries.size;
    }
  }

  /** Makes room for an open window: the oldest closed window, all its series, can no longer be revised. */
  private forgetOldestClosed(): void {
    for (const [start, bySeries] of this.closed) {
      this.closed.delete(start);
      this.closedCount -= bySeries.size;
      if (start + this.sizeMs > this.revisableFrom) this.revisableFrom = start + this.sizeMs;
      return;
    }
  }

  private sortClosed(): void {
    const sorted = [...this.closed].sort((a, b) => a[0] - b[0]);
    this.closed.clear();
    for (const [start, bySeries] of sorted) this.closed.set(start, bySeries);
  }
}

/** Adds `v` to an accumulator (Neumaier-compensated sum). */
function addTo(acc: Accumulator, v: number): void {
  const s = acc.sum;
  const sum = s + v;
  acc.comp += Math.abs(s) >= Math.abs(v) ? s - sum + v : v - sum + s;
  acc.sum = sum;
  acc.count++;
  if (v < acc.min) acc.min = v;
  if (v > acc.max) acc.max = v;
}
