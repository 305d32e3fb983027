/**
 * Taking over the original statestream pipeline's database (CONTRACTS §6.1): its tables `messages`,
 * `base_topics`, `entities`, `states`, `facts` (and the unused `domains`), created by its
 * migrate.py with `utf8` (3 bytes), `TEXT` payloads, entities without a domain, and its AFTER
 * INSERT trigger `formating`. The adoption keeps every row and id, brings the tables to the shape
 * of migration 3 of the `statestream` set, and replaces `formating` by our trigger:
 *
 * - text columns become utf8mb4 / utf8mb4_bin, payloads and facts LONGTEXT, topics VARCHAR(1024);
 * - `messages` and `facts` get `retained` (0: the original did not record it) and `received_at`
 *   (the row's `inserted` time); `facts` gets `message_id` (NULL: the original did not link them);
 * - entities keep their label as the original wrote it (the object id, `kitchen_temp`), get
 *   `object_id` (the same) and `domain`: filled where the original's four-level messages name one
 *   domain for the entity, left '' where they do not (no messages left, or the original merged
 *   `sensor.x` and `binary_sensor.x` into one entity: its facts stay together under it);
 * - the unique key (base_topic_id, label) becomes (base_topic_id, domain, label), so new messages
 *   of `sensor.x` and `binary_sensor.x` stay apart from here on;
 * - `formating` is dropped and our trigger created in the same LOCK TABLES (MySQL) or transaction
 *   (SQLite): a message inserted meanwhile by anyone waits, then gets exactly one fact.
 *
 * Every step checks what is there first, so a run interrupted half-way (MySQL commits DDL at once)
 * continues where it stopped, and tables of this product whose record in `migrations` is missing
 * (releases before migration 3 wrote `sensor.x` into the label) converge to the same shape.
 * The original split a base topic containing `/` at its first level: those rows stay as written.
 */
import {
  columnProblems,
  listing,
  rebuildSqliteTable,
  refuse,
  type AdoptionPlan,
  type ExpectedColumn,
  type SchemaAdoption,
} from '../db/adopt';
import { column, indexOn, readSchema, type ColumnInfo, type SchemaSnapshot, type TableInfo, type TriggerInfo } from '../db/introspect';
import type { Dialect, SqlExecutor } from '../db/types';
import {
  MYSQL_CHARSET,
  MYSQL_COLLATION,
  MYSQL_LOCK_TRIGGER_TABLES,
  MYSQL_TRIGGER_V3,
  SQLITE_ENTITIES_V3,
  SQLITE_NOW,
  SQLITE_TRIGGER_V3,
  SQLITE_V1_TABLES,
} from './schema';

/** The statestream set's version whose shape an adoption leaves behind. */
export const ADOPTED_VERSION = 3;
const CORE = ['messages', 'base_topics', 'entities', 'states', 'facts'] as const;
const ORIGINAL_TRIGGER = 'formating';
const OUR_TRIGGER = 'statestream_normalise';

function expectedColumns(dialect: Dialect): Record<(typeof CORE)[number], ExpectedColumn[]> {
  // SQLite keeps the original's timestamps as text (its CURRENT_TIMESTAMP default).
  const time = dialect === 'sqlite' ? (['datetime', 'text'] as const) : (['datetime'] as const);
  const stamps: ExpectedColumn[] = [
    { name: 'inserted', family: time, optional: true },
    { name: 'last_updated', family: time, optional: true },
  ];
  const flag = ['integer', 'boolean'] as const;
  return {
    messages: [
      { name: 'id', family: 'integer' },
      { name: 'topic', family: 'text' },
      { name: 'qos', family: 'integer' },
      { name: 'payload', family: 'text' },
      { name: 'retained', family: flag, optional: true },
      { name: 'received_at', family: time, optional: true },
      ...stamps,
    ],
    base_topics: [{ name: 'id', family: 'integer' }, { name: 'label', family: 'text' }, ...stamps],
    entities: [
      { name: 'id', family: 'integer' },
      { name: 'label', family: 'text' },
      { name: 'base_topic_id', family: 'integer' },
      { name: 'domain', family: 'text', optional: true },
      { name: 'object_id', family: 'text', optional: true },
      ...stamps,
    ],
    states: [{ name: 'id', family: 'integer' }, { name: 'label', family: 'text' }, { name: 'entity_id', family: 'integer' }, ...stamps],
    facts: [
      { name: 'id', family: 'integer' },
      { name: 'fact', family: 'text' },
      { name: 'state_id', family: 'integer' },
      { name: 'retained', family: flag, optional: true },
      { name: 'received_at', family: time, optional: true },
      { name: 'message_id', family: 'integer', optional: true },
      ...stamps,
    ],
  };
}

