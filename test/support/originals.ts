/**
 * Databases as the five original pipelines leave them (CONTRACTS §6), for the adoption tests: the
 * original's tables, triggers and rows with its quirks, written the way the original wrote them.
 * One builder per original and dialect; each returns what it stored, so a test can check that
 * every row is still there after the switch.
 */
import type { Database, Dialect } from '../../lib/db/types';

// ------------------------------------------------------------------------------ 1. statestream

/**
 * The original statestream pipeline's schema (Ohmtimize/pipeline migrations/migrate.py): utf8
 * (3 bytes), TEXT payloads, entities without domain, the `formating` trigger, the unused
 * `migrations` and `domains` tables.
 */
export const STATESTREAM_ORIGINAL_MYSQL = [
  `CREATE TABLE migrations (id int(11) NOT NULL AUTO_INCREMENT, name varchar(255) NOT NULL,
    inserted timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP, last_updated timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    PRIMARY KEY (id)) ENGINE=InnoDB DEFAULT CHARSET=utf8`,
  `CREATE TABLE messages (id int(11) NOT NULL AUTO_INCREMENT, topic varchar(255) NOT NULL, qos int(11) NOT NULL, payload TEXT NOT NULL,
    inserted timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP, last_updated timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    PRIMARY KEY (id)) ENGINE=InnoDB DEFAULT CHARSET=utf8`,
  `CREATE TABLE base_topics (id int(11) NOT NULL AUTO_INCREMENT, label varchar(255) NOT NULL,
    inserted timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP, last_updated timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    PRIMARY KEY (id), UNIQUE KEY (label)) ENGINE=InnoDB DEFAULT CHARSET=utf8`,
  `CREATE TABLE entities (id int(11) NOT NULL AUTO_INCREMENT, label varchar(255) NOT NULL, base_topic_id int(11) NOT NULL,
    inserted timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP, last_updated timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    PRIMARY KEY (id), UNIQUE KEY (base_topic_id, label), FOREIGN KEY (base_topic_id) REFERENCES base_topics(id)) ENGINE=InnoDB DEFAULT CHARSET=utf8`,
  `CREATE TABLE states (id int(11) NOT NULL AUTO_INCREMENT, entity_id int(11) NOT NULL, label varchar(255) NOT NULL,
    inserted timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP, last_updated timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    PRIMARY KEY (id), UNIQUE KEY (entity_id, label), FOREIGN KEY (entity_id) REFERENCES entities(id)) ENGINE=InnoDB DEFAULT CHARSET=utf8`,
  `CREATE TABLE domains (id int(11) NOT NULL AUTO_INCREMENT, entity_id int(11) NOT NULL, label varchar(255) NOT NULL,
    inserted timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP, last_updated timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    PRIMARY KEY (id), UNIQUE KEY (entity_id, label), FOREIGN KEY (entity_id) REFERENCES entities(id)) ENGINE=InnoDB DEFAULT CHARSET=utf8`,
  `CREATE TABLE facts (id int(11) NOT NULL AUTO_INCREMENT, state_id int(11) NOT NULL, fact TEXT NOT NULL,
    inserted timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP, last_updated timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    PRIMARY KEY (id), FOREIGN KEY (state_id) REFERENCES states(id)) ENGINE=InnoDB DEFAULT CHARSET=utf8`,
  `CREATE TRIGGER formating AFTER INSERT ON messages FOR EACH ROW BEGIN
    INSERT INTO base_topics (label) SELECT substring_index(substring_index(NEW.topic, '/', 1), '/', -1) as label ON DUPLICATE KEY UPDATE last_updated=NOW();
    INSERT INTO entities (label, base_topic_id) SELECT substring_index(substring_index(NEW.topic, '/', 3), '/', -1) AS label, base_topics.id AS base_topic_id FROM base_topics
      WHERE base_topics.label=substring_index(substring_index(NEW.topic, '/', 1), '/', -1) ON DUPLICATE KEY UPDATE last_updated=NOW();
    INSERT INTO states (label, entity_id) SELECT substring_index(substring_index(NEW.topic, '/', 4), '/', -1) AS label, entities.id AS entity_id FROM entities
      WHERE entities.label=substring_index(substring_index(NEW.topic, '/', 3), '/', -1)
      AND entities.base_topic_id=(SELECT base_topics.id FROM base_topics WHERE base_topics.label=substring_index(substring_index(NEW.topic, '/', 1), '/', -1))
      ON DUPLICATE KEY UPDATE last_updated=NOW();
    INSERT INTO facts (fact, state_id) SELECT NEW.payload AS fact, states.id AS state_id FROM states
      WHERE states.label=substring_index(substring_index(NEW.topic, '/', 4), '/', -1)
      AND states.entity_id=(SELECT entities.id FROM entities WHERE entities.label=substring_index(substring_index(NEW.topic, '/', 3), '/', -1)
        AND entities.base_topic_id=(SELECT base_topics.id FROM base_topics WHERE base_topics.label=substring_index(substring_index(NEW.topic, '/', 1), '/', -1)));
  END`,
];

