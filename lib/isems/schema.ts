/**
 * Storage of ISEMS measurements (MySQL/MariaDB, PostgreSQL and SQLite): the `isems` migration set, an
 * idempotent insert, the two API queries, retention, and the rendering of a row for the API.
 *
 * Why `timestamp` is BIGINT epoch seconds (not DATETIME/TIMESTAMP):
 * - it is exactly what the node writes, so nothing is converted and nothing is lost;
 * - it is one instant on both dialects, independent of server and session time zones (the
 *   original stored naive Berlin time and was ambiguous at every DST change; MySQL TIMESTAMP
 *   converts through the session zone, DATETIME has no zone at all, SQLite has no date type);
 * - "active within N days" and retention are plain integer comparisons that use the index.
 * SQL consoles can still show it: FROM_UNIXTIME(`timestamp`) / datetime("timestamp", 'unixepoch').
 *
 * Text is compared byte-wise on both dialects (utf8mb4_bin in MySQL, SQLite's default BINARY),
 * so `Roof` and `roof` are two nodes everywhere, and the unique key agrees between dialects.
 *
 * The unique index (`nodeId`, `timestamp`) is also the index every read uses: a node's newest rows
 * are a backward range scan of it, and each node's newest row is one seek into it.
 */
import type { Dialect, MigrationSet, SqlExecutor, SqlValue } from '../db/types';
import { isemsAdoption } from './adopt';
import { IsemsError } from './errors';
import { formatStatusHex, ISEMS_FIELDS, isoFromEpochSeconds, type IsemsMeasurement } from './parse';

export const MEASUREMENT_TABLE = 'measurement';
/** Rows a node keeps by default when retention runs. */
export const DEFAULT_KEEP_PER_NODE = 20_000;
/** Rows of `GET /measurements/<node_id>/latest`: one day at one line per minute. */
export const NODE_HISTORY_LIMIT = 1440;
export const DEFAULT_HIDE_INACTIVE_AFTER_DAYS = 30;
/** Rows per INSERT statement: 19 parameters each stays far below both dialects' limits. */
export const MAX_INSERT_ROWS = 500;

/** Columns written from a record: one per contract field, named and ordered like the log line's fields. */
export const MEASUREMENT_COLUMNS = ISEMS_FIELDS;

/** Numeric columns besides `timestamp` (DOUBLE / REAL). */
const DOUBLE_COLUMNS = MEASUREMENT_COLUMNS.filter(
  (name) => !['nodeId', 'isemsRevision', 'timestamp', 'openMPPTFirmwareVersion', 'isPowerSaveMode', 'status'].includes(name),
);

const UNITS: Partial<Record<(typeof MEASUREMENT_COLUMNS)[number], string>> = {
  timeToShutdown: 'min',
  openCircuitVoltage: 'V',
  mppVoltage: 'V',
  batteryVoltage: 'V',
  batteryChargeEstimate: '%',
  batteryHealthEstimate: '%',
  batteryTemperature: 'degC',
  lowVoltageDisconnectVoltage: 'V',
  temperatureCorrectedVoltage: 'V',
  rateBatteryCapacity: 'Ah',
  ratedSolarModuleCapacity: 'W',
  latitude: 'deg',
  longitude: 'deg',
};

function quote(dialect: Dialect, name: string): string {
  return dialect === 'mysql' ? `\`${name}\`` : `"${name}"`;
}

