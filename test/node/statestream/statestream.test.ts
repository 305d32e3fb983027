/**
 * The iotp-statestream node in the Node-RED test runtime: records per topic, errors to the error
 * path (and completed), filters, merged entity updates with the completion of every merged input
 * only after the merged message was sent and completed downstream.
 */
import assert from 'node:assert/strict';
import type { Node, NodeAPI } from 'node-red';
import statestreamNode from '../../../nodes/iotp-statestream/iotp-statestream';
import {
  forgetTracked,
  installCompletionHooks,
  pendingCompletions,
  sendTracked,
  type CompletionOutcome,
} from '../../../nodes/shared/completion';
import { collect, flow as testFlow, helper, nextEvent } from '../../support/helper';
import { MAX_OBJECT_ID_CHARS } from '../../../lib/statestream/limits';

/** Outcomes of the tracked messages the test source sent, by id. */
const settled = new Map<string, CompletionOutcome>();
let nextId = 0;

/** Stands in for iotp-mqtt-in: re-sends each input stamped with a completion id and records its outcome. */
function trackedSource(RED: NodeAPI): void {
  installCompletionHooks(RED);
  function TrackedSource(this: Node, config: { id: string }) {
    RED.nodes.createNode(this, config as never);
    this.on('input', (msg, send, done) => {
      const id = `ack-${++nextId}`;
      const out = { topic: msg.topic, payload: msg.payload, qos: 1, retain: (msg as { retain?: boolean }).retain === true };
      sendTracked(
        (m) => send(m as never),
        out,
        id,
        (ackId, outcome) => settled.set(ackId, outcome),
      );
      done();
    });
  }
  RED.nodes.registerType('test-tracked-source', TrackedSource as never);
}

/** A sink whose done() the test calls: a writer that has not committed yet. */
const held: Array<{ msg: Record<string, unknown>; done: () => void }> = [];
function deferredSink(RED: NodeAPI): void {
  function DeferredSink(this: Node, config: { id: string }) {
    RED.nodes.createNode(this, config as never);
    this.on('input', (msg, _send, done) => held.push({ msg: msg as Record<string, unknown>, done: () => done() }));
  }
  RED.nodes.registerType('test-deferred-sink', DeferredSink as never);
}

/** A sink that completes at once and records what it got (the helper node never completes). */
const sunk: Array<Record<string, unknown>> = [];
function completingSink(RED: NodeAPI): void {
  function CompletingSink(this: Node, config: { id: string }) {
    RED.nodes.createNode(this, config as never);
    this.on('input', (msg, _send, done) => {
      sunk.push(msg as Record<string, unknown>);
      done();
    });
  }
  RED.nodes.registerType('test-sink', CompletingSink as never);
}

const node = (props: Record<string, unknown> = {}) => ({
  id: 'ss',
  type: 'iotp-statestream',
  baseTopic: 'homeassistant',
  includeDomains: '',
  includeEntities: '',
  excludeDomains: '',
  excludeEntities: '',
  strings: 'raw',
  output: 'record',
  quietMs: 100,
  maxPayload: 1048576,
  version: 1,
  wires: [['out']],
  ...props,
});

const events = (id: string): NodeJS.EventEmitter => helper.getNode(id) as unknown as NodeJS.EventEmitter;

