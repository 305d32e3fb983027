/**
 * The data-quality engine of the sensors pipeline: six dimensions computed incrementally from
 * the stream, O(1) per message, never by re-reading tables.
 *
 * The original service loaded the whole table on every /quality call, counted uniqueness on the
 * auto-increment `id` (always 100 %) and returned a constant for accuracy. Here:
 *
 * - completeness: all eight fields present (sensor_id, timestamp, value, lat, lng, unit, type,
 *   description); a payload that is not a JSON object fails it;
 * - validity: every present field has the right type and form, and the timestamp is sane (not
 *   more than `futureToleranceMs` ahead of arrival, not more than `maxAgeMs` behind it);
 * - accuracy: the value lies in the sensor's declared `range` (known sensors only);
 * - consistency: `unit` and `type` equal the sensor's declared ones (known sensors, when present);
 * - timeliness: arrival minus reading time within `maxDelayMs`, with mean/p95/max of the delay
 *   from a bounded log-scale histogram; plus staleness per sensor at report time;
 * - uniqueness: the (sensor_id, timestamp) pair was not seen within the dedup horizon.
 *
 * Every metric is a percentage with its counts. Counters live in tumbling windows (default one
 * minute, the last 60 kept, selected lazily by window number so nothing is swept on a timer) and
 * in totals since start, per sensor and for the whole dataset. Memory is bounded by
 * (known sensors + `maxUnknownSensors`) x (windows x ~230 bytes + dedup entries x 24 bytes).
 */
import { IotpError } from '../errors';
import { READING_FIELD_COUNT, checkReading, type ReadingCheck, type ReadingOptions } from './reading';
import type { SensorDefinition, SensorsDefinition } from './sensors-file';
import { formatIsoMs, formatIsoTimestamp } from './time';
import { RecentSet } from './recent-set';

export interface QualityOptions {
  /** Dataset (table) the stream feeds; names the report. Default `sensor_data`. */
  dataset?: string;
  /** Sensors judged for accuracy/consistency; readings from others count as unknown. */
  sensors?: SensorsDefinition;
  /** Tumbling window length. Default 60 000 (one minute). */
  windowMs?: number;
  /** Windows kept, the current one included. Default 60 (the last hour). */
  windowCount?: number;
  /** A reading stamped further ahead of its arrival than this is invalid. Default 10 000. */
  futureToleranceMs?: number;
  /** A reading stamped further behind its arrival than this is invalid. Default 7 days. */
  maxAgeMs?: number;
  /** Arrival delay above which a reading is late. Default 5 000. */
  maxDelayMs?: number;
  /** Expected interval between a sensor's readings (the publisher's INTERVAL_MS). Default 1 000. */
  expectedIntervalMs?: number;
  /** A sensor is stale after this many expected intervals without a reading. Default 3. */
  staleAfterIntervals?: number;
  /** Duplicates are recognised when they arrive within this time of the original. Default 120 000. */
  dedupHorizonMs?: number;
  /** Cap of remembered timestamps per sensor (rounded up to a power of two). Default 1 024. */
  dedupMaxEntries?: number;
  /** Sensors outside the definition tracked individually; further ones are only counted. Default 1 000. */
  maxUnknownSensors?: number;
  /** Passed to `checkReading` for raw payloads. */
  reading?: ReadingOptions;
}

/** `{"pct": 98.5, "passed": 197, "total": 200}`; pct is null when nothing was measured. */
export interface MetricJSON {
  pct: number | null;
  passed: number;
  total: number;
}

export interface TimelinessJSON extends MetricJSON {
  delay_ms: { mean: number | null; p95: number | null; max: number | null };
}

export interface MetricsJSON {
  messages: number;
  unknown_sensor_messages: number;
  completeness: MetricJSON;
  validity: MetricJSON;
  accuracy: MetricJSON;
  consistency: MetricJSON;
  timeliness: TimelinessJSON;
  uniqueness: MetricJSON;
}

export interface StalenessJSON {
  last_seen: string | null;
  last_reading_timestamp: string | null;
  age_s: number | null;
  expected_interval_s: number;
  stale: boolean;
}

export interface SensorQualityJSON {
  sensor_id: number;
  known: boolean;
  description: string | null;
  staleness: StalenessJSON;
  current_window: MetricsJSON;
  recent: MetricsJSON;
  since_start: MetricsJSON;
}

