/**
 * The iotp-window node's settings, read from its flow properties and checked once at deploy:
 * durations with units, property paths compiled into accessors, output names resolved. Every
 * mistake is a WindowError INVALID_OPTIONS naming the property, so the node can report it in one
 * line instead of failing on each message.
 */
import { WindowError } from './errors';
import type { SlidingAggregate, SlidingWindowOptions } from './sliding';
import type { TumblingOptions } from './tumbling';

/** The editor's ranges too (test/package/editor-limits.test.ts compares them). */
export const WINDOW_LIMITS = {
  /** Decimal places of the outputs; empty: unrounded. */
  decimals: { min: 0, max: 15, integer: true },
} as const;

/**
 * Tumbling: how long a closed window takes late readings by default. Long enough for the backlog
 * of a restart or a redeploy to reach the windows it belongs to, short enough that keeping the
 * closed windows costs little (one accumulator per series and window).
 */
export const DEFAULT_LATENESS_MS = 10 * 60_000;
/** Tumbling: the longest lateness accepted. */
export const MAX_LATENESS_MS = 24 * 3_600_000;

export type WindowMode = 'sliding' | 'tumbling';
export type SeriesSource = 'topic' | 'property' | 'single';
export type TimeSource = 'processing' | 'event';
export type TimeFormat = 'epoch-ms' | 'iso' | 'utc-naive';

/** The node's flow properties as the editor stores them (all optional: defaults apply). */
export interface WindowNodeProperties {
  mode?: unknown;
  windows?: unknown;
  resolution?: unknown;
  aggregates?: unknown;
  names?: unknown;
  decimals?: unknown;
  size?: unknown;
  grace?: unknown;
  /** Tumbling: how long a closed window still takes late readings (and is emitted again); '0' never. */
  lateness?: unknown;
  watermark?: unknown;
  timeFormat?: unknown;
  value?: unknown;
  seriesFrom?: unknown;
  seriesProperty?: unknown;
  timeSource?: unknown;
  timeProperty?: unknown;
  emit?: unknown;
  interval?: unknown;
  maxSeries?: unknown;
}

export interface WindowSettings {
  mode: WindowMode;
  /** Options of the sliding engine (mode 'sliding'). */
  sliding: SlidingWindowOptions;
  /** Options of the tumbling engine (mode 'tumbling'). */
  tumbling: TumblingOptions;
  /** Aggregates in the output, in a fixed order. */
  aggregates: SlidingAggregate[];
  /** How tumbling results stamp `start` and `end`. */
  timeFormat: TimeFormat;
  /** Reads the reading from a message. */
  value: PropertyReader;
  valuePath: string;
  seriesFrom: SeriesSource;
  /** Reads the series key (seriesFrom 'property'). */
  series?: PropertyReader;
  timeSource: TimeSource;
  /** Reads the event time (timeSource 'event'). */
  time?: PropertyReader;
  /** Sliding: send the series' values for every reading. */
  emitOnMessage: boolean;
  /** Sliding: send every series' values this often (ms); undefined = never. */
  emitIntervalMs: number | undefined;
  /** Identifies the engine layout: a snapshot taken with another layout is not restored. */
  fingerprint: string;
}

export type PropertyReader = (msg: unknown) => unknown;

const UNITS: Record<string, number> = { ms: 1, s: 1000, sec: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h|d)?\s*$/i;
const AGGREGATE_ORDER: readonly SlidingAggregate[] = ['mean', 'count', 'sum', 'min', 'max'];
/** Short names used by the `{agg}` placeholder of the output name template. */
export const AGGREGATE_NAMES: Readonly<Record<SlidingAggregate, string>> = {
  mean: 'avg',
  count: 'count',
  sum: 'sum',
  min: 'min',
  max: 'max',
};
const PATH = /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*|\[\d+\])*$/;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function invalid(property: string, why: string): WindowError {
  return new WindowError('INVALID_OPTIONS', `${property}: ${why}`);
}

/**
 * `"30s"`, `"1.5 min"`, `"250ms"`, `"2h"`, `"1d"` to milliseconds; a bare number is in
 * `defaultUnit`. Whole milliseconds only (window arithmetic is on integers).
 */
