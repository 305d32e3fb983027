import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import simulatorNode from '../../../nodes/iotp-simulator/iotp-simulator';
import { simulatorConfigFrom, isEnabled, Simulator } from '../../../lib/simulator';
import { collect, flow, helper, nextEvent } from '../../support/helper';
import { makeTempDir, removeTempDir } from '../../support/tmp';

type Msg = { topic: string; payload: Record<string, unknown> };

function simulatorFlow(props: Record<string, unknown>) {
  return flow([
    { id: 's', type: 'iotp-simulator', name: '', version: 1, wires: [['out']], ...props },
    { id: 'out', type: 'helper' },
  ]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('iotp-simulator node', function () {
  this.timeout(20000);
  afterEach(() => helper.unload());

  it('publishes every series through the template, from one timer, while enabled', async () => {
    await helper.load(
      simulatorNode,
      simulatorFlow({
        enabled: 'true',
        series: 'kitchen, hall',
        valueKind: 'walk',
        min: 10,
        max: 20,
        step: 1,
        intervalKind: 'fixed',
        interval: '40ms',
        seed: 'fixed',
        topic: 'home/temp',
        template: JSON.stringify({ room: '{{series}}', celsius: '{{value}}', n: '{{seq:string}}' }),
      }),
    );
    const msgs = await collect<Msg>(helper.getNode('out'), 6);
    assert.deepEqual(
      msgs.slice(0, 2).map((m) => [m.topic, m.payload.room, m.payload.n]),
      [
        ['home/temp', 'kitchen', '1'],
        ['home/temp', 'hall', '1'],
      ],
    );
    for (const m of msgs) {
      assert.equal(typeof m.payload.celsius, 'number');
      assert.ok((m.payload.celsius as number) >= 10 && (m.payload.celsius as number) <= 20);
      assert.deepEqual(Object.keys(m).sort(), ['_msgid', 'payload', 'topic']);
    }
    // Seeded: the same values as the engine gives for the same configuration.
    const engine = new Simulator(
      simulatorConfigFrom({
        series: 'kitchen, hall',
        valueKind: 'walk',
        min: 10,
        max: 20,
        step: 1,
        interval: '40ms',
        seed: 'fixed',
        template: '{"v": "{{value}}"}',
      }),
    );
    assert.deepEqual(
      msgs.map((m) => m.payload.celsius),
      engine
        .due(0)
        .concat(engine.due(40), engine.due(80))
        .map((r) => r.value),
    );
  });

  it('stays idle when not enabled, and starts and stops on msg.payload', async () => {
    await helper.load(simulatorNode, simulatorFlow({ enabled: 'false', series: '1', interval: '30ms' }));
    const s = helper.getNode('s');
    const out = helper.getNode('out');
    let count = 0;
    out.on('input', () => count++);
    await sleep(150);
    assert.equal(count, 0);
    s.receive({ payload: 'start' });
    await collect(out, 2);
    s.receive({ payload: 'stop' });
    await sleep(50);
    const stoppedAt = count;
    await sleep(150);
    assert.equal(count, stoppedAt);
    const error = nextEvent<{ args: unknown[] }>(s, 'call:error');
    s.receive({ payload: 'faster' });
    assert.equal(((await error).args[0] as { code?: string }).code, 'INVALID_COMMAND');
  });

  it('sensors preset: every sensor of a sensors.json given in the dialog or as a file', async () => {
    const sensors = {
      7: { lat: 1, lng: 2, unit: 'C', type: 'temperature', range: [5, 6], description: 'Lab' },
      8: { lat: 3, lng: 4, unit: '%', type: 'humidity', range: [40, 41], description: 'Hall' },
    };
    await helper.load(
      simulatorNode,
      simulatorFlow({ enabled: 'true', preset: 'sensors', interval: '30', topic: 'sensors', sensors: JSON.stringify(sensors) }),
    );
    const msgs = await collect<Msg>(helper.getNode('out'), 2);
    assert.deepEqual(
      msgs.map((m) => [m.topic, m.payload.sensor_id, (m.payload.metadata as Record<string, unknown>).description]),
      [
        ['sensors', '7', 'Lab'],
        ['sensors', '8', 'Hall'],
      ],
    );
    assert.match(String(msgs[0].payload.timestamp), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}$/);
    assert.ok([5, 6].includes(msgs[0].payload.value as number));
    await helper.unload();

    const dir = makeTempDir('iotp-sim-');
    try {
      const file = join(dir, 'sensors.json');
      writeFileSync(file, JSON.stringify({ 9: sensors[7] }));
      await helper.load(simulatorNode, simulatorFlow({ enabled: 'true', preset: 'sensors', interval: '30ms', sensors: file }));
      const [fromFile] = await collect<Msg>(helper.getNode('out'), 1);
      assert.equal(fromFile.payload.sensor_id, '9');
    } finally {
      removeTempDir(dir);
    }
  });

  it('reports a bad template or sensors definition at start and sends nothing', async () => {
    for (const props of [
      { template: '{"v": "{{nope}}"}' },
      { template: '{not json' },
      { preset: 'sensors', sensors: '{"1": {"lat": "north"}}' },
    ]) {
      await helper.load(simulatorNode, simulatorFlow({ enabled: 'true', interval: '20ms', ...props }));
      let sent = 0;
      helper.getNode('out').on('input', () => sent++);
      await sleep(100);
      const logged = (helper.log().args as unknown[][]).some(
        ([entry]) => String((entry as { msg?: unknown }).msg) === 'iotp-simulator.errors.config',
      );
      assert.ok(logged, JSON.stringify(props));
      assert.equal(sent, 0);
      await helper.unload();
    }
  });
});

describe('simulator node configuration', () => {
  it('rolling-averages preset: integers 1..99 with epochtime as text, every 1-30 s', () => {
    const config = simulatorConfigFrom({ preset: 'rolling-averages', topic: 'DATA-x', seed: 3 });
    assert.deepEqual(config.interval, { minMs: 1000, maxMs: 30_000 });
    const sim = new Simulator(config);
    sim.start(1_700_000_000_000);
    const readings = sim.due(1_700_000_000_000 + 600_000);
    assert.ok(readings.length >= 20);
    for (const r of readings) {
      const payload = r.message as { number: number; epochtime: string };
      assert.equal(r.topic, 'DATA-x');
      assert.ok(Number.isInteger(payload.number) && payload.number >= 1 && payload.number <= 99);
      assert.equal(payload.epochtime, String(Math.floor(r.time / 1000)));
    }
  });

  it('reads enabled flags the way ${SIMULATE} is written', () => {
    for (const on of [true, 'true', 'TRUE', '1', 'yes', ' on ']) assert.equal(isEnabled(on), true, String(on));
    for (const off of [false, 'false', '', '0', 'no', undefined, '${SIMULATE}', 'truthy']) assert.equal(isEnabled(off), false, String(off));
  });

  it('refuses impossible settings with the property named', () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ interval: '0' }, /interval/],
      [{ intervalKind: 'random', minInterval: '10s', maxInterval: '1s' }, /maxInterval/],
      [{ min: 'a' }, /min/],
      [{ series: '0' }, /series/],
      [{ series: 'a, a' }, /series/],
      [{ valueKind: 'gauss' }, /valueKind/],
      [{ preset: 'weather' }, /preset/],
    ];
    for (const [props, pattern] of cases) {
      assert.throws(
        () => new Simulator(simulatorConfigFrom(props)),
        (err: Error & { code?: string }) => err.code === 'INVALID_CONFIG' && pattern.test(err.message),
        JSON.stringify(props),
      );
    }
  });
});
