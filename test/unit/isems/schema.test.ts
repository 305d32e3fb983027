import assert from 'node:assert/strict';
import { parseLine } from '../../../lib/isems/parse';
import {
  buildInsert,
  buildInserts,
  hideInactiveAfterDaysFromEnv,
  isemsMigrations,
  latestPerNodeQuery,
  MAX_INSERT_ROWS,
  MEASUREMENT_COLUMNS,
  measurementParams,
  nodeHistoryQuery,
  toApiRow,
} from '../../../lib/isems/schema';

const EXAMPLE = 'Roof-North;1;1700000000;ESP_2.0;3592;1;19.21;17.9;13.1;87;95;21.5;11.6;14.1;9;30;52.52;13.40;500';

describe('isems schema: migration set', () => {
  it('is one versioned migration with statements for both dialects and every contract column', () => {
    assert.equal(isemsMigrations.name, 'isems');
    assert.deepEqual(
      isemsMigrations.migrations.map((m) => m.version),
      [1],
    );
    const [migration] = isemsMigrations.migrations;
    for (const statements of [migration.mysql, migration.sqlite]) {
      const text = statements.join('\n');
      for (const column of ['id', ...MEASUREMENT_COLUMNS]) assert.ok(text.includes(`${column}`), column);
      assert.ok(/uq_measurement_node_timestamp/.test(text));
      for (const statement of statements) assert.ok(!/;\s*\S/.test(statement.replace(/--[^\n]*/g, '')), 'one statement per string');
    }
    assert.match(migration.mysql[0], /`timestamp` BIGINT NOT NULL/);
    assert.match(migration.sqlite[0], /"timestamp" INTEGER NOT NULL/);
  });
});

describe('isems schema: insert', () => {
  it('binds one record as 19 values in column order, booleans as 0/1', () => {
    const params = measurementParams(parseLine(EXAMPLE));
    assert.equal(params.length, MEASUREMENT_COLUMNS.length);
    assert.deepEqual(params.slice(0, 6), ['Roof-North', '1', 1_700_000_000, 'ESP_2.0', 3592, 1]);
    assert.equal(params[18], 0x500);
    assert.equal(measurementParams(parseLine(EXAMPLE.replace(/;500$/, '')))[18], null);
  });

  it('builds idempotent multi-row inserts per dialect, chunked', () => {
    const records = Array.from({ length: MAX_INSERT_ROWS + 1 }, (_, i) =>
      parseLine(EXAMPLE.replace('1700000000', String(1_700_000_000 + i * 60))),
    );
    const mysql = buildInserts('mysql', records);
    assert.equal(mysql.length, 2);
    assert.equal(mysql[0].params.length, MAX_INSERT_ROWS * 19);
    assert.equal(mysql[1].params.length, 19);
    assert.match(mysql[0].sql, /ON DUPLICATE KEY UPDATE `id` = `id`$/);
    assert.doesNotMatch(mysql[0].sql, /IGNORE/);
    assert.match(buildInsert('sqlite', records.slice(0, 2)).sql, /ON CONFLICT \("nodeId", "timestamp"\) DO NOTHING$/);
    assert.equal((buildInsert('sqlite', records.slice(0, 2)).sql.match(/\?/g) ?? []).length, 38);
    assert.throws(() => buildInsert('mysql', []), { code: 'ISEMS_BAD_CONFIG' });
  });
});