export function parseDuration(text: unknown, defaultUnit: 'ms' | 's' | 'min', property = 'duration', allowZero = false): number {
  const source = typeof text === 'number' ? String(text) : text;
  const m = typeof source === 'string' ? DURATION.exec(source) : null;
  if (m === null)
    throw invalid(property, `expected a duration such as 30s, 5min or 1h, got ${JSON.stringify(String(text ?? '')).slice(0, 40)}`);
  const ms = Number(m[1]) * UNITS[(m[2] ?? defaultUnit).toLowerCase()];
  if (!(Number.isSafeInteger(ms) && (ms > 0 || (allowZero && ms === 0))))
    throw invalid(property, 'must be a positive whole number of milliseconds');
  return ms;
}

/** A comma/space separated list of durations: `"1min, 5min, 30min"`, or `"1, 5, 30"` (minutes). */
export function parseDurationList(text: unknown, defaultUnit: 'ms' | 's' | 'min', property = 'windows'): number[] {
  const items = String(text ?? '')
    .split(/[,;\n]/)
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) throw invalid(property, 'at least one duration is required');
  if (items.length > 16) throw invalid(property, 'at most 16 windows');
  const list = items.map((item) => parseDuration(item, defaultUnit, property));
  if (new Set(list).size !== list.length) throw invalid(property, 'a window length is listed twice');
  return list;
}

/**
 * An accessor for a simple message property path (`payload.number`, `payload.values[0]`): own
 * properties only, so `__proto__` and friends never resolve, and compiled once instead of parsing
 * the path on every message.
 */
export function compilePath(path: unknown, property = 'property'): PropertyReader {
  const text = typeof path === 'string' ? path.trim().replace(/^msg\./, '') : '';
  if (!PATH.test(text))
    throw invalid(property, `expected a message property such as payload.number, got ${JSON.stringify(String(path ?? '')).slice(0, 60)}`);
  const keys = text.match(/[^.[\]]+/g)!.map((k) => (/^\d+$/.test(k) ? Number(k) : k));
  if (keys.some((k) => typeof k === 'string' && FORBIDDEN_KEYS.has(k))) throw invalid(property, `${text} is not a message property`);
  return (msg) => {
    let current: unknown = msg;
    for (let i = 0; i < keys.length; i++) {
      if (current === null || typeof current !== 'object' || !Object.prototype.hasOwnProperty.call(current, keys[i])) return undefined;
      current = (current as Record<string | number, unknown>)[keys[i]];
    }
    return current;
  };
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], fallback: T, property: string): T {
  if (value === undefined || value === null || value === '') return fallback;
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw invalid(property, `expected one of ${allowed.join(', ')}, got ${JSON.stringify(String(value)).slice(0, 40)}`);
}

function parseAggregates(value: unknown): SlidingAggregate[] {
  const list = Array.isArray(value)
    ? value
    : String(value ?? 'mean')
        .split(/[,\s]+/)
        .filter(Boolean);
  if (list.length === 0) return ['mean'];
  for (const a of list) {
    if (!(AGGREGATE_ORDER as readonly unknown[]).includes(a))
      throw invalid('aggregates', `unknown aggregate ${JSON.stringify(String(a)).slice(0, 20)} (mean, count, sum, min, max)`);
  }
  return AGGREGATE_ORDER.filter((a) => list.includes(a));
}

/**
 * Output names from one template: with `{agg}` it names every aggregate (`{agg}_{label}` gives
 * avg_1min, count_1min...); without it, it names the mean and the other aggregates keep their
 * defaults (count_{label}...). `{label}` is the window's label (1min, 30s, 1h).
 */
export function outputNames(template: unknown, aggregates: readonly SlidingAggregate[]): Partial<Record<SlidingAggregate, string>> {
  const text = typeof template === 'string' && template.trim() !== '' ? template.trim() : 'avg_{label}';
  if (!text.includes('{label}')) throw invalid('names', 'the template must contain {label}, or every window would get the same name');
  if (text.length > 64) throw invalid('names', 'at most 64 characters');
  const names: Partial<Record<SlidingAggregate, string>> = {};
  for (const a of aggregates) {
    if (text.includes('{agg}')) names[a] = text.split('{agg}').join(AGGREGATE_NAMES[a]);
    else if (a === 'mean') names[a] = text;
  }
  return names;
}

