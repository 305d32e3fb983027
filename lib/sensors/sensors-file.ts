/**
 * The sensors definition (the original's sensors.json): what each sensor is, where it is, and
 * the range its values must stay in. The quality engine judges accuracy and consistency against
 * it; the simulator generates from it.
 *
 *   {"1": {"lat": 10, "lng": 10, "unit": "C", "type": "temperature", "range": [0, 45],
 *          "description": "Main Entrance"}, ...}
 *
 * An optional `interval_ms` per sensor (not in the original) overrides the expected reporting
 * interval used for staleness.
 */
import { readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { IotpError } from '../errors';
import { SENSORS, type SensorDefinition as PresetSensorDefinition } from '../simulator/presets';
import { MAX_DESCRIPTION_LENGTH, MAX_TYPE_LENGTH, MAX_UNIT_LENGTH, parseSensorId } from './reading';

/** A sensor as sensors.json defines it: the simulator's description (its range: the valid values) with its id. */
export interface SensorDefinition extends PresetSensorDefinition {
  id: number;
  /** Expected interval between readings, when the file states one. */
  intervalMs?: number;
}

/** Sensors by numeric id, in file order. */
export type SensorsDefinition = ReadonlyMap<number, SensorDefinition>;

export type SensorsFileErrorCode = 'READ_FAILED' | 'TOO_LARGE' | 'BAD_JSON' | 'INVALID';

export class SensorsFileError extends IotpError<SensorsFileErrorCode> {
  /** Where in the document the problem is, e.g. `"3".range`; empty for the whole document. */
  readonly path: string;
  /** The problem without the location prefix. */
  readonly reason: string;
  constructor(code: SensorsFileErrorCode, path: string, reason: string) {
    super(code, path ? `sensors definition ${path}: ${reason}` : `sensors definition: ${reason}`);
    this.path = path;
    this.reason = reason;
  }
}

export const MAX_SENSORS_FILE_BYTES = 4 * 1024 * 1024;
export const MAX_SENSORS = 100_000;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function finite(v: unknown, path: string, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new SensorsFileError('INVALID', path, `${what} must be a finite number, got ${JSON.stringify(v) ?? typeof v}`);
  return v;
}

function text(v: unknown, path: string, maxLength: number, allowEmpty: boolean): string {
  if (typeof v !== 'string') throw new SensorsFileError('INVALID', path, `must be text, got ${JSON.stringify(v) ?? typeof v}`);
  if (!allowEmpty && v.trim() === '') throw new SensorsFileError('INVALID', path, 'must not be empty');
  if (v.length > maxLength) throw new SensorsFileError('INVALID', path, `is longer than ${maxLength} characters`);
  return v;
}

function parseSensor(key: string, raw: unknown): SensorDefinition {
  const at = JSON.stringify(key);
  const id = parseSensorId(key);
  if (typeof id !== 'number') throw new SensorsFileError('INVALID', at, `the key must be a sensor id: ${id}`);
  if (String(id) !== key) throw new SensorsFileError('INVALID', at, `the key must be written without leading zeros (${id})`);
  if (!isPlainObject(raw)) throw new SensorsFileError('INVALID', at, 'must be an object with lat, lng, unit, type, range, description');
  for (const field of ['lat', 'lng', 'unit', 'type', 'range', 'description']) {
    if (!Object.prototype.hasOwnProperty.call(raw, field)) throw new SensorsFileError('INVALID', `${at}.${field}`, 'is missing');
  }
  const lat = finite(raw.lat, `${at}.lat`, 'lat');
  const lng = finite(raw.lng, `${at}.lng`, 'lng');
  if (lat < -90 || lat > 90) throw new SensorsFileError('INVALID', `${at}.lat`, `${lat} is outside -90..90`);
  if (lng < -180 || lng > 180) throw new SensorsFileError('INVALID', `${at}.lng`, `${lng} is outside -180..180`);
  const range = raw.range;
  if (!Array.isArray(range) || range.length !== 2) throw new SensorsFileError('INVALID', `${at}.range`, 'must be [min, max]');
  const min = finite(range[0], `${at}.range[0]`, 'min');
  const max = finite(range[1], `${at}.range[1]`, 'max');
  if (min > max) throw new SensorsFileError('INVALID', `${at}.range`, `min ${min} is greater than max ${max}`);
  const sensor: SensorDefinition = {
    id,
    lat,
    lng,
    unit: text(raw.unit, `${at}.unit`, MAX_UNIT_LENGTH, false),
    type: text(raw.type, `${at}.type`, MAX_TYPE_LENGTH, false),
    range: [min, max],
    description: text(raw.description, `${at}.description`, MAX_DESCRIPTION_LENGTH, true),
  };
  if (raw.interval_ms !== undefined) {
    const interval = finite(raw.interval_ms, `${at}.interval_ms`, 'interval_ms');
    if (interval <= 0) throw new SensorsFileError('INVALID', `${at}.interval_ms`, 'must be positive');
    sensor.intervalMs = interval;
  }
  return sensor;
}

/** Validates a sensors definition given as JSON text or as an already parsed object. */
export function parseSensorsDefinition(source: string | unknown): SensorsDefinition {
  let doc: unknown = source;
  if (typeof source === 'string') {
    if (source.length > MAX_SENSORS_FILE_BYTES)
      throw new SensorsFileError('TOO_LARGE', '', `is larger than ${MAX_SENSORS_FILE_BYTES} bytes`);
    try {
      doc = JSON.parse(source);
    } catch (err) {
      throw new SensorsFileError('BAD_JSON', '', `is not JSON: ${(err as Error).message}`);
    }
  }
  if (!isPlainObject(doc)) throw new SensorsFileError('INVALID', '', 'must be a JSON object mapping sensor ids to sensors');
  const keys = Object.keys(doc);
  if (keys.length > MAX_SENSORS) throw new SensorsFileError('TOO_LARGE', '', `defines more than ${MAX_SENSORS} sensors`);
  const sensors = new Map<number, SensorDefinition>();
  for (const key of keys) {
    const sensor = parseSensor(key, doc[key]);
    sensors.set(sensor.id, sensor);
  }
  return sensors;
}

/** Reads and validates a sensors definition file. */
export async function readSensorsFile(path: string): Promise<SensorsDefinition> {
  let textContent: string;
  try {
    const bytes = await readFile(path);
    if (bytes.length > MAX_SENSORS_FILE_BYTES) throw tooLarge(path);
    textContent = bytes.toString('utf8');
  } catch (err) {
    throw readFailed(path, err);
  }
  return parseSensorsFileText(path, textContent);
}

const tooLarge = (path: string): SensorsFileError =>
  new SensorsFileError('TOO_LARGE', '', `${path} is larger than ${MAX_SENSORS_FILE_BYTES} bytes`);

function readFailed(path: string, err: unknown): SensorsFileError {
  return err instanceof SensorsFileError ? err : new SensorsFileError('READ_FAILED', '', `cannot read ${path}: ${(err as Error).message}`);
}

/** The file's text validated, a problem named with the file's path. */
function parseSensorsFileText(path: string, textContent: string): SensorsDefinition {
  try {
    return parseSensorsDefinition(textContent);
  } catch (err) {
    if (err instanceof SensorsFileError) throw new SensorsFileError(err.code, err.path, `${err.reason} (in ${path})`);
    throw err;
  }
}

/** The definition back in the sensors.json format (for the editor and the simulator). */
export function sensorsDefinitionToJSON(sensors: SensorsDefinition): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of sensors.values()) {
    const entry: Record<string, unknown> = {
      lat: s.lat,
      lng: s.lng,
      unit: s.unit,
      type: s.type,
      range: [s.range[0], s.range[1]],
      description: s.description,
    };
    if (s.intervalMs !== undefined) entry.interval_ms = s.intervalMs;
    out[String(s.id)] = entry;
  }
  return out;
}

/** Synchronous `readSensorsFile`, for configuration read once at deploy (files are at most 4 MiB). */
export function readSensorsFileSync(path: string): SensorsDefinition {
  let textContent: string;
  try {
    if (statSync(path).size > MAX_SENSORS_FILE_BYTES) throw tooLarge(path);
    textContent = readFileSync(path, 'utf8');
  } catch (err) {
    throw readFailed(path, err);
  }
  return parseSensorsFileText(path, textContent);
}

/** The five sensors of the original pipeline (reference sensors.json; the simulator's preset), the default everywhere. */
export function defaultSensors(): SensorsDefinition {
  return parseSensorsDefinition(SENSORS);
}