export interface QualityReport {
  dataset: string;
  generated_at: string;
  periods: {
    current_window: { start: string; end: string };
    recent: { start: string; end: string; windows: number; window_ms: number };
    since_start: { start: string | null };
  };
  settings: {
    max_delay_ms: number;
    future_tolerance_ms: number;
    max_age_ms: number;
    dedup_horizon_ms: number;
    dedup_max_entries_per_sensor: number;
  };
  metrics: { current_window: MetricsJSON; recent: MetricsJSON; since_start: MetricsJSON };
  freshness: MetricJSON & { stale_sensors: number[] };
  unknown_sensors: { count: number; messages: number; ids: number[]; untracked_messages: number };
  unattributed_messages: number;
  /** Dataset metrics per retained window, oldest first (windows without messages omitted). */
  windows: Array<{ start: string; messages: number } & Record<MetricName, number | null>>;
  sensors: SensorQualityJSON[];
}

export type MetricName = 'completeness' | 'validity' | 'accuracy' | 'consistency' | 'timeliness' | 'uniqueness';
const METRICS: readonly MetricName[] = ['completeness', 'validity', 'accuracy', 'consistency', 'timeliness', 'uniqueness'];

export class QualityStateError extends IotpError<'BAD_QUALITY_STATE'> {
  constructor(message: string) {
    super('BAD_QUALITY_STATE', `quality state: ${message}`);
  }
}

// ---- counter layout --------------------------------------------------------------------------
// One window slot = Uint32 counters [messages, unknown, (passed, total) x 6, histogram x H] plus
// Float64 [delay sum, delay max]. Histogram bucket 0 holds delays < 1 ms; bucket b >= 1 holds
// [2^((b-1)/2), 2^(b/2)) ms (factor sqrt 2, so p95 is within ~20 %); the last bucket holds
// everything from 2^((H-2)/2) ms (~8.7 min) up, where p95 is reported as the maximum seen.
const MESSAGES = 0;
const UNKNOWN = 1;
const METRIC_BASE = 2; // passed at METRIC_BASE + 2m, total at METRIC_BASE + 2m + 1
const HIST_BASE = METRIC_BASE + METRICS.length * 2;
export const HISTOGRAM_BUCKETS = 40;
const COUNTERS = HIST_BASE + HISTOGRAM_BUCKETS;
const COMPLETENESS = 0,
  VALIDITY = 1,
  ACCURACY = 2,
  CONSISTENCY = 3,
  TIMELINESS = 4,
  UNIQUENESS = 5;

function histogramBucket(delayMs: number): number {
  if (delayMs < 1) return 0;
  const b = 1 + Math.floor(2 * Math.log2(delayMs));
  return b < HISTOGRAM_BUCKETS ? b : HISTOGRAM_BUCKETS - 1;
}

function bucketLow(b: number): number {
  return b === 0 ? 0 : 2 ** ((b - 1) / 2);
}

/** Per-message verdicts; -1 = not applicable, 0 = failed, 1 = passed. Reused, never allocated per message. */
interface Outcome {
  unknown: number;
  verdicts: Int8Array;
  delayMs: number; // NaN when unknown
}

/** Windowed and cumulative counters of one sensor or of the whole dataset. */
class Counters {
  readonly counts: Uint32Array;
  readonly delays: Float64Array; // [sum, max] per slot
  readonly windowIds: Float64Array; // which window number each slot currently holds (-1 = none)
  readonly totals = new Float64Array(COUNTERS);
  readonly totalDelays = new Float64Array(2);

  constructor(readonly slots: number) {
    this.counts = new Uint32Array(slots * COUNTERS);
    this.delays = new Float64Array(slots * 2);
    this.windowIds = new Float64Array(slots).fill(-1);
  }

  /** The slot for window `w`, cleared if it still holds an older window. */
  private slot(w: number): number {
    const s = w % this.slots;
    if (this.windowIds[s] !== w) {
      this.counts.fill(0, s * COUNTERS, (s + 1) * COUNTERS);
      this.delays[s * 2] = 0;
      this.delays[s * 2 + 1] = 0;
      this.windowIds[s] = w;
    }
    return s;
  }

