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
 * - `value` is DOUBLE, not FLOAT: a 4-byte float would round 23.1 to 23.100000381;
 * - several Node-RED instances splitting the readings (an MQTT shared subscription) each see part
 *   of a sensor's minute. Each instance writes its window result as a *part* into
 *   `aggregated_sensor_parts`, keyed by (sensor_id, timestamp, instance), and triggers fold the
 *   parts into `aggregated_sensor_data` (same columns as ever, one row per sensor per minute) as
 *   the samples-weighted mean; see "Merging the parts" below.
 */
import type { Dialect, MigrationSet } from '../db/types';
import { sensorsAdoption } from './adopt';

export const SENSOR_DATA_TABLE = 'sensor_data';
export const AGGREGATED_SENSOR_DATA_TABLE = 'aggregated_sensor_data';
export const AGGREGATED_SENSOR_PARTS_TABLE = 'aggregated_sensor_parts';

/** Columns written for one reading, in binding order. */
export const SENSOR_DATA_COLUMNS = ['sensor_id', 'timestamp', 'value', 'lat', 'lng', 'unit', 'type', 'description'] as const;
/** Columns written for one aggregate, in binding order. */
export const AGGREGATED_COLUMNS = [...SENSOR_DATA_COLUMNS, 'samples'] as const;
/** Columns written for one part of an aggregate, in binding order. */
export const AGGREGATED_PART_COLUMNS = [...AGGREGATED_COLUMNS, 'instance'] as const;
/** The unique key of a part: one per sensor, minute and Node-RED instance. */
export const AGGREGATED_PART_KEY = ['sensor_id', 'timestamp', 'instance'] as const;

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

// PostgreSQL: TIMESTAMP(6) holds UTC wall time with microseconds, like MySQL's DATETIME(6).
const postgresTable = (name: string, extraColumns: string): string =>
  `CREATE TABLE IF NOT EXISTS "${name}" (
  "id" BIGSERIAL PRIMARY KEY,
  "sensor_id" INT NOT NULL,
  "timestamp" TIMESTAMP(6) NOT NULL,
  "value" DOUBLE PRECISION NOT NULL,
  "lat" DOUBLE PRECISION NULL,
  "lng" DOUBLE PRECISION NULL,
  "unit" VARCHAR(32) NULL,
  "type" VARCHAR(64) NULL,
  "description" TEXT NULL${extraColumns}
)`;

/*
 * Merging the parts. `aggregated_sensor_data` holds, per sensor and minute, the samples-weighted
 * mean over that minute's parts: value = Σ(value·samples) / Σ samples, samples = Σ samples. The
 * triggers keep it so incrementally, from the part that changed and the aggregated row alone:
 *
 * - AFTER INSERT adds the part: upsert with samples + n and (value·samples + v·n) / (samples + n);
 * - AFTER UPDATE replaces the part's contribution by the new one (a re-emitted window, or a part
 *   redelivered after a lost commit answer, overwrites its own row instead of adding to it);
 * - AFTER DELETE takes it out, and deletes the aggregated row with the last part.
 *
 * They never read the other parts, so two instances committing parts of the same minute at once
 * cannot each compute a total that misses the other's part (a snapshot read under REPEATABLE READ
 * would): each changes the aggregated row with one locking statement, InnoDB serialises the two
 * on that row, and the second one starts from the first one's committed result. No range is
 * read, so no gap locks beyond those of the two unique-key upserts. SQLite has one writer at a time.
 * PostgreSQL under READ COMMITTED gives the same: INSERT ... ON CONFLICT DO UPDATE waits for a
 * concurrent insert of the key and then updates the committed row, and an UPDATE that waited for
 * a row lock re-evaluates its expressions on the row's newest version.
 *
 * Floating point: nothing is stored besides the mean. The sum is recovered as value·samples, which
 * carries the mean's rounding (relative 2^-53) into each merge, so after k merges the mean is off
 * by a few k units in the last place (relative 1e-14 after dozens of merges; a minute sees one per
 * instance and per re-emission), far below any sensor's resolution. A hidden running sum would not be exact either (it rounds on every addition too)
 * and would need a column the contract table does not have, or a second table to lock. What does
 * need care is what should not move at all:
 * - a part rewritten with the same value and samples (a redelivery; MySQL and SQLite both fire
 *   the UPDATE trigger for an upsert that changes nothing) leaves the row untouched: recomputing
 *   (x·n − d + d) / n does not give back x in the last bit about one time in ten;
 * - a part that is the minute's only one (the aggregated row's samples are its own) is copied,
 *   not merged, so one instance gives exactly the mean its window computed, as before parts.
 *
 * The same "the row is all this part" test (samples ≤ the part's) guards the subtraction: it also
 * covers a row that a writer overwrote directly (an older flow writing aggregated_sensor_data)
 * with fewer samples than the part, where a difference would go negative (an error on MySQL's
 * unsigned column) or divide by zero.
 *
 * MySQL evaluates SET assignments left to right, each seeing the columns already assigned (MariaDB
 * too, unless SIMULTANEOUS_ASSIGNMENT); SQLite and that mode use the old values throughout. Every
 * assignment below that reads `samples` comes before `samples` is assigned, so both give the same.
 */
