/**
 * Migration set "statestream": the original pipeline's schema (messages → base_topics →
 * entities → states → facts, normalised by an AFTER INSERT trigger), fixed:
 *
 * - the domain is kept beside the label: `entities.label` is the object id as the original wrote
 *   it (`kitchen_temp`), `entities.domain` its domain, unique per base topic + domain + label, so
 *   `sensor.x` and `binary_sensor.x` stay two entities while a query on `entities.label` finds
 *   the facts the original stored and the new ones alike (migration 3; releases before it wrote
 *   `sensor.x` into the label, and migration 3 rewrites those). `object_id` repeats the label, for
 *   queries written against those releases;
 * - the topic is split from the end (`<domain>/<object_id>/<key>`), the rest is the base, so
 *   multi-level bases (`home/statestream`) work;
 * - one character set and collation everywhere (MySQL: utf8mb4 / utf8mb4_bin, also on the
 *   trigger's variables): emoji fit, and no collation mismatch can silently turn the trigger's
 *   index lookups into scans. Binary collation because MQTT topics are case-sensitive;
 * - payloads are LONGTEXT (the original TEXT stopped at 64 KiB);
 * - facts record the MQTT retain flag, the received-at time and the message they came from;
 * - the trigger looks ids up first and inserts only what is missing (the original upserted three
 *   tables for every row, about half the throughput);
 * - a retained replay whose payload equals the state's last fact adds no fact. The check is one
 *   descent of the facts (state_id, id) index, O(log n) like every lookup here, and only for
 *   retained messages; keeping a `states.last_fact_id` pointer instead would cost an UPDATE per
 *   message (measured: about 30 % of the trigger's throughput). A live message always adds a fact.
 *
 * The seed README's query keeps working unchanged (facts → states → entities → base_topics).
 * Rows the trigger cannot normalise (fewer than four levels, an empty level, over-long labels) stay
 * in `messages` only, rather than failing the whole multi-row INSERT they are part of.
 */
import type { MigrationSet } from '../db/types';
import { statestreamAdoption } from './adopt';

/** The single MySQL character set and collation of every table, column and trigger variable. */
export const MYSQL_CHARSET = 'utf8mb4';
export const MYSQL_COLLATION = 'utf8mb4_bin';
const TABLE_OPTIONS = `ENGINE=InnoDB DEFAULT CHARSET=${MYSQL_CHARSET} COLLATE=${MYSQL_COLLATION}`;
const TEXT_VAR = `CHARACTER SET ${MYSQL_CHARSET} COLLATE ${MYSQL_COLLATION}`;

const MYSQL_TIMESTAMPS = `inserted TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  last_updated TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP`;

const mysqlTables = [
  `CREATE TABLE messages (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  topic VARCHAR(1024) NOT NULL,
  qos INT NOT NULL DEFAULT 0,
  payload LONGTEXT NOT NULL,
  retained TINYINT(1) NOT NULL DEFAULT 0,
  received_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  ${MYSQL_TIMESTAMPS},
  PRIMARY KEY (id)
) ${TABLE_OPTIONS}`,
  `CREATE TABLE base_topics (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT,
  label VARCHAR(512) NOT NULL,
  ${MYSQL_TIMESTAMPS},
  PRIMARY KEY (id),
  UNIQUE KEY uq_base_topics_label (label)
) ${TABLE_OPTIONS}`,
  `CREATE TABLE entities (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT,
  label VARCHAR(255) NOT NULL,
  domain VARCHAR(255) NOT NULL,
  object_id VARCHAR(255) NOT NULL,
  base_topic_id INT UNSIGNED NOT NULL,
  ${MYSQL_TIMESTAMPS},
  PRIMARY KEY (id),
  UNIQUE KEY uq_entities_base_label (base_topic_id, label),
  KEY idx_entities_domain (domain),
  CONSTRAINT fk_entities_base_topic FOREIGN KEY (base_topic_id) REFERENCES base_topics (id)
) ${TABLE_OPTIONS}`,
  `CREATE TABLE states (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT,
  label VARCHAR(255) NOT NULL,
  entity_id INT UNSIGNED NOT NULL,
  ${MYSQL_TIMESTAMPS},
  PRIMARY KEY (id),
  UNIQUE KEY uq_states_entity_label (entity_id, label),
  CONSTRAINT fk_states_entity FOREIGN KEY (entity_id) REFERENCES entities (id)
) ${TABLE_OPTIONS}`,
  `CREATE TABLE facts (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  fact LONGTEXT NOT NULL,
  state_id INT UNSIGNED NOT NULL,
  retained TINYINT(1) NOT NULL DEFAULT 0,
  received_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  message_id BIGINT UNSIGNED NULL,
  ${MYSQL_TIMESTAMPS},
  PRIMARY KEY (id),
  KEY idx_facts_state (state_id, id),
  CONSTRAINT fk_facts_state FOREIGN KEY (state_id) REFERENCES states (id)
) ${TABLE_OPTIONS}`,
];

/**
 * How the MySQL trigger names and finds an entity: migration 2 labelled entities
 * `<domain>.<object_id>` (computed once into `v_entity`), migration 3 labels them as the original
 * did (the object id) and finds them by (base, domain, label = object id). Same lookups, same cost.
 */