const known = (t: TriggerInfo): boolean =>
  t.table.toLowerCase() === 'messages' &&
  t.timing === 'AFTER' &&
  t.event === 'INSERT' &&
  [ORIGINAL_TRIGGER, OUR_TRIGGER].includes(t.name.toLowerCase());

const REMEDY =
  "Point this flow at the original statestream pipeline's database as its migrate.py created it (or at an empty one), " +
  'or change the tables listed so they match, then deploy the flow again. docs/switching.md describes the tables it takes over.';

/** Refusal or nothing: what in the snapshot the adoption does not recognise. */
function problems(snapshot: SchemaSnapshot): string[] {
  const found: string[] = [];
  const expected = expectedColumns(snapshot.dialect);
  for (const name of CORE) found.push(...columnProblems(snapshot.tables.get(name)!, expected[name]));
  const keys: Array<[string, string[], string]> = [
    ['base_topics', ['label'], 'base_topics has no unique key on (label)'],
    ['states', ['entity_id', 'label'], 'states has no unique key on (entity_id, label)'],
  ];
  for (const [table, columns, problem] of keys) if (!indexOn(snapshot.tables.get(table), columns, { unique: true })) found.push(problem);
  const entities = snapshot.tables.get('entities');
  if (
    !indexOn(entities, ['base_topic_id', 'label'], { unique: true }) &&
    !indexOn(entities, ['base_topic_id', 'domain', 'label'], { unique: true })
  ) {
    found.push('entities has no unique key on (base_topic_id, label)');
  }
  for (const trigger of snapshot.triggers) {
    if (!known(trigger))
      found.push(
        `a trigger ${trigger.name} (${trigger.timing} ${trigger.event} on ${trigger.table}) that is neither the original's "formating" nor ours`,
      );
  }
  return found;
}

async function inspect(executor: SqlExecutor): Promise<AdoptionPlan> {
  const snapshot = await readSchema(executor, [...CORE, 'domains']);
  const present = CORE.filter((t) => snapshot.tables.has(t));
  if (present.length === 0) return { action: 'none' };
  if (present.length < CORE.length) {
    const missing = CORE.filter((t) => !snapshot.tables.has(t));
    const messages = snapshot.tables.get('messages');
    if (present.length === 1 && messages && column(messages, 'number') && column(messages, 'epochtime')) {
      return refuse(
        "its only table of the statestream schema is messages(number, epochtime), the rolling averages' table",
        "Point DATABASE_URL at the statestream pipeline's MySQL database (or an empty one); the rolling averages keep their own file (DB_FILE).",
      );
    }
    const found = present.length === 1 ? `the table ${present[0]} exists` : `the tables ${listing(present)} exist`;
    return refuse(`${found} but ${listing(missing)} ${missing.length === 1 ? 'does' : 'do'} not`, REMEDY);
  }
  const found = problems(snapshot);
  if (found.length > 0) return refuse(found.join('; '), REMEDY);
  const original =
    snapshot.triggers.some((t) => t.name.toLowerCase() === ORIGINAL_TRIGGER) || !column(snapshot.tables.get('entities'), 'object_id');
  const tables = CORE.map((t) => snapshot.tables.get(t)!.name).join(', ');
  return {
    action: 'adopt',
    record: original ? 'adopt-original' : 'adopt-existing',
    version: ADOPTED_VERSION,
    summary: original
      ? `the original pipeline's tables ${tables}, trigger "formating" replaced`
      : `existing statestream tables ${tables} without a record in migrations`,
    run: (ex) => (executor.dialect === 'mysql' ? adoptMysql(ex, snapshot) : adoptSqlite(ex, snapshot)),
  };
}