const MYSQL_CREATE = [
  'CREATE TABLE IF NOT EXISTS `measurement` (',
  '  `id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,',
  '  `nodeId` VARCHAR(100) NOT NULL,',
  '  `isemsRevision` VARCHAR(16) NOT NULL,',
  "  `timestamp` BIGINT NOT NULL COMMENT 'instant: Unix epoch seconds (UTC)',",
  '  `openMPPTFirmwareVersion` VARCHAR(64) NOT NULL,',
  ...DOUBLE_COLUMNS.filter((name) => name === 'timeToShutdown').map((name) => `  \`${name}\` DOUBLE NOT NULL COMMENT '${UNITS[name]}',`),
  '  `isPowerSaveMode` BOOLEAN NOT NULL,',
  ...DOUBLE_COLUMNS.filter((name) => name !== 'timeToShutdown').map((name) => `  \`${name}\` DOUBLE NOT NULL COMMENT '${UNITS[name]}',`),
  "  `status` SMALLINT UNSIGNED NULL COMMENT '12 status bits, bit 0 = 0x800, NULL if not reported',",
  '  PRIMARY KEY (`id`),',
  '  UNIQUE KEY `uq_measurement_node_timestamp` (`nodeId`, `timestamp`),',
  '  CONSTRAINT `ck_measurement_node_id` CHECK (CHAR_LENGTH(`nodeId`) > 0),',
  '  CONSTRAINT `ck_measurement_status` CHECK (`status` IS NULL OR `status` <= 4095)',
  ') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin',
].join('\n');

const SQLITE_CREATE = [
  'CREATE TABLE IF NOT EXISTS "measurement" (',
  // AUTOINCREMENT: ids are never reused (as in MySQL), even after retention deletes rows.
  '  "id" INTEGER PRIMARY KEY AUTOINCREMENT,',
  '  "nodeId" TEXT NOT NULL CHECK (length("nodeId") BETWEEN 1 AND 100),',
  '  "isemsRevision" TEXT NOT NULL CHECK (length("isemsRevision") <= 16),',
  '  "timestamp" INTEGER NOT NULL, -- instant: Unix epoch seconds (UTC)',
  '  "openMPPTFirmwareVersion" TEXT NOT NULL CHECK (length("openMPPTFirmwareVersion") <= 64),',
  '  "timeToShutdown" REAL NOT NULL, -- min',
  '  "isPowerSaveMode" INTEGER NOT NULL CHECK ("isPowerSaveMode" IN (0, 1)),',
  ...DOUBLE_COLUMNS.filter((name) => name !== 'timeToShutdown').map((name) => `  "${name}" REAL NOT NULL, -- ${UNITS[name]}`),
  '  "status" INTEGER CHECK ("status" BETWEEN 0 AND 4095) -- 12 status bits, bit 0 = 0x800, NULL if not reported',
  // STRICT: values of the wrong type are refused, as MySQL's strict mode does.
  ') STRICT',
].join('\n');

// PostgreSQL: text compared and ordered byte-wise (COLLATE "C"), as utf8mb4_bin and SQLite do.
const POSTGRES_CREATE = [
  'CREATE TABLE IF NOT EXISTS "measurement" (',
  '  "id" BIGSERIAL PRIMARY KEY,',
  '  "nodeId" VARCHAR(100) COLLATE "C" NOT NULL CHECK (char_length("nodeId") > 0),',
  '  "isemsRevision" VARCHAR(16) COLLATE "C" NOT NULL,',
  '  "timestamp" BIGINT NOT NULL,',
  '  "openMPPTFirmwareVersion" VARCHAR(64) COLLATE "C" NOT NULL,',
  '  "timeToShutdown" DOUBLE PRECISION NOT NULL,',
  '  "isPowerSaveMode" BOOLEAN NOT NULL,',
  ...DOUBLE_COLUMNS.filter((name) => name !== 'timeToShutdown').map((name) => `  "${name}" DOUBLE PRECISION NOT NULL,`),
  '  "status" SMALLINT NULL CHECK ("status" BETWEEN 0 AND 4095),',
  '  CONSTRAINT "uq_measurement_node_timestamp" UNIQUE ("nodeId", "timestamp")',
  ')',
].join('\n');

/** Column comments (units) for PostgreSQL, which has no inline COMMENT clause. */
const POSTGRES_COMMENTS = [
  `COMMENT ON COLUMN "measurement"."timestamp" IS 'instant: Unix epoch seconds (UTC)'`,
  ...DOUBLE_COLUMNS.map((name) => `COMMENT ON COLUMN "measurement"."${name}" IS '${UNITS[name]}'`),
  `COMMENT ON COLUMN "measurement"."status" IS '12 status bits, bit 0 = 0x800, NULL if not reported'`,
];