interface MysqlEntityKey {
  /** The trigger's text variables, each declared in the one character set and collation. */
  textVariables: readonly string[];
  /** Keeps a message's labels within their columns (else it stays in `messages` only). */
  limits: string;
  /** Statements run once the topic is known to normalise, before the lookups. */
  prepare: string;
  /** The entity's label as inserted. */
  label: string;
  /** The entity (columns prefixed with `e`, which may be empty) is the message's, within its base topic. */
  matches: (e: string) => string;
}

const MYSQL_TOPIC_LEVELS = ['v_tail', 'v_base', 'v_domain', 'v_object', 'v_key'];

const MYSQL_ENTITY_V2: MysqlEntityKey = {
  textVariables: [...MYSQL_TOPIC_LEVELS, 'v_entity'],
  limits: 'CHAR_LENGTH(v_domain) + CHAR_LENGTH(v_object) < 255',
  prepare: "    SET v_entity = CONCAT(v_domain, '.', v_object);\n\n",
  label: 'v_entity',
  matches: (e) => `${e}label = v_entity`,
};

const MYSQL_ENTITY_V3: MysqlEntityKey = {
  textVariables: MYSQL_TOPIC_LEVELS,
  limits: 'CHAR_LENGTH(v_domain) <= 255 AND CHAR_LENGTH(v_object) <= 255',
  prepare: '',
  label: 'v_object',
  matches: (e) => `${e}domain = v_domain AND ${e}label = v_object`,
};

/**
 * One CREATE TRIGGER statement (no DELIMITER). Each level is looked up by its unique key first;
 * only a miss inserts, with `ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id)` so two writers
 * racing on the same new label both end up with the one id.
 */
const mysqlTrigger = (k: MysqlEntityKey): string => `CREATE TRIGGER statestream_normalise AFTER INSERT ON messages FOR EACH ROW
BEGIN
${k.textVariables.map((v) => `  DECLARE ${v} VARCHAR(1024) ${TEXT_VAR};\n`).join('')}  DECLARE v_base_id INT UNSIGNED;
  DECLARE v_entity_id INT UNSIGNED;
  DECLARE v_state_id INT UNSIGNED;
  DECLARE v_replayed_same TINYINT DEFAULT 0;

  SET v_tail = SUBSTRING_INDEX(NEW.topic, '/', -3);
  SET v_domain = SUBSTRING_INDEX(v_tail, '/', 1);
  SET v_object = SUBSTRING_INDEX(SUBSTRING_INDEX(v_tail, '/', 2), '/', -1);
  SET v_key = SUBSTRING_INDEX(v_tail, '/', -1);
  SET v_base = LEFT(NEW.topic, CHAR_LENGTH(NEW.topic) - CHAR_LENGTH(v_tail) - 1);

  IF CHAR_LENGTH(v_tail) < CHAR_LENGTH(NEW.topic)
     AND v_base <> '' AND v_domain <> '' AND v_object <> '' AND v_key <> ''
     AND CHAR_LENGTH(v_base) <= 512 AND ${k.limits} AND CHAR_LENGTH(v_key) <= 255 THEN
${k.prepare}    -- Steady state: the topic is known, one query walks the three unique keys.
    SET v_state_id = (SELECT s.id FROM base_topics b
                        JOIN entities e ON e.base_topic_id = b.id AND ${k.matches('e.')}
                        JOIN states s ON s.entity_id = e.id AND s.label = v_key
                      WHERE b.label = v_base);

    IF v_state_id IS NULL THEN
      -- A new topic: resolve each level, inserting only the missing ones.
      SET v_base_id = (SELECT id FROM base_topics WHERE label = v_base);
      IF v_base_id IS NULL THEN
        INSERT INTO base_topics (label) VALUES (v_base) ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id);
        SET v_base_id = LAST_INSERT_ID();
      END IF;
      SET v_entity_id = (SELECT id FROM entities WHERE base_topic_id = v_base_id AND ${k.matches('')});
      IF v_entity_id IS NULL THEN
        INSERT INTO entities (label, domain, object_id, base_topic_id) VALUES (${k.label}, v_domain, v_object, v_base_id)
          ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id);
        SET v_entity_id = LAST_INSERT_ID();
      END IF;
      INSERT INTO states (label, entity_id) VALUES (v_key, v_entity_id) ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id);
      SET v_state_id = LAST_INSERT_ID();
    ELSEIF NEW.retained <> 0 THEN
      -- A retained replay of the value already stored adds nothing.
      SET v_replayed_same = (SELECT f.fact FROM facts f WHERE f.state_id = v_state_id ORDER BY f.id DESC LIMIT 1) <=> NEW.payload;
    END IF;

    IF v_replayed_same = 0 THEN
      INSERT INTO facts (fact, state_id, retained, received_at, message_id)
        VALUES (NEW.payload, v_state_id, NEW.retained, NEW.received_at, NEW.id);
    END IF;
  END IF;
END`;

export const SQLITE_NOW = `(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))`;
const SQLITE_TIMESTAMPS = `inserted TEXT NOT NULL DEFAULT ${SQLITE_NOW},
  last_updated TEXT NOT NULL DEFAULT ${SQLITE_NOW}`;

