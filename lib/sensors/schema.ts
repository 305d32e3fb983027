/**
 * Migration set "sensors": the two tables of the original pipeline, same names and columns, so
 * existing queries keep working, with what the original lacked:
 *
 * - `timestamp` keeps microseconds (DATETIME(6); SQLite text `YYYY-MM-DD HH:MM:SS.ffffff`) and
 *   is always UTC (the original stamped aggregates with local insert time);
 * - indexes for time-range reads per sensor and across sensors;
 * - `aggregated_sensor_data` has one row per sensor per minute, enforced by a unique key, so an
 *   aggregate emitted again (after a restart or a late reading) updates its row instead of adding
 *   one; its extra `samples` column says how many readings the mean covers.
 * - `value` is DOUBLE, not FLOAT: a 4-byte float would round 23.1 to 23.100000381.
 */
import type { Dialect, MigrationSet } from '../db/types';

export const SENSOR_DATA_TABLE = 'sensor_data';
export const AGGREGATED_SENSOR_DATA_TABLE = 'aggregated_sensor_data';

/** Columns written for one reading, in binding order. */
export const SENSOR_DATA_COLUMNS = ['sensor_id', 'timestamp', 'value', 'lat', 'lng', 'unit', 'type', 'description'] as const;
/** Columns written for one aggregate, in binding order. */
export const AGGREGATED_COLUMNS = [...SENSOR_DATA_COLUMNS, 'samples'] as const;

const mysqlTable = (name: string, extraColumns: string, keys: string): string =>
  `CREATE TABLE IF NOT EXISTS \`${name}\` (
  \`id\` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  \`sensor_id\` INT NOT NULL,
  \`timestamp\` DATETIME(6) NOT NULL,
  \`value\` DOUBLE NOT NULL,
  \`lat\` DOUBLE NULL,
  \`lng\` DOUBLE NULL,
  \`unit\` VARCHAR(32) NULL,
  \`type\` VARCHAR(64) NULL,
  \`description\` TEXT NULL,${extraColumns}
  PRIMARY KEY (\`id\`),
  ${keys}
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`;

// SQLite: DATETIME is only a declared type (NUMERIC affinity); the stored fixed-width text never
// looks like a number, so it stays text and sorts chronologically. The declared name is what the
// catalog shows, and tells a reader what the column holds.
const sqliteTable = (name: string, extraColumns: string): string =>
  `CREATE TABLE IF NOT EXISTS "${name}" (
  "id" INTEGER PRIMARY KEY AUTOINCREMENT,
  "sensor_id" INTEGER NOT NULL,
  "timestamp" DATETIME NOT NULL,
  "value" DOUBLE NOT NULL,
  "lat" DOUBLE,
  "lng" DOUBLE,
  "unit" VARCHAR(32),
  "type" VARCHAR(64),
  "description" TEXT${extraColumns}
)`;

export const sensorsMigrations: MigrationSet = {
  name: 'sensors',
  description: 'IoT sensors: raw readings (sensor_data) and per-minute means (aggregated_sensor_data)',
  migrations: [
    {
      version: 1,
      name: 'create-sensor-data',
      mysql: [
        mysqlTable(
          SENSOR_DATA_TABLE,
          '',
          'KEY `idx_sensor_data_sensor_time` (`sensor_id`, `timestamp`),\n  KEY `idx_sensor_data_time` (`timestamp`)',
        ),
      ],
      sqlite: [
        sqliteTable(SENSOR_DATA_TABLE, ''),
        'CREATE INDEX IF NOT EXISTS "idx_sensor_data_sensor_time" ON "sensor_data" ("sensor_id", "timestamp")',
        'CREATE INDEX IF NOT EXISTS "idx_sensor_data_time" ON "sensor_data" ("timestamp")',
      ],
    },
    {
      version: 2,
      name: 'create-aggregated-sensor-data',
      mysql: [
        mysqlTable(
          AGGREGATED_SENSOR_DATA_TABLE,
          '\n  `samples` INT UNSIGNED NOT NULL DEFAULT 0,',
          'UNIQUE KEY `uq_aggregated_sensor_minute` (`sensor_id`, `timestamp`),\n  KEY `idx_aggregated_time` (`timestamp`)',
        ),
      ],
      sqlite: [
        sqliteTable(AGGREGATED_SENSOR_DATA_TABLE, ',\n  "samples" INTEGER NOT NULL DEFAULT 0'),
        'CREATE UNIQUE INDEX IF NOT EXISTS "uq_aggregated_sensor_minute" ON "aggregated_sensor_data" ("sensor_id", "timestamp")',
        'CREATE INDEX IF NOT EXISTS "idx_aggregated_time" ON "aggregated_sensor_data" ("timestamp")',
      ],
    },
  ],
};

function quote(dialect: Dialect, identifier: string): string {
  return dialect === 'mysql' ? `\`${identifier}\`` : `"${identifier}"`;
}

function placeholders(columns: number, rows: number): string {
  const one = `(${new Array(columns).fill('?').join(', ')})`;
  return new Array(rows).fill(one).join(', ');
}

/** Multi-row INSERT into `sensor_data` for `rows` rows; bind `SENSOR_DATA_COLUMNS` of each row in order. */
export function insertSensorDataSql(dialect: Dialect, rows: number): string {
  if (!Number.isInteger(rows) || rows < 1) throw new RangeError(`rows must be a positive integer, got ${rows}`);
  const columns = SENSOR_DATA_COLUMNS.map((c) => quote(dialect, c)).join(', ');
  return `INSERT INTO ${quote(dialect, SENSOR_DATA_TABLE)} (${columns}) VALUES ${placeholders(SENSOR_DATA_COLUMNS.length, rows)}`;
}

/**
 * Multi-row upsert into `aggregated_sensor_data`: a minute already stored for a sensor is
 * replaced by the newer aggregate (which covers at least as many samples), never duplicated.
 */
export function upsertAggregatedSql(dialect: Dialect, rows: number): string {
  if (!Number.isInteger(rows) || rows < 1) throw new RangeError(`rows must be a positive integer, got ${rows}`);
  const columns = AGGREGATED_COLUMNS.map((c) => quote(dialect, c)).join(', ');
  const updated = AGGREGATED_COLUMNS.filter((c) => c !== 'sensor_id' && c !== 'timestamp');
  const head = `INSERT INTO ${quote(dialect, AGGREGATED_SENSOR_DATA_TABLE)} (${columns}) VALUES ${placeholders(AGGREGATED_COLUMNS.length, rows)}`;
  if (dialect === 'mysql') {
    // VALUES(col) works on MariaDB and MySQL 8 (deprecated there in favour of row aliases, which MariaDB lacks).
    return `${head} ON DUPLICATE KEY UPDATE ${updated.map((c) => `${quote(dialect, c)} = VALUES(${quote(dialect, c)})`).join(', ')}`;
  }
  return `${head} ON CONFLICT ("sensor_id", "timestamp") DO UPDATE SET ${updated.map((c) => `${quote(dialect, c)} = excluded.${quote(dialect, c)}`).join(', ')}`;
}