export const statestreamAdoption: SchemaAdoption = {
  inspect: { mysql: inspect, sqlite: inspect },
};

// ------------------------------------------------------------------------------------- MySQL

/** A function, not a constant: ./schema imports this module, so its values exist only once both have loaded. */
const textOptions = (): string => `CHARACTER SET ${MYSQL_CHARSET} COLLATE ${MYSQL_COLLATION}`;

function nullness(c: ColumnInfo): string {
  return c.nullable ? 'NULL' : 'NOT NULL';
}

/** A text column or the table default not yet utf8mb4 / utf8mb4_bin. */
function needsCharset(table: TableInfo): boolean {
  if (table.collation !== MYSQL_COLLATION) return true;
  return table.columns.some((c) => c.family === 'text' && (c.charset !== MYSQL_CHARSET || c.collation !== MYSQL_COLLATION));
}

function tableOptions(table: TableInfo): string[] {
  const changes: string[] = [];
  if (needsCharset(table)) changes.push(`CONVERT TO ${textOptions()}`);
  // DYNAMIC: utf8mb4 keys up to 3072 bytes (COMPACT stops at 767, too short for a 255-character label).
  if ((table.engine ?? '').toLowerCase() !== 'innodb' || !/^(dynamic|compressed)$/i.test(table.rowFormat ?? ''))
    changes.push('ENGINE=InnoDB', 'ROW_FORMAT=DYNAMIC');
  return changes;
}

function widenVarchar(table: TableInfo, name: string, length: number, changes: string[]): void {
  const c = column(table, name)!;
  if ((c.maxLength ?? 0) < length) changes.push(`MODIFY \`${c.name}\` VARCHAR(${length}) ${textOptions()} ${nullness(c)}`);
}

function longText(table: TableInfo, name: string, changes: string[]): void {
  const c = column(table, name)!;
  if (c.type !== 'longtext') changes.push(`MODIFY \`${c.name}\` LONGTEXT ${textOptions()} ${nullness(c)}`);
}

function bigId(table: TableInfo, changes: string[]): void {
  const c = column(table, 'id')!;
  if (!/^bigint(\(\d+\))? unsigned/.test(c.type)) changes.push('MODIFY `id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT');
}

/** `received_at` for the rows already there: when the original inserted them. */
async function fillReceivedAt(executor: SqlExecutor, table: TableInfo): Promise<void> {
  const existing = column(table, 'received_at');
  if (existing && !existing.nullable) return;
  const from = column(table, 'inserted') ? 'COALESCE(`inserted`, CURRENT_TIMESTAMP(3))' : 'CURRENT_TIMESTAMP(3)';
  await executor.query(`UPDATE \`${table.name}\` SET received_at = ${from} WHERE received_at IS NULL`);
  await executor.query(`ALTER TABLE \`${table.name}\` MODIFY received_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)`);
}

async function alter(executor: SqlExecutor, table: TableInfo, changes: string[]): Promise<void> {
  if (changes.length > 0) await executor.query(`ALTER TABLE \`${table.name}\` ${changes.join(', ')}`);
}

/**
 * The domain of entities the original stored without one, from its four-level messages
 * (`<base>/<domain>/<object>/<key>`) where they name exactly one domain for the base and object.
 * IGNORE: a domain that would make the entity collide with one already known keeps it ''.
 * No aliases on locked tables (LOCK TABLES allows only the names it locked).
 */