/** The `isems` migration set: table `measurement` with one column per contract field. */
export const isemsMigrations: MigrationSet = {
  name: 'isems',
  description: 'ISEMS solar-node measurements: one row per node and timestamp',
  migrations: [
    {
      version: 1,
      name: 'create-measurement',
      mysql: [MYSQL_CREATE],
      sqlite: [SQLITE_CREATE, 'CREATE UNIQUE INDEX IF NOT EXISTS "uq_measurement_node_timestamp" ON "measurement" ("nodeId", "timestamp")'],
      postgres: [POSTGRES_CREATE, ...POSTGRES_COMMENTS],
    },
  ],
  // Taking over the ISEMS collector's own table (lib/isems/adopt.ts).
  adoption: isemsAdoption,
};

export interface SqlStatement {
  sql: string;
  params: SqlValue[];
}

/** The parameters of one record, in `MEASUREMENT_COLUMNS` order (booleans as 0/1: SQLite cannot bind booleans). */
export function measurementParams(record: IsemsMeasurement): SqlValue[] {
  return [
    record.nodeId,
    record.isemsRevision,
    record.epochSeconds,
    record.openMPPTFirmwareVersion,
    record.timeToShutdown,
    record.isPowerSaveMode ? 1 : 0,
    record.openCircuitVoltage,
    record.mppVoltage,
    record.batteryVoltage,
    record.batteryChargeEstimate,
    record.batteryHealthEstimate,
    record.batteryTemperature,
    record.lowVoltageDisconnectVoltage,
    record.temperatureCorrectedVoltage,
    record.rateBatteryCapacity,
    record.ratedSolarModuleCapacity,
    record.latitude,
    record.longitude,
    record.status,
  ];
}

/**
 * One multi-row INSERT of up to MAX_INSERT_ROWS records that skips rows already stored (same
 * `nodeId` and `timestamp`). Any other problem (a value too long, a wrong type) still fails the
 * statement: nothing is silently truncated, unlike MySQL's INSERT IGNORE.
 * `affectedRows` is the number of new rows on SQLite; on MySQL it is only when the connection
 * does not set CLIENT_FOUND_ROWS (mysql2 sets it by default, and then every row counts 1).
 */
export function buildInsert(dialect: Dialect, records: readonly IsemsMeasurement[]): SqlStatement {
  if (records.length === 0 || records.length > MAX_INSERT_ROWS) {
    throw new IsemsError('ISEMS_BAD_CONFIG', `buildInsert takes 1 to ${MAX_INSERT_ROWS} records, not ${records.length}`);
  }
  const columns = MEASUREMENT_COLUMNS.map((name) => quote(dialect, name)).join(', ');
  const tuple = `(${MEASUREMENT_COLUMNS.map(() => '?').join(', ')})`;
  const params: SqlValue[] = [];
  for (const record of records) for (const value of measurementParams(record)) params.push(value);
  const values = new Array<string>(records.length).fill(tuple).join(', ');
  const onConflict = dialect === 'mysql' ? 'ON DUPLICATE KEY UPDATE `id` = `id`' : 'ON CONFLICT ("nodeId", "timestamp") DO NOTHING';
  return { sql: `INSERT INTO ${quote(dialect, MEASUREMENT_TABLE)} (${columns}) VALUES ${values} ${onConflict}`, params };
}

/** Splits records into insert statements of at most MAX_INSERT_ROWS rows. */
export function buildInserts(dialect: Dialect, records: readonly IsemsMeasurement[]): SqlStatement[] {
  const statements: SqlStatement[] = [];
  for (let start = 0; start < records.length; start += MAX_INSERT_ROWS) {
    statements.push(buildInsert(dialect, records.slice(start, start + MAX_INSERT_ROWS)));
  }
  return statements;
}

function selectList(dialect: Dialect, alias: string): string {
  return ['id', ...MEASUREMENT_COLUMNS].map((name) => `${alias}.${quote(dialect, name)}`).join(', ');
}

