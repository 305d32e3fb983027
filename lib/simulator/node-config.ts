/**
 * The iotp-simulator node's flow properties turned into a SimulatorConfig: a preset of the
 * original publishers (rolling averages, sensors) or the fields of the dialog. Checked once at
 * deploy; a mistake is a SimulatorError INVALID_CONFIG naming the property.
 */
import { parseDuration } from '../window/settings';
import { SimulatorError } from './errors';
import { rollingAveragesConfig, sensorsConfig, type SensorDefinition } from './presets';
import type { IntervalSpec, SimulatorConfig, ValueSpec } from './simulator';
import { DEFAULT_TEMPLATE } from './simulator';

export type SimulatorPreset = 'custom' | 'rolling-averages' | 'sensors';

export interface SimulatorNodeProperties {
  preset?: unknown;
  topic?: unknown;
  series?: unknown;
  valueKind?: unknown;
  min?: unknown;
  max?: unknown;
  step?: unknown;
  decimals?: unknown;
  intervalKind?: unknown;
  interval?: unknown;
  minInterval?: unknown;
  maxInterval?: unknown;
  template?: unknown;
  seed?: unknown;
  enabled?: unknown;
}

function invalid(property: string, why: string): SimulatorError {
  return new SimulatorError('INVALID_CONFIG', `${property}: ${why}`);
}

function wrap<T>(property: string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    throw invalid(property, (err as Error).message.replace(/^\w+: /, ''));
  }
}

/** The editor's ranges too (test/package/editor-limits.test.ts compares them). */
export const SIMULATOR_LIMITS = {
  /** Decimal places of float and walk values; empty: as generated. */
  decimals: { min: 0, max: 15, integer: true },
} as const;

function finiteNumber(value: unknown, property: string, fallback: number): number {
  if (value === undefined || value === null || value === '') return fallback;
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
  if (!Number.isFinite(n)) throw invalid(property, `expected a number, got ${JSON.stringify(String(value)).slice(0, 40)}`);
  return n;
}

/** `true`, `"true"`, `"1"`, `"yes"`, `"on"` (any case) are on; everything else, including `""`, is off. */
export function isEnabled(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  return typeof value === 'string' && /^\s*(true|1|yes|on)\s*$/i.test(value);
}

/** `"3"` is three series with ids 1..3; `"a, b"` (or one per line) names them. */
export function parseSeriesList(value: unknown): number | Array<{ id: string }> {
  const text = String(value ?? '').trim();
  if (text === '') return 1;
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n < 1 || n > 100_000) throw invalid('series', 'a count must be from 1 to 100000');
    return n;
  }
  const ids = text
    .split(/[,\n]/)
    .map((s) => s.trim())
    .filter(Boolean);
  if (new Set(ids).size !== ids.length) throw invalid('series', 'a series id is listed twice');
  if (ids.length > 100_000) throw invalid('series', 'at most 100000 series');
  return ids.map((id) => ({ id }));
}

/** The dialog's template: JSON text (or an already parsed value). */
export function parseTemplate(value: unknown): unknown {
  if (value === undefined || value === null || value === '') return DEFAULT_TEMPLATE;
  if (typeof value !== 'string') return value;
  if (value.length > 64 * 1024) throw invalid('template', 'larger than 64 KiB');
  try {
    return JSON.parse(value);
  } catch (err) {
    throw invalid('template', `not JSON: ${(err as Error).message}`);
  }
}

/**
 * The simulator's configuration. `sensors` is the sensors definition for the sensors preset
 * (read by the caller from a file or the dialog); default the five sensors of the original.
 */
export function simulatorConfigFrom(props: SimulatorNodeProperties, sensors?: Readonly<Record<string, SensorDefinition>>): SimulatorConfig {
  const preset = props.preset === undefined || props.preset === '' ? 'custom' : props.preset;
  const topic = typeof props.topic === 'string' && props.topic.trim() !== '' ? props.topic.trim() : undefined;
  const seed = props.seed === undefined || props.seed === null || String(props.seed).trim() === '' ? undefined : String(props.seed).trim();
  if (preset === 'rolling-averages') return rollingAveragesConfig({ topic, seed });
  if (preset === 'sensors') {
    const intervalMs =
      props.interval === undefined || props.interval === ''
        ? 1000
        : wrap('interval', () => parseDuration(props.interval, 'ms', 'interval'));
    return sensorsConfig({ topic, seed, intervalMs, sensors });
  }
  if (preset !== 'custom')
    throw invalid('preset', `expected custom, rolling-averages or sensors, got ${JSON.stringify(String(preset)).slice(0, 40)}`);

  const kind = props.valueKind === undefined || props.valueKind === '' ? 'int' : props.valueKind;
  const min = finiteNumber(props.min, 'min', 0);
  const max = finiteNumber(props.max, 'max', 100);
  const decimals = props.decimals === undefined || props.decimals === '' ? undefined : finiteNumber(props.decimals, 'decimals', 0);
  if (
    decimals !== undefined &&
    !(Number.isInteger(decimals) && decimals >= SIMULATOR_LIMITS.decimals.min && decimals <= SIMULATOR_LIMITS.decimals.max)
  ) {
    throw invalid(
      'decimals',
      `expected a whole number from ${SIMULATOR_LIMITS.decimals.min} to ${SIMULATOR_LIMITS.decimals.max}, got ${decimals}`,
    );
  }
  let values: ValueSpec;
  if (kind === 'int') values = { kind: 'int', min, max };
  else if (kind === 'float') values = { kind: 'float', min, max, ...(decimals !== undefined && { decimals }) };
  else if (kind === 'walk') {
    const step = finiteNumber(props.step, 'step', 1);
    const integer = Number.isInteger(min) && Number.isInteger(max) && Number.isInteger(step) && decimals === undefined;
    values = { kind: 'walk', min, max, step, integer, ...(decimals !== undefined && { decimals }) };
  } else throw invalid('valueKind', 'expected int, float or walk');

  let interval: IntervalSpec;
  if (props.intervalKind === 'random') {
    const minMs = wrap('minInterval', () => parseDuration(props.minInterval ?? '1s', 'ms', 'minInterval'));
    const maxMs = wrap('maxInterval', () => parseDuration(props.maxInterval ?? '30s', 'ms', 'maxInterval'));
    if (minMs > maxMs) throw invalid('maxInterval', 'must not be shorter than the shortest interval');
    interval = { minMs, maxMs };
  } else {
    interval = { fixedMs: wrap('interval', () => parseDuration(props.interval ?? '1s', 'ms', 'interval')) };
  }
  return { series: parseSeriesList(props.series), values, interval, template: parseTemplate(props.template), topic, seed };
}

/** A validated sensors definition (lib/sensors, the sensors.json format) as the sensors preset takes it. */
export function presetSensors(
  definition: ReadonlyMap<
    number,
    { id: number; lat: number; lng: number; unit: string; type: string; range: readonly [number, number]; description: string }
  >,
): Record<string, SensorDefinition> {
  const out: Record<string, SensorDefinition> = {};
  for (const s of definition.values()) {
    out[String(s.id)] = { lat: s.lat, lng: s.lng, unit: s.unit, type: s.type, range: [s.range[0], s.range[1]], description: s.description };
  }
  return out;
}