/** SQLite's entities, unique on `unique` (migration 3 changes it; a table constraint cannot be altered in place). */
const sqliteEntities = (unique: string): string => `CREATE TABLE entities (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  label TEXT NOT NULL,
  domain TEXT NOT NULL,
  object_id TEXT NOT NULL,
  base_topic_id INTEGER NOT NULL REFERENCES base_topics (id),
  ${SQLITE_TIMESTAMPS},
  UNIQUE (${unique})
)`;

/**
 * SQLite has no SUBSTRING_INDEX and no trigger variables, so `messages` splits its topic in
 * virtual generated columns (computed on read, nothing stored): `rtrim(t, replace(t, '/', ''))`
 * strips the last level, leaving everything up to the last `/`.
 */
export const SQLITE_V1_TABLES = [
  `CREATE TABLE messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  topic TEXT NOT NULL,
  qos INTEGER NOT NULL DEFAULT 0,
  payload TEXT NOT NULL,
  retained INTEGER NOT NULL DEFAULT 0,
  received_at TEXT NOT NULL DEFAULT ${SQLITE_NOW},
  ${SQLITE_TIMESTAMPS},
  topic_upto_key TEXT GENERATED ALWAYS AS (rtrim(topic, replace(topic, '/', ''))) VIRTUAL,
  topic_key TEXT GENERATED ALWAYS AS (substr(topic, length(topic_upto_key) + 1)) VIRTUAL,
  topic_rest2 TEXT GENERATED ALWAYS AS (substr(topic_upto_key, 1, length(topic_upto_key) - 1)) VIRTUAL,
  topic_upto_object TEXT GENERATED ALWAYS AS (rtrim(topic_rest2, replace(topic_rest2, '/', ''))) VIRTUAL,
  topic_object_id TEXT GENERATED ALWAYS AS (substr(topic_rest2, length(topic_upto_object) + 1)) VIRTUAL,
  topic_rest1 TEXT GENERATED ALWAYS AS (substr(topic_upto_object, 1, length(topic_upto_object) - 1)) VIRTUAL,
  topic_upto_domain TEXT GENERATED ALWAYS AS (rtrim(topic_rest1, replace(topic_rest1, '/', ''))) VIRTUAL,
  topic_domain TEXT GENERATED ALWAYS AS (substr(topic_rest1, length(topic_upto_domain) + 1)) VIRTUAL,
  topic_base TEXT GENERATED ALWAYS AS (substr(topic_upto_domain, 1, length(topic_upto_domain) - 1)) VIRTUAL
)`,
  `CREATE TABLE base_topics (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  label TEXT NOT NULL UNIQUE,
  ${SQLITE_TIMESTAMPS}
)`,
  sqliteEntities('base_topic_id, label'),
  `CREATE INDEX idx_entities_domain ON entities (domain)`,
  `CREATE TABLE states (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  label TEXT NOT NULL,
  entity_id INTEGER NOT NULL REFERENCES entities (id),
  ${SQLITE_TIMESTAMPS},
  UNIQUE (entity_id, label)
)`,
  `CREATE TABLE facts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  fact TEXT NOT NULL,
  state_id INTEGER NOT NULL REFERENCES states (id),
  retained INTEGER NOT NULL DEFAULT 0,
  received_at TEXT NOT NULL DEFAULT ${SQLITE_NOW},
  message_id INTEGER NULL,
  ${SQLITE_TIMESTAMPS}
)`,
  `CREATE INDEX idx_facts_state ON facts (state_id, id)`,
];

/**
 * How the SQLite trigger names and finds an entity (see MysqlEntityKey): migration 2 labels it
 * `<domain>.<object_id>`, migration 3 the object id, found with its domain.
 */
interface SqliteEntityKey {
  /** Keeps a message's labels within MySQL's columns, so both dialects normalise the same rows. */
  limits: string;
  label: string;
  /** Entity `e` is the message's. */
  matches: string;
}

const SQLITE_ENTITY_LABEL = `NEW.topic_domain || '.' || NEW.topic_object_id`;

const SQLITE_ENTITY_V2: SqliteEntityKey = {
  limits: 'length(NEW.topic_domain) + length(NEW.topic_object_id) < 255',
  label: SQLITE_ENTITY_LABEL,
  matches: `e.label = ${SQLITE_ENTITY_LABEL}`,
};

const SQLITE_ENTITY_V3: SqliteEntityKey = {
  limits: 'length(NEW.topic_domain) <= 255 AND length(NEW.topic_object_id) <= 255',
  label: 'NEW.topic_object_id',
  matches: 'e.domain = NEW.topic_domain AND e.label = NEW.topic_object_id',
};

