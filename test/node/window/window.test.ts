import assert from 'node:assert/strict';
import { cpSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeAPI } from 'node-red';
import windowNode from '../../../nodes/iotp-window/iotp-window';
import { collect, flow, helper, nextEvent } from '../../support/helper';
import { makeTempDir, removeTempDir } from '../../support/tmp';

type Msg = Record<string, unknown> & { payload: Record<string, unknown> };
type ErrorCall = { args: unknown[] };

/** The test helper's context module (it initialises stores but never loads configured ones). */
const contexts = (): { load(): Promise<unknown>; close(): Promise<unknown> } =>
  (helper as unknown as { _context: { load(): Promise<unknown>; close(): Promise<unknown> } })._context;
/** Passed to helper.load with the node: loads the context stores of helper.settings() before the flow starts, as the runtime does. */
const loadContextStores = (_RED: NodeAPI): Promise<unknown> => contexts().load();

/** Each test's window node has its own id: state carried over a stop/start belongs to the node id. */
let W = 'w';
let seq = 0;

function windowFlow(props: Record<string, unknown>) {
  return flow([
    { id: W, type: 'iotp-window', name: '', version: 1, wires: [['out']], ...props },
    { id: 'out', type: 'helper' },
  ]);
}

const nowSeconds = (): string => String(Math.floor(Date.now() / 1000));