  record(w: number, o: Outcome): void {
    const base = this.slot(w) * COUNTERS;
    const counts = this.counts;
    const totals = this.totals;
    counts[base + MESSAGES]++;
    totals[MESSAGES]++;
    if (o.unknown) {
      counts[base + UNKNOWN]++;
      totals[UNKNOWN]++;
    }
    const verdicts = o.verdicts;
    for (let m = 0; m < 6; m++) {
      const v = verdicts[m];
      if (v < 0) continue;
      const i = METRIC_BASE + 2 * m;
      counts[base + i] += v;
      counts[base + i + 1]++;
      totals[i] += v;
      totals[i + 1]++;
    }
    const delay = o.delayMs;
    if (delay === delay) {
      const h = HIST_BASE + histogramBucket(delay);
      counts[base + h]++;
      totals[h]++;
      const d = (base / COUNTERS) * 2;
      this.delays[d] += delay;
      if (delay > this.delays[d + 1]) this.delays[d + 1] = delay;
      this.totalDelays[0] += delay;
      if (delay > this.totalDelays[1]) this.totalDelays[1] = delay;
    }
  }

  /** Sums the windows numbered `from..to` (inclusive) into `out` (counters + 2 delay fields). */
  sum(from: number, to: number, out: Float64Array): Float64Array {
    out.fill(0);
    for (let s = 0; s < this.slots; s++) {
      const w = this.windowIds[s];
      if (w < from || w > to) continue;
      const base = s * COUNTERS;
      for (let i = 0; i < COUNTERS; i++) out[i] += this.counts[base + i];
      out[COUNTERS] += this.delays[s * 2];
      if (this.delays[s * 2 + 1] > out[COUNTERS + 1]) out[COUNTERS + 1] = this.delays[s * 2 + 1];
    }
    return out;
  }

  totalsInto(out: Float64Array): Float64Array {
    out.set(this.totals);
    out[COUNTERS] = this.totalDelays[0];
    out[COUNTERS + 1] = this.totalDelays[1];
    return out;
  }

  toJSON(): unknown {
    const windows: number[][] = [];
    for (let s = 0; s < this.slots; s++) {
      const w = this.windowIds[s];
      if (w < 0 || this.counts[s * COUNTERS + MESSAGES] === 0) continue;
      windows.push([w, this.delays[s * 2], this.delays[s * 2 + 1], ...this.counts.subarray(s * COUNTERS, (s + 1) * COUNTERS)]);
    }
    return { totals: [...this.totals], total_delays: [...this.totalDelays], windows };
  }

  /** Restores from `toJSON`; windows are dropped when `keepWindows` is false (changed layout). */
  load(json: unknown, keepWindows: boolean, oldestWindow: number): void {
    const state = json as { totals?: unknown; total_delays?: unknown; windows?: unknown };
    if (!isNumberArray(state?.totals, COUNTERS) || !isNumberArray(state.total_delays, 2) || !Array.isArray(state.windows)) {
      throw new QualityStateError('counters are malformed');
    }
    this.totals.set(state.totals);
    this.totalDelays.set(state.total_delays);
    if (!keepWindows) return;
    for (const entry of state.windows) {
      if (!isNumberArray(entry, COUNTERS + 3)) throw new QualityStateError('a window is malformed');
      const w = entry[0];
      if (!Number.isInteger(w) || w < oldestWindow) continue;
      const s = this.slot(w);
      this.delays[s * 2] = entry[1];
      this.delays[s * 2 + 1] = entry[2];
      this.counts.set(entry.slice(3), s * COUNTERS);
    }
  }
}

function isNumberArray(v: unknown, length: number): v is number[] {
  return Array.isArray(v) && v.length === length && v.every((x) => typeof x === 'number' && Number.isFinite(x) && x >= 0);
}