const sqliteTrigger = (k: SqliteEntityKey): string => `CREATE TRIGGER statestream_normalise AFTER INSERT ON messages
WHEN NEW.topic_key <> '' AND NEW.topic_object_id <> '' AND NEW.topic_domain <> '' AND NEW.topic_base <> ''
  -- The same label limits as MySQL's columns, so both dialects normalise the same rows.
  AND length(NEW.topic_base) <= 512 AND ${k.limits} AND length(NEW.topic_key) <= 255
BEGIN
  INSERT OR IGNORE INTO base_topics (label) VALUES (NEW.topic_base);
  INSERT OR IGNORE INTO entities (label, domain, object_id, base_topic_id)
    SELECT ${k.label}, NEW.topic_domain, NEW.topic_object_id, b.id
    FROM base_topics b WHERE b.label = NEW.topic_base;
  INSERT OR IGNORE INTO states (label, entity_id)
    SELECT NEW.topic_key, e.id
    FROM base_topics b JOIN entities e ON e.base_topic_id = b.id AND ${k.matches}
    WHERE b.label = NEW.topic_base;
  INSERT INTO facts (fact, state_id, retained, received_at, message_id)
    SELECT NEW.payload, s.id, NEW.retained, NEW.received_at, NEW.id
    FROM base_topics b
    JOIN entities e ON e.base_topic_id = b.id AND ${k.matches}
    JOIN states s ON s.entity_id = e.id AND s.label = NEW.topic_key
    WHERE b.label = NEW.topic_base
      AND NOT (NEW.retained <> 0 AND (SELECT f.fact FROM facts f WHERE f.state_id = s.id ORDER BY f.id DESC LIMIT 1) IS NEW.payload);
END`;

/** Migration 3, entity labels as the original wrote them: MySQL's trigger (also used by adoption). */
export const MYSQL_TRIGGER_V3 = mysqlTrigger(MYSQL_ENTITY_V3);

/** The tables the trigger writes: locked together while it is swapped, so no message meets none (or two). */
export const MYSQL_TRIGGER_TABLES = ['messages', 'base_topics', 'entities', 'states', 'facts'] as const;
export const MYSQL_LOCK_TRIGGER_TABLES = `LOCK TABLES ${MYSQL_TRIGGER_TABLES.map((t) => `${t} WRITE`).join(', ')}`;

/**
 * Migration 3 on MySQL. Other writers (instances still on the previous release) keep inserting
 * while it runs, so the key change, the relabelling and the trigger swap happen under one
 * LOCK TABLES: their inserts wait, then meet the new trigger. Re-runnable after a failure half-way
 * (MySQL commits DDL at once): the key change runs only while the old key is there (a prepared
 * statement, as ALTER has no IF EXISTS for keys on MySQL 8), the rest is idempotent.
 */
const mysqlEntityLabelsAsWritten = [
  MYSQL_LOCK_TRIGGER_TABLES,
  `SET @iotp_step = IF(EXISTS(SELECT 1 FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'entities' AND INDEX_NAME = 'uq_entities_base_label'),
  'ALTER TABLE entities ADD UNIQUE KEY uq_entities_base_domain_label (base_topic_id, domain, label), DROP INDEX uq_entities_base_label', 'DO 0')`,
  'PREPARE iotp_step FROM @iotp_step',
  'EXECUTE iotp_step',
  'DEALLOCATE PREPARE iotp_step',
  // Labels were `<domain>.<object_id>` with both parts beside them: the label becomes the object id.
  'UPDATE entities SET label = object_id WHERE label <> object_id',
  'DROP TRIGGER IF EXISTS statestream_normalise',
  MYSQL_TRIGGER_V3,
  'UNLOCK TABLES',
];

/** SQLite's entities with the unique key of migration 3. */
export const SQLITE_ENTITIES_V3 = sqliteEntities('base_topic_id, domain, label');

export const SQLITE_TRIGGER_V3 = sqliteTrigger(SQLITE_ENTITY_V3);

/**
 * Migration 3 on SQLite: the table is rebuilt (same ids, so states keep pointing at their
 * entities). Foreign keys are deferred to the commit, which checks that every state still has its
 * entity. One writer at a time and one transaction: nobody sees it half done.
 */
const sqliteEntityLabelsAsWritten = [
  'DROP TRIGGER IF EXISTS statestream_normalise',
  'PRAGMA defer_foreign_keys = ON',
  'CREATE TABLE iotp_entities_relabel AS SELECT id, object_id AS label, domain, object_id, base_topic_id, inserted, last_updated FROM entities',
  'DROP TABLE entities',
  SQLITE_ENTITIES_V3,
  'INSERT INTO entities (id, label, domain, object_id, base_topic_id, inserted, last_updated) SELECT id, label, domain, object_id, base_topic_id, inserted, last_updated FROM iotp_entities_relabel',
  'DROP TABLE iotp_entities_relabel',
  'CREATE INDEX idx_entities_domain ON entities (domain)',
  SQLITE_TRIGGER_V3,
];

/**
 * PostgreSQL: the same tables (instants as TIMESTAMPTZ, labels byte-wise with COLLATE "C" like
 * MySQL's utf8mb4_bin, text without a length cap) and the normalisation as a PL/pgSQL trigger.
 *
 * Races between instances, under READ COMMITTED (each statement of a volatile function sees what
 * committed before it started):
 * - two writers inserting the same new label: the second `INSERT ... ON CONFLICT DO NOTHING`
 *   waits for the first to commit, then inserts nothing; its next SELECT sees the committed row.
 *   (If the first rolls back, the second's insert goes ahead.) So both messages get the one id;
 * - a retained replay is compared with the state's last fact while holding the state row
 *   (FOR NO KEY UPDATE: it does not block live facts' foreign-key checks), so two instances
 *   replaying the same retained message one after the other, or at once, add one fact, not two.
 *   On MySQL the same concurrent replay can add two (a plain read sees no uncommitted fact).
 * `last_updated` follows updates through a BEFORE UPDATE trigger, MySQL's ON UPDATE clause.
 */
