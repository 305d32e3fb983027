/**
 * The read endpoints of the sensors pipeline: `GET /data` (sensor_data) and
 * `GET /aggregated_data` (aggregated_sensor_data), with query parameters
 * `sensor_id`, `start_time`, `end_time`, `skip`, `limit`.
 *
 * Choices, stated once:
 * - the time range is half-open, start_time <= timestamp < end_time, so consecutive ranges never
 *   return a boundary row twice; start_time after end_time is an error, equal gives no rows;
 * - times without an offset are UTC (as the readings are); `Z`/`±HH:MM` are converted; a bare date
 *   means its midnight UTC;
 * - an empty parameter counts as absent; a parameter given twice is an error; unknown parameters
 *   are ignored (clients add cache busters and tracking parameters);
 * - `limit` defaults to 100 and must be 1..1000; `skip` is 0..10 000 000 (deep OFFSETs are slow:
 *   page by start_time instead).
 * Rows come back ordered by timestamp, then id, so paging is stable among equal timestamps.
 */
import type { Dialect } from '../db/types';
import { IotpError } from '../errors';
import { MAX_SENSOR_ID } from './reading';
import { AGGREGATED_SENSOR_DATA_TABLE, SENSOR_DATA_TABLE } from './schema';
import { dbTimestampToIso, formatSqlTimestamp, parseTimestampUs } from './time';

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;
export const MAX_SKIP = 10_000_000;

export type ReadParameter = 'sensor_id' | 'start_time' | 'end_time' | 'skip' | 'limit';

export class ReadApiError extends IotpError<'BAD_PARAMETER'> {
  /** HTTP status to answer with. */
  readonly status = 400;
  readonly parameter: ReadParameter;
  readonly reason: string;
  constructor(parameter: ReadParameter, reason: string) {
    super('BAD_PARAMETER', `${parameter}: ${reason}`);
    this.parameter = parameter;
    this.reason = reason;
  }

  /** The JSON body of the 400 answer. */
  toJSON(): { error: string; code: string; parameter: ReadParameter; reason: string } {
    return { error: this.message, code: this.code, parameter: this.parameter, reason: this.reason };
  }
}

export interface ReadQuery {
  sensorId: number | null;
  /** Epoch microseconds, inclusive. */
  startUs: number | null;
  /** Epoch microseconds, exclusive. */
  endUs: number | null;
  skip: number;
  limit: number;
}

/** A query string as Node's URLSearchParams, `querystring.parse` or Express/Node-RED `req.query` give it. */
export type QueryInput = URLSearchParams | Readonly<Record<string, unknown>>;

function single(query: QueryInput, name: ReadParameter): string | null {
  let values: unknown[];
  if (query instanceof URLSearchParams) values = query.getAll(name);
  else {
    const raw = Object.prototype.hasOwnProperty.call(query, name) ? query[name] : undefined;
    values = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  }
  if (values.length === 0) return null;
  if (values.length > 1) throw new ReadApiError(name, 'is given more than once');
  const value = values[0];
  if (typeof value !== 'string') throw new ReadApiError(name, 'must be a single text value');
  return value === '' ? null : value;
}

function integer(query: QueryInput, name: ReadParameter, min: number, max: number): number | null {
  const text = single(query, name);
  if (text === null) return null;
  if (!/^\d{1,12}$/.test(text)) throw new ReadApiError(name, `${JSON.stringify(text.slice(0, 40))} is not a non-negative integer`);
  const n = Number(text);
  if (n < min || n > max) throw new ReadApiError(name, `${n} is outside ${min}..${max}`);
  return n;
}

function time(query: QueryInput, name: ReadParameter): number | null {
  const text = single(query, name);
  if (text === null) return null;
  const us = parseTimestampUs(text, { allowDateOnly: true });
  if (typeof us === 'string') throw new ReadApiError(name, `${JSON.stringify(text.slice(0, 40))} is not a valid ISO 8601 time: ${us}`);
  return us;
}

/** Validates the read endpoints' query parameters; throws `ReadApiError` (HTTP 400) with the reason. */
export function parseReadQuery(query: QueryInput): ReadQuery {
  const sensorId = integer(query, 'sensor_id', 0, MAX_SENSOR_ID);
  const startUs = time(query, 'start_time');
  const endUs = time(query, 'end_time');
  if (startUs !== null && endUs !== null && startUs > endUs) throw new ReadApiError('start_time', 'is after end_time');
  const skip = integer(query, 'skip', 0, MAX_SKIP) ?? 0;
  const limit = integer(query, 'limit', 1, MAX_LIMIT) ?? DEFAULT_LIMIT;
  return { sensorId, startUs, endUs, skip, limit };
}

export type ReadDataset = 'data' | 'aggregated_data';

const COLUMNS = ['id', 'sensor_id', 'timestamp', 'value', 'lat', 'lng', 'unit', 'type', 'description'];

/** `column` as text with all six fractional digits where the driver would return a Date. */
function timestampAsText(dialect: Dialect, column: string): string {
  if (dialect === 'mysql') return `CAST(${column} AS CHAR) AS ${column}`;
  if (dialect === 'postgres') return `to_char(${column}, 'YYYY-MM-DD HH24:MI:SS.US') AS ${column}`;
  return column;
}

