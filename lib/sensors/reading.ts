/**
 * Validation and normalisation of one sensor reading, as the generator publishes it:
 *
 *   {"sensor_id": "1", "timestamp": "2024-06-14T16:00:00.123456", "value": 23,
 *    "metadata": {"location": {"lat": 10, "lng": 10}, "unit": "C", "type": "temperature",
 *                 "description": "Main Entrance"}}
 *
 * into a row of `sensor_data`. `checkReading` never throws and reports every defect it finds
 * (the quality engine needs them all, and needs the fields that did parse); `parseReading`
 * throws the first defect as a `ReadingError` for callers that only want a storable row.
 */
import { IotpError } from '../errors';
import { parseTimestampUs, storedTimestamp } from './time';

export type ReadingErrorCode =
  /** The raw payload (Buffer/string) or one text field is longer than allowed. */
  | 'TOO_LARGE'
  /** Text that is not JSON. */
  | 'BAD_JSON'
  /** JSON (or a value) that is not an object: an array, a number, null... */
  | 'NOT_OBJECT'
  /** A field is absent or null. */
  | 'MISSING_FIELD'
  /** A field has the wrong JSON type (e.g. value "23", unit 5). */
  | 'WRONG_TYPE'
  /** sensor_id is not a non-negative integer that fits the INT column. */
  | 'BAD_SENSOR_ID'
  /** timestamp is not an ISO 8601 date-time, or names an impossible or unstorable instant. */
  | 'BAD_TIMESTAMP'
  /** A number is NaN or infinite (possible from JS objects, or 1e999 in JSON). */
  | 'NON_FINITE'
  /** A coordinate outside [-90, 90] / [-180, 180]. */
  | 'OUT_OF_RANGE';

/** The fields of a reading, named after the `sensor_data` columns they fill. */
export type ReadingField =
  'payload' | 'sensor_id' | 'timestamp' | 'value' | 'metadata' | 'location' | 'lat' | 'lng' | 'unit' | 'type' | 'description';

export interface ReadingIssue {
  code: ReadingErrorCode;
  field: ReadingField;
  message: string;
}

export class ReadingError extends IotpError<ReadingErrorCode> {
  readonly field: ReadingField;
  constructor(issue: ReadingIssue) {
    super(issue.code, issue.message);
    this.field = issue.field;
  }
}

/** One row of `sensor_data` (without `id`), ready to bind: keys are the column names. */
export interface SensorRow {
  sensor_id: number;
  /** UTC, `YYYY-MM-DD HH:MM:SS.ffffff`. */
  timestamp: string;
  value: number;
  lat: number | null;
  lng: number | null;
  unit: string | null;
  type: string | null;
  description: string | null;
}

/** Everything `checkReading` learnt; fields are null when missing or invalid. */
export interface ReadingCheck {
  /** The storable row, or null when any issue makes the reading unstorable. */
  row: SensorRow | null;
  sensorId: number | null;
  /** The reading's own time, epoch microseconds. */
  timestampUs: number | null;
  value: number | null;
  lat: number | null;
  lng: number | null;
  unit: string | null;
  type: string | null;
  description: string | null;
  /** Every defect found, in field order; empty when the reading is perfect. */
  issues: readonly ReadingIssue[];
  /** Number of the eight fields present (not null), whatever their validity. */
  presentFields: number;
  /** True when the payload was an object at all (false for BAD_JSON, NOT_OBJECT, TOO_LARGE payload). */
  parsed: boolean;
}

export const READING_FIELD_COUNT = 8;

export interface ReadingOptions {
  /** Largest raw payload accepted, in bytes (Buffer) or UTF-16 units (string). Default 64 KiB. */
  maxPayloadBytes?: number;
  /** When true, a reading without the metadata fields is not storable. Default false: stored with NULLs. */
  requireMetadata?: boolean;
}

/** Column limits: `unit` VARCHAR(32), `type` VARCHAR(64), `description` TEXT (kept well under 64 KiB of utf8mb4). */
export const MAX_UNIT_LENGTH = 32;
export const MAX_TYPE_LENGTH = 64;
export const MAX_DESCRIPTION_LENGTH = 4096;
export const DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024;
/** The INT column's upper bound. */
export const MAX_SENSOR_ID = 2147483647;

const NO_ISSUES: readonly ReadingIssue[] = Object.freeze([]);
const hasOwn = Object.prototype.hasOwnProperty;

/** Reads an own property only: a payload object must not pick up fields from its prototype. */
function own(obj: Record<string, unknown>, key: string): unknown {
  return hasOwn.call(obj, key) ? obj[key] : undefined;
}

function describeType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return `a ${typeof v}`;
}