const PG_NOW = 'CURRENT_TIMESTAMP(3)';
const PG_TIMESTAMPS = `inserted TIMESTAMPTZ(3) NOT NULL DEFAULT ${PG_NOW},
  last_updated TIMESTAMPTZ(3) NOT NULL DEFAULT ${PG_NOW}`;
const PG_TOUCHED = ['messages', 'base_topics', 'entities', 'states', 'facts'];

const postgresTables = [
  `CREATE TABLE messages (
  id BIGSERIAL PRIMARY KEY,
  topic VARCHAR(1024) COLLATE "C" NOT NULL,
  qos INT NOT NULL DEFAULT 0,
  payload TEXT NOT NULL,
  retained SMALLINT NOT NULL DEFAULT 0,
  received_at TIMESTAMPTZ(3) NOT NULL DEFAULT ${PG_NOW},
  ${PG_TIMESTAMPS}
)`,
  `CREATE TABLE base_topics (
  id SERIAL PRIMARY KEY,
  label VARCHAR(512) COLLATE "C" NOT NULL,
  ${PG_TIMESTAMPS},
  CONSTRAINT uq_base_topics_label UNIQUE (label)
)`,
  `CREATE TABLE entities (
  id SERIAL PRIMARY KEY,
  label VARCHAR(255) COLLATE "C" NOT NULL,
  domain VARCHAR(255) COLLATE "C" NOT NULL,
  object_id VARCHAR(255) COLLATE "C" NOT NULL,
  base_topic_id INT NOT NULL,
  ${PG_TIMESTAMPS},
  CONSTRAINT uq_entities_base_label UNIQUE (base_topic_id, label),
  CONSTRAINT fk_entities_base_topic FOREIGN KEY (base_topic_id) REFERENCES base_topics (id)
)`,
  'CREATE INDEX idx_entities_domain ON entities (domain)',
  `CREATE TABLE states (
  id SERIAL PRIMARY KEY,
  label VARCHAR(255) COLLATE "C" NOT NULL,
  entity_id INT NOT NULL,
  ${PG_TIMESTAMPS},
  CONSTRAINT uq_states_entity_label UNIQUE (entity_id, label),
  CONSTRAINT fk_states_entity FOREIGN KEY (entity_id) REFERENCES entities (id)
)`,
  `CREATE TABLE facts (
  id BIGSERIAL PRIMARY KEY,
  fact TEXT NOT NULL,
  state_id INT NOT NULL,
  retained SMALLINT NOT NULL DEFAULT 0,
  received_at TIMESTAMPTZ(3) NOT NULL DEFAULT ${PG_NOW},
  message_id BIGINT NULL,
  ${PG_TIMESTAMPS},
  CONSTRAINT fk_facts_state FOREIGN KEY (state_id) REFERENCES states (id)
)`,
  'CREATE INDEX idx_facts_state ON facts (state_id, id)',
  `CREATE FUNCTION statestream_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.last_updated := CURRENT_TIMESTAMP(3);
  RETURN NEW;
END
$$`,
  ...PG_TOUCHED.map((table) => `CREATE TRIGGER ${table}_touch BEFORE UPDATE ON ${table} FOR EACH ROW EXECUTE FUNCTION statestream_touch()`),
];

/**
 * How the PostgreSQL normalisation names and finds an entity. Migration 2 labelled entities
 * `<domain>.<object_id>` under a unique (base_topic_id, label); migration 3 labels them as the
 * original pipeline did (the object id), with the domain beside the label and the unique key on
 * (base_topic_id, domain, label), so `sensor.x` and `binary_sensor.x` stay two entities.
 */
interface PgEntityKey {
  /** Migration 3 replaces the functions migration 2 created. */
  create: 'CREATE FUNCTION' | 'CREATE OR REPLACE FUNCTION';
  /** The entity's label from a message's parts `p` (column `entity` of `valid`). */
  label: string;
  /** Keeps a message's labels within their columns (else it stays in `messages` only). */
  limits: string;
  /** The entity columns of the unique key after base_topic_id, over a message row `v` (`v.entity`, `v.domain`). */
  key: (v: string) => string;
  /** Entity `e` is message `v`'s, within its base topic. */
  matches: (e: string, v: string) => string;
  conflict: string;
  /** The row trigger's versions of the same. */
  rowEntity: string;
  rowLimits: string;
  rowMatches: (e: string) => string;
}

const PG_ENTITY_V2: PgEntityKey = {
  create: 'CREATE FUNCTION',
  label: `(p.domain || '.' || p.object) COLLATE "C"`,
  limits: 'char_length(p.domain) + char_length(p.object) < 255',
  key: (v) => `${v}.entity`,
  matches: (e, v) => `${e}.label = ${v}.entity`,
  conflict: '(base_topic_id, label)',
  rowEntity: "v_domain || '.' || v_object",
  rowLimits: 'char_length(v_domain) + char_length(v_object) >= 255',
  rowMatches: (e) => `${e}label = v_entity`,
};