export interface LatestQueryOptions {
  /** `?all=true`: every node, however long silent. */
  all?: boolean;
  /** Nodes whose newest row is older than this are left out. Default 30 (HIDE_INACTIVE_AFTER_DAYS). */
  hideInactiveAfterDays?: number;
  /** "Now" in epoch seconds. Default: this machine's clock. */
  nowEpochSeconds?: number;
}

/**
 * `GET /measurements/latest`: the newest row of every node (ordered by node id), only nodes
 * active within `hideInactiveAfterDays` unless `all`. Both forms cost one index seek per node,
 * not a scan of the table:
 * - MySQL/MariaDB: GROUP BY `nodeId` with MAX(`timestamp`) is a loose index scan of the unique key;
 * - SQLite and PostgreSQL have no loose index scan, so a recursive CTE walks the distinct node ids
 *   through the index (each step a MIN(`nodeId`) > previous seek), then seeks each node's newest row
 *   (PostgreSQL: a LATERAL subquery, so the planner cannot turn the seeks into a hash join over a
 *   scan of the table).
 */
export function latestPerNodeQuery(dialect: Dialect, options: LatestQueryOptions = {}): SqlStatement {
  const params: SqlValue[] = [];
  let cutoff: number | null = null;
  if (!options.all) {
    const days = options.hideInactiveAfterDays ?? DEFAULT_HIDE_INACTIVE_AFTER_DAYS;
    if (!(Number.isFinite(days) && days >= 0))
      throw new IsemsError('ISEMS_BAD_CONFIG', `hideInactiveAfterDays must be a number >= 0, not ${String(days)}`);
    const now = options.nowEpochSeconds ?? Math.floor(Date.now() / 1000);
    cutoff = Math.floor(now - days * 86_400);
    params.push(cutoff);
  }
  if (dialect === 'mysql') {
    const having = cutoff === null ? '' : ' HAVING MAX(`timestamp`) >= ?';
    return {
      sql:
        `SELECT ${selectList(dialect, 'm')} FROM \`measurement\` m ` +
        'JOIN (SELECT `nodeId`, MAX(`timestamp`) AS `newest` FROM `measurement` GROUP BY `nodeId`' +
        having +
        ') latest ON m.`nodeId` = latest.`nodeId` AND m.`timestamp` = latest.`newest` ' +
        'ORDER BY m.`nodeId`',
      params,
    };
  }
  const filter = cutoff === null ? '' : ' AND m."timestamp" >= ?';
  if (dialect === 'postgres') {
    return {
      sql:
        `${RECURSIVE_NODES} ` +
        'SELECT m.* FROM nodes CROSS JOIN LATERAL (' +
        `SELECT ${selectList(dialect, 'x')} FROM "measurement" x WHERE x."nodeId" = nodes."nodeId" ORDER BY x."timestamp" DESC LIMIT 1` +
        `) m WHERE nodes."nodeId" IS NOT NULL${filter} ORDER BY m."nodeId"`,
      params,
    };
  }
  return {
    sql:
      `${RECURSIVE_NODES} ` +
      `SELECT ${selectList(dialect, 'm')} FROM nodes JOIN "measurement" m ON m."nodeId" = nodes."nodeId" ` +
      'AND m."timestamp" = (SELECT MAX(x."timestamp") FROM "measurement" x WHERE x."nodeId" = nodes."nodeId")' +
      filter +
      ' ORDER BY m."nodeId"',
    params,
  };
}

/** The distinct node ids, walked through the unique index one seek at a time. */
const RECURSIVE_NODES =
  'WITH RECURSIVE nodes("nodeId") AS (' +
  'SELECT MIN("nodeId") FROM "measurement" ' +
  'UNION ALL ' +
  'SELECT (SELECT MIN(n."nodeId") FROM "measurement" n WHERE n."nodeId" > nodes."nodeId") FROM nodes WHERE nodes."nodeId" IS NOT NULL' +
  ')';