const waitFor = async (predicate: () => boolean, timeoutMs = 5000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('iotp-statestream node', function () {
  this.timeout(20000);
  // Completion tracking is per runtime: suites that ran earlier in this process may leave entries open.
  let openBefore = 0;
  beforeEach(() => {
    openBefore = pendingCompletions();
  });
  afterEach(async () => {
    await helper.unload();
    held.length = 0;
    sunk.length = 0;
    settled.clear();
  });

  it('outputs one record per topic: the messages columns and the decoded fields', async () => {
    await helper.load([statestreamNode], testFlow([node(), { id: 'out', type: 'helper' }]));
    const ss = helper.getNode('ss');
    const received = collect<Record<string, unknown>>(helper.getNode('out'), 4);
    const before = Date.now();
    ss.receive({ topic: 'homeassistant/sensor/kitchen_temperature/state', payload: '21.5', qos: 1, retain: true } as never);
    ss.receive({
      topic: 'homeassistant/sensor/kitchen_temperature/last_updated',
      payload: Buffer.from('2024-05-01T12:00:00.123456+00:00'),
      qos: 1,
    } as never);
    ss.receive({ topic: 'homeassistant/sensor/kitchen_temperature/friendly_name', payload: '"Küche 🌡️"', qos: 0 } as never);
    ss.receive({
      topic: 'homeassistant/sensor/kitchen_temperature/calibration',
      payload: '{"offset":-0.3,"history":[1,2]}',
      qos: 1,
    } as never);
    const [state, updated, name, calibration] = (await received).map((m) => m.payload as Record<string, unknown>);
    assert.equal(state.topic, 'homeassistant/sensor/kitchen_temperature/state');
    assert.equal(state.qos, 1);
    assert.equal(state.payload, '21.5');
    assert.equal(state.retained, true);
    assert.ok(state.receivedAt instanceof Date && (state.receivedAt as Date).getTime() >= before);
    assert.equal(state.entityId, 'sensor.kitchen_temperature');
    assert.equal(state.baseTopic, 'homeassistant');
    assert.equal(state.keyKind, 'state');
    assert.equal(state.numeric, 21.5);
    assert.equal(updated.keyKind, 'timestamp');
    assert.equal(updated.value, '2024-05-01T12:00:00.123456Z');
    assert.equal(updated.payload, '2024-05-01T12:00:00.123456+00:00');
    assert.equal(updated.retained, false);
    assert.equal(name.value, 'Küche 🌡️');
    assert.equal(name.payload, '"Küche 🌡️"');
    assert.equal(name.qos, 0);
    assert.deepEqual(calibration.value, { offset: -0.3, history: [1, 2] });
  });

  it('stores a message the tables cannot normalise, and says so: a warning with the reason (at most once a minute), a count in the status', async () => {
    await helper.load([statestreamNode], testFlow([node(), { id: 'out', type: 'helper' }]));
    const ss = helper.getNode('ss');
    const warned = nextEvent<{ args: unknown[] }>(ss, 'call:warn');
    const received = collect<Record<string, unknown>>(helper.getNode('out'), 3);
    const longEntity = `homeassistant/sensor/${'o'.repeat(MAX_OBJECT_ID_CHARS + 1)}/state`;
    ss.receive({ topic: longEntity, payload: '1', qos: 1 } as never);
    ss.receive({ topic: longEntity, payload: '2', qos: 1 } as never);
    ss.receive({ topic: 'homeassistant/sensor/x/state', payload: '3', qos: 1 } as never);
    const records = (await received).map((m) => m.payload as Record<string, unknown>);
    assert.deepEqual(
      records.map((r) => r.payload),
      ['1', '2', '3'],
      'every record still goes to the messages table',
    );
    // (The test runtime has no message catalogs: RED._ gives the key.)
    assert.equal((await warned).args[0], 'iotp-statestream.errors.factless');
    const status = nextEvent<{ args: Array<{ fill?: string; text?: string }> }>(ss, 'call:status');
    const shown = (await status).args[0];
    assert.equal(shown.fill, 'yellow');
    assert.match(String(shown.text), /iotp-statestream\.status\.factless/);
    assert.equal((ss as unknown as { warn: { callCount: number } }).warn.callCount, 1, 'the second one waits for the next minute');
  });

  it('refuses a topic longer than the messages table stores, with the reason', async () => {
    await helper.load([statestreamNode], testFlow([node(), { id: 'out', type: 'helper' }]));
    const ss = helper.getNode('ss');
    const error = nextEvent<{ args: unknown[] }>(ss, 'call:error');
    ss.receive({ topic: `homeassistant/sensor/x/${'k'.repeat(1100)}`, payload: '1', qos: 1 } as never);
    const err = (await error).args[0] as Error & { code?: string };
    assert.equal(err.code, 'topic-too-long');
  });

  it('sends bad messages to the error path with a code, completes them and keeps going', async () => {
    await helper.load(
      [statestreamNode, trackedSource, completingSink],
      testFlow([{ id: 'src', type: 'test-tracked-source', wires: [['ss']] }, node(), { id: 'out', type: 'test-sink' }]),
    );
    const src = helper.getNode('src');
    const errors: Array<{ err: Error & { code?: string }; msg: Record<string, unknown> }> = [];
    events('ss').on('call:error', (call: { args: [Error, Record<string, unknown>] }) =>
      errors.push({ err: call.args[0], msg: call.args[1] }),
    );
    src.receive({ topic: 'zigbee2mqtt/kitchen', payload: 'x' } as never);
    src.receive({ topic: 'homeassistant/light/kitchen/brightness', payload: '{not json' } as never);
    src.receive({ topic: 'other/light/kitchen/state', payload: 'on' } as never);
    src.receive({ topic: 'homeassistant/light/kitchen/last_changed', payload: 'yesterday' } as never);
    src.receive({ topic: 'homeassistant/light/kitchen/state', payload: 'on' } as never);
    await waitFor(() => settled.size === 5);
    assert.equal(sunk.length, 1);
    assert.equal((sunk[0].payload as Record<string, unknown>).payload, 'on');
    assert.deepEqual(
      errors.map((e) => e.err.code),
      ['base-mismatch', 'attribute-not-json', 'base-mismatch', 'bad-timestamp'],
    );
    assert.equal(errors[1].err.message, 'iotp-statestream.errors.parse');
    assert.equal(errors[1].msg.topic, 'homeassistant/light/kitchen/brightness');
    assert.deepEqual([...settled.values()], ['failed', 'failed', 'failed', 'failed', 'completed']);
    assert.equal(pendingCompletions(), openBefore);
  });

  it('filters by domain and entity globs: filtered messages complete without output', async () => {
    await helper.load(
      [statestreamNode, trackedSource, completingSink],
      testFlow([
        { id: 'src', type: 'test-tracked-source', wires: [['ss']] },
        node({ includeDomains: 'sensor, light', excludeEntities: '*_battery\nlight.garage' }),
        { id: 'out', type: 'test-sink' },
      ]),
    );
    const src = helper.getNode('src');
    for (const topic of [
      'homeassistant/sensor/kitchen_temperature/state',
      'homeassistant/sensor/phone_battery/state',
      'homeassistant/light/garage/state',
      'homeassistant/light/kitchen/state',
      'homeassistant/switch/kettle/state',
    ]) {
      src.receive({ topic, payload: 'on' } as never);
    }
    await waitFor(() => settled.size === 5);
    assert.deepEqual(
      sunk.map((m) => m.topic),
      ['homeassistant/sensor/kitchen_temperature/state', 'homeassistant/light/kitchen/state'],
    );
    assert.deepEqual([...settled.values()], Array(5).fill('completed'));
  });

  it('derives the base topic when none is configured (multi-level bases)', async () => {
    await helper.load([statestreamNode], testFlow([node({ baseTopic: '' }), { id: 'out', type: 'helper' }]));
    const received = collect<Record<string, unknown>>(helper.getNode('out'), 1);
    helper.getNode('ss').receive({ topic: 'home/statestream/binary_sensor/door/state', payload: 'off' } as never);
    const record = (await received)[0].payload as Record<string, unknown>;
    assert.equal(record.baseTopic, 'home/statestream');
    assert.equal(record.entityId, 'binary_sensor.door');
  });

  it('merges an entity update and completes its inputs only after the merged message was sent and completed', async () => {
    await helper.load(
      [statestreamNode, trackedSource, deferredSink],
      testFlow([
        { id: 'src', type: 'test-tracked-source', wires: [['ss']] },
        node({ output: 'entity', quietMs: 50 }),
        { id: 'out', type: 'test-deferred-sink' },
      ]),
    );
    const src = helper.getNode('src');
    const burst: Array<[string, string]> = [
      ['homeassistant/climate/hall/state', 'heat'],
      ['homeassistant/climate/hall/last_updated', '2024-05-01T12:00:00+00:00'],
      ['homeassistant/climate/hall/current_temperature', '21.5'],
      ['homeassistant/climate/hall/hvac_modes', '["off","heat"]'],
      ['homeassistant/light/hall/state', 'off'],
    ];
    for (const [topic, payload] of burst) src.receive({ topic, payload } as never);
    await waitFor(() => held.length === 2);
    const climate = held.find((h) => h.msg.topic === 'homeassistant/climate/hall')!;
    const light = held.find((h) => h.msg.topic === 'homeassistant/light/hall')!;
    const entity = climate.msg.payload as Record<string, unknown>;
    assert.equal(entity.state, 'heat');
    assert.equal(entity.lastUpdated, '2024-05-01T12:00:00Z');
    assert.deepEqual(entity.attributes, { current_temperature: 21.5, hvac_modes: ['off', 'heat'] });
    assert.equal(entity.messages, 4);
    assert.deepEqual(climate.msg._iotpAck, ['ack-' + (nextId - 4), 'ack-' + (nextId - 3), 'ack-' + (nextId - 2), 'ack-' + (nextId - 1)]);
    assert.deepEqual(light.msg._iotpAck, ['ack-' + nextId]);
    // Sent, but not yet stored downstream: nothing is acknowledged.
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(settled.size, 0);
    climate.done();
    await waitFor(() => settled.size === 4);
    assert.deepEqual([...settled.values()], Array(4).fill('completed'));
    light.done();
    await waitFor(() => settled.size === 5);
    assert.equal(pendingCompletions(), openBefore);
  });

  it('emits an open entity early when its next update starts; on close sends open entities without acknowledging their inputs', async () => {
    await helper.load(
      [statestreamNode, trackedSource, deferredSink],
      testFlow([
        { id: 'src', type: 'test-tracked-source', wires: [['ss']] },
        node({ output: 'entity', quietMs: 60000 }),
        { id: 'out', type: 'test-deferred-sink' },
      ]),
    );
    const src = helper.getNode('src');
    src.receive({ topic: 'homeassistant/switch/kettle/state', payload: 'on' } as never);
    src.receive({ topic: 'homeassistant/switch/kettle/friendly_name', payload: '"Kettle"' } as never);
    src.receive({ topic: 'homeassistant/switch/kettle/state', payload: 'off' } as never);
    await waitFor(() => held.length === 1);
    assert.equal((held[0].msg.payload as { state: string }).state, 'on');
    assert.equal((held[0].msg._iotpAck as string[]).length, 2);
    held[0].done();
    await waitFor(() => settled.size === 2);
    // The second update is still open (quiet time 60 s). Closing sends it, but leaves its input
    // unacknowledged: the stopping flow may not store it, so the broker must redeliver it.
    await helper.unload();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(settled.size, 2);
    assert.equal(pendingCompletions(), openBefore + 1);
    forgetTracked(['ack-' + nextId]);
  });

  it('shows counts in its status, rate-limited', async () => {
    await helper.load([statestreamNode], testFlow([node({ includeDomains: 'light' }), { id: 'out', type: 'helper' }]));
    const ss = helper.getNode('ss');
    const status = nextEvent<{ args: [{ text: string; fill: string }] }>(ss, 'call:status', 3000);
    ss.receive({ topic: 'homeassistant/light/a/state', payload: 'on' } as never);
    ss.receive({ topic: 'homeassistant/sensor/a/state', payload: '1' } as never);
    ss.receive({ topic: 'bad', payload: '1' } as never);
    const shown = (await status).args[0];
    assert.equal(shown.text, 'iotp-statestream.status.counts');
    assert.equal(shown.fill, 'yellow');
  });
});