const PG_ENTITY_V3: PgEntityKey = {
  create: 'CREATE OR REPLACE FUNCTION',
  label: 'p.object COLLATE "C"',
  limits: 'char_length(p.domain) <= 255 AND char_length(p.object) <= 255',
  key: (v) => `${v}.domain, ${v}.entity`,
  matches: (e, v) => `${e}.domain = ${v}.domain AND ${e}.label = ${v}.entity`,
  conflict: '(base_topic_id, domain, label)',
  rowEntity: 'v_object',
  rowLimits: 'char_length(v_domain) > 255 OR char_length(v_object) > 255',
  rowMatches: (e) => `${e}domain = v_domain AND ${e}label = v_entity`,
};

/**
 * The messages of one INSERT or COPY that normalise, with their levels split from the end of the
 * topic (`new_messages` is the statement's transition table). Parsed again in each statement of
 * the batch trigger: splitting a few hundred topics costs far less than a temporary table.
 */
const pgValidMessages = (k: PgEntityKey): string => `split AS MATERIALIZED (
    SELECT m.id, m.payload, m.retained, m.received_at, m.topic, string_to_array(m.topic, '/') AS levels FROM new_messages m
  ),
  parts AS MATERIALIZED (
    SELECT s.id, s.payload, s.retained, s.received_at, s.levels[n] AS key, s.levels[n - 1] AS object, s.levels[n - 2] AS domain,
           left(s.topic, char_length(s.topic) - char_length(s.levels[n]) - char_length(s.levels[n - 1]) - char_length(s.levels[n - 2]) - 3) AS base
    FROM (SELECT split.*, cardinality(split.levels) AS n FROM split) s
    WHERE s.n >= 4
  ),
  valid AS MATERIALIZED (
    -- COLLATE "C": the labels' own collation, so the lookups below use the unique indexes.
    SELECT p.id, p.payload, p.retained, p.received_at, p.base COLLATE "C" AS base, p.domain COLLATE "C" AS domain,
           p.object COLLATE "C" AS object, p.key COLLATE "C" AS key, ${k.label} AS entity
    FROM parts p
    WHERE p.base <> '' AND p.domain <> '' AND p.object <> '' AND p.key <> ''
      AND char_length(p.base) <= 512 AND ${k.limits} AND char_length(p.key) <= 255
  )`;

/**
 * The normalisation as one statement-level trigger over the rows of a whole INSERT or COPY (the
 * writer sends 500 at a time): each level is resolved for all rows at once, set-based, instead of
 * a few queries per row. Same rules as the row trigger below, including order within a batch:
 * labels are inserted sorted (two writers meeting the same new labels wait for each other instead
 * of deadlocking), facts in message order, and a retained message is compared with the message
 * before it in the batch for the same state, else with the state's last fact; that previous
 * payload is the last fact at that point whether or not it was stored, since it was dropped only
 * when equal to it.
 */
/** The facts of the batch's messages whose state exists (see postgresBatchTrigger); `guard` may suppress the insert. */
const pgFactsInsert = (k: PgEntityKey, guard: string): string => `WITH ${pgValidMessages(k)},
  resolved AS MATERIALIZED (
    SELECT v.id, v.payload, v.retained, v.received_at,
           (SELECT s.id FROM base_topics b
              JOIN entities e ON e.base_topic_id = b.id AND ${k.matches('e', 'v')}
              JOIN states s ON s.entity_id = e.id AND s.label = v.key
            WHERE b.label = v.base) AS state_id
    FROM valid v
  ),
  ordered AS (
    SELECT r.*, lag(r.payload) OVER (PARTITION BY r.state_id ORDER BY r.id) AS previous,
           row_number() OVER (PARTITION BY r.state_id ORDER BY r.id) AS nth
    FROM resolved r
  ),
  stored AS (
    INSERT INTO facts (fact, state_id, retained, received_at, message_id)
      SELECT r.payload, r.state_id, r.retained, r.received_at, r.id FROM ordered r
      WHERE ${guard} AND CASE
        WHEN r.retained = 0 THEN TRUE
        WHEN r.nth > 1 THEN r.payload IS DISTINCT FROM r.previous
        ELSE r.payload IS DISTINCT FROM (SELECT f.fact FROM facts f WHERE f.state_id = r.state_id ORDER BY f.id DESC LIMIT 1)
      END
      ORDER BY r.id
      RETURNING 1
  )
  SELECT count(*) FILTER (WHERE state_id IS NULL), (SELECT count(*) FROM stored) INTO v_missing, v_stored FROM resolved`;

/**
 * The normalisation as one statement-level trigger over the rows of a whole INSERT or COPY (the
 * writer sends 500 at a time), set-based instead of a few queries per row. Same rules as the row
 * trigger below, including the order within a batch: facts in message order, and a retained
 * message is compared with the message before it in the batch for the same state, else with the
 * state's last fact (that previous payload is the last fact at that point whether or not it was
 * stored, since it was dropped only when equal to it).
 *
 * Steady state (every topic known) is one statement: each message's state is looked up (scalar
 * subqueries: one seek of each unique index, as the row trigger does) and the facts inserted.
 * When a message's state is missing, that statement inserts nothing; the missing labels are
 * inserted level by level (sorted, so two writers meeting the same new labels wait for each
 * other instead of deadlocking; ON CONFLICT DO NOTHING then sees the other's committed row) and
 * the facts statement runs again. Retained messages hold their states first (FOR NO KEY UPDATE,
 * in id order) so a concurrent replay of the same messages waits and then sees these facts.
 */