/** Parses a sensor id given as a JSON number or as decimal digits (the generator sends "1"). */
export function parseSensorId(v: unknown): number | string {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) return `sensor_id ${v} is not an integer`;
    if (v < 0 || v > MAX_SENSOR_ID) return `sensor_id ${v} is outside 0..${MAX_SENSOR_ID}`;
    return v;
  }
  if (typeof v === 'string') {
    // Digits only (no sign, space, exponent or fraction), at most 10 of them.
    let n = 0;
    const len = v.length;
    for (let i = 0; i < len && len <= 10; i++) {
      const d = v.charCodeAt(i) - 48;
      if (d < 0 || d > 9) {
        n = -1;
        break;
      }
      n = n * 10 + d;
    }
    if (len === 0 || len > 10 || n < 0) return `sensor_id ${JSON.stringify(v.slice(0, 40))} is not a non-negative integer`;
    if (n > MAX_SENSOR_ID) return `sensor_id ${v} is outside 0..${MAX_SENSOR_ID}`;
    return n;
  }
  return `sensor_id must be a string of digits or an integer, got ${describeType(v)}`;
}

function decode(input: unknown, maxBytes: number): { obj?: Record<string, unknown>; issue?: ReadingIssue } {
  let value: unknown = input;
  if (Buffer.isBuffer(input) || input instanceof Uint8Array) {
    if (input.length > maxBytes) {
      return {
        issue: { code: 'TOO_LARGE', field: 'payload', message: `payload of ${input.length} bytes exceeds the limit of ${maxBytes}` },
      };
    }
    value = Buffer.from(input.buffer, input.byteOffset, input.length).toString('utf8');
  }
  if (typeof value === 'string') {
    if (value.length > maxBytes) {
      return {
        issue: { code: 'TOO_LARGE', field: 'payload', message: `payload of ${value.length} characters exceeds the limit of ${maxBytes}` },
      };
    }
    try {
      value = JSON.parse(value);
    } catch (err) {
      return { issue: { code: 'BAD_JSON', field: 'payload', message: `payload is not JSON: ${(err as Error).message}` } };
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { issue: { code: 'NOT_OBJECT', field: 'payload', message: `payload must be a JSON object, got ${describeType(value)}` } };
  }
  return { obj: value as Record<string, unknown> };
}

function addIssue(check: ReadingCheck, code: ReadingErrorCode, field: ReadingField, message: string): void {
  if (check.issues === NO_ISSUES) check.issues = [];
  (check.issues as ReadingIssue[]).push({ code, field, message });
}

function checkCoordinate(check: ReadingCheck, loc: Record<string, unknown> | null, field: 'lat' | 'lng', limit: number): void {
  const raw = loc ? own(loc, field) : undefined;
  if (raw == null) return addIssue(check, 'MISSING_FIELD', field, `metadata.location.${field} is missing`);
  check.presentFields++;
  if (typeof raw !== 'number')
    addIssue(check, 'WRONG_TYPE', field, `metadata.location.${field} must be a number, got ${describeType(raw)}`);
  else if (!Number.isFinite(raw)) addIssue(check, 'NON_FINITE', field, `metadata.location.${field} ${raw} is not a finite number`);
  else if (raw < -limit || raw > limit)
    addIssue(check, 'OUT_OF_RANGE', field, `metadata.location.${field} ${raw} is outside -${limit}..${limit}`);
  else check[field] = raw;
}

function checkText(check: ReadingCheck, meta: Record<string, unknown> | null, field: 'unit' | 'type' | 'description', limit: number): void {
  const raw = meta ? own(meta, field) : undefined;
  if (raw == null) return addIssue(check, 'MISSING_FIELD', field, `metadata.${field} is missing`);
  check.presentFields++;
  if (typeof raw !== 'string') addIssue(check, 'WRONG_TYPE', field, `metadata.${field} must be text, got ${describeType(raw)}`);
  else if (raw.length > limit) addIssue(check, 'TOO_LARGE', field, `metadata.${field} has ${raw.length} characters, more than ${limit}`);
  else check[field] = raw;
}

function asObject(v: unknown): Record<string, unknown> | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

/** A check with nothing read yet (or nothing readable): every field null, the given issues. */
function emptyCheck(issues: ReadingCheck['issues']): ReadingCheck {
  return {
    row: null,
    sensorId: null,
    timestampUs: null,
    value: null,
    lat: null,
    lng: null,
    unit: null,
    type: null,
    description: null,
    issues,
    presentFields: 0,
    parsed: false,
  };
}

/**
 * Examines one reading and reports every defect. Never throws. Input: a Buffer or string of
 * JSON (as mqtt-in delivers it in binary/string mode) or an already parsed object.
 */
export function checkReading(input: unknown, options: ReadingOptions = {}): ReadingCheck {
  const check = emptyCheck(NO_ISSUES);
  const decoded = decode(input, options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES);
  if (!decoded.obj) {
    check.issues = [decoded.issue as ReadingIssue];
    return check;
  }
  try {
    examine(check, decoded.obj, options);
  } catch (err) {
    // Only an object built in code (a Function node) can throw while being read: a getter or a
    // proxy trap. It is an unreadable payload, reported like any other, not an exception.
    const reason = err instanceof Error ? err.message : String(err);
    return emptyCheck([{ code: 'NOT_OBJECT', field: 'payload', message: `payload object cannot be read: ${reason.slice(0, 100)}` }]);
  }
  return check;
}

function examine(check: ReadingCheck, obj: Record<string, unknown>, options: ReadingOptions): void {
  check.parsed = true;

  const rawId = own(obj, 'sensor_id');
  if (rawId == null) addIssue(check, 'MISSING_FIELD', 'sensor_id', 'sensor_id is missing');
  else {
    check.presentFields++;
    const id = parseSensorId(rawId);
    if (typeof id === 'number') check.sensorId = id;
    else addIssue(check, typeof rawId === 'number' || typeof rawId === 'string' ? 'BAD_SENSOR_ID' : 'WRONG_TYPE', 'sensor_id', id);
  }

  const rawTs = own(obj, 'timestamp');
  let timestampText = '';
  if (rawTs == null) addIssue(check, 'MISSING_FIELD', 'timestamp', 'timestamp is missing');
  else {
    check.presentFields++;
    if (typeof rawTs !== 'string')
      addIssue(check, 'WRONG_TYPE', 'timestamp', `timestamp must be ISO 8601 text, got ${describeType(rawTs)}`);
    else {
      const us = parseTimestampUs(rawTs);
      if (typeof us === 'number') {
        check.timestampUs = us;
        timestampText = rawTs;
      } else addIssue(check, 'BAD_TIMESTAMP', 'timestamp', `timestamp ${JSON.stringify(rawTs.slice(0, 40))}: ${us}`);
    }
  }

  const rawValue = own(obj, 'value');
  if (rawValue == null) addIssue(check, 'MISSING_FIELD', 'value', 'value is missing');
  else {
    check.presentFields++;
    if (typeof rawValue !== 'number') addIssue(check, 'WRONG_TYPE', 'value', `value must be a number, got ${describeType(rawValue)}`);
    else if (!Number.isFinite(rawValue)) addIssue(check, 'NON_FINITE', 'value', `value ${rawValue} is not a finite number`);
    else check.value = rawValue;
  }

  // Metadata: an absent or non-object `metadata` makes all five of its fields missing.
  const rawMeta = own(obj, 'metadata');
  const meta = asObject(rawMeta);
  if (rawMeta != null && meta === null)
    addIssue(check, 'WRONG_TYPE', 'metadata', `metadata must be an object, got ${describeType(rawMeta)}`);
  const rawLoc = meta ? own(meta, 'location') : undefined;
  const loc = asObject(rawLoc);
  if (rawLoc != null && loc === null)
    addIssue(check, 'WRONG_TYPE', 'location', `metadata.location must be an object, got ${describeType(rawLoc)}`);
  checkCoordinate(check, loc, 'lat', 90);
  checkCoordinate(check, loc, 'lng', 180);
  checkText(check, meta, 'unit', MAX_UNIT_LENGTH);
  checkText(check, meta, 'type', MAX_TYPE_LENGTH);
  checkText(check, meta, 'description', MAX_DESCRIPTION_LENGTH);

  if (check.sensorId !== null && check.timestampUs !== null && check.value !== null && storable(check.issues, options)) {
    check.row = {
      sensor_id: check.sensorId,
      timestamp: storedTimestamp(timestampText, check.timestampUs),
      value: check.value,
      lat: check.lat,
      lng: check.lng,
      unit: check.unit,
      type: check.type,
      description: check.description,
    };
  }
}

/** Missing metadata is tolerated (stored as NULL) unless required; every other defect is not. */
function storable(issues: readonly ReadingIssue[], options: ReadingOptions): boolean {
  for (const issue of issues) {
    if (issue.code !== 'MISSING_FIELD' || options.requireMetadata) return false;
  }
  return true;
}

/** The first defect that makes a reading unstorable (required fields first), if any. */
export function blockingIssue(check: ReadingCheck, options: ReadingOptions = {}): ReadingIssue | null {
  for (const issue of check.issues) {
    if (issue.code !== 'MISSING_FIELD' || options.requireMetadata) return issue;
    if (issue.field === 'sensor_id' || issue.field === 'timestamp' || issue.field === 'value') return issue;
  }
  return null;
}

/** Validates and normalises one reading into a `sensor_data` row; throws `ReadingError` naming the field. */
export function parseReading(input: unknown, options: ReadingOptions = {}): SensorRow {
  const check = checkReading(input, options);
  if (check.row) return check.row;
  const issue = blockingIssue(check, options);
  // A null row always has a blocking issue; the fallback only guards against future edits.
  throw new ReadingError(issue ?? { code: 'MISSING_FIELD', field: 'payload', message: 'reading is not storable' });
}