function optionalInteger(value: unknown, property: string, min: number, max: number): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const n = typeof value === 'number' ? value : /^\s*\d+\s*$/.test(String(value)) ? Number(value) : Number.NaN;
  if (!(Number.isInteger(n) && n >= min && n <= max)) throw invalid(property, `expected an integer from ${min} to ${max}`);
  return n;
}

/** Checks the node's properties and resolves defaults. Throws WindowError INVALID_OPTIONS. */
export function parseWindowSettings(props: WindowNodeProperties): WindowSettings {
  const mode = oneOf(props.mode, ['sliding', 'tumbling'] as const, 'sliding', 'mode');
  const aggregates = parseAggregates(props.aggregates);
  const decimals = optionalInteger(props.decimals, 'decimals', WINDOW_LIMITS.decimals.min, WINDOW_LIMITS.decimals.max);
  const maxSeries = optionalInteger(props.maxSeries, 'maxSeries', 1, 10_000_000);
  const seriesFrom = oneOf(props.seriesFrom, ['topic', 'property', 'single'] as const, 'topic', 'seriesFrom');
  const timeSource = oneOf(props.timeSource, ['processing', 'event'] as const, 'processing', 'timeSource');
  const emit = oneOf(props.emit, ['message', 'interval', 'both'] as const, 'message', 'emit');
  const valuePath = typeof props.value === 'string' && props.value.trim() !== '' ? props.value.trim() : 'payload';

  const windows = parseDurationList(props.windows ?? '1min, 5min, 30min', 'min', 'windows');
  const bucketMs =
    props.resolution === undefined || props.resolution === null || String(props.resolution).trim() === ''
      ? undefined
      : parseDuration(props.resolution, 's', 'resolution');
  const sliding: SlidingWindowOptions = { windows, aggregates, names: outputNames(props.names, aggregates), decimals, bucketMs };
  if (maxSeries !== undefined) sliding.maxSeries = maxSeries;

  const tumbling: TumblingOptions = {
    sizeMs: parseDuration(props.size ?? '1min', 'min', 'size'),
    graceMs: props.grace === undefined || props.grace === '' ? 5000 : parseDuration(props.grace, 's', 'grace', true),
    watermark: oneOf(props.watermark, ['processing', 'event'] as const, 'processing', 'watermark'),
    latenessMs:
      props.lateness === undefined || props.lateness === null || String(props.lateness).trim() === ''
        ? DEFAULT_LATENESS_MS
        : parseDuration(props.lateness, 'min', 'lateness', true),
    decimals,
  };
  if (tumbling.latenessMs! > MAX_LATENESS_MS) throw invalid('lateness', `at most ${MAX_LATENESS_MS / 3_600_000} h`);
  if (maxSeries !== undefined) tumbling.maxOpenWindows = maxSeries;

  const emitIntervalMs = mode === 'sliding' && emit !== 'message' ? parseDuration(props.interval ?? '10s', 's', 'interval') : undefined;
  if (emitIntervalMs !== undefined && emitIntervalMs < 100) throw invalid('interval', 'at least 100 ms');

  const settings: WindowSettings = {
    mode,
    sliding,
    tumbling,
    aggregates,
    timeFormat: oneOf(props.timeFormat, ['epoch-ms', 'iso', 'utc-naive'] as const, 'epoch-ms', 'timeFormat'),
    value: compilePath(valuePath, 'value'),
    valuePath,
    seriesFrom,
    timeSource,
    emitOnMessage: mode === 'sliding' && emit !== 'interval',
    emitIntervalMs,
    fingerprint: '',
  };
  if (seriesFrom === 'property') settings.series = compilePath(props.seriesProperty, 'seriesProperty');
  if (timeSource === 'event') settings.time = compilePath(props.timeProperty, 'timeProperty');
  settings.fingerprint =
    mode === 'sliding'
      ? `sliding:${windows.join(',')}:${bucketMs ?? 'auto'}:${aggregates.includes('min') || aggregates.includes('max') ? 'extrema' : 'sums'}`
      : `tumbling:${tumbling.sizeMs}`;
  return settings;
}
