import assert from 'node:assert/strict';
import databaseNode, { type DatabaseConfigNode } from '../../../nodes/iotp-database/iotp-database';
import catalogNode from '../../../nodes/iotp-catalog/iotp-catalog';
import type { Catalog } from '../../../lib/sensors/catalog';
import { insertSensorDataSql, sensorsMigrations } from '../../../lib/sensors/schema';
import { collect, helper, nextEvent } from '../../support/helper';
import { backends } from './backends';

type Msg = { payload: unknown; statusCode?: number; headers?: Record<string, string> };

for (const backend of backends('catalog.db')) {
  describe(`iotp-catalog node (${backend.name})`, function () {
    before(async function () {
      await backend.setup.call(this);
    });
    after(() => backend.teardown());
    afterEach(() => helper.unload());

    const load = (node: Record<string, unknown> = {}) =>
      helper.load([databaseNode, catalogNode], [
        { id: 'db', type: 'iotp-database', connection: 'url', url: backend.url(), version: 1 },
        {
          id: 'c',
          type: 'iotp-catalog',
          database: 'db',
          migrationSets: 'sensors',
          topic: 'plant/sensors',
          datasets: '',
          countMode: 'exact',
          wires: [['out']],
          ...node,
        },
        { id: 'out', type: 'helper' },
      ] as never);

    async function ask(msg: Record<string, unknown>): Promise<Msg> {
      const out = collect<Msg>(helper.getNode('out'), 1);
      helper.getNode('c').receive(msg);
      return (await out)[0];
    }

    it('describes the sensors tables from the live database: columns, counts, first/last time, lineage', async () => {
      await load();
      const config = helper.getNode('db') as unknown as DatabaseConfigNode;
      await config.migrate(sensorsMigrations);
      const db = config.acquire();
      await db.query(insertSensorDataSql(db.dialect, 2), [
        1,
        '2024-06-14 16:00:00.123456',
        23,
        10,
        10,
        'C',
        'temperature',
        'Main Entrance',
        2,
        '2024-06-14 16:05:00.000000',
        24,
        90,
        90,
        'C',
        'temperature',
        'Kitchen',
      ]);
      const answer = await ask({ req: { headers: { accept: 'application/json' }, query: {} }, res: {} });
      assert.equal(answer.statusCode, 200);
      const catalog = answer.payload as Catalog;
      assert.equal(catalog.dialect, { SQLite: 'sqlite', MariaDB: 'mysql', PostgreSQL: 'postgres' }[backend.name]);
      const raw = catalog.datasets.find((d) => d.name === 'sensor_data');
      const agg = catalog.datasets.find((d) => d.name === 'aggregated_sensor_data');
      assert.ok(raw && agg, JSON.stringify(catalog.datasets.map((d) => d.name)));
      assert.deepEqual(
        raw.columns.map((c) => c.name),
        ['id', 'sensor_id', 'timestamp', 'value', 'lat', 'lng', 'unit', 'type', 'description'],
      );
      assert.deepEqual(
        agg.columns.map((c) => c.name),
        ['id', 'sensor_id', 'timestamp', 'value', 'lat', 'lng', 'unit', 'type', 'description', 'samples', 'original_row'],
      );
      assert.equal(raw.columns.find((c) => c.name === 'id')?.primary_key, true);
      assert.equal(raw.columns.find((c) => c.name === 'unit')?.nullable, true);
      assert.equal(raw.columns.find((c) => c.name === 'value')?.nullable, false);
      assert.deepEqual([raw.row_count, agg.row_count], [2, 0]);
      assert.equal(raw.first_timestamp, '2024-06-14T16:00:00.123456Z');
      assert.equal(raw.last_timestamp, '2024-06-14T16:05:00.000000Z');
      assert.equal(raw.lineage.source_topic, 'plant/sensors');
      assert.deepEqual(raw.lineage.feeds, ['aggregated_sensor_data', 'aggregated_sensor_parts']);
      assert.deepEqual(agg.lineage.derived_from, ['sensor_data', 'aggregated_sensor_parts']);
      const parts = catalog.datasets.find((d) => d.name === 'aggregated_sensor_parts');
      assert.deepEqual(
        [parts?.exists, parts?.lineage.derived_from, parts?.lineage.feeds],
        [true, ['sensor_data'], ['aggregated_sensor_data']],
      );
    });

    it('adds declared datasets (a missing table is reported, not fatal) and renders HTML for browsers', async () => {
      const datasets = JSON.stringify([
        { name: 'sensor_data', description: 'Overridden description', timeColumn: 'timestamp' },
        { name: 'daily_report', description: 'Daily <report>', lineage: { flow: 'reports', derivedFrom: ['aggregated_sensor_data'] } },
      ]);
      await load({ datasets });
      const answer = await ask({ req: { headers: { accept: 'text/html,*/*;q=0.8' }, query: {} }, res: {} });
      assert.match(answer.headers?.['content-type'] ?? '', /^text\/html/);
      assert.match(String(answer.payload), /Daily &lt;report&gt;/);
      const json = (await ask({ payload: 'tick' })).payload as Catalog;
      const daily = json.datasets.find((d) => d.name === 'daily_report');
      assert.equal(daily?.exists, false);
      assert.match(daily?.warnings[0] ?? '', /does not exist/);
      assert.equal(json.datasets.find((d) => d.name === 'sensor_data')?.description, 'Overridden description');
      assert.deepEqual(json.datasets.find((d) => d.name === 'aggregated_sensor_data')?.lineage.feeds, ['daily_report']);
    });

    it('refuses invalid declarations at deploy and answers requests with 500 in words, the reason on the error path', async () => {
      await load({ datasets: '[{"name": "x; DROP TABLE sensor_data"}]' });
      const c = helper.getNode('c');
      const error = nextEvent<{ args: unknown[] }>(c, 'call:error');
      const answer = await ask({ req: { headers: {}, query: {} }, res: {} });
      assert.equal(answer.statusCode, 500);
      assert.equal((answer.payload as { error: string }).error, 'catalog not configured');
      assert.ok((await error).args[0]);
    });
  });
}
