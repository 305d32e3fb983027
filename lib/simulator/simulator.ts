/**
 * The data simulator shared by the pipelines' demo flows: series of readings at fixed or random
 * intervals, with uniform or random-walk values, rendered through a message template.
 *
 * Scheduling: no timer per series. The caller runs ONE timer and calls `due(now)`, which returns
 * every reading whose time has come, oldest first; `nextDueAt()` says when to call again. Each
 * reading carries its scheduled time (not the time `due` ran), so a late timer does not skew
 * timestamps. A series that fell more than `maxCatchUp` readings behind (e.g. the process was
 * suspended) is re-anchored at `now` instead of bursting; `stats.reanchored` counts that.
 *
 * Randomness: each series has its own seeded stream (seed + series id), so a seeded simulator
 * produces the same readings however `due` calls are spaced and however many series run.
 */
import { SimulatorError } from './errors';
import { createRandom, randomSeed, type Random } from './random';
import { compileTemplate, type CompiledTemplate } from './template';
import { formatUtcNaive } from '../window/time';

export type ValueSpec =
  /** Uniform integers in [min, max]. */
  | { kind: 'int'; min: number; max: number }
  /** Uniform floats in [min, max), optionally rounded. */
  | { kind: 'float'; min: number; max: number; decimals?: number }
  /** Bounded random walk: each step uniform in [-step, step], reflected at min/max. */
  | { kind: 'walk'; min: number; max: number; step: number; start?: number; integer?: boolean; decimals?: number };

export type IntervalSpec = { fixedMs: number } | { minMs: number; maxMs: number };

export interface SeriesSpec {
  id: string;
  /** Overrides the simulator's value spec for this series. */
  values?: ValueSpec;
  /** Overrides the simulator's interval for this series. */
  interval?: IntervalSpec;
  /** Where the node publishes this series; default the simulator's topic, else the id. */
  topic?: string;
  /** Per-series constants for the template (`{{fields.unit}}`). */
  fields?: Record<string, unknown>;
}

export interface SimulatorConfig {
  /** A count (ids "1".."n") or explicit series. */
  series: number | SeriesSpec[];
  values: ValueSpec;
  interval: IntervalSpec;
  /** Message template (see template.ts); default `{"series", "value", "timestamp": isoTime}`. */
  template?: unknown;
  topic?: string;
  /** Seed for reproducible data; default random. */
  seed?: number | string;
  /** First reading at start (default) or one interval after it. */
  startImmediately?: boolean;
  /** Readings per series a single `due` call may catch up before re-anchoring; default 100. */
  maxCatchUp?: number;
}

export interface Reading {
  series: string;
  topic: string;
  /** 1, 2, 3... per series. */
  seq: number;
  /** Scheduled time, epoch ms. */
  time: number;
  value: number;
  /** The rendered template. */
  message: unknown;
}

export interface SimulatorStats {
  series: number;
  produced: number;
  reanchored: number;
}

export const DEFAULT_TEMPLATE = { series: '{{series}}', value: '{{value}}', timestamp: '{{isoTime}}' };
const MAX_SERIES = 100_000;

interface SeriesState {
  id: string;
  topic: string;
  fields: Readonly<Record<string, unknown>>;
  random: Random;
  nextValue: () => number;
  nextInterval: () => number;
  seq: number;
  due: number;
}

export class Simulator {
  readonly seed: number | string;
  private readonly series: SeriesState[];
  private readonly template: CompiledTemplate;
  private readonly startImmediately: boolean;
  private readonly maxCatchUp: number;
  /** Binary min-heap of series indices by (due, index). */
  private readonly heap: number[] = [];
  private started = false;
  private counters = { produced: 0, reanchored: 0 };

