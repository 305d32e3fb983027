/**
 * A closed tumbling window (one sensor, one minute) as a row of `aggregated_sensor_parts` (or,
 * without `instance`, of `aggregated_sensor_data`): `timestamp` is the window's start in UTC (the
 * original stamped local insert time), `value` the mean, `samples` how many readings it covers,
 * `instance` which Node-RED instance saw them (its part of the minute, when several instances
 * split the readings), and the descriptive columns come from the sensors definition (a window
 * carries numbers only).
 *
 * Accepted input: the window engine's result `{series, start, end, count, mean, ...}`; `series`
 * may be missing when `topic` names the sensor; `start` may be epoch ms or ISO 8601 text.
 */
import { INSTANCE_LABEL_MAX } from '../instance-identity';
import { IotpError } from '../errors';
import { parseSensorId, type SensorRow } from './reading';
import type { SensorsDefinition } from './sensors-file';
import { formatSqlTimestamp, parseTimestampUs } from './time';

export interface AggregatedRow extends SensorRow {
  samples: number;
  /** The instance label (lib/instance-identity): one part per sensor, minute and instance. */
  instance: string;
}

export interface AggregateContext {
  /** This instance's label, 1 to INSTANCE_LABEL_MAX characters. */
  instance: string;
  /** The message topic, naming the sensor when the result has no `series`. */
  topic?: unknown;
}

export type AggregateField = 'payload' | 'series' | 'start' | 'mean' | 'count';

export class AggregateError extends IotpError<'BAD_AGGREGATE'> {
  readonly field: AggregateField;
  constructor(field: AggregateField, message: string) {
    super('BAD_AGGREGATE', message);
    this.field = field;
  }
}

function windowStartUs(start: unknown): number {
  if (typeof start === 'number') {
    if (Number.isFinite(start) && start >= -2_208_988_800_000 && start < 7_258_118_400_000) return Math.round(start * 1000);
    throw new AggregateError('start', `window start ${start} is not an epoch-millisecond time between 1900 and 2199`);
  }
  if (typeof start === 'string') {
    const us = parseTimestampUs(start);
    if (typeof us === 'number') return us;
    throw new AggregateError('start', `window start ${JSON.stringify(start.slice(0, 40))}: ${us}`);
  }
  throw new AggregateError('start', 'window start is missing (expected epoch ms or ISO 8601 text)');
}

/** One aggregated row; throws `AggregateError` naming the field of the result that is wrong. */
export function aggregateRow(result: unknown, sensors: SensorsDefinition, context: AggregateContext): AggregatedRow {
  const { instance, topic } = context;
  // The caller's label, not the message's: a wrong one is a programming error, not bad input.
  if (typeof instance !== 'string' || instance.length === 0 || instance.length > INSTANCE_LABEL_MAX) {
    throw new TypeError(`aggregateRow needs an instance label of 1 to ${INSTANCE_LABEL_MAX} characters`);
  }
  if (typeof result !== 'object' || result === null || Array.isArray(result)) {
    throw new AggregateError('payload', 'a window result must be an object {series, start, count, mean}');
  }
  const r = result as Record<string, unknown>;
  const series = r.series ?? r.sensor_id ?? topic;
  const id = parseSensorId(typeof series === 'string' ? series.trim() : series);
  if (typeof id !== 'number') throw new AggregateError('series', `window series: ${id}`);
  const mean = r.mean ?? r.value;
  if (typeof mean !== 'number' || !Number.isFinite(mean))
    throw new AggregateError('mean', `window mean must be a finite number, got ${JSON.stringify(mean) ?? typeof mean}`);
  const count = r.count ?? r.samples;
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > 4_294_967_295) {
    throw new AggregateError('count', `window count must be a positive integer, got ${JSON.stringify(count) ?? typeof count}`);
  }
  const sensor = sensors.get(id);
  return {
    sensor_id: id,
    timestamp: formatSqlTimestamp(windowStartUs(r.start)),
    value: mean,
    lat: sensor?.lat ?? null,
    lng: sensor?.lng ?? null,
    unit: sensor?.unit ?? null,
    type: sensor?.type ?? null,
    description: sensor?.description ?? null,
    samples: count,
    instance,
  };
}