const postgresBatchTrigger = (k: PgEntityKey): string => `${k.create} statestream_normalise() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  v_missing BIGINT;
  v_stored BIGINT;
BEGIN
  IF EXISTS (SELECT 1 FROM new_messages WHERE retained <> 0) THEN
    PERFORM 1 FROM states s WHERE s.id IN (
      WITH ${pgValidMessages(k)}
      SELECT (SELECT s2.id FROM base_topics b
                JOIN entities e ON e.base_topic_id = b.id AND ${k.matches('e', 'v')}
                JOIN states s2 ON s2.entity_id = e.id AND s2.label = v.key
              WHERE b.label = v.base)
      FROM valid v WHERE v.retained <> 0
    ) ORDER BY s.id FOR NO KEY UPDATE;
  END IF;

  ${pgFactsInsert(k, 'NOT EXISTS (SELECT 1 FROM resolved u WHERE u.state_id IS NULL)')};
  IF v_missing = 0 THEN
    RETURN NULL;
  END IF;

  WITH ${pgValidMessages(k)}
  INSERT INTO base_topics (label)
    SELECT DISTINCT v.base FROM valid v WHERE (SELECT b.id FROM base_topics b WHERE b.label = v.base) IS NULL ORDER BY 1
    ON CONFLICT (label) DO NOTHING;

  WITH ${pgValidMessages(k)},
  based AS MATERIALIZED (SELECT v.*, (SELECT b.id FROM base_topics b WHERE b.label = v.base) AS base_id FROM valid v)
  INSERT INTO entities (label, domain, object_id, base_topic_id)
    SELECT DISTINCT ON (v.base_id, ${k.key('v')}) v.entity, v.domain, v.object, v.base_id FROM based v
    WHERE (SELECT e.id FROM entities e WHERE e.base_topic_id = v.base_id AND ${k.matches('e', 'v')}) IS NULL
    ORDER BY v.base_id, ${k.key('v')}, v.id
    ON CONFLICT ${k.conflict} DO NOTHING;

  WITH ${pgValidMessages(k)},
  entified AS MATERIALIZED (
    SELECT v.*, (SELECT e.id FROM base_topics b JOIN entities e ON e.base_topic_id = b.id AND ${k.matches('e', 'v')} WHERE b.label = v.base) AS entity_id FROM valid v
  )
  INSERT INTO states (label, entity_id)
    SELECT DISTINCT v.key, v.entity_id FROM entified v
    WHERE (SELECT s.id FROM states s WHERE s.entity_id = v.entity_id AND s.label = v.key) IS NULL
    ORDER BY 2, 1
    ON CONFLICT (entity_id, label) DO NOTHING;

  ${pgFactsInsert(k, 'TRUE')};
  RETURN NULL;
END
$$`;

/**
 * The same normalisation one row at a time, for where a statement trigger with a transition table
 * cannot be used: TimescaleDB hypertables (lib/db/timescale.ts swaps it in when `messages`
 * becomes one).
 */