  constructor(config: SimulatorConfig) {
    if (config === null || typeof config !== 'object') throw invalid('config must be an object');
    this.seed = config.seed ?? randomSeed();
    if (typeof this.seed === 'number' ? !Number.isFinite(this.seed) : typeof this.seed !== 'string')
      throw invalid('seed must be a number or text');
    this.template = compileTemplate(config.template ?? DEFAULT_TEMPLATE);
    this.startImmediately = config.startImmediately ?? true;
    this.maxCatchUp = config.maxCatchUp ?? 100;
    if (!(Number.isInteger(this.maxCatchUp) && this.maxCatchUp >= 1)) throw invalid('maxCatchUp must be a positive integer');
    if (config.topic !== undefined && typeof config.topic !== 'string') throw invalid('topic must be text');

    let specs: SeriesSpec[];
    if (typeof config.series === 'number') {
      if (!(Number.isInteger(config.series) && config.series >= 1 && config.series <= MAX_SERIES)) {
        throw invalid(`series count must be an integer from 1 to ${MAX_SERIES}`);
      }
      specs = Array.from({ length: config.series }, (_, i) => ({ id: String(i + 1) }));
    } else if (Array.isArray(config.series) && config.series.length >= 1 && config.series.length <= MAX_SERIES) {
      specs = config.series;
    } else {
      throw invalid('series must be a count or a non-empty list');
    }
    const ids = new Set<string>();
    this.series = specs.map((spec) => {
      if (spec === null || typeof spec !== 'object' || typeof spec.id !== 'string' || spec.id === '')
        throw invalid('every series needs a non-empty text id');
      if (ids.has(spec.id)) throw invalid(`series id ${JSON.stringify(spec.id)} is used twice`);
      ids.add(spec.id);
      const random = createRandom(`${String(this.seed)}\u0000${spec.id}`);
      const topic = spec.topic ?? config.topic ?? spec.id;
      if (typeof topic !== 'string') throw invalid(`topic of series ${spec.id} must be text`);
      if (spec.fields !== undefined && (spec.fields === null || typeof spec.fields !== 'object' || Array.isArray(spec.fields))) {
        throw invalid(`fields of series ${spec.id} must be an object`);
      }
      return {
        id: spec.id,
        topic,
        fields: spec.fields ?? {},
        random,
        nextValue: valueGenerator(spec.values ?? config.values, random, spec.id),
        nextInterval: intervalGenerator(spec.interval ?? config.interval, random, spec.id),
        seq: 0,
        due: 0,
      };
    });
  }

  get stats(): SimulatorStats {
    return { series: this.series.length, ...this.counters };
  }

  /** Starts the schedule at `now` (epoch ms); `due` does this on its first call. */
  start(now: number): void {
    if (!Number.isFinite(now)) throw invalid('start time must be finite epoch milliseconds');
    this.heap.length = 0;
    this.series.forEach((s, i) => {
      s.due = this.startImmediately ? now : now + s.nextInterval();
      this.push(i);
    });
    this.started = true;
  }

  /** Every reading due at or before `now`, oldest first (ties in series order). */
  due(now: number): Reading[] {
    if (!this.started) this.start(now);
    const out: Reading[] = [];
    const caughtUp = new Map<number, number>();
    while (this.heap.length > 0 && this.series[this.heap[0]].due <= now) {
      const i = this.pop();
      const s = this.series[i];
      const n = (caughtUp.get(i) ?? 0) + 1;
      caughtUp.set(i, n);
      out.push(this.produce(s));
      s.due += s.nextInterval();
      if (n >= this.maxCatchUp && s.due <= now) {
        s.due = now + s.nextInterval();
        this.counters.reanchored++;
      }
      this.push(i);
    }
    return out;
  }

  /** When the next reading is due (epoch ms), or undefined before `start`. */
  nextDueAt(): number | undefined {
    return this.heap.length === 0 ? undefined : this.series[this.heap[0]].due;
  }

  private produce(s: SeriesState): Reading {
    const value = s.nextValue();
    const time = s.due;
    const seq = ++s.seq;
    this.counters.produced++;
    const message = this.template({
      value,
      series: s.id,
      topic: s.topic,
      seq,
      epochMs: time,
      epochSeconds: Math.floor(time / 1000),
      isoTime: new Date(Math.floor(time)).toISOString(),
      utcTimestamp: formatUtcNaive(time),
      fields: s.fields,
    });
    return { series: s.id, topic: s.topic, seq, time, value, message };
  }

  private before(a: number, b: number): boolean {
    const da = this.series[a].due;
    const db = this.series[b].due;
    return da < db || (da === db && a < b);
  }

