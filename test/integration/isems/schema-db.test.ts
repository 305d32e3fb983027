/**
 * The isems schema and SQL on real MariaDB and SQLite, executed with the drivers directly (lib/db
 * is written concurrently; these adapters implement just its SqlExecutor contract).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import mysql from 'mysql2/promise';
import type { Database, QueryResult, SqlExecutor, SqlParams } from '../../../lib/db/types';
import { parseLine, parseLog, type IsemsMeasurement } from '../../../lib/isems/parse';
import {
  applyRetention,
  buildInsert,
  buildInserts,
  isemsMigrations,
  latestPerNodeQuery,
  nodeHistoryQuery,
  toApiRow,
} from '../../../lib/isems/schema';
import { SolarSimulation } from '../../../lib/isems/simulate';
import { openDatabase } from '../../../lib/db';
import {
  createTestMysqlDatabase,
  createTestPostgresDatabase,
  requireService,
  type TestMysqlDatabase,
  type TestPostgresDatabase,
} from '../../support/services';
import { makeTempDir, removeTempDir } from '../../support/tmp';

function positional(params?: SqlParams): unknown[] {
  return Array.isArray(params) ? [...params] : [];
}

function mysqlExecutor(connection: mysql.Connection): SqlExecutor {
  return {
    dialect: 'mysql',
    async query(sql: string, params?: SqlParams): Promise<QueryResult> {
      // execute = server-side prepared statements, the stricter path (e.g. for LIMIT).
      const [result] = await connection.execute(sql, positional(params) as never[]);
      if (Array.isArray(result)) return { rows: result as Record<string, unknown>[], affectedRows: 0 };
      const header = result as mysql.ResultSetHeader;
      return { rows: [], affectedRows: header.affectedRows, insertId: header.insertId };
    },
  };
}

function sqliteExecutor(db: BetterSqlite3.Database): SqlExecutor {
  return {
    dialect: 'sqlite',
    async query(sql: string, params?: SqlParams): Promise<QueryResult> {
      const statement = db.prepare(sql);
      const values = positional(params);
      if (statement.reader) return { rows: statement.all(...values) as Record<string, unknown>[], affectedRows: 0 };
      const info = statement.run(...values);
      return { rows: [], affectedRows: info.changes, insertId: Number(info.lastInsertRowid) };
    },
  };
}

const NOW = 1_718_971_200; // the simulation's "now"
const DAY = 86_400;

function dataset(): { active: IsemsMeasurement[]; inactive: IsemsMeasurement[] } {
  const simulation = new SolarSimulation({ seed: 11, nodes: 3, initialLines: 2000, startEpochSeconds: NOW });
  const active = [0, 1, 2].flatMap((i) => parseLog(simulation.logText(i)).records);
  // A node last heard of 40 days ago: hidden from /measurements/latest unless ?all=true.
  const old = new SolarSimulation({ seed: 12, nodes: 1, initialLines: 50, startEpochSeconds: NOW - 40 * DAY });
  const inactive = parseLog(old.logText(0)).records.map((r) => ({ ...r, nodeId: 'old-node' }));
  return { active, inactive };
}

function suite(dialect: 'mysql' | 'sqlite' | 'postgres', open: () => Promise<{ executor: SqlExecutor; close(): Promise<void> }>): void {
  describe(`isems schema on ${{ mysql: 'MariaDB', sqlite: 'SQLite', postgres: 'PostgreSQL' }[dialect]}`, function () {
    this.timeout(60_000);
    let executor: SqlExecutor;
    let close: () => Promise<void>;
    const { active, inactive } = dataset();

    before(async function () {
      if (dialect !== 'sqlite') await requireService(this, dialect);
      ({ executor, close } = await open());
    });
    after(async () => close?.());

    // The camel-case columns need quotes on PostgreSQL, which folds unquoted names to lower case.
    const q = (name: string): string => (dialect === 'mysql' ? `\`${name}\`` : `"${name}"`);
    async function count(where = '', params: unknown[] = []): Promise<number> {
      const { rows } = await executor.query(`SELECT COUNT(*) AS n FROM measurement ${where}`, params as never);
      return Number(rows[0].n);
    }

    it('applies the migration (and again: idempotent)', async () => {
      for (let round = 0; round < 2; round++) {
        for (const statement of isemsMigrations.migrations[0][dialect] ?? []) await executor.query(statement);
      }
      assert.equal(await count(), 0);
    });

    it('stores every record once: re-inserting the same log changes nothing', async () => {
      let inserted = 0;
      for (const statement of buildInserts(dialect, [...active, ...inactive]))
        inserted += (await executor.query(statement.sql, statement.params)).affectedRows;
      assert.equal(inserted, active.length + inactive.length);
      let again = 0;
      for (const statement of buildInserts(dialect, active.slice(100, 1700)))
        again += (await executor.query(statement.sql, statement.params)).affectedRows;
      // SQLite and PostgreSQL report new rows only; mysql2 sets CLIENT_FOUND_ROWS, so MySQL counts duplicates as found.
      assert.equal(again, dialect === 'mysql' ? 1600 : 0);
      assert.equal(await count(), active.length + inactive.length);
    });

    it('keeps every value exact, including epoch seconds, booleans and a missing status', async () => {
      const line = 'Roof-North;1;1700000000;ESP_2.0;3592.5;1;19.21;17.9;13.1;87;95;-21.5;11.6;14.1;9;30;52.507309;13.458635';
      const record = parseLine(line);
      const statement = buildInsert(dialect, [record]);
      assert.equal((await executor.query(statement.sql, statement.params)).affectedRows, 1);
      const history = nodeHistoryQuery(dialect, 'Roof-North');
      const { rows } = await executor.query(history.sql, history.params);
      assert.equal(rows.length, 1);
      const row = toApiRow(rows[0]);
      assert.equal(typeof row.id, 'number');
      assert.deepEqual(
        { ...row, id: 0 },
        {
          id: 0,
          nodeId: 'Roof-North',
          isemsRevision: '1',
          timestamp: '2023-11-14T22:13:20Z',
          openMPPTFirmwareVersion: 'ESP_2.0',
          timeToShutdown: 3592.5,
          isPowerSaveMode: true,
          openCircuitVoltage: 19.21,
          mppVoltage: 17.9,
          batteryVoltage: 13.1,
          batteryChargeEstimate: 87,
          batteryHealthEstimate: 95,
          batteryTemperature: -21.5,
          lowVoltageDisconnectVoltage: 11.6,
          temperatureCorrectedVoltage: 14.1,
          rateBatteryCapacity: 9,
          ratedSolarModuleCapacity: 30,
          latitude: 52.507309,
          longitude: 13.458635,
          status: '0x000',
        },
      );
    });

    it('treats node ids case-sensitively (same on both dialects) and refuses an overlong id instead of truncating it', async () => {
      const upper = parseLine('CASE;1;1700000000;ESP_2.0;1;0;1;1;1;1;1;1;1;1;1;1;1;1;500');
      const lower = { ...upper, nodeId: 'case' };
      const statement = buildInsert(dialect, [upper, lower]);
      assert.equal((await executor.query(statement.sql, statement.params)).affectedRows, 2);
      const tooLong = buildInsert(dialect, [{ ...upper, nodeId: 'x'.repeat(101) }]);
      await assert.rejects(executor.query(tooLong.sql, tooLong.params));
      const badStatus = buildInsert(dialect, [{ ...upper, nodeId: 'bad-status', status: 0x1000 }]);
      await assert.rejects(executor.query(badStatus.sql, badStatus.params));
    });

    it('GET /measurements/latest: the newest row per node active within 30 days; ?all=true adds silent nodes', async () => {
      const query = latestPerNodeQuery(dialect, { hideInactiveAfterDays: 30, nowEpochSeconds: NOW });
      const rows = (await executor.query(query.sql, query.params)).rows.map(toApiRow);
      assert.deepEqual(
        rows.map((r) => [r.nodeId, r.timestamp]),
        ['isems-001', 'isems-002', 'isems-003'].map((id) => [id, '2024-06-21T12:00:00Z']),
      );
      assert.ok(rows.every((r) => /^0x[0-9a-f]{3}$/.test(r.status) && typeof r.isPowerSaveMode === 'boolean'));
      const all = latestPerNodeQuery(dialect, { all: true });
      const allRows = (await executor.query(all.sql, all.params)).rows.map(toApiRow);
      const ids = allRows.map((r) => r.nodeId);
      assert.deepEqual(ids, ['CASE', 'Roof-North', 'case', 'isems-001', 'isems-002', 'isems-003', 'old-node']);
      const oldNewest = inactive[inactive.length - 1];
      assert.equal(allRows.find((r) => r.nodeId === 'old-node')?.timestamp, oldNewest.timestamp);
    });

    it('GET /measurements/<node>/latest: the newest 1440 rows, newest first; unknown node: none', async () => {
      const query = nodeHistoryQuery(dialect, 'isems-002');
      const rows = (await executor.query(query.sql, query.params)).rows.map(toApiRow);
      assert.equal(rows.length, 1440);
      const expected = active
        .filter((r) => r.nodeId === 'isems-002')
        .slice(-1440)
        .reverse();
      assert.deepEqual(
        rows.map((r) => r.timestamp),
        expected.map((r) => r.timestamp),
      );
      assert.deepEqual(
        rows.map((r) => r.status),
        expected.map((r) => r.statusHex),
      );
      const unknown = nodeHistoryQuery(dialect, 'no-such-node');
      assert.deepEqual((await executor.query(unknown.sql, unknown.params)).rows, []);
    });

    it('retention keeps exactly the newest N rows of every node', async () => {
      const result = await applyRetention(executor, { keepPerNode: 300, batchSize: 128 });
      assert.equal(result.nodes, 7);
      assert.equal(result.deleted, 3 * (2000 - 300));
      for (const nodeId of ['isems-001', 'isems-002', 'isems-003']) {
        const { rows } = await executor.query(
          `SELECT MIN(${q('timestamp')}) AS oldest, COUNT(*) AS n FROM measurement WHERE ${q('nodeId')} = ?`,
          [nodeId],
        );
        assert.equal(Number(rows[0].n), 300);
        const kept = active.filter((r) => r.nodeId === nodeId).slice(-300);
        assert.equal(Number(rows[0].oldest), kept[0].epochSeconds);
      }
      assert.equal(await count(`WHERE ${q('nodeId')} = ?`, ['old-node']), 50);
      assert.deepEqual(await applyRetention(executor, { keepPerNode: 300 }), { nodes: 7, deleted: 0 });
    });

    it('reads only through the unique index (query plans)', async () => {
      const latest = latestPerNodeQuery(dialect, { nowEpochSeconds: NOW });
      const history = nodeHistoryQuery(dialect, 'isems-001');
      if (dialect === 'sqlite') {
        for (const query of [latest, history]) {
          const plan = (await executor.query(`EXPLAIN QUERY PLAN ${query.sql}`, query.params)).rows.map((r) => String(r.detail));
          const tableScans = plan.filter((detail) => /^SCAN (m|n|x|measurement)\b/.test(detail));
          assert.deepEqual(tableScans, [], plan.join('\n'));
        }
      } else if (dialect === 'postgres') {
        // A table this small is cheaper to scan, so the planner is told scans cost too much: what is
        // checked is that the unique index can serve every step (no type or collation mismatch).
        await executor.query('ANALYZE measurement');
        await (executor as Database).transaction(async (tx) => {
          await tx.query('SET LOCAL enable_seqscan = off');
          for (const query of [latest, history]) {
            const plan = (await tx.query(`EXPLAIN ${query.sql}`, query.params)).rows.map((r) => String(r['QUERY PLAN']));
            assert.deepEqual(
              plan.filter((line) => /Seq Scan|Hash Join/.test(line)),
              [],
              plan.join('\n'),
            );
            assert.ok(
              plan.some((line) => /Index (Only )?Scan.* (using|on) uq_measurement_node_timestamp/.test(line)),
              plan.join('\n'),
            );
          }
        });
      } else {
        const plan = (await executor.query(`EXPLAIN ${latest.sql}`, latest.params)).rows;
        assert.ok(
          plan.some((r) => String(r.Extra).includes('Using index for group-by')),
          JSON.stringify(plan),
        );
        const historyPlan = (await executor.query(`EXPLAIN ${history.sql}`, history.params)).rows;
        assert.ok(
          historyPlan.every((r) => r.key === 'uq_measurement_node_timestamp'),
          JSON.stringify(historyPlan),
        );
      }
    });
  });
}

suite('mysql', async () => {
  const database: TestMysqlDatabase = await createTestMysqlDatabase('iotp_isems');
  const { host, port, user, password } = database.config;
  const connection = await mysql.createConnection({ host, port, user, password, database: database.config.database });
  return {
    executor: mysqlExecutor(connection),
    async close() {
      await connection.end();
      await database.drop();
    },
  };
});

suite('postgres', async () => {
  const database: TestPostgresDatabase = await createTestPostgresDatabase('iotp_isems');
  const db = openDatabase(database.config);
  return {
    executor: db,
    async close() {
      await db.close();
      await database.drop();
    },
  };
});

suite('sqlite', async () => {
  const dir = makeTempDir('iotp-isems-');
  const db = new BetterSqlite3(join(dir, 'isems.db'));
  db.pragma('journal_mode = WAL');
  return {
    executor: sqliteExecutor(db),
    async close() {
      db.close();
      removeTempDir(dir);
    },
  };
});
