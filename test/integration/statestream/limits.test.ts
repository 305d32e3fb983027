/**
 * lib/statestream/limits.ts against the real tables: at each limit and one past it, a message is
 * normalised (gets its entity and fact) exactly when factlessReason says it does, on MariaDB and
 * on SQLite, and a topic of the length the parser still accepts is stored whole by both.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import type { Connection } from 'mysql2/promise';
import { parseStatestream, statestreamMigrations } from '../../../lib/statestream';
import {
  factlessReason,
  MAX_BASE_CHARS,
  MAX_DOMAIN_CHARS,
  MAX_KEY_CHARS,
  MAX_OBJECT_ID_CHARS,
  MAX_TOPIC_CHARS,
} from '../../../lib/statestream/limits';
import {
  createTestMysqlDatabase,
  requireService,
  MYSQL_HOST,
  MYSQL_PASSWORD,
  MYSQL_PORT,
  MYSQL_USER,
  type TestMysqlDatabase,
} from '../../support/services';
import { makeTempDir, removeTempDir } from '../../support/tmp';

/** Topics at and just past each limit of the trigger, plus the longest topic the parser accepts. */
function boundaryTopics(): string[] {
  const topics = [
    `ha/sensor/${'o'.repeat(MAX_OBJECT_ID_CHARS)}/state`,
    `ha/sensor/${'o'.repeat(MAX_OBJECT_ID_CHARS + 1)}/state`,
    `ha/${'d'.repeat(MAX_DOMAIN_CHARS)}/x/state`,
    `ha/${'d'.repeat(MAX_DOMAIN_CHARS + 1)}/x/state`,
    `${'b'.repeat(MAX_BASE_CHARS)}/sensor/x/state`,
    `${'b'.repeat(MAX_BASE_CHARS + 1)}/sensor/y/state`,
    `ha/sensor/z/${'k'.repeat(MAX_KEY_CHARS)}`,
    `ha/sensor/z/${'k'.repeat(MAX_KEY_CHARS + 1)}`,
  ];
  const longest = 'ha/sensor/w/';
  topics.push(longest + 'k'.repeat(MAX_TOPIC_CHARS - longest.length));
  return topics;
}

/** `concat` joins SQL expressions with `/` in the dialect's syntax. */
async function check(
  insert: (topics: string[]) => Promise<void>,
  all: (sql: string) => Promise<Record<string, unknown>[]>,
  concat: (parts: string[]) => string,
): Promise<void> {
  const topics = boundaryTopics();
  await insert(topics);
  const stored = (await all('SELECT topic FROM messages')).map((r) => String(r.topic));
  assert.deepEqual(new Set(stored), new Set(topics), 'every topic the parser accepts is stored whole');
  const topicOfFact = concat(['b.label', "'/'", 'e.domain', "'/'", 'e.object_id', "'/'", 's.label']);
  const facts = await all(
    `SELECT ${topicOfFact} AS topic FROM facts f JOIN states s ON s.id = f.state_id JOIN entities e ON e.id = s.entity_id JOIN base_topics b ON b.id = e.base_topic_id`,
  );
  const withFacts = new Set(facts.map((r) => String(r.topic)));
  for (const topic of topics) {
    const record = parseStatestream(topic, '1', { retain: false });
    const reason = factlessReason(record);
    assert.equal(withFacts.has(topic), reason === undefined, `${topic.slice(0, 40)}… (${topic.length} chars): ${reason ?? 'normalised'}`);
  }
}

describe('statestream limits against the tables', function () {
  this.timeout(60_000);

  describe('MariaDB', () => {
    let db: TestMysqlDatabase | undefined;
    let conn: Connection | undefined;
    before(async function () {
      await requireService(this, 'mysql');
      db = await createTestMysqlDatabase('iotp_ssl');
      const mysql = await import('mysql2/promise');
      conn = await mysql.createConnection({
        host: MYSQL_HOST,
        port: MYSQL_PORT,
        user: MYSQL_USER,
        password: MYSQL_PASSWORD,
        database: db.config.database,
        charset: 'utf8mb4',
      });
      for (const migration of statestreamMigrations.migrations) for (const statement of migration.mysql) await conn.query(statement);
    });
    after(async () => {
      await conn?.end();
      await db?.drop();
    });
    it('normalises exactly what factlessReason lets through', async () => {
      const c = conn as Connection;
      await check(
        async (topics) =>
          void (await c.query('INSERT INTO messages (topic, qos, payload, retained) VALUES ?', [topics.map((t) => [t, 1, '1', 0])])),
        async (sql) => (await c.query(sql))[0] as Record<string, unknown>[],
        (parts) => `CONCAT(${parts.join(', ')})`,
      );
    });
  });

  describe('SQLite', () => {
    let dir: string | undefined;
    let sqlite: BetterSqlite3.Database | undefined;
    before(async () => {
      const { default: Database } = await import('better-sqlite3');
      dir = makeTempDir('iotp-ssl-');
      sqlite = new Database(join(dir, 'statestream.db'));
      for (const migration of statestreamMigrations.migrations) for (const statement of migration.sqlite) sqlite.exec(statement);
    });
    after(() => {
      sqlite?.close();
      if (dir) removeTempDir(dir);
    });
    it('normalises exactly what factlessReason lets through', async () => {
      const s = sqlite as BetterSqlite3.Database;
      await check(
        async (topics) =>
          void s.transaction(() =>
            topics.forEach((t) => s.prepare("INSERT INTO messages (topic, qos, payload, retained) VALUES (?, 1, '1', 0)").run(t)),
          )(),
        async (sql) => s.prepare(sql).all() as Record<string, unknown>[],
        (parts) => parts.join(' || '),
      );
    });
  });
});