interface SensorState {
  id: number;
  definition: SensorDefinition | null;
  counters: Counters;
  dedup: RecentSet;
  lastArrivalMs: number; // NaN = never
  lastReadingUs: number; // NaN = never
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

function metric(passed: number, total: number): MetricJSON {
  return { pct: total > 0 ? round((passed / total) * 100, 2) : null, passed, total };
}

function p95(sums: Float64Array, count: number, max: number): number | null {
  if (count === 0) return null;
  const target = Math.ceil(count * 0.95);
  let cumulative = 0;
  for (let b = 0; b < HISTOGRAM_BUCKETS; b++) {
    const n = sums[HIST_BASE + b];
    if (cumulative + n >= target) {
      if (b === HISTOGRAM_BUCKETS - 1) return max;
      const low = bucketLow(b);
      const high = 2 ** (b / 2);
      // Linear interpolation inside the bucket, never above the largest delay actually seen.
      return round(Math.min(max, low + ((high - low) * (target - cumulative)) / n), 3);
    }
    cumulative += n;
  }
  return max;
}

function metricsJSON(sums: Float64Array): MetricsJSON {
  const pair = (m: number): MetricJSON => metric(sums[METRIC_BASE + 2 * m], sums[METRIC_BASE + 2 * m + 1]);
  let delayed = 0;
  for (let b = 0; b < HISTOGRAM_BUCKETS; b++) delayed += sums[HIST_BASE + b];
  const max = sums[COUNTERS + 1];
  return {
    messages: sums[MESSAGES],
    unknown_sensor_messages: sums[UNKNOWN],
    completeness: pair(COMPLETENESS),
    validity: pair(VALIDITY),
    accuracy: pair(ACCURACY),
    consistency: pair(CONSISTENCY),
    timeliness: {
      ...pair(TIMELINESS),
      delay_ms: {
        mean: delayed > 0 ? round(sums[COUNTERS] / delayed, 3) : null,
        p95: p95(sums, delayed, max),
        max: delayed > 0 ? round(max, 3) : null,
      },
    },
    uniqueness: pair(UNIQUENESS),
  };
}

const STATE_VERSION = 1;

export class QualityMonitor {
  readonly dataset: string;
  private readonly sensors: SensorsDefinition;
  private readonly windowMs: number;
  private readonly windowCount: number;
  private readonly futureToleranceMs: number;
  private readonly maxAgeMs: number;
  private readonly maxDelayMs: number;
  private readonly expectedIntervalMs: number;
  private readonly staleAfterIntervals: number;
  private readonly dedupHorizonMs: number;
  private readonly dedupMaxEntries: number;
  private readonly maxUnknownSensors: number;
  private readonly readingOptions: ReadingOptions;

  private readonly all: Counters;
  private readonly bySensor = new Map<number, SensorState>();
  private unknownTracked = 0;
  private untrackedUnknownMessages = 0;
  private unattributedMessages = 0;
  /** Highest window number seen: a clock stepping back never reopens an older window. */
  private currentWindow = -1;
  private startedAtMs = NaN;
  private readonly outcome: Outcome = { unknown: 0, verdicts: new Int8Array(6), delayMs: NaN };

  constructor(options: QualityOptions = {}) {
    this.dataset = options.dataset ?? 'sensor_data';
    this.sensors = options.sensors ?? new Map();
    this.windowMs = positive(options.windowMs ?? 60_000, 'windowMs');
    this.windowCount = Math.floor(positive(options.windowCount ?? 60, 'windowCount'));
    this.futureToleranceMs = nonNegative(options.futureToleranceMs ?? 10_000, 'futureToleranceMs');
    this.maxAgeMs = positive(options.maxAgeMs ?? 7 * 24 * 3600_000, 'maxAgeMs');
    this.maxDelayMs = nonNegative(options.maxDelayMs ?? 5_000, 'maxDelayMs');
    this.expectedIntervalMs = positive(options.expectedIntervalMs ?? 1_000, 'expectedIntervalMs');
    this.staleAfterIntervals = positive(options.staleAfterIntervals ?? 3, 'staleAfterIntervals');
    this.dedupHorizonMs = nonNegative(options.dedupHorizonMs ?? 120_000, 'dedupHorizonMs');
    this.dedupMaxEntries = Math.floor(positive(options.dedupMaxEntries ?? 1024, 'dedupMaxEntries'));
    this.maxUnknownSensors = Math.floor(nonNegative(options.maxUnknownSensors ?? 1000, 'maxUnknownSensors'));
    this.readingOptions = options.reading ?? {};
    this.all = new Counters(this.windowCount);
    for (const definition of this.sensors.values()) this.bySensor.set(definition.id, this.newSensor(definition.id, definition));
  }