/** Level 3 and level 4 of a topic, for SQLite (no SUBSTRING_INDEX), as the original's trigger cut them. */
const SQLITE_LEVEL1 = `substr(NEW.topic, 1, instr(NEW.topic, '/') - 1)`;
const SQLITE_AFTER1 = `substr(NEW.topic, instr(NEW.topic, '/') + 1)`;
const SQLITE_AFTER2 = `substr(${SQLITE_AFTER1}, instr(${SQLITE_AFTER1}, '/') + 1)`;
const SQLITE_LEVEL3 = `substr(${SQLITE_AFTER2}, 1, CASE WHEN instr(${SQLITE_AFTER2}, '/') > 0 THEN instr(${SQLITE_AFTER2}, '/') - 1 ELSE length(${SQLITE_AFTER2}) END)`;
const SQLITE_AFTER3 = `substr(${SQLITE_AFTER2}, instr(${SQLITE_AFTER2}, '/') + 1)`;
const SQLITE_LEVEL4 = `substr(${SQLITE_AFTER3}, 1, CASE WHEN instr(${SQLITE_AFTER3}, '/') > 0 THEN instr(${SQLITE_AFTER3}, '/') - 1 ELSE length(${SQLITE_AFTER3}) END)`;

/** The original never ran on SQLite; this is its schema and trigger translated literally. */
export const STATESTREAM_ORIGINAL_SQLITE = [
  `CREATE TABLE migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,
    inserted TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, last_updated TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)`,
  `CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, qos INTEGER NOT NULL, payload TEXT NOT NULL,
    inserted TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, last_updated TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)`,
  `CREATE TABLE base_topics (id INTEGER PRIMARY KEY AUTOINCREMENT, label TEXT NOT NULL UNIQUE,
    inserted TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, last_updated TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)`,
  `CREATE TABLE entities (id INTEGER PRIMARY KEY AUTOINCREMENT, label TEXT NOT NULL, base_topic_id INTEGER NOT NULL REFERENCES base_topics(id),
    inserted TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, last_updated TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, UNIQUE (base_topic_id, label))`,
  `CREATE TABLE states (id INTEGER PRIMARY KEY AUTOINCREMENT, entity_id INTEGER NOT NULL REFERENCES entities(id), label TEXT NOT NULL,
    inserted TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, last_updated TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, UNIQUE (entity_id, label))`,
  `CREATE TABLE domains (id INTEGER PRIMARY KEY AUTOINCREMENT, entity_id INTEGER NOT NULL REFERENCES entities(id), label TEXT NOT NULL,
    inserted TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, last_updated TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, UNIQUE (entity_id, label))`,
  `CREATE TABLE facts (id INTEGER PRIMARY KEY AUTOINCREMENT, state_id INTEGER NOT NULL REFERENCES states(id), fact TEXT NOT NULL,
    inserted TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, last_updated TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)`,
  `CREATE TRIGGER formating AFTER INSERT ON messages BEGIN
    INSERT INTO base_topics (label) VALUES (${SQLITE_LEVEL1})
      ON CONFLICT (label) DO UPDATE SET last_updated = CURRENT_TIMESTAMP;
    INSERT INTO entities (label, base_topic_id)
      SELECT ${SQLITE_LEVEL3}, b.id FROM base_topics b WHERE b.label = ${SQLITE_LEVEL1}
      ON CONFLICT (base_topic_id, label) DO UPDATE SET last_updated = CURRENT_TIMESTAMP;
    INSERT INTO states (label, entity_id)
      SELECT ${SQLITE_LEVEL4}, e.id FROM entities e JOIN base_topics b ON e.base_topic_id = b.id
      WHERE e.label = ${SQLITE_LEVEL3} AND b.label = ${SQLITE_LEVEL1}
      ON CONFLICT (entity_id, label) DO UPDATE SET last_updated = CURRENT_TIMESTAMP;
    INSERT INTO facts (fact, state_id)
      SELECT NEW.payload, s.id FROM states s JOIN entities e ON s.entity_id = e.id JOIN base_topics b ON e.base_topic_id = b.id
      WHERE s.label = ${SQLITE_LEVEL4} AND e.label = ${SQLITE_LEVEL3} AND b.label = ${SQLITE_LEVEL1};
  END`,
];

