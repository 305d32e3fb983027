import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import qualityNode from '../../../nodes/iotp-quality/iotp-quality';
import sensorsNode from '../../../nodes/iotp-sensors/iotp-sensors';
import type { QualityReport } from '../../../lib/sensors/quality';
import { collect, helper } from '../../support/helper';
import { makeTempDir, removeTempDir } from '../../support/tmp';

type Msg = { payload: unknown; statusCode?: number; headers?: Record<string, string> };

const utcNaive = (ms: number): string => new Date(ms).toISOString().slice(0, 23).replace('Z', '');

function reading(id: number, value: number, atMs = Date.now()): Record<string, unknown> {
  return {
    sensor_id: String(id),
    timestamp: utcNaive(atMs),
    value,
    metadata: { location: { lat: 10, lng: 10 }, unit: 'C', type: 'temperature', description: 'Main Entrance' },
  };
}

describe('iotp-quality node', function () {
  let stateDir = '';
  beforeEach(() => {
    stateDir = makeTempDir();
    helper.settings({ iotpStateDir: stateDir } as never);
  });
  afterEach(async () => {
    await helper.unload();
    removeTempDir(stateDir);
  });

  const load = (node: Record<string, unknown> = {}, extra: Record<string, unknown>[] = []) =>
    helper.load([sensorsNode, qualityNode], [
      { id: 'q', type: 'iotp-quality', wires: [['out']], ...node },
      { id: 'out', type: 'helper' },
      ...extra,
    ] as never);

  async function report(accept = 'application/json', query: Record<string, string> = {}): Promise<Msg> {
    const out = collect<Msg>(helper.getNode('out'), 1);
    helper.getNode('q').receive({ req: { headers: { accept }, query }, res: {}, payload: {} });
    return (await out)[0];
  }

  it('observes readings without output and reflects injected defects in the report', async () => {
    await load();
    const q = helper.getNode('q');
    let outputs = 0;
    helper.getNode('out').on('input', () => outputs++);
    const now = Date.now();
    for (let i = 0; i < 6; i++) q.receive({ payload: reading(1 + (i % 5), 20, now - 1000 + i) });
    q.receive({ payload: reading(2, 99, now) }); // out of range [0, 45]
    const dup = reading(3, 10, now - 5);
    q.receive({ payload: dup });
    q.receive({ payload: JSON.stringify(dup) }); // the same reading again
    q.receive({ payload: { sensor_id: '4', timestamp: utcNaive(now), value: 5 } }); // metadata missing
    q.receive({ payload: { ...reading(5, 1, now), metadata: { ...(reading(5, 1).metadata as object), unit: 'F' } } }); // inconsistent unit
    q.receive({ payload: 'not json' });
    await new Promise((r) => setImmediate(r));
    assert.equal(outputs, 0, 'readings are not passed on');

    const answer = await report();
    assert.equal(answer.statusCode, 200);
    assert.match(answer.headers?.['content-type'] ?? '', /^application\/json/);
    const body = answer.payload as QualityReport;
    const m = body.metrics.since_start;
    assert.equal(m.messages, 12);
    assert.deepEqual([m.accuracy.passed, m.accuracy.total], [10, 11], 'one value out of range (the non-JSON payload has none)');
    assert.deepEqual([m.uniqueness.passed, m.uniqueness.total], [10, 11], 'one duplicate');
    assert.deepEqual([m.completeness.passed, m.completeness.total], [10, 12], 'missing metadata and the non-JSON payload');
    assert.deepEqual([m.consistency.passed, m.consistency.total], [9, 10], 'one reading states unit F');
    assert.deepEqual([m.validity.passed, m.validity.total], [11, 12]);
    assert.equal(body.sensors.find((s) => s.sensor_id === 2)?.since_start.accuracy.pct, 50);
    assert.deepEqual(body.freshness.stale_sensors, []);
  });

  it('answers browsers with HTML, and ?format=json overrides Accept', async () => {
    await load();
    helper.getNode('q').receive({ payload: reading(1, 20) });
    const html = await report('text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8');
    assert.match(html.headers?.['content-type'] ?? '', /^text\/html/);
    assert.match(String(html.payload), /<title>Data quality: sensor_data<\/title>/);
    const json = await report('text/html', { format: 'json' });
    assert.equal((json.payload as QualityReport).dataset, 'sensor_data');
    const plain = await report('*/*');
    assert.equal(typeof plain.payload, 'object');
  });

  it('sends the report object for msg.action "report" (no HTTP)', async () => {
    await load({ dataset: 'plant_data' });
    const out = collect<Msg>(helper.getNode('out'), 1);
    helper.getNode('q').receive({ action: 'report' });
    const [msg] = await out;
    assert.equal((msg.payload as QualityReport).dataset, 'plant_data');
    assert.equal(msg.statusCode, undefined);
  });

  it('keeps its counters across a restart (saved on close, reloaded on start)', async () => {
    await load();
    const q = helper.getNode('q');
    for (let i = 0; i < 5; i++) q.receive({ payload: reading(1, 50 + i) });
    await new Promise((r) => setImmediate(r));
    await helper.unload();
    assert.equal(readdirSync(stateDir).filter((f) => f.endsWith('.json')).length, 1, 'one state file');

    await load();
    helper.getNode('q').receive({ payload: reading(2, 1) });
    const body = (await report()).payload as QualityReport;
    assert.equal(body.metrics.since_start.messages, 6);
    assert.equal(body.metrics.since_start.accuracy.passed, 1, 'the five out-of-range values were remembered');
  });

  it('does not persist when told not to, and judges against a sensors definition from the dialog', async () => {
    const json = JSON.stringify({ 42: { lat: 0, lng: 0, unit: 'V', type: 'voltage', range: [0, 5], description: 'Battery' } });
    await load({ persist: false, sensors: 'defs' }, [{ id: 'defs', type: 'iotp-sensors', source: 'json', json }]);
    helper.getNode('q').receive({
      payload: { ...reading(42, 3), metadata: { location: { lat: 0, lng: 0 }, unit: 'V', type: 'voltage', description: 'Battery' } },
    });
    helper.getNode('q').receive({ payload: reading(1, 3) });
    const body = (await report()).payload as QualityReport;
    assert.deepEqual(
      body.sensors.map((s) => [s.sensor_id, s.known]),
      [
        [1, false],
        [42, true],
      ],
    );
    assert.equal(body.unknown_sensors.count, 1);
    await helper.unload();
    assert.equal(existsSync(stateDir) ? readdirSync(stateDir).length : 0, 0);
  });

  it('reports an invalid configuration as an error for every message', async () => {
    await load({ interval: 'soon' });
    const q = helper.getNode('q') as unknown as NodeJS.EventEmitter & { receive(msg: unknown): void };
    const errors: unknown[] = [];
    q.on('call:error', (call: { args: unknown[] }) => errors.push(call.args[0]));
    q.receive({ payload: reading(1, 1) });
    await new Promise((r) => setTimeout(r, 20));
    assert.ok(
      errors.some((e) => /interval/.test(String(e))),
      String(errors),
    );
  });
});