  private newSensor(id: number, definition: SensorDefinition | null): SensorState {
    return {
      id,
      definition,
      counters: new Counters(this.windowCount),
      dedup: new RecentSet(this.dedupMaxEntries, Math.min(64, this.dedupMaxEntries)),
      lastArrivalMs: NaN,
      lastReadingUs: NaN,
    };
  }

  /** Validates a raw payload (Buffer, string or object), records its quality and returns the check. */
  observe(input: unknown, arrivalMs: number): ReadingCheck {
    const check = checkReading(input, this.readingOptions);
    this.observeCheck(check, arrivalMs);
    return check;
  }

  /** Records the quality of a reading already examined by `checkReading`. */
  observeCheck(check: ReadingCheck, arrivalMs: number): void {
    const w = Math.max(Math.floor(arrivalMs / this.windowMs), this.currentWindow);
    this.currentWindow = w;
    if (this.startedAtMs !== this.startedAtMs) this.startedAtMs = arrivalMs;

    const o = this.outcome;
    const v = o.verdicts;
    o.unknown = 0;
    o.delayMs = NaN;
    v.fill(-1);

    let sensor: SensorState | undefined;
    if (check.sensorId !== null) {
      sensor = this.bySensor.get(check.sensorId);
      if (sensor === undefined || sensor.definition === null) {
        o.unknown = 1;
        if (sensor === undefined && this.unknownTracked < this.maxUnknownSensors) {
          sensor = this.newSensor(check.sensorId, null);
          this.bySensor.set(check.sensorId, sensor);
          this.unknownTracked++;
        }
        if (sensor === undefined) this.untrackedUnknownMessages++;
      }
    } else {
      this.unattributedMessages++;
    }

    // completeness and validity apply to every message; an unparsed payload fails both.
    v[COMPLETENESS] = check.parsed && check.presentFields === READING_FIELD_COUNT ? 1 : 0;
    let valid = check.parsed ? 1 : 0;
    const issues = check.issues;
    for (let i = 0; i < issues.length && valid === 1; i++) if (issues[i].code !== 'MISSING_FIELD') valid = 0;
    const ts = check.timestampUs;
    if (ts !== null) {
      const readingMs = ts / 1000;
      const delay = arrivalMs - readingMs;
      if (-delay > this.futureToleranceMs || delay > this.maxAgeMs) valid = 0;
      o.delayMs = delay > 0 ? delay : 0;
      v[TIMELINESS] = delay <= this.maxDelayMs ? 1 : 0;
    }
    v[VALIDITY] = valid;

    const definition = sensor?.definition ?? null;
    if (definition !== null) {
      if (check.value !== null) v[ACCURACY] = check.value >= definition.range[0] && check.value <= definition.range[1] ? 1 : 0;
      if (check.unit !== null || check.type !== null) {
        v[CONSISTENCY] =
          (check.unit === null || check.unit === definition.unit) && (check.type === null || check.type === definition.type) ? 1 : 0;
      }
    }

    if (sensor !== undefined) {
      if (ts !== null) {
        v[UNIQUENESS] = sensor.dedup.seen(ts, arrivalMs, this.dedupHorizonMs) ? 0 : 1;
        if (!(ts <= sensor.lastReadingUs)) sensor.lastReadingUs = ts;
      }
      if (!(arrivalMs <= sensor.lastArrivalMs)) sensor.lastArrivalMs = arrivalMs;
      sensor.counters.record(w, o);
    }
    this.all.record(w, o);
  }