const MERGED_DESCRIPTIVE = ['lat', 'lng', 'unit', 'type', 'description'] as const;

/**
 * The merge statements. `originalRows` (migration 4): `aggregated_sensor_data` may hold rows the
 * original pipeline wrote (`original_row` = their id, see migration 4), which the triggers never
 * update or delete, and the upsert's key includes `original_row` (0 for ours).
 */
function mergeSql(dialect: Dialect, originalRows = false) {
  const q = (identifier: string): string => quote(dialect, identifier);
  const agg = q(AGGREGATED_SENSOR_DATA_TABLE);
  const [value, samples] = [q('value'), q('samples')];
  const ours = originalRows ? ` AND ${q(ORIGINAL_ROW)} = 0` : '';
  const keyOf = (row: 'NEW' | 'OLD'): string =>
    `${q('sensor_id')} = ${row}.${q('sensor_id')} AND ${q('timestamp')} = ${row}.${q('timestamp')}${ours}`;
  const descriptive = MERGED_DESCRIPTIVE.map((c) => `${q(c)} = NEW.${q(c)}`).join(', ');
  const columns = AGGREGATED_COLUMNS.map(q).join(', ');
  const newValues = AGGREGATED_COLUMNS.map((c) => `NEW.${q(c)}`).join(', ');
  // PostgreSQL calls an unqualified column in ON CONFLICT DO UPDATE ambiguous (the table's or EXCLUDED's?).
  const [v, n] = dialect === 'postgres' ? [`${agg}.${value}`, `${agg}.${samples}`] : [value, samples];
  const merged = `${value} = (${v} * ${n} + NEW.${value} * NEW.${samples}) / (${n} + NEW.${samples}), ${descriptive}, ${samples} = ${n} + NEW.${samples}`;
  const target = [q('sensor_id'), q('timestamp'), ...(originalRows ? [q(ORIGINAL_ROW)] : [])].join(', ');
  const add =
    `INSERT INTO ${agg} (${columns}) VALUES (${newValues}) ` +
    (dialect === 'mysql' ? `ON DUPLICATE KEY UPDATE ${merged}` : `ON CONFLICT (${target}) DO UPDATE SET ${merged}`);
  const remove = [
    `DELETE FROM ${agg} WHERE ${keyOf('OLD')} AND ${samples} <= OLD.${samples}`,
    `UPDATE ${agg} SET ${value} = (${value} * ${samples} - OLD.${value} * OLD.${samples}) / (${samples} - OLD.${samples}), ` +
      `${samples} = ${samples} - OLD.${samples} WHERE ${keyOf('OLD')} AND ${samples} > OLD.${samples}`,
  ];
  const unchanged = `NEW.${value} = OLD.${value} AND NEW.${samples} = OLD.${samples}`;
  const alone = `${samples} <= OLD.${samples}`;
  const replace =
    `UPDATE ${agg} SET ` +
    `${value} = CASE WHEN ${unchanged} THEN ${value} WHEN ${alone} THEN NEW.${value} ` +
    `ELSE (${value} * ${samples} + (NEW.${value} * NEW.${samples} - OLD.${value} * OLD.${samples})) / (${samples} - OLD.${samples} + NEW.${samples}) END, ` +
    `${descriptive}, ` +
    `${samples} = CASE WHEN ${unchanged} THEN ${samples} WHEN ${alone} THEN NEW.${samples} ELSE ${samples} - OLD.${samples} + NEW.${samples} END ` +
    `WHERE ${keyOf('NEW')}`;
  const sameKey = `NEW.${q('sensor_id')} = OLD.${q('sensor_id')} AND NEW.${q('timestamp')} = OLD.${q('timestamp')}`;
  return { add, remove, replace, sameKey };
}

