import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { instanceIdentity } from '../../../lib/instance-identity';
import readingNode from '../../../nodes/iotp-sensor-reading/iotp-sensor-reading';
import sensorsNode from '../../../nodes/iotp-sensors/iotp-sensors';
import { collect, helper, nextEvent } from '../../support/helper';
import { makeTempDir, removeTempDir } from '../../support/tmp';

type Msg = Record<string, unknown> & { payload: unknown; invalid?: { code: string; field: string } };
type Call = { args: unknown[] };

const reading = {
  sensor_id: '1',
  timestamp: '2024-06-14T16:00:00.123456',
  value: 23,
  metadata: { location: { lat: 10, lng: 10 }, unit: 'C', type: 'temperature', description: 'Main Entrance' },
};

describe('iotp-sensor-reading node', function () {
  let dir = '';
  before(() => {
    dir = makeTempDir();
  });
  after(() => removeTempDir(dir));
  afterEach(() => helper.unload());

  const load = (node: Record<string, unknown>, extra: Record<string, unknown>[] = []) =>
    helper.load([sensorsNode, readingNode], [
      { id: 'r', type: 'iotp-sensor-reading', wires: [['out']], ...node },
      { id: 'out', type: 'helper' },
      ...extra,
    ] as never);

  it('turns a reading (object, JSON text or Buffer) into a sensor_data row', async () => {
    await load({ mode: 'reading' });
    const r = helper.getNode('r');
    const out = collect<Msg>(helper.getNode('out'), 3);
    r.receive({ payload: reading, topic: 'sensors' });
    r.receive({ payload: JSON.stringify({ ...reading, sensor_id: 2, timestamp: '2024-06-14T18:00:00+02:00' }) });
    r.receive({ payload: Buffer.from(JSON.stringify({ ...reading, metadata: undefined })) });
    const [a, b, c] = await out;
    assert.deepEqual(a.payload, {
      sensor_id: 1,
      timestamp: '2024-06-14 16:00:00.123456',
      value: 23,
      lat: 10,
      lng: 10,
      unit: 'C',
      type: 'temperature',
      description: 'Main Entrance',
    });
    assert.equal(a.topic, 'sensors', 'the rest of the message is kept');
    assert.equal((b.payload as { timestamp: string }).timestamp, '2024-06-14 16:00:00.000000', 'offsets are converted to UTC');
    assert.equal((b.payload as { sensor_id: number }).sensor_id, 2);
    assert.deepEqual(
      [(c.payload as Record<string, unknown>).lat, (c.payload as Record<string, unknown>).unit],
      [null, null],
      'missing metadata is stored as NULL by default',
    );
  });

  it('sends an unstorable reading to the error path with its code and field, without output', async () => {
    await load({ mode: 'reading', requireMetadata: true });
    const r = helper.getNode('r');
    const out = helper.getNode('out');
    let outputs = 0;
    out.on('input', () => outputs++);
    const cases: Array<[unknown, string, string]> = [
      [{ ...reading, value: '23' }, 'WRONG_TYPE', 'value'],
      [{ ...reading, timestamp: '2024-02-30T00:00:00' }, 'BAD_TIMESTAMP', 'timestamp'],
      [{ ...reading, sensor_id: -1 }, 'BAD_SENSOR_ID', 'sensor_id'],
      ['{"sensor_id": 1,', 'BAD_JSON', 'payload'],
      [[1, 2], 'NOT_OBJECT', 'payload'],
      [{ ...reading, metadata: undefined }, 'MISSING_FIELD', 'lat'],
      [{ ...reading, metadata: { ...reading.metadata, unit: 'x'.repeat(100) } }, 'TOO_LARGE', 'unit'],
    ];
    for (const [payload, code, field] of cases) {
      const error = nextEvent<Call>(r, 'call:error');
      const msg: Msg = { payload };
      r.receive(msg);
      const [err, errMsg] = (await error).args as [Error & { code: string; field: string }, Msg];
      assert.equal(err.code, code, JSON.stringify(payload).slice(0, 60));
      assert.equal(err.field, field);
      assert.deepEqual({ code: errMsg.invalid?.code, field: errMsg.invalid?.field }, { code, field });
    }
    assert.equal(outputs, 0);
  });

  it('turns window results into aggregated rows stamped with the window start, metadata from the sensors definition', async () => {
    const saved = process.env.IOTP_INSTANCE_ID;
    process.env.IOTP_INSTANCE_ID = 'b';
    try {
      await load({ mode: 'aggregate' });
    } finally {
      if (saved === undefined) delete process.env.IOTP_INSTANCE_ID;
      else process.env.IOTP_INSTANCE_ID = saved;
    }
    const r = helper.getNode('r');
    const out = collect<Msg>(helper.getNode('out'), 2);
    const start = Date.UTC(2024, 5, 14, 16, 1);
    r.receive({ payload: { series: '4', start, end: start + 60_000, count: 3, sum: 63, mean: 21, min: 20, max: 22 } });
    r.receive({ topic: '9', payload: [{ start: '2024-06-14T16:02:00Z', count: 1, mean: 7.5 }] });
    const [one, many] = await out;
    assert.deepEqual(one.payload, {
      sensor_id: 4,
      timestamp: '2024-06-14 16:01:00.000000',
      value: 21,
      lat: 10,
      lng: 90,
      unit: 'C',
      type: 'temperature',
      description: 'Assemlby Floor',
      samples: 3,
      instance: 'b',
    });
    assert.deepEqual(many.payload, [
      {
        sensor_id: 9,
        timestamp: '2024-06-14 16:02:00.000000',
        value: 7.5,
        lat: null,
        lng: null,
        unit: null,
        type: null,
        description: null,
        samples: 1,
        instance: 'b',
      },
    ]);
  });

  it('stamps each aggregate with this instance: IOTP_INSTANCE_ID, else a hash of host name and user directory, stable across restarts', async () => {
    const saved = process.env.IOTP_INSTANCE_ID;
    const instanceOf = async (env: string | undefined, userDir: string): Promise<unknown> => {
      if (env === undefined) delete process.env.IOTP_INSTANCE_ID;
      else process.env.IOTP_INSTANCE_ID = env;
      helper.settings({ userDir } as never);
      try {
        await load({ mode: 'aggregate' });
      } finally {
        if (saved === undefined) delete process.env.IOTP_INSTANCE_ID;
        else process.env.IOTP_INSTANCE_ID = saved;
        helper.settings({});
      }
      const out = collect<Msg>(helper.getNode('out'), 1);
      helper.getNode('r').receive({ payload: { series: '1', start: 0, count: 2, mean: 1.5 } });
      const instance = ((await out)[0].payload as { instance: unknown }).instance;
      await helper.unload();
      return instance;
    };
    assert.equal(await instanceOf('node-red-a', join(dir, 'a')), 'node-red-a');
    const fallback = await instanceOf(undefined, join(dir, 'a'));
    assert.equal(fallback, instanceIdentity({}, hostname(), join(dir, 'a')).label, 'the identity the MQTT client id is derived from');
    assert.match(String(fallback), /^#[0-9a-f]{16}$/);
    assert.equal(await instanceOf(undefined, join(dir, 'a')), fallback, 'the same after a restart');
    assert.notEqual(await instanceOf(undefined, join(dir, 'b')), fallback, 'another user directory on the same host is another instance');
    assert.match(String(await instanceOf('has space', join(dir, 'a'))), /^#[0-9a-f]{16}$/, 'an id unfit for a column is hashed');
  });

  it('stores the good aggregates of a batch and reports the malformed one', async () => {
    await load({ mode: 'aggregate' });
    const r = helper.getNode('r');
    const out = collect<Msg>(helper.getNode('out'), 1);
    const error = nextEvent<Call>(r, 'call:error');
    r.receive({
      payload: [
        { series: '1', start: 0, count: 2, mean: 1 },
        { series: '1', start: 60_000, count: 0, mean: 1 },
        { series: 'x', start: 0, count: 1, mean: 1 },
      ],
    });
    const [err] = (await error).args as [Error & { code: string; field: string }];
    assert.equal(err.code, 'BAD_AGGREGATE');
    assert.equal(err.field, 'count');
    assert.equal(((await out)[0].payload as unknown[]).length, 1);
  });

  it('takes metadata from an iotp-sensors config node (file or JSON) and refuses an invalid definition', async () => {
    const file = join(dir, 'sensors.json');
    writeFileSync(file, JSON.stringify({ 7: { lat: 1, lng: 2, unit: 'hPa', type: 'pressure', range: [900, 1100], description: 'Roof' } }));
    await load({ mode: 'aggregate', sensors: 'defs' }, [{ id: 'defs', type: 'iotp-sensors', source: 'file', file }]);
    const out = collect<Msg>(helper.getNode('out'), 1);
    helper.getNode('r').receive({ payload: { series: '7', start: 0, count: 1, mean: 1013 } });
    assert.equal(((await out)[0].payload as { unit: string }).unit, 'hPa');
    await helper.unload();

    await load({ mode: 'aggregate', sensors: 'defs' }, [{ id: 'defs', type: 'iotp-sensors', source: 'json', json: '{"1": {"lat": 200}}' }]);
    const r = helper.getNode('r');
    const error = nextEvent<Call>(r, 'call:error');
    r.receive({ payload: { series: '1', start: 0, count: 1, mean: 1 } });
    assert.match(String((await error).args[0]), /"1"\.(lat|lng|unit|type|range|description)/);
  });
});