/** The parameterised SELECT for one endpoint. */
export function readSql(dialect: Dialect, dataset: ReadDataset, query: ReadQuery): { sql: string; params: Array<string | number> } {
  const q = (id: string): string => (dialect === 'mysql' ? `\`${id}\`` : `"${id}"`);
  const table = dataset === 'data' ? SENSOR_DATA_TABLE : AGGREGATED_SENSOR_DATA_TABLE;
  const columns = dataset === 'data' ? COLUMNS : [...COLUMNS, 'samples'];
  const where: string[] = [];
  const params: Array<string | number> = [];
  if (query.sensorId !== null) {
    where.push(`${q('sensor_id')} = ?`);
    params.push(query.sensorId);
  }
  if (query.startUs !== null) {
    where.push(`${q('timestamp')} >= ?`);
    params.push(formatSqlTimestamp(query.startUs));
  }
  if (query.endUs !== null) {
    where.push(`${q('timestamp')} < ?`);
    params.push(formatSqlTimestamp(query.endUs));
  }
  // LIMIT/OFFSET are validated integers written into the text: mysql2 prepared statements reject
  // numeric LIMIT parameters on MySQL 8 ("Incorrect arguments to mysqld_stmt_execute").
  if (!Number.isSafeInteger(query.limit) || !Number.isSafeInteger(query.skip) || query.limit < 1 || query.skip < 0) {
    throw new RangeError('limit and skip must be validated integers');
  }
  // mysql2 and pg hand DATETIME(6)/TIMESTAMP(6) back as a JS Date, which keeps milliseconds only:
  // the text form keeps the microseconds. ORDER BY names the table's column, not that alias, so
  // the index still serves it.
  const select = columns.map((c) => (c === 'timestamp' ? timestampAsText(dialect, q(c)) : q(c)));
  const sql =
    `SELECT ${select.join(', ')} FROM ${q(table)}` +
    (where.length ? ` WHERE ${where.join(' AND ')}` : '') +
    ` ORDER BY ${q(table)}.${q('timestamp')}, ${q(table)}.${q('id')} LIMIT ${query.limit} OFFSET ${query.skip}`;
  return { sql, params };
}

function num(v: unknown): number | null {
  if (v == null) return null;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : null;
}

function str(v: unknown): string | null {
  if (v == null) return null;
  return Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
}

/** One database row as the endpoints' JSON: timestamps ISO 8601 with `Z`, numbers as numbers. */
export function renderRow(row: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: num(row.id),
    sensor_id: num(row.sensor_id),
    timestamp: dbTimestampToIso(row.timestamp),
    value: num(row.value),
    lat: num(row.lat),
    lng: num(row.lng),
    unit: str(row.unit),
    type: str(row.type),
    description: str(row.description),
  };
  if (Object.prototype.hasOwnProperty.call(row, 'samples')) out.samples = num(row.samples);
  return out;
}

// ---- HTML view -----------------------------------------------------------------------------

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

const MAX_DEPTH = 6;
const MAX_ITEMS = 1000;

function renderValue(value: unknown, depth: number): string {
  if (value === null || value === undefined) return '<span class="null">null</span>';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return `<span class="num">${escapeHtml(String(value))}</span>`;
  if (typeof value === 'string') return escapeHtml(value);
  if (depth >= MAX_DEPTH) return `<code>${escapeHtml(JSON.stringify(value) ?? '')}</code>`;
  if (Array.isArray(value)) {
    if (value.length === 0) return '<span class="null">[]</span>';
    const items = value.slice(0, MAX_ITEMS);
    const more = value.length > MAX_ITEMS ? `<p>… ${value.length - MAX_ITEMS} more</p>` : '';
    // An array of objects reads best as one table with a column per key.
    if (items.every((v) => typeof v === 'object' && v !== null && !Array.isArray(v))) {
      const keys: string[] = [];
      for (const item of items) for (const k of Object.keys(item as object)) if (!keys.includes(k) && keys.length < 50) keys.push(k);
      const head = keys.map((k) => `<th>${escapeHtml(k)}</th>`).join('');
      const rows = items
        .map((item) => `<tr>${keys.map((k) => `<td>${renderValue((item as Record<string, unknown>)[k], depth + 1)}</td>`).join('')}</tr>`)
        .join('\n');
      return `<table><thead><tr>${head}</tr></thead><tbody>\n${rows}\n</tbody></table>${more}`;
    }
    return `<ul>${items.map((v) => `<li>${renderValue(v, depth + 1)}</li>`).join('')}</ul>${more}`;
  }
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) return '<span class="null">{}</span>';
    const rows = entries
      .slice(0, MAX_ITEMS)
      .map(([k, v]) => `<tr><th scope="row">${escapeHtml(k)}</th><td>${renderValue(v, depth + 1)}</td></tr>`)
      .join('\n');
    return `<table class="kv"><tbody>\n${rows}\n</tbody></table>`;
  }
  return escapeHtml(String(value));
}

/**
 * A small readable HTML page for a JSON answer (for browsers sending `Accept: text/html`).
 * Every string from the data is escaped; the page carries a CSP that forbids scripts, so even a
 * missed escape could not run code.
 */
export function renderHtml(title: string, json: unknown): string {
  const t = escapeHtml(title);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${t}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.2em 0}
th,td{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}
th{background:#f4f4f4;font-weight:600}
.num{font-variant-numeric:tabular-nums}
.null{color:#999}
</style>
</head>
<body>
<h1>${t}</h1>
${renderValue(json, 0)}
</body>
</html>
`;
}