const PARTS_TRIGGERS = {
  insert: 'aggregated_sensor_parts_after_insert',
  update: 'aggregated_sensor_parts_after_update',
  /** SQLite only: its triggers have no IF, so a part moved to another sensor or minute gets a trigger of its own. */
  move: 'aggregated_sensor_parts_after_move',
  delete: 'aggregated_sensor_parts_after_delete',
} as const;

/** Existing per-minute means become parts of instance '' (minutes that already have parts are left alone, so a re-run adds nothing). */
function copyExistingSql(dialect: Dialect): string {
  const q = (identifier: string): string => quote(dialect, identifier);
  const columns = AGGREGATED_COLUMNS.map(q);
  return (
    `INSERT INTO ${q(AGGREGATED_SENSOR_PARTS_TABLE)} (${[...columns, q('instance')].join(', ')}) ` +
    `SELECT ${columns.map((c) => `a.${c}`).join(', ')}, '' FROM ${q(AGGREGATED_SENSOR_DATA_TABLE)} a ` +
    // A row without samples (written by a flow that had no samples column) has nothing to weigh:
    // it stays as it is, and the first part of its minute replaces it, as the old upsert did.
    `WHERE a.${q('samples')} > 0 AND NOT EXISTS (SELECT 1 FROM ${q(AGGREGATED_SENSOR_PARTS_TABLE)} p ` +
    `WHERE p.${q('sensor_id')} = a.${q('sensor_id')} AND p.${q('timestamp')} = a.${q('timestamp')})`
  );
}

function mysqlPartsTriggers(originalRows: boolean): string[] {
  const { add, remove, replace, sameKey } = mergeSql('mysql', originalRows);
  const parts = `\`${AGGREGATED_SENSOR_PARTS_TABLE}\``;
  return [
    `CREATE TRIGGER \`${PARTS_TRIGGERS.insert}\` AFTER INSERT ON ${parts} FOR EACH ROW\n${add}`,
    `CREATE TRIGGER \`${PARTS_TRIGGERS.update}\` AFTER UPDATE ON ${parts} FOR EACH ROW
BEGIN
  IF ${sameKey} THEN
    ${replace};
  ELSE
    ${remove.join(';\n    ')};
    ${add};
  END IF;
END`,
    `CREATE TRIGGER \`${PARTS_TRIGGERS.delete}\` AFTER DELETE ON ${parts} FOR EACH ROW
BEGIN
  ${remove.join(';\n  ')};
END`,
  ];
}

const MYSQL_DROP_PARTS_TRIGGERS = Object.values(PARTS_TRIGGERS)
  .filter((t) => t !== PARTS_TRIGGERS.move)
  .map((t) => `DROP TRIGGER IF EXISTS \`${t}\``);

function mysqlPartsMigration(): string[] {
  return [
    mysqlTable(
      AGGREGATED_SENSOR_PARTS_TABLE,
      // Binary collation: instance names are compared as written (`a` and `A` are two instances).
      '\n  `samples` INT UNSIGNED NOT NULL,\n  `instance` VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,',
      'UNIQUE KEY `uq_aggregated_part` (`sensor_id`, `timestamp`, `instance`),\n  KEY `idx_aggregated_parts_time` (`timestamp`),\n' +
        '  CONSTRAINT `chk_aggregated_part_samples` CHECK (`samples` > 0)',
    ),
    // MySQL commits DDL as it goes: should a later statement fail, the re-run starts here, and
    // the copy must not run with the triggers of a first attempt in place (it would add the old
    // minutes to themselves). CREATE TRIGGER IF NOT EXISTS needs MySQL 8.0.29; DROP works everywhere.
    ...MYSQL_DROP_PARTS_TRIGGERS,
    copyExistingSql('mysql'),
    ...mysqlPartsTriggers(false),
  ];
}