describe('isems schema: API queries', () => {
  it('latest per node: cutoff parameter = now - days, none for ?all=true', () => {
    for (const dialect of ['mysql', 'sqlite'] as const) {
      const active = latestPerNodeQuery(dialect, { hideInactiveAfterDays: 30, nowEpochSeconds: 1_700_000_000 });
      assert.deepEqual(active.params, [1_700_000_000 - 30 * 86_400]);
      const all = latestPerNodeQuery(dialect, { all: true });
      assert.deepEqual(all.params, []);
      assert.ok(!all.sql.includes('?'));
    }
    assert.throws(() => latestPerNodeQuery('mysql', { hideInactiveAfterDays: -1 }), { code: 'ISEMS_BAD_CONFIG' });
  });

  it('node history: node id bound, validated limit inlined', () => {
    const query = nodeHistoryQuery('mysql', "x' OR 1=1 --");
    assert.deepEqual(query.params, ["x' OR 1=1 --"]);
    assert.match(query.sql, /ORDER BY m\.`timestamp` DESC LIMIT 1440$/);
    assert.match(nodeHistoryQuery('sqlite', 'a', 5).sql, /LIMIT 5$/);
    assert.throws(() => nodeHistoryQuery('sqlite', 'a', 1.5), { code: 'ISEMS_BAD_CONFIG' });
  });

  it('reads HIDE_INACTIVE_AFTER_DAYS (default 30)', () => {
    assert.equal(hideInactiveAfterDaysFromEnv({}), 30);
    assert.equal(hideInactiveAfterDaysFromEnv({ HIDE_INACTIVE_AFTER_DAYS: '7' }), 7);
    assert.throws(() => hideInactiveAfterDaysFromEnv({ HIDE_INACTIVE_AFTER_DAYS: 'week' }), { code: 'ISEMS_BAD_CONFIG' });
  });
});

describe('isems schema: toApiRow', () => {
  const base = {
    id: 7,
    nodeId: 'Roof-North',
    isemsRevision: '1',
    timestamp: 1_700_000_000,
    openMPPTFirmwareVersion: 'ESP_2.0',
    timeToShutdown: 3592,
    isPowerSaveMode: 1,
    openCircuitVoltage: 19.21,
    mppVoltage: 17.9,
    batteryVoltage: 13.1,
    batteryChargeEstimate: 87,
    batteryHealthEstimate: 95,
    batteryTemperature: 21.5,
    lowVoltageDisconnectVoltage: 11.6,
    temperatureCorrectedVoltage: 14.1,
    rateBatteryCapacity: 9,
    ratedSolarModuleCapacity: 30,
    latitude: 52.52,
    longitude: 13.4,
    status: 0x500,
  };

  it('renders every contract key plus id, ISO timestamp, boolean, hex status', () => {
    const row = toApiRow(base);
    assert.deepEqual(Object.keys(row), ['id', ...MEASUREMENT_COLUMNS]);
    assert.equal(row.id, 7);
    assert.equal(row.timestamp, '2023-11-14T22:13:20Z');
    assert.equal(row.isPowerSaveMode, true);
    assert.equal(row.status, '0x500');
    assert.equal(row.batteryVoltage, 13.1);
  });

  it('renders a missing status as 0x000 and false booleans right', () => {
    const row = toApiRow({ ...base, status: null, isPowerSaveMode: 0 });
    assert.equal(row.status, '0x000');
    assert.equal(row.isPowerSaveMode, false);
    assert.equal(toApiRow({ ...base, status: 5 }).status, '0x005');
  });

  it('accepts what drivers return in other modes: bigint, numeric strings, booleans, Date', () => {
    const row = toApiRow({ ...base, id: 7n, timestamp: '1700000000', status: 1280n, batteryVoltage: '13.100', isPowerSaveMode: true });
    assert.equal(row.id, 7);
    assert.equal(row.timestamp, '2023-11-14T22:13:20Z');
    assert.equal(row.status, '0x500');
    assert.equal(row.batteryVoltage, 13.1);
    assert.equal(row.isPowerSaveMode, true);
    assert.equal(toApiRow({ ...base, timestamp: new Date(Date.UTC(2023, 10, 14, 22, 13, 20)) }).timestamp, '2023-11-14T22:13:20Z');
  });

  it('round-trips a parsed record through the insert parameters', () => {
    const record = parseLine(EXAMPLE);
    const params = measurementParams(record);
    const dbRow = Object.fromEntries(MEASUREMENT_COLUMNS.map((name, i) => [name, params[i]]));
    const row = toApiRow({ id: 1, ...dbRow });
    for (const name of MEASUREMENT_COLUMNS) {
      if (name === 'status') assert.equal(row.status, record.statusHex);
      else assert.deepEqual(row[name], record[name], name);
    }
  });
});