function checkedCount(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new IsemsError('ISEMS_BAD_CONFIG', `${name} must be a whole number >= 0, not ${String(value)}`);
  return value;
}

/**
 * `GET /measurements/<node_id>/latest`: the node's newest `limit` rows (default 1440), newest
 * first; an unknown node gives no rows. The limit is a validated integer written into the SQL,
 * because a bound LIMIT parameter is refused by some MySQL prepared-statement paths.
 */
export function nodeHistoryQuery(dialect: Dialect, nodeId: string, limit = NODE_HISTORY_LIMIT): SqlStatement {
  const q = (name: string): string => quote(dialect, name);
  return {
    sql: `SELECT ${selectList(dialect, 'm')} FROM ${q(MEASUREMENT_TABLE)} m WHERE m.${q('nodeId')} = ? ORDER BY m.${q('timestamp')} DESC LIMIT ${checkedCount(limit, 'limit')}`,
    params: [String(nodeId)],
  };
}

/** Every distinct node id, through the unique index (loose index scan / recursive seek). */
export function distinctNodesQuery(dialect: Dialect): SqlStatement {
  if (dialect === 'mysql') return { sql: 'SELECT DISTINCT `nodeId` FROM `measurement` ORDER BY `nodeId`', params: [] };
  return {
    sql: `${RECURSIVE_NODES} SELECT "nodeId" FROM nodes WHERE "nodeId" IS NOT NULL`,
    params: [],
  };
}

export interface RetentionOptions {
  /** Rows kept per node (the newest). Default 20,000. */
  keepPerNode?: number;
  /** Rows deleted per statement, so no single statement holds locks for long. Default 5,000. */
  batchSize?: number;
}

export interface RetentionResult {
  nodes: number;
  deleted: number;
}

/**
 * Deletes all but the newest `keepPerNode` rows of every node. Per node: one index seek finds the
 * timestamp of the first row to go (OFFSET keepPerNode into the node's rows, newest first), then
 * range deletes of at most `batchSize` rows remove everything at or before it. Cost is proportional
 * to the rows deleted, not to the table; nodes below the limit cost one seek.
 */
export async function applyRetention(executor: SqlExecutor, options: RetentionOptions = {}): Promise<RetentionResult> {
  const dialect = executor.dialect;
  const keep = checkedCount(options.keepPerNode ?? DEFAULT_KEEP_PER_NODE, 'keepPerNode');
  const batch = checkedCount(options.batchSize ?? 5000, 'batchSize');
  if (batch === 0) throw new IsemsError('ISEMS_BAD_CONFIG', 'batchSize must be at least 1');
  const q = (name: string): string => quote(dialect, name);
  const table = q(MEASUREMENT_TABLE);
  const cutoffSql = `SELECT ${q('timestamp')} AS cutoff FROM ${table} WHERE ${q('nodeId')} = ? ORDER BY ${q('timestamp')} DESC LIMIT 1 OFFSET ${keep}`;
  const deleteSql =
    dialect === 'mysql'
      ? `DELETE FROM ${table} WHERE ${q('nodeId')} = ? AND ${q('timestamp')} <= ? ORDER BY ${q('timestamp')} LIMIT ${batch}`
      : `DELETE FROM ${table} WHERE ${q('id')} IN (SELECT ${q('id')} FROM ${table} WHERE ${q('nodeId')} = ? AND ${q('timestamp')} <= ? LIMIT ${batch})`;
  const nodes = await executor.query(distinctNodesQuery(dialect).sql);
  let deleted = 0;
  for (const row of nodes.rows) {
    const nodeId = String(row.nodeId);
    const cutoffRows = await executor.query(cutoffSql, [nodeId]);
    if (cutoffRows.rows.length === 0) continue;
    const cutoff = Number(cutoffRows.rows[0].cutoff);
    for (;;) {
      const result = await executor.query(deleteSql, [nodeId, cutoff]);
      deleted += result.affectedRows;
      if (result.affectedRows < batch) break;
    }
  }
  return { nodes: nodes.rows.length, deleted };
}