export interface StatestreamHistoryMessage {
  topic: string;
  payload: string;
}

/**
 * What the original stored, with its quirks: `sensor.x` and `binary_sensor.x` merged into one
 * entity `x`; an entity whose messages name one domain (`kitchen_temp`); 3-byte UTF-8 (no emoji:
 * the original's utf8 refused them); a base topic with `/` split at its first level.
 */
export const STATESTREAM_HISTORY: readonly StatestreamHistoryMessage[] = [
  { topic: 'homeassistant/sensor/kitchen_temp/state', payload: '21.5' },
  { topic: 'homeassistant/sensor/kitchen_temp/friendly_name', payload: '"Küche ☀ Temperatur"' },
  { topic: 'homeassistant/sensor/x/state', payload: '20.0' },
  { topic: 'homeassistant/binary_sensor/x/state', payload: 'on' },
  { topic: 'homeassistant/sensor/kitchen_temp/state', payload: '21.7' },
  { topic: 'homeassistant/light/hall/state', payload: 'off' },
  { topic: 'homeassistant/light/hall/brightness', payload: '128' },
  { topic: 'home/statestream/climate/office/state', payload: 'heat' },
  { topic: 'homeassistant/binary_sensor/x/state', payload: 'off' },
];

/** `base` replaces the one-level base `homeassistant` (a unique base per test on a shared broker). */
export async function createStatestreamOriginal(db: Database, base = 'homeassistant'): Promise<{ messages: number; facts: number }> {
  for (const sql of db.dialect === 'mysql' ? STATESTREAM_ORIGINAL_MYSQL : STATESTREAM_ORIGINAL_SQLITE) await db.query(sql);
  // The original inserted one message per connection, qos as received; `inserted` is the server's now.
  for (const message of STATESTREAM_HISTORY) {
    await db.query('INSERT INTO messages (topic, qos, payload) VALUES (?, ?, ?)', [
      message.topic.replace(/^homeassistant\//, `${base}/`),
      1,
      message.payload,
    ]);
  }
  const facts = await db.query('SELECT COUNT(*) AS n FROM facts');
  return { messages: STATESTREAM_HISTORY.length, facts: Number(facts.rows[0].n) };
}

export function statestreamOriginalStatements(dialect: Dialect): readonly string[] {
  return dialect === 'mysql' ? STATESTREAM_ORIGINAL_MYSQL : STATESTREAM_ORIGINAL_SQLITE;
}

// ------------------------------------------------------------------------------------ 3. ISEMS

const ISEMS_NUMBER_COLUMNS = [
  'openCircuitVoltage',
  'mppVoltage',
  'batteryVoltage',
  'batteryChargeEstimate',
  'batteryHealthEstimate',
  'batteryTemperature',
  'lowVoltageDisconnectVoltage',
  'temperatureCorrectedVoltage',
  'rateBatteryCapacity',
  'ratedSolarModuleCapacity',
  'latitude',
  'longitude',
] as const;

/** SQLAlchemy's DDL for the collector's model (every column nullable) and Alembic's version table. */
export function isemsOriginalStatements(dialect: Dialect): string[] {
  if (dialect === 'mysql') {
    return [
      `CREATE TABLE measurement (id INTEGER NOT NULL AUTO_INCREMENT, \`nodeId\` VARCHAR(100), \`isemsRevision\` VARCHAR(10), \`timestamp\` DATETIME,
        \`openMPPTFirmwareVersion\` VARCHAR(50), \`timeToShutdown\` INTEGER, \`isPowerSaveMode\` BOOL,
        ${ISEMS_NUMBER_COLUMNS.map((c) => `\`${c}\` FLOAT`).join(', ')}, status INTEGER,
        PRIMARY KEY (id), CONSTRAINT node_timestamp UNIQUE (\`nodeId\`, \`timestamp\`), CHECK (\`isPowerSaveMode\` IN (0, 1))) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
      'CREATE INDEX latest_by_node_id ON measurement (`nodeId`, `timestamp` DESC)',
      'CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))',
      "INSERT INTO alembic_version (version_num) VALUES ('3f1a2b9c8d7e')",
    ];
  }
  if (dialect === 'postgres') {
    // SQLAlchemy on PostgreSQL: Integer primary key → SERIAL, DateTime → timestamp without time
    // zone, Float → double precision, Boolean native; the database's default collation.
    return [
      `CREATE TABLE measurement (id SERIAL NOT NULL, "nodeId" VARCHAR(100), "isemsRevision" VARCHAR(10), timestamp TIMESTAMP WITHOUT TIME ZONE,
        "openMPPTFirmwareVersion" VARCHAR(50), "timeToShutdown" INTEGER, "isPowerSaveMode" BOOLEAN,
        ${ISEMS_NUMBER_COLUMNS.map((c) => `"${c}" FLOAT`).join(', ')}, status INTEGER,
        PRIMARY KEY (id), CONSTRAINT node_timestamp UNIQUE ("nodeId", timestamp))`,
      'CREATE INDEX latest_by_node_id ON measurement ("nodeId", timestamp DESC)',
      'CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))',
      "INSERT INTO alembic_version (version_num) VALUES ('3f1a2b9c8d7e')",
    ];
  }
  return [
    `CREATE TABLE measurement (id INTEGER NOT NULL, "nodeId" VARCHAR, "isemsRevision" VARCHAR, timestamp DATETIME,
      "openMPPTFirmwareVersion" VARCHAR, "timeToShutdown" INTEGER, "isPowerSaveMode" BOOLEAN,
      ${ISEMS_NUMBER_COLUMNS.map((c) => `"${c}" FLOAT`).join(', ')}, status INTEGER,
      PRIMARY KEY (id), CONSTRAINT node_timestamp UNIQUE ("nodeId", timestamp), CHECK ("isPowerSaveMode" IN (0, 1)))`,
    'CREATE INDEX latest_by_node_id ON measurement ("nodeId", timestamp DESC)',
    'CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))',
    "INSERT INTO alembic_version (version_num) VALUES ('3f1a2b9c8d7e')",
  ];
}

/** Berlin wall-clock time of an instant, as the collector stored it (`YYYY-MM-DD HH:MM:SS`). */
export function berlinNaive(epochSeconds: number): string {
  const parts: Record<string, string> = {};
  const format = new Intl.DateTimeFormat('en-GB', {
    timeZone: 'Europe/Berlin',
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
  for (const part of format.formatToParts(epochSeconds * 1000)) parts[part.type] = part.value;
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second}`;
}

export interface IsemsHistoryRow {
  nodeId: string;
  /** What the collector stored: naive Berlin time. */
  local: string;
  /** The instant the adoption must give back (by the stated rule for a time that never happened). */
  expected: number;
  status: number | null;
}

const utc = (iso: string): number => Date.parse(iso) / 1000;

/**
 * History in the order the collector inserted it: winter and summer rows; the repeated hour of
 * 29 October 2023 read twice by Roof-North (02:10-02:50 summer time, then 02:05-02:55 winter
 * time) and once by Roof-South (first pass only); one row at 02:30 on 31 March 2024, a local time
 * that never happened (another writer's), read as 01:30 UTC. Years of history shrink to a few rows.
 */
export function isemsHistory(suffix = ''): IsemsHistoryRow[] {
  const rows: IsemsHistoryRow[] = [];
  const add = (node: string, epoch: number, status: number | null = 0x500): void => {
    rows.push({ nodeId: `${node}${suffix}`, local: berlinNaive(epoch), expected: epoch, status });
  };
  add('Roof-North', utc('2023-01-15T11:00:00Z'));
  add('Roof-South', utc('2023-01-15T11:00:07Z'), null);
  add('Roof-North', utc('2023-07-01T10:00:00Z'));
  for (const minute of [10, 20, 30, 40, 50]) add('Roof-North', utc(`2023-10-29T00:${minute}:00Z`)); // 02:xx CEST
  for (const minute of [15, 35]) add('Roof-South', utc(`2023-10-29T00:${minute}:00Z`)); // 02:xx CEST, first pass only
  for (const minute of [5, 25, 45, 55]) add('Roof-North', utc(`2023-10-29T01:${String(minute).padStart(2, '0')}:00Z`)); // 02:xx CET
  add('Roof-North', utc('2023-10-29T02:05:00Z')); // 03:05 CET
  add('Roof-North', utc('2024-03-31T00:59:00Z')); // 01:59 CET
  rows.push({ nodeId: `Roof-South${suffix}`, local: '2024-03-31 02:30:00', expected: utc('2024-03-31T01:30:00Z'), status: 0x100 });
  add('Roof-North', utc('2024-03-31T01:05:00Z')); // 03:05 CEST
  add('Roof-North', utc('2024-06-01T09:00:00Z'));
  return rows;
}

export async function createIsemsOriginal(db: Database, rows: readonly IsemsHistoryRow[] = isemsHistory()): Promise<void> {
  for (const sql of isemsOriginalStatements(db.dialect)) await db.query(sql);
  const columns = [
    'nodeId',
    'isemsRevision',
    'timestamp',
    'openMPPTFirmwareVersion',
    'timeToShutdown',
    'isPowerSaveMode',
    ...ISEMS_NUMBER_COLUMNS,
    'status',
  ];
  const q = (c: string): string => (db.dialect === 'mysql' ? `\`${c}\`` : `"${c}"`);
  for (const [k, row] of rows.entries()) {
    // SQLAlchemy writes SQLite DATETIME as text with microseconds.
    const local = db.dialect === 'sqlite' ? `${row.local}.000000` : row.local;
    await db.query(`INSERT INTO measurement (${columns.map(q).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`, [
      row.nodeId,
      '1',
      local,
      'ESP_2.0',
      3592 - k,
      db.dialect === 'postgres' ? k % 2 === 1 : k % 2,
      19.21,
      17.9,
      13.1,
      87,
      95,
      21.5,
      11.6,
      14.1,
      9,
      30,
      52.52,
      13.4,
      row.status,
    ]);
  }
}

// ----------------------------------------------------------------------------------- 4. sensors

/** The original's two tables, as its run.py / aggregate.py created them if missing: no unique keys. */
export function sensorsOriginalStatements(dialect: Dialect): string[] {
  const table = (name: string): string =>
    dialect === 'mysql'
      ? `CREATE TABLE IF NOT EXISTS ${name} (id INT AUTO_INCREMENT PRIMARY KEY, sensor_id INT, timestamp DATETIME, value FLOAT, lat FLOAT, lng FLOAT,
          unit VARCHAR(255), type VARCHAR(255), description TEXT) ENGINE=InnoDB DEFAULT CHARSET=latin1`
      : `CREATE TABLE IF NOT EXISTS ${name} (id INTEGER PRIMARY KEY AUTOINCREMENT, sensor_id INT, timestamp DATETIME, value FLOAT, lat FLOAT, lng FLOAT,
          unit VARCHAR(255), type VARCHAR(255), description TEXT)`;
  return [table('sensor_data'), table('aggregated_sensor_data')];
}

export interface SensorsHistoryRow {
  sensor_id: number;
  timestamp: string;
  value: number;
  lat: number;
  lng: number;
  unit: string;
  type: string;
  description: string;
}

const SENSOR_META: Record<number, Omit<SensorsHistoryRow, 'sensor_id' | 'timestamp' | 'value'>> = {
  1: { lat: 10, lng: 10, unit: 'C', type: 'temperature', description: 'Main Entrance' },
  2: { lat: 90, lng: 90, unit: 'C', type: 'temperature', description: 'Kitchen' },
};

/**
 * Raw readings (naive UTC, whole seconds) with a reading stored twice, and means stamped with the
 * original server's local insert time (+02:00 here), one of them twice, one at :00 seconds (the
 * stamp of a minute of ours, for another real minute).
 */
export function sensorsHistory(): { raw: SensorsHistoryRow[]; aggregated: SensorsHistoryRow[] } {
  const row = (sensor: number, timestamp: string, value: number): SensorsHistoryRow => ({
    sensor_id: sensor,
    timestamp,
    value,
    ...SENSOR_META[sensor],
  });
  const raw = [
    row(1, '2024-06-14 16:00:01', 23),
    row(2, '2024-06-14 16:00:01', 31),
    row(1, '2024-06-14 16:00:02', 24),
    row(1, '2024-06-14 16:00:02', 24), // the same message stored twice
    row(2, '2024-06-14 16:00:02', 30),
  ];
  const aggregated = [
    row(1, '2024-06-14 18:01:07', 23.5),
    row(2, '2024-06-14 18:01:07', 30.5),
    row(1, '2024-06-14 18:01:07', 23.5), // written twice
    row(1, '2024-06-14 18:02:00', 24),
  ];
  return { raw, aggregated };
}

export async function createSensorsOriginal(db: Database, history = sensorsHistory()): Promise<void> {
  for (const sql of sensorsOriginalStatements(db.dialect)) await db.query(sql);
  const columns = ['sensor_id', 'timestamp', 'value', 'lat', 'lng', 'unit', 'type', 'description'] as const;
  const q = (c: string): string => (db.dialect === 'mysql' ? `\`${c}\`` : `"${c}"`);
  for (const [table, rows] of [
    ['sensor_data', history.raw],
    ['aggregated_sensor_data', history.aggregated],
  ] as const) {
    for (const r of rows)
      await db.query(
        `INSERT INTO ${table} (${columns.map(q).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
        columns.map((c) => r[c]),
      );
  }
}

// --------------------------------------------------------------------------- 2. rolling averages

export interface RollingRow {
  number: number;
  epochtime: number;
}

/**
 * The original subscriber's table and the numbers of its last 35 minutes, one every 40 s or so
 * (random 1-99 every 1-30 s in the original), ending `now`. Returns them in insertion order.
 */
export async function createRollingOriginal(db: Database, nowSeconds: number, count = 50): Promise<RollingRow[]> {
  await db.query('CREATE TABLE IF NOT EXISTS messages (number INTEGER, epochtime INTEGER)');
  const rows: RollingRow[] = [];
  for (let i = count - 1; i >= 0; i--) rows.push({ number: ((i * 37) % 99) + 1, epochtime: nowSeconds - 5 - i * 42 });
  for (const row of rows) await db.query('INSERT INTO messages (number, epochtime) VALUES (?, ?)', [row.number, row.epochtime]);
  return rows;
}

// ----------------------------------------------------------------------------- 5. data connector

/**
 * The original's bookmark table (SQLAlchemy model BookMarksTable, as create_all() makes it) with
 * its one row. PostgreSQL: DateTime is `timestamp without time zone`; `timestamptz` is a table
 * someone made by hand.
 */
export async function createConnectorOriginal(
  db: Database,
  bookmark: string | null,
  options: { timestamptz?: boolean } = {},
): Promise<void> {
  const statements = {
    mysql: [
      'CREATE TABLE bookmarks (id INTEGER NOT NULL AUTO_INCREMENT, name VARCHAR(255), `timestamp` DATETIME(6), PRIMARY KEY (id), KEY ix_bookmarks_name (name))',
    ],
    sqlite: ['CREATE TABLE bookmarks (id INTEGER NOT NULL, name VARCHAR, timestamp DATETIME, PRIMARY KEY (id))'],
    postgres: [
      `CREATE TABLE bookmarks (id SERIAL NOT NULL, name VARCHAR, timestamp ${options.timestamptz ? 'TIMESTAMP WITH TIME ZONE' : 'TIMESTAMP WITHOUT TIME ZONE'}, PRIMARY KEY (id))`,
      'CREATE INDEX ix_bookmarks_id ON bookmarks (id)',
      'CREATE INDEX ix_bookmarks_name ON bookmarks (name)',
    ],
  }[db.dialect];
  for (const sql of statements) await db.query(sql);
  // The naive UTC text the original wrote (a timestamptz column reads it as UTC, as stated).
  await db.query('INSERT INTO bookmarks (name, timestamp) VALUES (?, ?)', [
    'sensor_data',
    bookmark === null || !options.timestamptz ? bookmark : `${bookmark}+00`,
  ]);
}

/**
 * The plant's readings table of the original connector's README (SQLAlchemy model
 * SensorDataTable): `sensor_data(id, sensor, value, timestamp)`, the sensor named in a text column,
 * times naive UTC. Not the IoT sensors pipeline's `sensor_data` (which has `sensor_id`).
 */
export async function createPlantReadings(
  db: Database,
  readings: ReadonlyArray<{ sensor: string; value: number; timestamp: string }>,
): Promise<void> {
  const statements = {
    mysql: [
      'CREATE TABLE sensor_data (id INTEGER NOT NULL AUTO_INCREMENT, sensor VARCHAR(255), value INTEGER, `timestamp` DATETIME, PRIMARY KEY (id), KEY ix_sensor_data_sensor (sensor))',
    ],
    sqlite: [
      'CREATE TABLE sensor_data (id INTEGER NOT NULL, sensor VARCHAR, value INTEGER, timestamp DATETIME, PRIMARY KEY (id))',
      'CREATE INDEX ix_sensor_data_sensor ON sensor_data (sensor)',
    ],
    postgres: [
      'CREATE TABLE sensor_data (id SERIAL NOT NULL, sensor VARCHAR, value INTEGER, timestamp TIMESTAMP WITHOUT TIME ZONE, PRIMARY KEY (id))',
      'CREATE INDEX ix_sensor_data_id ON sensor_data (id)',
      'CREATE INDEX ix_sensor_data_sensor ON sensor_data (sensor)',
    ],
  }[db.dialect];
  for (const sql of statements) await db.query(sql);
  for (const r of readings)
    await db.query('INSERT INTO sensor_data (sensor, value, timestamp) VALUES (?, ?, ?)', [r.sensor, r.value, r.timestamp]);
}