function sqlitePartsTriggers(originalRows: boolean): string[] {
  const { add, remove, replace, sameKey } = mergeSql('sqlite', originalRows);
  const parts = `"${AGGREGATED_SENSOR_PARTS_TABLE}"`;
  const ifNotExists = originalRows ? '' : 'IF NOT EXISTS ';
  return [
    `CREATE TRIGGER ${ifNotExists}"${PARTS_TRIGGERS.insert}" AFTER INSERT ON ${parts}\nBEGIN\n  ${add};\nEND`,
    `CREATE TRIGGER ${ifNotExists}"${PARTS_TRIGGERS.update}" AFTER UPDATE ON ${parts} WHEN ${sameKey}\nBEGIN\n  ${replace};\nEND`,
    `CREATE TRIGGER ${ifNotExists}"${PARTS_TRIGGERS.move}" AFTER UPDATE ON ${parts} WHEN NOT (${sameKey})\nBEGIN\n  ${remove.join(';\n  ')};\n  ${add};\nEND`,
    `CREATE TRIGGER ${ifNotExists}"${PARTS_TRIGGERS.delete}" AFTER DELETE ON ${parts}\nBEGIN\n  ${remove.join(';\n  ')};\nEND`,
  ];
}

function sqlitePartsMigration(): string[] {
  const parts = `"${AGGREGATED_SENSOR_PARTS_TABLE}"`;
  return [
    sqliteTable(AGGREGATED_SENSOR_PARTS_TABLE, ',\n  "samples" INTEGER NOT NULL CHECK ("samples" > 0),\n  "instance" TEXT NOT NULL'),
    `CREATE UNIQUE INDEX IF NOT EXISTS "uq_aggregated_part" ON ${parts} ("sensor_id", "timestamp", "instance")`,
    `CREATE INDEX IF NOT EXISTS "idx_aggregated_parts_time" ON ${parts} ("timestamp")`,
    // SQLite runs the migration in one savepoint, so no half-applied state to re-run from; the
    // copy is still skipped for minutes that have parts, like MySQL's.
    copyExistingSql('sqlite'),
    ...sqlitePartsTriggers(false),
  ];
}

/**
 * Migration 4: room for the rows the original pipeline wrote. It stamped its means with its local
 * insert time (not a minute of ours) and let duplicates in, so those rows cannot take part in the
 * one-row-per-sensor-and-minute key: `original_row` holds their id (set when the original's table
 * is taken over, lib/sensors/adopt.ts) and 0 for every row this product writes; the unique key
 * becomes (sensor_id, timestamp, original_row) and the triggers touch only rows with 0. A flow
 * that writes `aggregated_sensor_data` itself keeps working on MySQL (ON DUPLICATE KEY finds the
 * key); on SQLite its upsert names the key: `sensor_id, timestamp, original_row`.
 */
export const ORIGINAL_ROW = 'original_row';

/**
 * The v4 triggers, dropped and created again (shared with the adoption of the original's tables).
 * PostgreSQL: the functions the triggers call are replaced; the triggers stay.
 */
export function partsTriggersV4(dialect: Dialect): string[] {
  if (dialect === 'mysql') return [...MYSQL_DROP_PARTS_TRIGGERS, ...mysqlPartsTriggers(true)];
  if (dialect === 'postgres') return postgresPartsFunctions(true);
  return [...Object.values(PARTS_TRIGGERS).map((t) => `DROP TRIGGER IF EXISTS "${t}"`), ...sqlitePartsTriggers(true)];
}

const MYSQL_ORIGINAL_ROW_COLUMN = `\`${ORIGINAL_ROW}\` BIGINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'id of a row the original pipeline wrote, 0 for ours'`;

function mysqlOriginalRowsMigration(): string[] {
  return [
    // Writers still on the previous release keep upserting parts: they wait, then meet the new triggers.
    `LOCK TABLES \`${AGGREGATED_SENSOR_PARTS_TABLE}\` WRITE, \`${AGGREGATED_SENSOR_DATA_TABLE}\` WRITE`,
    // Re-runnable: the ALTER runs only while the column is missing (MySQL 8 has no ADD COLUMN IF NOT EXISTS).
    `SET @iotp_step = IF(EXISTS(SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '${AGGREGATED_SENSOR_DATA_TABLE}' AND COLUMN_NAME = '${ORIGINAL_ROW}'), 'DO 0',
  'ALTER TABLE \`${AGGREGATED_SENSOR_DATA_TABLE}\` ADD COLUMN ${MYSQL_ORIGINAL_ROW_COLUMN.replace(/'/g, "''")}, DROP INDEX \`uq_aggregated_sensor_minute\`, ADD UNIQUE KEY \`uq_aggregated_sensor_minute\` (\`sensor_id\`, \`timestamp\`, \`${ORIGINAL_ROW}\`)')`,
    'PREPARE iotp_step FROM @iotp_step',
    'EXECUTE iotp_step',
    'DEALLOCATE PREPARE iotp_step',
    ...partsTriggersV4('mysql'),
    'UNLOCK TABLES',
  ];
}