/** A row as the API returns it: every contract field plus `id`. */
export interface IsemsApiRow {
  id: number;
  nodeId: string;
  isemsRevision: string;
  /** ISO 8601 in UTC, e.g. `2023-11-14T22:13:20Z`. */
  timestamp: string | null;
  openMPPTFirmwareVersion: string;
  timeToShutdown: number | null;
  isPowerSaveMode: boolean;
  openCircuitVoltage: number | null;
  mppVoltage: number | null;
  batteryVoltage: number | null;
  batteryChargeEstimate: number | null;
  batteryHealthEstimate: number | null;
  batteryTemperature: number | null;
  lowVoltageDisconnectVoltage: number | null;
  temperatureCorrectedVoltage: number | null;
  rateBatteryCapacity: number | null;
  ratedSolarModuleCapacity: number | null;
  latitude: number | null;
  longitude: number | null;
  /** `"0x500"`; `"0x000"` when the node reported none. */
  status: string;
}

/** Drivers return numbers, bigints or numeric strings depending on type and settings. */
function numberOrNull(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && value.trim() !== '') {
    const parsed = Number(value);
    return Number.isFinite(parsed) ? parsed : null;
  }
  return null;
}

function timestampToIso(value: unknown): string | null {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : isoFromEpochSeconds(Math.floor(value.getTime() / 1000));
  const seconds = numberOrNull(value);
  return seconds === null || !Number.isFinite(seconds) || Math.abs(seconds) > 8.64e12 ? null : isoFromEpochSeconds(seconds);
}

function booleanOf(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') return value === '1' || value.toLowerCase() === 'true';
  return numberOrNull(value) === 1;
}

/** Renders a database row (either dialect, any driver number mode) as the contract's JSON row. */
export function toApiRow(row: Record<string, unknown>): IsemsApiRow {
  const status = numberOrNull(row.status);
  return {
    id: numberOrNull(row.id) ?? 0,
    nodeId: String(row.nodeId ?? ''),
    isemsRevision: String(row.isemsRevision ?? ''),
    timestamp: timestampToIso(row.timestamp),
    openMPPTFirmwareVersion: String(row.openMPPTFirmwareVersion ?? ''),
    timeToShutdown: numberOrNull(row.timeToShutdown),
    isPowerSaveMode: booleanOf(row.isPowerSaveMode),
    openCircuitVoltage: numberOrNull(row.openCircuitVoltage),
    mppVoltage: numberOrNull(row.mppVoltage),
    batteryVoltage: numberOrNull(row.batteryVoltage),
    batteryChargeEstimate: numberOrNull(row.batteryChargeEstimate),
    batteryHealthEstimate: numberOrNull(row.batteryHealthEstimate),
    batteryTemperature: numberOrNull(row.batteryTemperature),
    lowVoltageDisconnectVoltage: numberOrNull(row.lowVoltageDisconnectVoltage),
    temperatureCorrectedVoltage: numberOrNull(row.temperatureCorrectedVoltage),
    rateBatteryCapacity: numberOrNull(row.rateBatteryCapacity),
    ratedSolarModuleCapacity: numberOrNull(row.ratedSolarModuleCapacity),
    latitude: numberOrNull(row.latitude),
    longitude: numberOrNull(row.longitude),
    status: formatStatusHex(status !== null && Number.isInteger(status) && status >= 0 && status <= 0xfff ? status : null),
  };
}

/** HIDE_INACTIVE_AFTER_DAYS (default 30); throws ISEMS_BAD_CONFIG for anything but a number >= 0. */
export function hideInactiveAfterDaysFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.HIDE_INACTIVE_AFTER_DAYS?.trim();
  if (!raw) return DEFAULT_HIDE_INACTIVE_AFTER_DAYS;
  const days = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || !Number.isFinite(days))
    throw new IsemsError(
      'ISEMS_BAD_CONFIG',
      `HIDE_INACTIVE_AFTER_DAYS must be a number of days >= 0, not ${JSON.stringify(raw.slice(0, 50))}`,
    );
  return days;
}