  /** The quality report as of `nowMs` (also the staleness reference). */
  report(nowMs: number): QualityReport {
    const w = Math.max(Math.floor(nowMs / this.windowMs), this.currentWindow);
    const oldest = w - this.windowCount + 1;
    const scratch = new Float64Array(COUNTERS + 2);
    const three = (c: Counters) => ({
      current_window: metricsJSON(c.sum(w, w, scratch)),
      recent: metricsJSON(c.sum(oldest, w, scratch)),
      since_start: metricsJSON(c.totalsInto(scratch)),
    });

    const sensors: SensorQualityJSON[] = [];
    const stale: number[] = [];
    const unknownIds: number[] = [];
    let judged = 0;
    let unknownMessages = this.untrackedUnknownMessages;
    for (const s of [...this.bySensor.values()].sort((a, b) => a.id - b.id)) {
      const intervalMs = s.definition?.intervalMs ?? this.expectedIntervalMs;
      const seen = s.lastArrivalMs === s.lastArrivalMs;
      const ageMs = seen ? Math.max(0, nowMs - s.lastArrivalMs) : NaN;
      const isStale = !seen || ageMs > intervalMs * this.staleAfterIntervals;
      if (s.definition !== null) {
        judged++;
        if (isStale) stale.push(s.id);
      } else {
        unknownIds.push(s.id);
        unknownMessages += s.counters.totals[MESSAGES];
      }
      sensors.push({
        sensor_id: s.id,
        known: s.definition !== null,
        description: s.definition?.description ?? null,
        staleness: {
          last_seen: seen ? formatIsoMs(s.lastArrivalMs) : null,
          last_reading_timestamp: s.lastReadingUs === s.lastReadingUs ? formatIsoTimestamp(s.lastReadingUs) : null,
          age_s: seen ? round(ageMs / 1000, 3) : null,
          expected_interval_s: intervalMs / 1000,
          stale: isStale,
        },
        ...three(s.counters),
      });
    }

    const windows: QualityReport['windows'] = [];
    const one = new Float64Array(COUNTERS + 2);
    for (let i = oldest; i <= w; i++) {
      this.all.sum(i, i, one);
      if (one[MESSAGES] === 0) continue;
      const m = metricsJSON(one);
      const row = { start: formatIsoMs(i * this.windowMs), messages: m.messages } as QualityReport['windows'][number];
      for (const name of METRICS) row[name] = m[name].pct;
      windows.push(row);
    }

    return {
      dataset: this.dataset,
      generated_at: formatIsoMs(nowMs),
      periods: {
        current_window: { start: formatIsoMs(w * this.windowMs), end: formatIsoMs((w + 1) * this.windowMs) },
        recent: {
          start: formatIsoMs(oldest * this.windowMs),
          end: formatIsoMs((w + 1) * this.windowMs),
          windows: this.windowCount,
          window_ms: this.windowMs,
        },
        since_start: { start: this.startedAtMs === this.startedAtMs ? formatIsoMs(this.startedAtMs) : null },
      },
      settings: {
        max_delay_ms: this.maxDelayMs,
        future_tolerance_ms: this.futureToleranceMs,
        max_age_ms: this.maxAgeMs,
        dedup_horizon_ms: this.dedupHorizonMs,
        dedup_max_entries_per_sensor: this.dedupMaxEntries,
      },
      metrics: three(this.all),
      freshness: { ...metric(judged - stale.length, judged), stale_sensors: stale },
      unknown_sensors: {
        count: unknownIds.length,
        messages: unknownMessages,
        ids: unknownIds,
        untracked_messages: this.untrackedUnknownMessages,
      },
      unattributed_messages: this.unattributedMessages,
      windows,
      sensors,
    };
  }

  /** Bytes held in the typed arrays of every counter and dedup memory (for status and capacity planning). */
  memoryBytes(): number {
    const counters = (c: Counters): number =>
      c.counts.byteLength + c.delays.byteLength + c.windowIds.byteLength + c.totals.byteLength + c.totalDelays.byteLength;
    let bytes = counters(this.all);
    for (const s of this.bySensor.values()) bytes += counters(s.counters) + s.dedup.byteLength;
    return bytes;
  }

  /** Persistable state (plain JSON): counters, last-seen times and the dedup memory. */
  toJSON(): unknown {
    return {
      version: STATE_VERSION,
      dataset: this.dataset,
      window_ms: this.windowMs,
      window_count: this.windowCount,
      histogram_buckets: HISTOGRAM_BUCKETS,
      current_window: this.currentWindow,
      started_at_ms: this.startedAtMs === this.startedAtMs ? this.startedAtMs : null,
      untracked_unknown_messages: this.untrackedUnknownMessages,
      unattributed_messages: this.unattributedMessages,
      all: this.all.toJSON(),
      sensors: [...this.bySensor.values()].map((s) => ({
        id: s.id,
        last_arrival_ms: s.lastArrivalMs === s.lastArrivalMs ? s.lastArrivalMs : null,
        last_reading_us: s.lastReadingUs === s.lastReadingUs ? s.lastReadingUs : null,
        counters: s.counters.toJSON(),
        dedup: s.dedup.entries(),
      })),
    };
  }

