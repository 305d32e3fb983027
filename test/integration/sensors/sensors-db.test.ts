import assert from 'node:assert/strict';
import { join } from 'node:path';
import { buildCatalog, catalogDeclarations, sensorDatasets, tablesOfMigrationSet } from '../../../lib/sensors/catalog';
import { parseReadQuery, readSql, renderRow } from '../../../lib/sensors/read-api';
import { parseReading, type SensorRow } from '../../../lib/sensors/reading';
import {
  AGGREGATED_COLUMNS,
  insertSensorDataSql,
  SENSOR_DATA_COLUMNS,
  sensorsMigrations,
  upsertAggregatedSql,
} from '../../../lib/sensors/schema';
import {
  createTestMysqlDatabase,
  createTestPostgresDatabase,
  requireService,
  type TestMysqlDatabase,
  type TestPostgresDatabase,
} from '../../support/services';
import { makeTempDir, removeTempDir } from '../../support/tmp';
import { openMysql, openPostgres, openSqlite, type TestExecutor } from './driver-adapter';

const SENSORS_META = [
  { lat: 10, lng: 10, unit: 'C', type: 'temperature', description: 'Main Entrance' },
  { lat: 90, lng: 90, unit: 'C', type: 'temperature', description: 'Kitchen' },
  { lat: 90, lng: 10, unit: 'C', type: 'temperature', description: 'Deposit' },
];

/** 3 sensors x 20 readings, one per second from 16:00:00, microsecond stamps, hostile-ish text. */
function readings(): SensorRow[] {
  const rows: SensorRow[] = [];
  for (let i = 0; i < 20; i++) {
    for (let s = 1; s <= 3; s++) {
      const meta = SENSORS_META[s - 1];
      rows.push(
        parseReading({
          sensor_id: String(s),
          timestamp: `2024-06-14T16:00:${String(i).padStart(2, '0')}.${String(100000 + s).padStart(6, '0')}`,
          value: s * 100 + i + 0.25,
          metadata: {
            location: { lat: meta.lat, lng: meta.lng },
            unit: meta.unit,
            type: meta.type,
            description: `${meta.description} '"; 🌡`,
          },
        }),
      );
    }
  }
  return rows;
}

async function applySchema(db: TestExecutor): Promise<string[]> {
  return db.migrate(sensorsMigrations);
}

async function insertRows(db: TestExecutor, rows: SensorRow[]): Promise<void> {
  const params = rows.flatMap((r) => SENSOR_DATA_COLUMNS.map((c) => r[c]));
  const result = await db.query(insertSensorDataSql(db.dialect, rows.length), params);
  assert.equal(result.affectedRows, rows.length);
}

