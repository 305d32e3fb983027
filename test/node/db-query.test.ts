import assert from 'node:assert/strict';
import { join } from 'node:path';
import databaseNode from '../../nodes/iotp-database/iotp-database';
import queryNode from '../../nodes/iotp-db-query/iotp-db-query';
import { collect, helper, nextEvent } from '../support/helper';
import {
  createTestMysqlDatabase,
  createTestPostgresDatabase,
  requireService,
  type TestMysqlDatabase,
  type TestPostgresDatabase,
} from '../support/services';
import { makeTempDir, removeTempDir } from '../support/tmp';

type Backend = { name: string; url: () => string; setup: () => Promise<void>; teardown: () => Promise<void> };

const backends: Backend[] = (() => {
  let dir = '';
  let mysql: TestMysqlDatabase | undefined;
  let postgres: TestPostgresDatabase | undefined;
  return [
    {
      name: 'SQLite',
      url: () => `sqlite:${join(dir, 'query.db')}`,
      setup: async () => {
        dir = makeTempDir();
      },
      teardown: async () => removeTempDir(dir),
    },
    {
      name: 'MariaDB',
      url: () => mysql!.url,
      setup: async function (this: Mocha.Context) {
        await requireService(this, 'mysql');
        mysql = await createTestMysqlDatabase();
      },
      teardown: async () => mysql?.drop(),
    },
    {
      name: 'PostgreSQL',
      url: () => postgres!.url,
      setup: async function (this: Mocha.Context) {
        await requireService(this, 'postgres');
        postgres = await createTestPostgresDatabase();
      },
      teardown: async () => postgres?.drop(),
    },
  ];
})();

for (const backend of backends) {
  describe(`iotp-db-query node (${backend.name})`, function () {
    before(async function () {
      await backend.setup.call(this);
    });
    after(() => backend.teardown());
    afterEach(() => helper.unload());

    function flow(sql: string, maxRows = 10000) {
      return [
        { id: 'db', type: 'iotp-database', connection: 'url', url: backend.url(), version: 1 },
        { id: 'q', type: 'iotp-db-query', database: 'db', sql, maxRows, wires: [['out']] },
        { id: 'out', type: 'helper' },
      ];
    }

    it('runs DDL and DML, binding named parameters from msg.params, msg.payload and msg', async () => {
      await helper.load([databaseNode, queryNode], flow(''));
      const q = helper.getNode('q');
      const out = helper.getNode('out');
      const send = async (msg: Record<string, unknown>) => {
        const received = collect<Record<string, unknown>>(out, 1);
        q.receive(msg);
        return (await received)[0];
      };
      await send({ topic: 'CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, author VARCHAR(40))' });
      const hostile = "'); DROP TABLE notes; --";
      const inserted = await send({
        topic: 'INSERT INTO notes (id, body, author) VALUES (:id, :body, :author)',
        params: { id: 1, body: hostile },
        payload: { author: 'ann' },
      });
      assert.equal((inserted.payload as { affectedRows: number }).affectedRows, 1);
      await send({ topic: 'INSERT INTO notes (id, body, author) VALUES (:id, :body, :author)', id: 2, body: 'second', author: 'bob' });
      const rows = await send({
        topic: 'SELECT id, body, author FROM notes WHERE author = :author OR id = :id ORDER BY id',
        params: { author: 'bob', id: 1 },
      });
      assert.deepEqual(rows.payload, [
        { id: 1, body: hostile, author: 'ann' },
        { id: 2, body: 'second', author: 'bob' },
      ]);
    });

    it('sends a missing parameter, bad SQL and an oversized result to the error path', async () => {
      await helper.load([databaseNode, queryNode], flow('SELECT 1 AS one WHERE 1 = :missing'));
      const q = helper.getNode('q');
      const error = nextEvent<{ args: unknown[] }>(q, 'call:error');
      q.receive({ payload: {} });
      assert.match(String((await error).args[0]), /missing/);
      await helper.unload();

      await helper.load([databaseNode, queryNode], flow('SELEKT nonsense'));
      const q2 = helper.getNode('q');
      const syntax = nextEvent<{ args: unknown[] }>(q2, 'call:error');
      q2.receive({ payload: {} });
      assert.ok((await syntax).args[0]);
      await helper.unload();

      const many = {
        SQLite: 'WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50) SELECT i FROM n',
        MariaDB: 'SELECT seq AS i FROM seq_1_to_50',
        // A result far larger than the limit: the cursor stops after limit + 1 rows.
        PostgreSQL: 'SELECT i FROM generate_series(1, 10000000) AS i',
      }[backend.name] as string;
      await helper.load([databaseNode, queryNode], flow(many, 10));
      const q3 = helper.getNode('q');
      const tooMany = nextEvent<{ args: unknown[] }>(q3, 'call:error');
      q3.receive({ payload: {} });
      // RED._ returns the message key in the test helper.
      assert.match(String((await tooMany).args[0]), /tooManyRows/);
    });
  });
}
