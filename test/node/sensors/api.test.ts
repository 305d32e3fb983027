import assert from 'node:assert/strict';
import databaseNode, { type DatabaseConfigNode } from '../../../nodes/iotp-database/iotp-database';
import apiNode from '../../../nodes/iotp-sensor-api/iotp-sensor-api';
import { insertSensorDataSql, sensorsMigrations, upsertAggregatedSql } from '../../../lib/sensors/schema';
import { collect, helper } from '../../support/helper';
import { backends } from './backends';

type Row = { id: number; sensor_id: number; timestamp: string; value: number; samples?: number };
type Body = { count: number; next_skip: number | null; data: Row[]; error?: string; parameter?: string; reason?: string };
type Msg = { payload: Body | string; statusCode?: number; headers?: Record<string, string> };

for (const backend of backends('api.db')) {
  describe(`iotp-sensor-api node (${backend.name})`, function () {
    before(async function () {
      await backend.setup.call(this);
      // Fixture: 3 sensors x 20 readings, one per 10 s from 16:00 (sensor n at n µs past), plus two per-minute means.
      await helper.load([databaseNode], [{ id: 'db', type: 'iotp-database', connection: 'url', url: backend.url(), version: 1 }] as never);
      const config = helper.getNode('db') as unknown as DatabaseConfigNode;
      await config.migrate(sensorsMigrations);
      const db = config.acquire();
      const params: unknown[] = [];
      for (let i = 0; i < 20; i++) {
        for (const id of [1, 2, 3]) {
          const s = i * 10;
          params.push(
            id,
            `2024-06-14 16:${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}.00000${id}`,
            id * 100 + i,
            10,
            10,
            'C',
            'temperature',
            'x',
          );
        }
      }
      await db.query(insertSensorDataSql(db.dialect, 60), params as never);
      await db.query(upsertAggregatedSql(db.dialect, 2), [
        1,
        '2024-06-14 16:00:00.000000',
        102.5,
        10,
        10,
        'C',
        'temperature',
        'x',
        6,
        1,
        '2024-06-14 16:01:00.000000',
        108.5,
        10,
        10,
        'C',
        'temperature',
        'x',
        6,
      ]);
      await helper.unload();
    });
    after(() => backend.teardown());
    afterEach(() => helper.unload());

    const load = (dataset: string) =>
      helper.load([databaseNode, apiNode], [
        { id: 'db', type: 'iotp-database', connection: 'url', url: backend.url(), version: 1 },
        { id: 'a', type: 'iotp-sensor-api', database: 'db', dataset, wires: [['out']] },
        { id: 'out', type: 'helper' },
      ] as never);

    async function get(query: Record<string, unknown>, accept = 'application/json'): Promise<Msg> {
      const out = collect<Msg>(helper.getNode('out'), 1);
      helper.getNode('a').receive({ req: { headers: { accept }, query }, res: {} });
      return (await out)[0];
    }

    it('filters by sensor and half-open time range, ordered by time', async () => {
      await load('data');
      const answer = await get({ sensor_id: '2', start_time: '2024-06-14T16:01:00', end_time: '2024-06-14T16:02:00Z' });
      assert.equal(answer.statusCode, 200);
      const body = answer.payload as Body;
      assert.equal(body.count, 6);
      assert.ok(body.data.every((r) => r.sensor_id === 2));
      assert.deepEqual(
        body.data.map((r) => r.value),
        [206, 207, 208, 209, 210, 211],
      );
      assert.equal(body.data[0].timestamp, '2024-06-14T16:01:00.000002Z', 'microseconds survive');
      assert.equal(body.next_skip, null);
    });

    it('pages with skip and limit without overlaps or gaps', async () => {
      await load('data');
      const seen: number[] = [];
      let skip = 0;
      for (;;) {
        const body = (await get({ limit: '25', skip: String(skip) })).payload as Body;
        seen.push(...body.data.map((r) => r.id));
        if (body.next_skip === null) break;
        skip = body.next_skip;
      }
      assert.equal(seen.length, 60);
      assert.equal(new Set(seen).size, 60);
      const all = ((await get({ limit: '1000' })).payload as Body).data;
      assert.deepEqual(
        all.map((r) => r.id),
        seen,
      );
      const times = all.map((r) => r.timestamp);
      assert.deepEqual([...times].sort(), times);
    });

    it('reads aggregated_data with samples', async () => {
      await load('aggregated_data');
      const body = (await get({ sensor_id: '1' })).payload as Body;
      assert.deepEqual(
        body.data.map((r) => [r.timestamp, r.value, r.samples]),
        [
          ['2024-06-14T16:00:00.000000Z', 102.5, 6],
          ['2024-06-14T16:01:00.000000Z', 108.5, 6],
        ],
      );
    });

    it('answers bad parameters with 400 and the reason, without touching the database', async () => {
      await load('data');
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ sensor_id: 'abc' }, 'sensor_id'],
        [{ limit: '0' }, 'limit'],
        [{ limit: '1001' }, 'limit'],
        [{ skip: '-1' }, 'skip'],
        [{ start_time: '2024-13-01' }, 'start_time'],
        [{ start_time: '2024-06-15', end_time: '2024-06-14' }, 'start_time'],
        [{ sensor_id: ['1', '2'] }, 'sensor_id'],
        [{ end_time: "2024-06-14' OR 1=1 --" }, 'end_time'],
      ];
      for (const [query, parameter] of cases) {
        const answer = await get(query);
        assert.equal(answer.statusCode, 400, JSON.stringify(query));
        const body = answer.payload as Body;
        assert.equal(body.parameter, parameter);
        assert.ok(body.reason && body.reason.length > 0);
      }
    });

    it('renders HTML for browsers', async () => {
      await load('data');
      const answer = await get({ limit: '2' }, 'text/html');
      assert.match(answer.headers?.['content-type'] ?? '', /^text\/html/);
      assert.match(String(answer.payload), /<td><span class="num">100<\/span><\/td>/);
    });
  });
}