function sensorsSuite(name: string, open: () => Promise<TestExecutor>, cleanup: () => Promise<void>): void {
  describe(`sensors on ${name}`, function () {
    let db: TestExecutor;
    const rows = readings();

    before(async function () {
      db = await open();
      await applySchema(db);
      await insertRows(db, rows);
    });
    after(async () => {
      await db?.close();
      await cleanup();
    });

    it('applies the migration set once; a second run changes nothing', async () => {
      assert.deepEqual(await applySchema(db), []);
      const { rows: count } = await db.query('SELECT COUNT(*) AS n FROM sensor_data');
      assert.equal(Number(count[0].n), 60);
    });

    it('stores microseconds, doubles and utf8mb4 text exactly', async () => {
      const { rows: got } = await db.query('SELECT * FROM sensor_data WHERE sensor_id = ? ORDER BY id LIMIT 1', [2]);
      const row = renderRow(got[0]);
      assert.equal(row.timestamp, '2024-06-14T16:00:00.100002Z');
      assert.equal(row.value, 200.25);
      assert.equal(row.description, `Kitchen '"; 🌡`);
    });

    it('upserts a re-emitted aggregate instead of duplicating it', async () => {
      const minute = '2024-06-14 16:00:00.000000';
      const agg = (value: number, samples: number) => [1, minute, value, 10, 10, 'C', 'temperature', 'Main Entrance', samples];
      assert.equal(AGGREGATED_COLUMNS.length, 9);
      await db.query(upsertAggregatedSql(db.dialect, 2), [...agg(20, 30), 2, minute, 5, 90, 90, 'C', 'temperature', 'Kitchen', 60]);
      await db.query(upsertAggregatedSql(db.dialect, 1), agg(21.5, 60));
      const { rows: got } = await db.query('SELECT sensor_id, value, samples FROM aggregated_sensor_data ORDER BY sensor_id');
      assert.deepEqual(
        got.map((r) => [Number(r.sensor_id), Number(r.value), Number(r.samples)]),
        [
          [1, 21.5, 60],
          [2, 5, 60],
        ],
      );
    });

    it('catalog reads columns, types, counts, first/last and lineage from the live database', async () => {
      const declarations = catalogDeclarations(
        [sensorsMigrations],
        [...sensorDatasets('sensors'), { name: 'no_such_table', description: 'declared but not created' }],
      );
      assert.deepEqual(
        declarations.map((d) => d.name),
        ['sensor_data', 'aggregated_sensor_data', 'aggregated_sensor_parts', 'no_such_table'],
      );
      const catalog = await buildCatalog(db, declarations, { now: () => Date.UTC(2024, 5, 14, 17) });
      assert.equal(catalog.dialect, db.dialect);
      assert.equal(catalog.generated_at, '2024-06-14T17:00:00.000Z');
      const [raw, agg, parts, missing] = catalog.datasets;

      assert.deepEqual(
        raw.columns.map((c) => c.name),
        ['id', 'sensor_id', 'timestamp', 'value', 'lat', 'lng', 'unit', 'type', 'description'],
      );
      const types = Object.fromEntries(raw.columns.map((c) => [c.name, c.type.toLowerCase()]));
      if (db.dialect === 'mysql') {
        assert.equal(types.timestamp, 'datetime(6)');
        assert.equal(types.value, 'double');
        assert.match(types.sensor_id, /^int/);
        assert.equal(types.unit, 'varchar(32)');
        assert.equal(types.description, 'text');
      } else if (db.dialect === 'postgres') {
        assert.equal(types.timestamp, 'timestamp(6) without time zone');
        assert.equal(types.value, 'double precision');
        assert.equal(types.sensor_id, 'integer');
        assert.equal(types.unit, 'character varying(32)');
        assert.equal(types.description, 'text');
      } else {
        assert.equal(types.timestamp, 'datetime');
        assert.equal(types.sensor_id, 'integer');
        assert.equal(types.unit, 'varchar(32)');
      }
      assert.deepEqual(
        raw.columns.find((c) => c.name === 'id'),
        { name: 'id', type: raw.columns[0].type, nullable: false, primary_key: true },
      );
      assert.equal(raw.columns.find((c) => c.name === 'lat')?.nullable, true);
      assert.equal(raw.columns.find((c) => c.name === 'value')?.nullable, false);
      assert.equal(raw.row_count, 60);
      assert.equal(raw.row_count_estimated, false);
      assert.equal(raw.first_timestamp, '2024-06-14T16:00:00.100001Z');
      assert.equal(raw.last_timestamp, '2024-06-14T16:00:19.100003Z');
      assert.deepEqual(raw.lineage, {
        source_topic: 'sensors',
        flow: 'sensors: raw ingest',
        derived_from: [],
        feeds: ['aggregated_sensor_data', 'aggregated_sensor_parts'],
      });

      assert.equal(agg.row_count, 2);
      assert.ok(agg.columns.some((c) => c.name === 'samples'));
      assert.equal(agg.first_timestamp, '2024-06-14T16:00:00.000000Z');
      assert.deepEqual(agg.lineage.derived_from, ['sensor_data', 'aggregated_sensor_parts']);

      // The parts: derived from the raw rows, merged into the means.
      assert.equal(parts.exists, true);
      assert.deepEqual(
        parts.columns.map((c) => c.name),
        ['id', 'sensor_id', 'timestamp', 'value', 'lat', 'lng', 'unit', 'type', 'description', 'samples', 'instance'],
      );
      assert.equal(parts.columns.find((c) => c.name === 'instance')?.nullable, false);
      assert.equal(parts.row_count, 0, 'the aggregates above were written directly, as older flows do');
      assert.deepEqual([parts.lineage.derived_from, parts.lineage.feeds], [['sensor_data'], ['aggregated_sensor_data']]);

      assert.equal(missing.exists, false);
      assert.equal(missing.row_count, null);
      assert.deepEqual(missing.columns, []);
      assert.equal(missing.warnings.length, 1);
    });

    it('catalog reports a time column that does not exist instead of failing', async () => {
      const catalog = await buildCatalog(db, [{ name: 'sensor_data', description: 'x', timeColumn: 'inserted' }]);
      assert.equal(catalog.datasets[0].first_timestamp, null);
      assert.match(catalog.datasets[0].warnings[0], /inserted/);
    });

    it('catalog of an empty table has null first/last', async () => {
      await db.query(`CREATE TABLE empty_t (id INTEGER PRIMARY KEY, ts ${db.dialect === 'postgres' ? 'TIMESTAMP' : 'DATETIME'})`);
      const catalog = await buildCatalog(db, [{ name: 'empty_t', description: 'empty', timeColumn: 'ts' }]);
      assert.equal(catalog.datasets[0].row_count, 0);
      assert.equal(catalog.datasets[0].first_timestamp, null);
      assert.equal(catalog.datasets[0].last_timestamp, null);
    });

    if (name !== 'SQLite') {
      it("catalog can use the server's row estimates", async () => {
        if (db.dialect === 'postgres') await db.query('ANALYZE sensor_data');
        const catalog = await buildCatalog(db, sensorDatasets(), { countMode: 'estimate' });
        assert.equal(catalog.datasets[0].row_count_estimated, true);
        assert.equal(typeof catalog.datasets[0].row_count, 'number');
      });
    }

    async function read(dataset: 'data' | 'aggregated_data', query: Record<string, string>): Promise<Record<string, unknown>[]> {
      const { sql, params } = readSql(db.dialect, dataset, parseReadQuery(query));
      return (await db.query(sql, params)).rows.map(renderRow);
    }

    it('read API: filters by sensor and half-open time range, ordered by time', async () => {
      const got = await read('data', { sensor_id: '2', start_time: '2024-06-14T16:00:05.100002', end_time: '2024-06-14T18:00:10+02:00' });
      // 16:00:05.100002 is included, 16:00:10.100002 is after the end (16:00:10.000000).
      assert.deepEqual(
        got.map((r) => r.timestamp),
        [5, 6, 7, 8, 9].map((s) => `2024-06-14T16:00:0${s}.100002Z`),
      );
      assert.ok(got.every((r) => r.sensor_id === 2));
    });

    it('read API: pages with skip/limit without gaps or repeats', async () => {
      const seen: unknown[] = [];
      for (let skip = 0; skip < 70; skip += 7) {
        const page = await read('data', { skip: String(skip), limit: '7' });
        seen.push(...page.map((r) => r.id));
      }
      assert.equal(seen.length, 60);
      assert.equal(new Set(seen).size, 60);
      const all = await read('data', { limit: '1000' });
      const times = all.map((r) => String(r.timestamp));
      assert.deepEqual(times, [...times].sort());
      assert.deepEqual(
        (await read('data', { limit: '3' })).map((r) => r.sensor_id),
        [1, 2, 3],
      );
    });

    it('read API: aggregated data with samples; a sensor without rows gives []', async () => {
      const got = await read('aggregated_data', { sensor_id: '2' });
      assert.deepEqual(got, [
        {
          id: got[0].id,
          sensor_id: 2,
          timestamp: '2024-06-14T16:00:00.000000Z',
          value: 5,
          lat: 90,
          lng: 90,
          unit: 'C',
          type: 'temperature',
          description: 'Kitchen',
          samples: 60,
        },
      ]);
      assert.deepEqual(await read('aggregated_data', { sensor_id: '999' }), []);
    });

    it('tables of the migration set are known to the catalog', () => {
      assert.deepEqual(tablesOfMigrationSet(sensorsMigrations, db.dialect), [
        'sensor_data',
        'aggregated_sensor_data',
        'aggregated_sensor_parts',
      ]);
    });
  });
}

let mysqlDb: TestMysqlDatabase | undefined;
describe('sensors integration', function () {
  before(async function () {
    await requireService(this, 'mysql');
  });
  sensorsSuite(
    'MariaDB',
    async () => {
      mysqlDb = await createTestMysqlDatabase('iotp_sensors');
      return openMysql(mysqlDb.config);
    },
    async () => {
      await mysqlDb?.drop();
    },
  );
});

let postgresDb: TestPostgresDatabase | undefined;
describe('sensors integration (PostgreSQL)', function () {
  before(async function () {
    await requireService(this, 'postgres');
  });
  sensorsSuite(
    'PostgreSQL',
    async () => {
      postgresDb = await createTestPostgresDatabase('iotp_sensors');
      return openPostgres(postgresDb.config);
    },
    async () => {
      await postgresDb?.drop();
    },
  );
});

let tmp: string | undefined;
sensorsSuite(
  'SQLite',
  async () => {
    tmp = makeTempDir('iotp-sensors-');
    return openSqlite(join(tmp, 'sensors.db'));
  },
  async () => {
    if (tmp) removeTempDir(tmp);
  },
);