  private push(i: number): void {
    const heap = this.heap;
    let pos = heap.push(i) - 1;
    while (pos > 0) {
      const parent = (pos - 1) >> 1;
      if (!this.before(heap[pos], heap[parent])) break;
      [heap[pos], heap[parent]] = [heap[parent], heap[pos]];
      pos = parent;
    }
  }

  private pop(): number {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let pos = 0;
      for (;;) {
        const l = 2 * pos + 1;
        const r = l + 1;
        let best = pos;
        if (l < heap.length && this.before(heap[l], heap[best])) best = l;
        if (r < heap.length && this.before(heap[r], heap[best])) best = r;
        if (best === pos) break;
        [heap[pos], heap[best]] = [heap[best], heap[pos]];
        pos = best;
      }
    }
    return top;
  }
}

function invalid(message: string): SimulatorError {
  return new SimulatorError('INVALID_CONFIG', message);
}

function finite(...xs: unknown[]): boolean {
  return xs.every((x) => typeof x === 'number' && Number.isFinite(x));
}

function round(x: number, decimals: number | undefined): number {
  return decimals === undefined ? x : Number(x.toFixed(decimals));
}

function valueGenerator(spec: ValueSpec, random: Random, id: string): () => number {
  const where = `values of series ${id}`;
  if (spec === null || typeof spec !== 'object') throw invalid(`${where} missing`);
  if (!finite(spec.min, spec.max) || spec.min > spec.max) throw invalid(`${where}: need finite min <= max`);
  const decimals = 'decimals' in spec ? spec.decimals : undefined;
  if (decimals !== undefined && !(Number.isInteger(decimals) && decimals >= 0 && decimals <= 15))
    throw invalid(`${where}: decimals must be 0..15`);
  switch (spec.kind) {
    case 'int':
      if (!Number.isSafeInteger(spec.min) || !Number.isSafeInteger(spec.max)) throw invalid(`${where}: int bounds must be integers`);
      return () => random.int(spec.min, spec.max);
    case 'float':
      return () => round(random.float(spec.min, spec.max), decimals);
    case 'walk': {
      if (!finite(spec.step) || spec.step <= 0) throw invalid(`${where}: step must be a positive number`);
      if (spec.start !== undefined && (!finite(spec.start) || spec.start < spec.min || spec.start > spec.max))
        throw invalid(`${where}: start must lie within min..max`);
      const integer = spec.integer === true;
      if (integer && (!Number.isSafeInteger(spec.min) || !Number.isSafeInteger(spec.max) || !Number.isSafeInteger(spec.step))) {
        throw invalid(`${where}: an integer walk needs integer min, max and step`);
      }
      let current: number | undefined;
      return () => {
        if (current === undefined) {
          current = spec.start ?? (integer ? random.int(spec.min, spec.max) : random.float(spec.min, spec.max));
        } else {
          const step = integer ? random.int(-spec.step, spec.step) : random.float(-spec.step, spec.step);
          let x = current + step;
          // Reflect at the bounds (keeps the walk's steps symmetric), then clamp for steps wider than the range.
          if (x > spec.max) x = 2 * spec.max - x;
          if (x < spec.min) x = 2 * spec.min - x;
          current = Math.min(spec.max, Math.max(spec.min, x));
        }
        return integer ? current : round(current, decimals);
      };
    }
    default:
      throw invalid(`${where}: kind must be int, float or walk`);
  }
}

function intervalGenerator(spec: IntervalSpec, random: Random, id: string): () => number {
  const where = `interval of series ${id}`;
  if (spec === null || typeof spec !== 'object') throw invalid(`${where} missing`);
  if ('fixedMs' in spec) {
    if (!finite(spec.fixedMs) || spec.fixedMs < 1) throw invalid(`${where}: fixedMs must be at least 1`);
    return () => spec.fixedMs;
  }
  if (
    !finite(spec.minMs, spec.maxMs) ||
    !Number.isInteger(spec.minMs) ||
    !Number.isInteger(spec.maxMs) ||
    spec.minMs < 1 ||
    spec.minMs > spec.maxMs
  ) {
    throw invalid(`${where}: need integer 1 <= minMs <= maxMs`);
  }
  return () => random.int(spec.minMs, spec.maxMs);
}