const postgresRowTrigger = (k: PgEntityKey): string => `${k.create} statestream_normalise_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  v_levels TEXT[];
  v_count INT;
  -- The labels' own collation, so the lookups use the unique indexes.
  v_key TEXT COLLATE "C";
  v_object TEXT COLLATE "C";
  v_domain TEXT COLLATE "C";
  v_base TEXT COLLATE "C";
  v_entity TEXT COLLATE "C";
  v_base_id INT;
  v_entity_id INT;
  v_state_id INT;
  v_last TEXT;
BEGIN
  v_levels := string_to_array(NEW.topic, '/');
  v_count := cardinality(v_levels);
  IF v_count < 4 THEN
    RETURN NULL;
  END IF;
  v_key := v_levels[v_count];
  v_object := v_levels[v_count - 1];
  v_domain := v_levels[v_count - 2];
  v_base := left(NEW.topic, char_length(NEW.topic) - char_length(v_key) - char_length(v_object) - char_length(v_domain) - 3);
  IF v_base = '' OR v_domain = '' OR v_object = '' OR v_key = ''
     OR char_length(v_base) > 512 OR ${k.rowLimits} OR char_length(v_key) > 255 THEN
    RETURN NULL;
  END IF;
  v_entity := ${k.rowEntity};

  -- Steady state: the topic is known, one query walks the three unique keys.
  SELECT s.id INTO v_state_id FROM base_topics b
    JOIN entities e ON e.base_topic_id = b.id AND ${k.rowMatches('e.')}
    JOIN states s ON s.entity_id = e.id AND s.label = v_key
  WHERE b.label = v_base;

  IF v_state_id IS NULL THEN
    -- A new topic: resolve each level, inserting only the missing ones (see the race note in schema.ts).
    SELECT id INTO v_base_id FROM base_topics WHERE label = v_base;
    IF v_base_id IS NULL THEN
      INSERT INTO base_topics (label) VALUES (v_base) ON CONFLICT (label) DO NOTHING RETURNING id INTO v_base_id;
      IF v_base_id IS NULL THEN
        SELECT id INTO v_base_id FROM base_topics WHERE label = v_base;
      END IF;
    END IF;
    SELECT id INTO v_entity_id FROM entities WHERE base_topic_id = v_base_id AND ${k.rowMatches('')};
    IF v_entity_id IS NULL THEN
      INSERT INTO entities (label, domain, object_id, base_topic_id) VALUES (v_entity, v_domain, v_object, v_base_id)
        ON CONFLICT ${k.conflict} DO NOTHING RETURNING id INTO v_entity_id;
      IF v_entity_id IS NULL THEN
        SELECT id INTO v_entity_id FROM entities WHERE base_topic_id = v_base_id AND ${k.rowMatches('')};
      END IF;
    END IF;
    INSERT INTO states (label, entity_id) VALUES (v_key, v_entity_id)
      ON CONFLICT (entity_id, label) DO NOTHING RETURNING id INTO v_state_id;
    IF v_state_id IS NULL THEN
      SELECT id INTO v_state_id FROM states WHERE entity_id = v_entity_id AND label = v_key;
    END IF;
  ELSIF NEW.retained <> 0 THEN
    -- A retained replay of the value already stored adds nothing; the state row is held so a
    -- concurrent replay of the same message waits and then sees this one's fact.
    PERFORM 1 FROM states WHERE id = v_state_id FOR NO KEY UPDATE;
    SELECT f.fact INTO v_last FROM facts f WHERE f.state_id = v_state_id ORDER BY f.id DESC LIMIT 1;
    IF v_last IS NOT DISTINCT FROM NEW.payload THEN
      RETURN NULL;
    END IF;
  END IF;

  INSERT INTO facts (fact, state_id, retained, received_at, message_id)
    VALUES (NEW.payload, v_state_id, NEW.retained, NEW.received_at, NEW.id);
  RETURN NULL;
END
$$`;

const postgresTrigger = [
  postgresBatchTrigger(PG_ENTITY_V2),
  postgresRowTrigger(PG_ENTITY_V2),
  'CREATE TRIGGER statestream_normalise AFTER INSERT ON messages REFERENCING NEW TABLE AS new_messages FOR EACH STATEMENT EXECUTE FUNCTION statestream_normalise()',
];

/**
 * Migration 3 on PostgreSQL, in one transaction (its DDL is transactional). Writers on the
 * previous release keep inserting while it runs: `messages` is locked against writes first (reads
 * go on), so their inserts wait and then meet the new functions; without the lock, a trigger
 * already running the old function could look up a relabelled entity under its old label and add
 * it again. The key changes before the relabelling (`sensor.x` and `binary_sensor.x` both become
 * `x`), then both functions are replaced; the trigger that calls them stays (the batch trigger, or
 * the row trigger on a TimescaleDB hypertable).
 */
const postgresEntityLabelsAsWritten = [
  'LOCK TABLE messages IN EXCLUSIVE MODE',
  'ALTER TABLE entities DROP CONSTRAINT uq_entities_base_label, ADD CONSTRAINT uq_entities_base_domain_label UNIQUE (base_topic_id, domain, label)',
  'UPDATE entities SET label = object_id WHERE label <> object_id',
  postgresBatchTrigger(PG_ENTITY_V3),
  postgresRowTrigger(PG_ENTITY_V3),
];

export const statestreamMigrations: MigrationSet = {
  name: 'statestream',
  description:
    'Home Assistant MQTT Statestream: messages normalised by an AFTER INSERT trigger into base_topics, entities, states and facts (drop-in for the original pipeline, with domain kept, multi-level bases, utf8mb4, large payloads, retain flag and deduplicated retained replays).',
  migrations: [
    { version: 1, name: 'create-tables', mysql: mysqlTables, sqlite: SQLITE_V1_TABLES, postgres: postgresTables },
    {
      version: 2,
      name: 'create-normalise-trigger',
      mysql: [mysqlTrigger(MYSQL_ENTITY_V2)],
      sqlite: [sqliteTrigger(SQLITE_ENTITY_V2)],
      postgres: postgresTrigger,
    },
    {
      version: 3,
      name: 'entity-labels-as-written',
      mysql: mysqlEntityLabelsAsWritten,
      sqlite: sqliteEntityLabelsAsWritten,
      postgres: postgresEntityLabelsAsWritten,
    },
  ],
  // Taking over the original pipeline's tables (lib/statestream/adopt.ts); a getter, as that module imports this one.
  get adoption() {
    return statestreamAdoption;
  },
};

/** The query from the original README; it must keep returning the right rows. */
export const SEED_README_QUERY = `select
    facts.id,
    facts.fact,
    states.label as state,
    states.id as state_id,
    entities.label as entity,
    entities.id as entity_id,
    base_topics.label as main_topic,
    base_topic_id as main_topic_id
from facts
join states on facts.state_id = states.id
join entities on states.entity_id = entities.id
join base_topics on entities.base_topic_id = base_topics.id`;
