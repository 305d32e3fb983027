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

export async function createStatestreamOriginal(db: Database): Promise<{ messages: number; facts: number }> {
  for (const sql of db.dialect === 'mysql' ? STATESTREAM_ORIGINAL_MYSQL : STATESTREAM_ORIGINAL_SQLITE) await db.query(sql);
  // The original inserted one message per connection, qos as received; `inserted` is the server's now.
  for (const message of STATESTREAM_HISTORY) await db.query('INSERT INTO messages (topic, qos, payload) VALUES (?, ?, ?)', [message.topic, 1, message.payload]);
  const facts = await db.query('SELECT COUNT(*) AS n FROM facts');
  return { messages: STATESTREAM_HISTORY.length, facts: Number(facts.rows[0].n) };
}

export function statestreamOriginalStatements(dialect: Dialect): readonly string[] {
  return dialect === 'mysql' ? STATESTREAM_ORIGINAL_MYSQL : STATESTREAM_ORIGINAL_SQLITE;
}