const MYSQL_INFER_DOMAINS = `UPDATE IGNORE entities, base_topics, (
    SELECT SUBSTRING_INDEX(topic, '/', 1) AS base,
           SUBSTRING_INDEX(SUBSTRING_INDEX(topic, '/', 3), '/', -1) AS object,
           MIN(SUBSTRING_INDEX(SUBSTRING_INDEX(topic, '/', 2), '/', -1)) AS domain
    FROM messages
    WHERE CHAR_LENGTH(topic) - CHAR_LENGTH(REPLACE(topic, '/', '')) = 3
    GROUP BY base, object
    HAVING COUNT(DISTINCT SUBSTRING_INDEX(SUBSTRING_INDEX(topic, '/', 2), '/', -1)) = 1
  ) AS told
  SET entities.domain = told.domain
  WHERE entities.domain = '' AND base_topics.id = entities.base_topic_id AND told.base = base_topics.label AND told.object = entities.label AND told.domain <> ''`;

async function adoptMysql(executor: SqlExecutor, snapshot: SchemaSnapshot): Promise<string> {
  const t = (name: string): TableInfo => snapshot.tables.get(name)!;

  const messages: string[] = tableOptions(t('messages'));
  bigId(t('messages'), messages);
  widenVarchar(t('messages'), 'topic', 1024, messages);
  longText(t('messages'), 'payload', messages);
  if (!column(t('messages'), 'retained')) messages.push('ADD COLUMN retained TINYINT(1) NOT NULL DEFAULT 0');
  if (!column(t('messages'), 'received_at')) messages.push('ADD COLUMN received_at TIMESTAMP(3) NULL');
  await alter(executor, t('messages'), messages);
  await fillReceivedAt(executor, t('messages'));

  const bases = tableOptions(t('base_topics'));
  widenVarchar(t('base_topics'), 'label', 512, bases);
  await alter(executor, t('base_topics'), bases);

  const entities = tableOptions(t('entities'));
  widenVarchar(t('entities'), 'label', 255, entities);
  if (!column(t('entities'), 'domain')) entities.push(`ADD COLUMN domain VARCHAR(255) ${textOptions()} NOT NULL DEFAULT ''`);
  if (!column(t('entities'), 'object_id')) entities.push(`ADD COLUMN object_id VARCHAR(255) ${textOptions()} NOT NULL DEFAULT ''`);
  if (!t('entities').indexes.some((i) => i.columns[0]?.toLowerCase() === 'domain')) entities.push('ADD KEY idx_entities_domain (domain)');
  await alter(executor, t('entities'), entities);

  const states = tableOptions(t('states'));
  widenVarchar(t('states'), 'label', 255, states);
  await alter(executor, t('states'), states);

  const facts = tableOptions(t('facts'));
  bigId(t('facts'), facts);
  longText(t('facts'), 'fact', facts);
  if (!column(t('facts'), 'retained')) facts.push('ADD COLUMN retained TINYINT(1) NOT NULL DEFAULT 0');
  if (!column(t('facts'), 'received_at')) facts.push('ADD COLUMN received_at TIMESTAMP(3) NULL');
  if (!column(t('facts'), 'message_id')) facts.push('ADD COLUMN message_id BIGINT UNSIGNED NULL');
  if (!t('facts').indexes.some((i) => i.columns[0]?.toLowerCase() === 'state_id')) facts.push('ADD KEY idx_facts_state (state_id, id)');
  await alter(executor, t('facts'), facts);
  await fillReceivedAt(executor, t('facts'));

  // The rest under one lock: a writer still inserting meets either `formating` and the old key,
  // or our trigger and the new key, never a mix, never no trigger.
  await executor.query(MYSQL_LOCK_TRIGGER_TABLES);
  await executor.query("UPDATE entities SET object_id = label WHERE object_id = ''");
  const oldKey = indexOn(t('entities'), ['base_topic_id', 'label'], { unique: true });
  if (!indexOn(t('entities'), ['base_topic_id', 'domain', 'label'], { unique: true })) {
    const drop = oldKey ? `, DROP INDEX \`${oldKey.name.replace(/`/g, '``')}\`` : '';
    await executor.query(`ALTER TABLE entities ADD UNIQUE KEY uq_entities_base_domain_label (base_topic_id, domain, label)${drop}`);
  } else if (oldKey) {
    await executor.query(`ALTER TABLE entities DROP INDEX \`${oldKey.name.replace(/`/g, '``')}\``);
  }
  // Rows of this product's releases before migration 3 (label `<domain>.<object_id>`).
  await executor.query("UPDATE entities SET label = object_id WHERE domain <> '' AND label = CONCAT(domain, '.', object_id)");
  const inferred = await executor.query(MYSQL_INFER_DOMAINS);
  for (const trigger of snapshot.triggers) {
    if (trigger.name.toLowerCase() === ORIGINAL_TRIGGER) await executor.query(`DROP TRIGGER \`${trigger.name.replace(/`/g, '``')}\``);
  }
  await executor.query(`DROP TRIGGER IF EXISTS ${OUR_TRIGGER}`);
  await executor.query(MYSQL_TRIGGER_V3);
  const { rows } = await executor.query("SELECT COUNT(*) AS n, SUM(domain = '') AS unknown FROM entities");
  await executor.query('UNLOCK TABLES');
  return domainNote(inferred.affectedRows, Number(rows[0]?.n ?? 0), Number(rows[0]?.unknown ?? 0));
}