describe('iotp-window node', function () {
  this.timeout(20000);
  beforeEach(() => {
    W = `w${++seq}`;
  });
  afterEach(async () => {
    await helper.unload();
    helper.settings({ contextStorage: undefined });
  });

  it('sends avg_1min/avg_5min/avg_30min for every reading, on the same message, per topic', async () => {
    await helper.load(windowNode, windowFlow({ value: 'payload.number', decimals: '4' }));
    const w = helper.getNode(W);
    const out = helper.getNode('out');
    const received = collect<Msg>(out, 4);
    w.receive({ topic: 'DATA', payload: { number: 10, epochtime: nowSeconds() }, _msgid: 'm1' });
    w.receive({ topic: 'DATA', payload: { number: '20' } });
    w.receive({ topic: 'OTHER', payload: { number: 7 } });
    w.receive({ topic: 'DATA', payload: { number: 0 } });
    const msgs = await received;
    assert.equal(msgs[0]._msgid, 'm1');
    assert.deepEqual(msgs[0].payload, { avg_1min: 10, avg_5min: 10, avg_30min: 10 });
    assert.deepEqual(msgs[1].payload, { avg_1min: 15, avg_5min: 15, avg_30min: 15 });
    assert.deepEqual([msgs[2].topic, msgs[2].payload], ['OTHER', { avg_1min: 7, avg_5min: 7, avg_30min: 7 }]);
    assert.deepEqual(msgs[3].payload, { avg_1min: 10, avg_5min: 10, avg_30min: 10 });
  });

  it('names count/sum/min/max outputs from the template and rounds to the decimals', async () => {
    await helper.load(
      windowNode,
      windowFlow({ windows: '30s, 1h', aggregates: 'mean,count,min,max', names: '{agg}_{label}', decimals: '2' }),
    );
    const w = helper.getNode(W);
    const received = collect<Msg>(helper.getNode('out'), 3);
    for (const payload of [1, 2, 2]) w.receive({ topic: 't', payload });
    const last = (await received)[2];
    assert.deepEqual(last.payload, {
      avg_30s: 1.67,
      count_30s: 3,
      min_30s: 1,
      max_30s: 2,
      avg_1h: 1.67,
      count_1h: 3,
      min_1h: 1,
      max_1h: 2,
    });
  });

  it('sends a non-numeric reading to the error path and leaves the window untouched', async () => {
    await helper.load(windowNode, windowFlow({ value: 'payload.number' }));
    const w = helper.getNode(W);
    const out = helper.getNode('out');
    const first = collect<Msg>(out, 1);
    w.receive({ topic: 'DATA', payload: { number: 4 } });
    await first;
    for (const bad of [{ number: 'abc' }, { number: null }, { number: '' }, { number: true }, { other: 1 }, 'x', { number: Number.NaN }]) {
      const error = nextEvent<ErrorCall>(w, 'call:error');
      w.receive({ topic: 'DATA', payload: bad });
      const err = (await error).args[0] as Error & { code?: string };
      assert.equal(err.code, 'INVALID_VALUE', JSON.stringify(bad));
    }
    const noTopic = nextEvent<ErrorCall>(w, 'call:error');
    w.receive({ payload: { number: 5 } });
    assert.equal(((await noTopic).args[0] as { code?: string }).code, 'INVALID_SERIES');
    const after = collect<Msg>(out, 1);
    w.receive({ topic: 'DATA', payload: { number: 8 } });
    assert.deepEqual((await after)[0].payload, { avg_1min: 6, avg_5min: 6, avg_30min: 6 });
  });

  it('sends each counted reading on output 2, as it arrived and as counted, and nothing for what it refuses', async () => {
    const flowWithStore = flow([
      {
        id: W,
        type: 'iotp-window',
        name: '',
        version: 1,
        value: 'payload.number',
        seriesFrom: 'single',
        timeSource: 'event',
        timeProperty: 'payload.epochtime',
        wires: [['out'], ['store']],
      },
      { id: 'out', type: 'helper' },
      { id: 'store', type: 'helper' },
    ]);
    await helper.load(windowNode, flowWithStore);
    const w = helper.getNode(W);
    const stored: Msg[] = [];
    (helper.getNode('store') as unknown as NodeJS.EventEmitter).on('input', (msg: Msg) => stored.push(msg));
    const seconds = Math.floor(Date.now() / 1000);
    // What issue #16 saw stored as text in INTEGER columns that retention never deletes.
    const refused = [
      { number: 'Infinity', epochtime: 'x' },
      { number: { a: 1 }, epochtime: String(seconds) },
      { number: 5, epochtime: 1e20 },
      { number: [1], epochtime: String(seconds) },
      { number: '12abc', epochtime: String(seconds) },
      { number: 3, epochtime: { t: 1 } },
    ];
    for (const payload of refused) {
      const error = nextEvent<ErrorCall>(w, 'call:error');
      w.receive({ payload });
      assert.ok((await error).args[0], JSON.stringify(payload));
    }
    const counted = collect<Msg>(helper.getNode('store'), 2);
    const averages = collect<Msg>(helper.getNode('out'), 2);
    w.receive({ payload: { number: '42', epochtime: String(seconds) }, _msgid: 'm1', _iotpAck: 'ack-1' });
    w.receive({ payload: { number: 7.5, epochtime: seconds * 1000 + 250 } });
    const [first, second] = await counted;
    assert.deepEqual(first.payload, {
      series: '',
      value: 42,
      time: seconds * 1000,
      epochSeconds: seconds,
      input: { number: '42', epochtime: String(seconds) },
    });
    assert.equal(first._iotpAck, 'ack-1', 'with the completion id: the source waits for the store');
    assert.deepEqual(second.payload, {
      series: '',
      value: 7.5,
      time: seconds * 1000 + 250,
      // Whole seconds: a writer puts them in an integer column (PostgreSQL refused the fraction).
      epochSeconds: seconds,
      input: { number: 7.5, epochtime: seconds * 1000 + 250 },
    });
    assert.deepEqual((await averages)[0].payload, { avg_1min: 42, avg_5min: 42, avg_30min: 42 }, 'output 1 unchanged');
    assert.equal(stored.length, 2, 'nothing refused reached the store');
  });

  it('places readings by event time and measures the windows back from now', async () => {
    await helper.load(windowNode, windowFlow({ value: 'payload.number', timeSource: 'event', timeProperty: 'payload.epochtime' }));
    const w = helper.getNode(W);
    const out = helper.getNode('out');
    const now = Math.floor(Date.now() / 1000);
    const received = collect<Msg>(out, 3);
    w.receive({ topic: 'D', payload: { number: 90, epochtime: String(now - 20 * 60) } }); // 20 min ago: 30 min window only
    w.receive({ topic: 'D', payload: { number: 30, epochtime: String(now - 3 * 60) } }); // 3 min ago: 5 and 30 min
    w.receive({ topic: 'D', payload: { number: 60, epochtime: new Date().toISOString() } });
    const msgs = await received;
    assert.deepEqual(msgs[0].payload, { avg_1min: null, avg_5min: null, avg_30min: 90 });
    assert.deepEqual(msgs[2].payload, { avg_1min: 60, avg_5min: 45, avg_30min: 60 });
    const late = nextEvent<ErrorCall>(w, 'call:error');
    w.receive({ topic: 'D', payload: { number: 1, epochtime: String(now - 31 * 60) } });
    assert.equal(((await late).args[0] as { code?: string }).code, 'LATE_READING');
    const badTime = nextEvent<ErrorCall>(w, 'call:error');
    w.receive({ topic: 'D', payload: { number: 1, epochtime: 'yesterday' } });
    assert.equal(((await badTime).args[0] as { code?: string }).code, 'INVALID_TIMESTAMP');
    const after = collect<Msg>(out, 1);
    w.receive({ topic: 'D', payload: { number: 0, epochtime: String(now) } });
    assert.deepEqual((await after)[0].payload, { avg_1min: 30, avg_5min: 30, avg_30min: 45 });
  });

  it('msg.reset clears the message series, or every series', async () => {
    await helper.load(windowNode, windowFlow({}));
    const w = helper.getNode(W);
    const out = helper.getNode('out');
    const first = collect<Msg>(out, 2);
    w.receive({ topic: 'a', payload: 10 });
    w.receive({ topic: 'b', payload: 20 });
    await first;
    w.receive({ topic: 'a', reset: true });
    const afterReset = collect<Msg>(out, 2);
    w.receive({ topic: 'a', payload: 2 });
    w.receive({ topic: 'b', payload: 40 });
    assert.deepEqual(
      (await afterReset).map((m) => m.payload.avg_1min),
      [2, 30],
    );
    w.receive({ reset: 'all' });
    const afterAll = collect<Msg>(out, 2);
    w.receive({ topic: 'a', payload: 5 });
    w.receive({ topic: 'b', payload: 6 });
    assert.deepEqual(
      (await afterAll).map((m) => m.payload.avg_1min),
      [5, 6],
    );
  });

  it('emits every series on the interval as new messages without the inputs completion ids', async () => {
    await helper.load(windowNode, windowFlow({ emit: 'interval', interval: '200ms' }));
    const w = helper.getNode(W);
    const out = helper.getNode('out');
    const inputDone: string[] = [];
    (w as unknown as NodeJS.EventEmitter).on('call:error', () => inputDone.push('error'));
    w.receive({ topic: 'x', payload: 1, _iotpAck: 'ack-1' });
    w.receive({ topic: 'y', payload: 3, _iotpAck: 'ack-2' });
    w.receive({ topic: 'x', payload: 2, _iotpAck: 'ack-3' });
    const msgs = await collect<Msg>(out, 4);
    assert.deepEqual(inputDone, []);
    assert.deepEqual(
      msgs.slice(0, 2).map((m) => [m.topic, m.payload.avg_1min]),
      [
        ['x', 1.5],
        ['y', 3],
      ],
    );
    for (const m of msgs) assert.equal(m._iotpAck, undefined);
  });

  for (const store of ['a localfilesystem context store', 'no context store configured']) {
    it(`keeps the window across a redeploy of the node (${store})`, async () => {
      const props = { value: 'payload.number' };
      const dir = makeTempDir('iotp-window-ctx-');
      try {
        if (store.startsWith('a '))
          helper.settings({ contextStorage: { default: { module: 'localfilesystem', config: { dir } } } } as never);
        await helper.load([windowNode, loadContextStores], windowFlow(props));
        const out = helper.getNode('out');
        const before = collect<Msg>(out, 2);
        helper.getNode(W).receive({ topic: 'D', payload: { number: 10 } });
        helper.getNode(W).receive({ topic: 'D', payload: { number: 20 } });
        await before;
        // Changing the node's name restarts it (close(removed=false), then a new instance).
        await helper.setFlows(windowFlow({ ...props, name: 'renamed' }) as never, 'nodes');
        assert.equal(helper.getNode(W).name, 'renamed');
        const after = collect<Msg>(helper.getNode('out'), 1);
        helper.getNode(W).receive({ topic: 'D', payload: { number: 60 } });
        assert.deepEqual((await after)[0].payload, { avg_1min: 30, avg_5min: 30, avg_30min: 30 });
      } finally {
        removeTempDir(dir);
      }
    });
  }

  it('keeps the window across a restart with a localfilesystem context store', async () => {
    const dir = makeTempDir('iotp-window-ctx-');
    const dirs = [dir];
    try {
      let current = dir;
      const useStore = (storeDir: string): void => {
        current = storeDir;
        helper.settings({
          contextStorage: { default: { module: 'localfilesystem', config: { dir: storeDir, flushInterval: 30 } } },
        } as never);
      };
      /** A restart: stop the flows (close handlers run), close the stores (flush to disk), keep the files, start again. */
      const restart = async (props: Record<string, unknown>): Promise<void> => {
        await helper.clearFlows();
        await contexts().close();
        // helper.unload() deletes every node context it knows of; the process's disk outlives it here.
        const kept = makeTempDir('iotp-window-ctx-');
        cpSync(current, kept, { recursive: true });
        // The state is on disk (not only in this process, which also carries it over a stop/start).
        const files = readdirSync(kept, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.json'));
        assert.ok(
          files.some((f) => readFileSync(join(kept, f), 'utf8').includes('"iotp-window-state"')),
          `state file in ${files.join(', ')}`,
        );
        await helper.unload();
        useStore(kept);
        await helper.load([windowNode, loadContextStores], windowFlow(props));
        dirs.push(kept);
      };
      useStore(dir);
      await helper.load([windowNode, loadContextStores], windowFlow({ windows: '1min, 5min, 30min', aggregates: 'mean,count' }));
      const first = collect<Msg>(helper.getNode('out'), 3);
      for (const n of [3, 4, 5]) helper.getNode(W).receive({ topic: 'D', payload: n });
      await first;
      await restart({ windows: '1min, 5min, 30min', aggregates: 'mean,count' });
      const after = collect<Msg>(helper.getNode('out'), 1);
      helper.getNode(W).receive({ topic: 'D', payload: 8 });
      assert.deepEqual((await after)[0].payload, { avg_1min: 5, count_1min: 4, avg_5min: 5, count_5min: 4, avg_30min: 5, count_30min: 4 });

      // Other window lengths cannot use the saved buckets: a warning says the state was discarded.
      await restart({ windows: '2min', aggregates: 'mean,count' });
      const fresh = collect<Msg>(helper.getNode('out'), 1);
      helper.getNode(W).receive({ topic: 'D', payload: 1 });
      assert.deepEqual((await fresh)[0].payload, { avg_2min: 1, count_2min: 1 });
      const warned = (helper.log().args as unknown[][]).some(([entry]) => /discarded/.test(String((entry as { msg?: unknown }).msg)));
      assert.ok(warned, 'a warning about the discarded state');
    } finally {
      for (const d of dirs) removeTempDir(d);
    }
  });

  /** One window per sensor per minute, closed by the readings' own times (as the sensors flow's, with event time). */
  const SENSOR_MINUTES = {
    mode: 'tumbling',
    size: '1min',
    grace: '0',
    watermark: 'event',
    timeSource: 'event',
    timeProperty: 'payload.timestamp',
    value: 'payload.value',
    seriesFrom: 'property',
    seriesProperty: 'payload.sensor_id',
  };

  it('tumbling: one message per series per UTC-aligned window, stamped with its start (event time)', async () => {
    await helper.load(windowNode, windowFlow({ ...SENSOR_MINUTES, lateness: '0', timeFormat: 'utc-naive' }));
    const w = helper.getNode(W);
    const out = helper.getNode('out');
    const received = collect<Msg>(out, 2);
    const reading = (sensor: string, value: number, timestamp: string) => ({
      topic: 'sensors',
      payload: { sensor_id: sensor, value, timestamp },
    });
    w.receive(reading('1', 20, '2024-06-14T16:00:00.123456'));
    w.receive(reading('2', 5, '2024-06-14T16:00:30'));
    w.receive(reading('1', 30, '2024-06-14T16:00:59.999'));
    w.receive(reading('1', 40, '2024-06-14T16:01:00.5')); // closes 16:00 for both sensors
    const msgs = await received;
    assert.deepEqual(
      msgs.map((m) => [m.topic, m.payload]),
      [
        [
          '1',
          {
            series: '1',
            start: '2024-06-14T16:00:00.000000',
            end: '2024-06-14T16:01:00.000000',
            count: 2,
            mean: 25,
            min: 20,
            max: 30,
            sum: 50,
          },
        ],
        [
          '2',
          {
            series: '2',
            start: '2024-06-14T16:00:00.000000',
            end: '2024-06-14T16:01:00.000000',
            count: 1,
            mean: 5,
            min: 5,
            max: 5,
            sum: 5,
          },
        ],
      ],
    );
    const late = nextEvent<ErrorCall>(w, 'call:error');
    w.receive(reading('2', 1, '2024-06-14T16:00:45'));
    assert.equal(((await late).args[0] as { code?: string }).code, 'LATE_READING');
  });

  it('tumbling: a late reading within the lateness is counted and its window sent again, once for a backlog', async () => {
    await helper.load(windowNode, windowFlow(SENSOR_MINUTES));
    const w = helper.getNode(W);
    const out = helper.getNode('out');
    const reading = (sensor: string, value: number, timestamp: string) => ({ payload: { sensor_id: sensor, value, timestamp } });
    const closed = collect<Msg>(out, 1);
    w.receive(reading('1', 20, '2024-06-14T16:00:10'));
    w.receive(reading('1', 40, '2024-06-14T16:01:00.5'));
    assert.deepEqual(
      (await closed).map((m) => [m.topic, (m.payload as { count: number }).count]),
      [['1', 1]],
    );
    const errors: unknown[] = [];
    (w as unknown as NodeJS.EventEmitter).on('call:error', (call: ErrorCall) => errors.push(call.args[0]));
    const sent: Msg[] = [];
    (out as unknown as NodeJS.EventEmitter).on('input', (msg: Msg) => sent.push(msg));
    for (let i = 0; i < 100; i++) w.receive(reading('1', 30, '2024-06-14T16:00:20'));
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assert.deepEqual(
      sent.map((m) => [m.topic, m.payload]),
      [
        [
          '1',
          {
            series: '1',
            start: Date.UTC(2024, 5, 14, 16, 0),
            end: Date.UTC(2024, 5, 14, 16, 1),
            count: 101,
            mean: 3020 / 101,
            min: 20,
            max: 30,
            sum: 3020,
            revision: 1,
          },
        ],
      ],
      'one revision for the hundred late readings',
    );
    assert.deepEqual(errors, [], 'a late reading within the lateness is no error');
  });

  it('tumbling on the clock: windows close on the node timer, aligned to the window size', async () => {
    await helper.load(windowNode, windowFlow({ mode: 'tumbling', size: '300ms', grace: '50ms' }));
    const w = helper.getNode(W);
    const received = collect<Msg>(helper.getNode('out'), 1);
    w.receive({ topic: 'a', payload: 2, _iotpAck: 'ack' });
    w.receive({ topic: 'a', payload: 4 });
    const [msg] = await received;
    const { start, end, mean } = msg.payload as { start: number; end: number; mean: number };
    assert.equal(start % 300, 0);
    assert.equal(end - start, 300);
    assert.ok(mean === 3 || mean === 2 || mean === 4); // both readings may straddle a boundary
    assert.equal(msg._iotpAck, undefined);
  });

  it('reports a bad configuration and refuses input with its reason', async () => {
    await helper.load(windowNode, windowFlow({ windows: '5 parsecs' }));
    const w = helper.getNode(W);
    const errors: unknown[] = [];
    (w as unknown as NodeJS.EventEmitter).on('call:error', (call: ErrorCall) => errors.push(call.args[0]));
    w.receive({ topic: 'a', payload: 1 });
    while (!errors.some((e) => e instanceof Error)) await new Promise((r) => setTimeout(r, 10));
    // The node also logged the problem when it started.
    assert.ok(errors.includes('iotp-window.errors.config'));
    const err = errors.find((e) => e instanceof Error) as Error & { code?: string };
    assert.equal(err.code, 'INVALID_OPTIONS');
    assert.match(err.message, /windows/);
  });
});