/**
 * SQLite and PostgreSQL: an upsert names the unique index it conflicts on, so the key of the merge
 * triggers is an index of its own, (sensor_id, timestamp, original_row); this product's databases
 * keep the (sensor_id, timestamp) index too, so flows that upsert aggregated_sensor_data on those
 * two columns keep working. A database taken over from the original (duplicates) has only the first.
 */
export const ORIGINAL_ROW_KEY = 'uq_aggregated_sensor_original_row';

function sqliteOriginalRowsMigration(): string[] {
  return [
    ...Object.values(PARTS_TRIGGERS).map((t) => `DROP TRIGGER IF EXISTS "${t}"`),
    `ALTER TABLE "${AGGREGATED_SENSOR_DATA_TABLE}" ADD COLUMN "${ORIGINAL_ROW}" INTEGER NOT NULL DEFAULT 0`,
    `CREATE UNIQUE INDEX "${ORIGINAL_ROW_KEY}" ON "${AGGREGATED_SENSOR_DATA_TABLE}" ("sensor_id", "timestamp", "${ORIGINAL_ROW}")`,
    ...sqlitePartsTriggers(true),
  ];
}

/** PostgreSQL's merge functions (one per trigger; the triggers call them by name). */
function postgresPartsFunctions(originalRows: boolean): string[] {
  const { add, remove, replace, sameKey } = mergeSql('postgres', originalRows);
  const fn = (name: string, body: string): string =>
    `CREATE OR REPLACE FUNCTION "${name}"() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n${body}\n  RETURN NULL;\nEND\n$$`;
  return [
    fn(PARTS_TRIGGERS.insert, `  ${add};`),
    fn(PARTS_TRIGGERS.update, `  IF ${sameKey} THEN\n    ${replace};\n  ELSE\n    ${remove.join(';\n    ')};\n    ${add};\n  END IF;`),
    fn(PARTS_TRIGGERS.delete, `  ${remove.join(';\n  ')};`),
  ];
}

/**
 * Migration 4 on PostgreSQL, one transaction. Parts are locked against writes first (reads go on):
 * writers still on the previous release wait and then meet the new functions, as MySQL's LOCK
 * TABLES makes them. The (sensor_id, timestamp) index stays beside the new key, as on SQLite, so
 * an upsert naming those two columns keeps working (and so does a merge function that was already
 * running when the lock was asked for); only databases taken over from the original, whose
 * duplicate minutes rule it out, lack it, and PostgreSQL never held the original's tables.
 */
function postgresOriginalRowsMigration(): string[] {
  return [
    `LOCK TABLE "${AGGREGATED_SENSOR_PARTS_TABLE}" IN EXCLUSIVE MODE`,
    `ALTER TABLE "${AGGREGATED_SENSOR_DATA_TABLE}" ADD COLUMN "${ORIGINAL_ROW}" BIGINT NOT NULL DEFAULT 0 CHECK ("${ORIGINAL_ROW}" >= 0)`,
    `COMMENT ON COLUMN "${AGGREGATED_SENSOR_DATA_TABLE}"."${ORIGINAL_ROW}" IS 'id of a row the original pipeline wrote, 0 for ours'`,
    `CREATE UNIQUE INDEX "${ORIGINAL_ROW_KEY}" ON "${AGGREGATED_SENSOR_DATA_TABLE}" ("sensor_id", "timestamp", "${ORIGINAL_ROW}")`,
    ...partsTriggersV4('postgres'),
  ];
}