  /**
   * A monitor configured by `options` that continues from saved state. Windows survive only if
   * window length and count are unchanged; totals, last-seen times and dedup memory always do.
   * Sensors no longer in the definition become unknown ones.
   */
  static fromJSON(json: unknown, options: QualityOptions = {}): QualityMonitor {
    const monitor = new QualityMonitor(options);
    const state = json as Record<string, unknown> | null;
    if (typeof state !== 'object' || state === null) throw new QualityStateError('not an object');
    if (state.version !== STATE_VERSION) throw new QualityStateError(`unsupported version ${String(state.version)}`);
    const keepWindows =
      state.window_ms === monitor.windowMs && state.window_count === monitor.windowCount && state.histogram_buckets === HISTOGRAM_BUCKETS;
    const current = state.current_window;
    if (typeof current !== 'number' || !Number.isInteger(current)) throw new QualityStateError('current_window is malformed');
    if (keepWindows) monitor.currentWindow = current;
    const oldest = current - monitor.windowCount + 1;
    monitor.startedAtMs = typeof state.started_at_ms === 'number' ? state.started_at_ms : NaN;
    monitor.untrackedUnknownMessages = nonNegativeCount(state.untracked_unknown_messages);
    monitor.unattributedMessages = nonNegativeCount(state.unattributed_messages);
    monitor.all.load(state.all, keepWindows, oldest);
    if (!Array.isArray(state.sensors)) throw new QualityStateError('sensors is not an array');
    for (const raw of state.sensors as Array<Record<string, unknown>>) {
      const id = raw?.id;
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) throw new QualityStateError('a sensor id is malformed');
      let sensor = monitor.bySensor.get(id);
      if (sensor === undefined) {
        if (monitor.unknownTracked >= monitor.maxUnknownSensors) continue;
        sensor = monitor.newSensor(id, null);
        monitor.bySensor.set(id, sensor);
        monitor.unknownTracked++;
      }
      sensor.lastArrivalMs = typeof raw.last_arrival_ms === 'number' ? raw.last_arrival_ms : NaN;
      sensor.lastReadingUs = typeof raw.last_reading_us === 'number' ? raw.last_reading_us : NaN;
      sensor.counters.load(raw.counters, keepWindows, oldest);
      const dedup = raw.dedup as { keys?: unknown; times?: unknown } | undefined;
      if (!dedup || !Array.isArray(dedup.keys) || !Array.isArray(dedup.times) || dedup.keys.length !== dedup.times.length) {
        throw new QualityStateError(`dedup memory of sensor ${id} is malformed`);
      }
      for (let i = 0; i < dedup.keys.length; i++) {
        const key = dedup.keys[i];
        const time = dedup.times[i];
        if (typeof key !== 'number' || typeof time !== 'number') throw new QualityStateError(`dedup memory of sensor ${id} is malformed`);
        // Arrival time of the original, so the horizon keeps counting across the restart.
        sensor.dedup.seen(key, time, monitor.dedupHorizonMs);
      }
    }
    return monitor;
  }
}

function positive(n: number, name: string): number {
  if (!(typeof n === 'number' && Number.isFinite(n) && n > 0)) throw new RangeError(`${name} must be a positive number, got ${n}`);
  return n;
}

function nonNegative(n: number, name: string): number {
  if (!(typeof n === 'number' && Number.isFinite(n) && n >= 0)) throw new RangeError(`${name} must be a non-negative number, got ${n}`);
  return n;
}

function nonNegativeCount(v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new QualityStateError('a counter is malformed');
  return v;
}

/** Several datasets' reports in one answer (the `/quality` endpoint). */
export function qualityReport(
  monitors: readonly QualityMonitor[],
  nowMs: number,
): { generated_at: string; datasets: Record<string, QualityReport> } {
  const datasets: Record<string, QualityReport> = {};
  for (const m of monitors) datasets[m.dataset] = m.report(nowMs);
  return { generated_at: formatIsoMs(nowMs), datasets };
}