function domainNote(inferred: number, entities: number, unknown: number): string {
  return `Entities: ${entities}, of which ${inferred} got their domain from the stored messages and ${unknown} have none the messages tell (domain '').`;
}

// ------------------------------------------------------------------------------------ SQLite

function v1Statement(prefix: string): string {
  const found = SQLITE_V1_TABLES.find((s) => s.startsWith(prefix));
  if (!found) throw new Error(`statestream migration 1 has no statement starting with ${prefix}`);
  return found;
}

const has = (table: TableInfo, name: string): boolean => column(table, name) !== undefined;
const SQLITE_ISO = (expr: string): string => `COALESCE(strftime('%Y-%m-%dT%H:%M:%fZ', ${expr}), ${SQLITE_NOW})`;

async function adoptSqlite(executor: SqlExecutor, snapshot: SchemaSnapshot): Promise<string> {
  const t = (name: string): TableInfo => snapshot.tables.get(name)!;
  const stamps = (table: TableInfo): Record<string, string> => ({
    inserted: has(table, 'inserted') ? `COALESCE(inserted, ${SQLITE_NOW})` : SQLITE_NOW,
    last_updated: has(table, 'last_updated') ? `COALESCE(last_updated, ${SQLITE_NOW})` : SQLITE_NOW,
  });
  const receivedAt = (table: TableInfo): string =>
    has(table, 'received_at')
      ? `COALESCE(received_at, ${SQLITE_ISO(has(table, 'inserted') ? 'inserted' : "'now'")})`
      : SQLITE_ISO(has(table, 'inserted') ? 'inserted' : "'now'");

  // Every table without all of our columns is rebuilt in our shape (migration 1's statement).
  const ours = (table: TableInfo, columns: string[]): boolean => columns.every((c) => has(table, c));
  if (!ours(t('messages'), ['retained', 'received_at', 'topic_base', 'topic_key'])) {
    await rebuildSqliteTable(executor, {
      table: 'messages',
      create: v1Statement('CREATE TABLE messages'),
      copy: {
        id: 'id',
        topic: 'topic',
        qos: 'COALESCE(qos, 0)',
        payload: 'payload',
        retained: has(t('messages'), 'retained') ? 'COALESCE(retained, 0)' : '0',
        received_at: receivedAt(t('messages')),
        ...stamps(t('messages')),
      },
    });
  }
  if (!indexOn(t('base_topics'), ['label'], { unique: true }) || !ours(t('base_topics'), ['inserted', 'last_updated'])) {
    await rebuildSqliteTable(executor, {
      table: 'base_topics',
      create: v1Statement('CREATE TABLE base_topics'),
      copy: { id: 'id', label: 'label', ...stamps(t('base_topics')) },
    });
  }
  if (!ours(t('states'), ['inserted', 'last_updated'])) {
    await rebuildSqliteTable(executor, {
      table: 'states',
      create: v1Statement('CREATE TABLE states'),
      copy: { id: 'id', label: 'label', entity_id: 'entity_id', ...stamps(t('states')) },
    });
  }
  if (!ours(t('facts'), ['retained', 'received_at', 'message_id'])) {
    await rebuildSqliteTable(executor, {
      table: 'facts',
      create: v1Statement('CREATE TABLE facts'),
      indexes: [v1Statement('CREATE INDEX idx_facts_state')],
      copy: {
        id: 'id',
        fact: 'fact',
        state_id: 'state_id',
        retained: has(t('facts'), 'retained') ? 'COALESCE(retained, 0)' : '0',
        received_at: receivedAt(t('facts')),
        message_id: has(t('facts'), 'message_id') ? 'message_id' : 'NULL',
        ...stamps(t('facts')),
      },
    });
  }
  // Entities straight into migration 3's shape: label as written, domain beside it.
  const e = t('entities');
  const withParts = has(e, 'domain') && has(e, 'object_id');
  if (!indexOn(e, ['base_topic_id', 'domain', 'label'], { unique: true }) || !withParts) {
    await rebuildSqliteTable(executor, {
      table: 'entities',
      create: SQLITE_ENTITIES_V3,
      indexes: ['CREATE INDEX IF NOT EXISTS idx_entities_domain ON entities (domain)'],
      copy: {
        id: 'id',
        // Rows of this product's releases before migration 3 carry `<domain>.<object_id>`.
        label: withParts ? "CASE WHEN domain <> '' AND label = domain || '.' || object_id THEN object_id ELSE label END" : 'label',
        domain: has(e, 'domain') ? "COALESCE(domain, '')" : "''",
        object_id: has(e, 'object_id') ? "COALESCE(NULLIF(object_id, ''), label)" : 'label',
        base_topic_id: 'base_topic_id',
        ...stamps(e),
      },
    });
  }
  await executor.query(
    `CREATE TEMP TABLE iotp_told AS SELECT topic_base AS base, topic_object_id AS object, MIN(topic_domain) AS domain FROM messages
     WHERE length(topic) - length(replace(topic, '/', '')) = 3 GROUP BY topic_base, topic_object_id HAVING COUNT(DISTINCT topic_domain) = 1`,
  );
  const told = `(SELECT iotp_told.domain FROM iotp_told JOIN base_topics ON base_topics.label = iotp_told.base
     WHERE base_topics.id = entities.base_topic_id AND iotp_told.object = entities.label AND iotp_told.domain <> '')`;
  const inferred = await executor.query(`UPDATE OR IGNORE entities SET domain = ${told} WHERE domain = '' AND ${told} IS NOT NULL`);
  await executor.query('DROP TABLE iotp_told');
  await executor.query(`DROP TRIGGER IF EXISTS "${ORIGINAL_TRIGGER}"`);
  await executor.query(`DROP TRIGGER IF EXISTS ${OUR_TRIGGER}`);
  await executor.query(SQLITE_TRIGGER_V3);
  const { rows } = await executor.query("SELECT COUNT(*) AS n, SUM(domain = '') AS unknown FROM entities");
  return domainNote(inferred.affectedRows, Number(rows[0]?.n ?? 0), Number(rows[0]?.unknown ?? 0));
}