function postgresPartsMigration(): string[] {
  const parts = `"${AGGREGATED_SENSOR_PARTS_TABLE}"`;
  const triggers = [PARTS_TRIGGERS.insert, PARTS_TRIGGERS.update, PARTS_TRIGGERS.delete];
  return [
    postgresTable(
      AGGREGATED_SENSOR_PARTS_TABLE,
      ',\n  "samples" INT NOT NULL CHECK ("samples" > 0),\n  "instance" VARCHAR(64) COLLATE "C" NOT NULL',
    ),
    `CREATE UNIQUE INDEX IF NOT EXISTS "uq_aggregated_part" ON ${parts} ("sensor_id", "timestamp", "instance")`,
    `CREATE INDEX IF NOT EXISTS "idx_aggregated_parts_time" ON ${parts} ("timestamp")`,
    // The statements run as one transaction here; run again by hand, the copy must still not see
    // the triggers of a first run (they would add the old minutes to themselves), as on MySQL.
    ...triggers.map((t) => `DROP TRIGGER IF EXISTS "${t}" ON ${parts}`),
    copyExistingSql('postgres'),
    ...postgresPartsFunctions(false),
    `CREATE TRIGGER "${PARTS_TRIGGERS.insert}" AFTER INSERT ON ${parts} FOR EACH ROW EXECUTE FUNCTION "${PARTS_TRIGGERS.insert}"()`,
    `CREATE TRIGGER "${PARTS_TRIGGERS.update}" AFTER UPDATE ON ${parts} FOR EACH ROW EXECUTE FUNCTION "${PARTS_TRIGGERS.update}"()`,
    `CREATE TRIGGER "${PARTS_TRIGGERS.delete}" AFTER DELETE ON ${parts} FOR EACH ROW EXECUTE FUNCTION "${PARTS_TRIGGERS.delete}"()`,
  ];
}

export const sensorsMigrations: MigrationSet = {
  name: 'sensors',
  description:
    'IoT sensors: raw readings (sensor_data), per-minute means (aggregated_sensor_data) and the parts several instances merge into them (aggregated_sensor_parts)',
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
      postgres: [
        postgresTable(SENSOR_DATA_TABLE, ''),
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
      postgres: [
        postgresTable(AGGREGATED_SENSOR_DATA_TABLE, ',\n  "samples" INT NOT NULL DEFAULT 0 CHECK ("samples" >= 0)'),
        'CREATE UNIQUE INDEX IF NOT EXISTS "uq_aggregated_sensor_minute" ON "aggregated_sensor_data" ("sensor_id", "timestamp")',
        'CREATE INDEX IF NOT EXISTS "idx_aggregated_time" ON "aggregated_sensor_data" ("timestamp")',
      ],
    },
    {
      version: 3,
      name: 'create-aggregated-sensor-parts',
      mysql: mysqlPartsMigration(),
      sqlite: sqlitePartsMigration(),
      postgres: postgresPartsMigration(),
    },
    {
      version: 4,
      name: 'original-rows',
      mysql: mysqlOriginalRowsMigration(),
      sqlite: sqliteOriginalRowsMigration(),
      postgres: postgresOriginalRowsMigration(),
    },
  ],
  // Taking over the original pipeline's two tables (lib/sensors/adopt.ts); a getter, as that module imports this one.
  get adoption() {
    return sensorsAdoption;
  },
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
  return `${head} ON CONFLICT ("sensor_id", "timestamp", "${ORIGINAL_ROW}") DO UPDATE SET ${updated.map((c) => `${quote(dialect, c)} = excluded.${quote(dialect, c)}`).join(', ')}`;
}

/**
 * Multi-row upsert of parts into `aggregated_sensor_parts` on (sensor_id, timestamp, instance):
 * an instance's part emitted again replaces that instance's part (and, through the triggers, its
 * contribution to the minute's mean), never another instance's. The same statement the shipped
 * flow's db write node sends.
 */
export function upsertAggregatedPartSql(dialect: Dialect, rows: number): string {
  if (!Number.isInteger(rows) || rows < 1) throw new RangeError(`rows must be a positive integer, got ${rows}`);
  const columns = AGGREGATED_PART_COLUMNS.map((c) => quote(dialect, c)).join(', ');
  const updated = AGGREGATED_PART_COLUMNS.filter((c) => !(AGGREGATED_PART_KEY as readonly string[]).includes(c));
  const head = `INSERT INTO ${quote(dialect, AGGREGATED_SENSOR_PARTS_TABLE)} (${columns}) VALUES ${placeholders(AGGREGATED_PART_COLUMNS.length, rows)}`;
  if (dialect === 'mysql')
    return `${head} ON DUPLICATE KEY UPDATE ${updated.map((c) => `${quote(dialect, c)} = VALUES(${quote(dialect, c)})`).join(', ')}`;
  const key = AGGREGATED_PART_KEY.map((c) => quote(dialect, c)).join(', ');
  return `${head} ON CONFLICT (${key}) DO UPDATE SET ${updated.map((c) => `${quote(dialect, c)} = excluded.${quote(dialect, c)}`).join(', ')}`;
}
