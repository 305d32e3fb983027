/**
 * Issue #16 item 2: a poison message is dead-lettered, once. JSON nested 100,000 deep on an ingest
 * wired to two nodes (as the shipped sensors flow is) used to be counted as undelivered, handed
 * over 31 times and left unacknowledged, so the broker handed it over again on every reconnect and
 * restart. Now it goes to the error path (a Catch node sees it), into the dead-letter file, and is
 * acknowledged: a restart on the same persistent session gets nothing back, and the messages after
 * it flow on.
 *
 * Also the other ways a flow fails a message: Node-RED unable to copy it for a second wire (at
 * once), a node completing it with an error (at once, reported by that node only), and a message
 * a downstream node can never pass on (a relay whose copy Node-RED cannot clone: handed over
 * again a bounded number of times, then dead-lettered).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import type { Node, NodeAPI } from 'node-red';
import { deadLetterPath, readDeadLetters, type DeadLetterRecord } from '../../lib/dead-letter';
import brokerNode from '../../nodes/iotp-mqtt-broker/iotp-mqtt-broker';
import ingestNode from '../../nodes/iotp-mqtt-in/iotp-mqtt-in';
import { flow as testFlow, helper } from '../support/helper';
import { MQTT_HOST, MQTT_PORT, requireService } from '../support/services';
import { makeTempDir, removeTempDir } from '../support/tmp';

const BROKER_URL = `mqtt://${MQTT_HOST}:${MQTT_PORT}`;
const DEEP = '['.repeat(100_000) + ']'.repeat(100_000);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function publish(topic: string, payloads: Array<string | Buffer>): Promise<void> {
  const client = await mqtt.connectAsync(BROKER_URL, { clientId: `iotp-test-pub-${randomBytes(4).toString('hex')}`, protocolVersion: 5 });
  for (const payload of payloads) await client.publishAsync(topic, payload, { qos: 1 });
  await client.endAsync();
}

/** What each test sink received, by node id. */
const sunk = new Map<string, Array<Record<string, unknown>>>();
/** A sink that completes what it receives (the helper node has no input handler, so nothing it gets ever completes). */
function sinkNode(RED: NodeAPI): void {
  function Sink(this: Node, config: { id: string }) {
    RED.nodes.createNode(this, config as never);
    this.on('input', (msg, _send, done) => {
      sunk.get(this.id)?.push(msg as Record<string, unknown>);
      done();
    });
  }
  RED.nodes.registerType('test-sink', Sink as never);
}

/** Everything the sink `id` receives, from now on. */
function record(id: string): Array<Record<string, unknown>> {
  const got: Array<Record<string, unknown>> = [];
  sunk.set(id, got);
  return got;
}

async function until(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** Passes a message on to both outputs with an object nested 100,000 deep: Node-RED cannot clone it for the second. */
let relayed = 0;
function deepRelayNode(RED: NodeAPI): void {
  function DeepRelay(this: Node, config: { id: string }) {
    RED.nodes.createNode(this, config as never);
    this.on('input', (msg, send, done) => {
      relayed++;
      if (String(msg.payload) !== 'poison') {
        send(msg);
        return done();
      }
      let deep: unknown = 1;
      for (let i = 0; i < 100_000; i++) deep = [deep];
      send({ ...msg, deep });
      done();
    });
  }
  RED.nodes.registerType('test-deep-relay', DeepRelay as never);
}

/** Completes 'refuse me' with an error, passes anything else on. */
function refusingNode(RED: NodeAPI): void {
  function Refusing(this: Node, config: { id: string }) {
    RED.nodes.createNode(this, config as never);
    this.on('input', (msg, send, done) => {
      if (String(msg.payload) === 'refuse me') return done(Object.assign(new Error('this reading is refused'), { code: 'TEST_REFUSED' }));
      send(msg);
      done();
    });
  }
  RED.nodes.registerType('test-refusing', Refusing as never);
}

describe('iotp-mqtt-in: a poison message is dead-lettered once (real mosquitto)', function () {
  this.timeout(120_000);
  let dir: string;
  let base: string;
  let brokerId: string;

  before(async function () {
    await requireService(this, 'mqtt');
  });

  beforeEach(() => {
    dir = makeTempDir('iotp-dead-letter-node-');
    helper.settings({ iotpDeadLetterDir: dir } as never);
    base = `iotp-test/dl-${randomBytes(5).toString('hex')}`;
    // A config node id of its own: its own client id and persistent session (clean session off).
    brokerId = `b${randomBytes(5).toString('hex')}`;
    relayed = 0;
  });

  afterEach(async () => {
    await helper.unload();
    helper.settings({});
    removeTempDir(dir);
  });

  const broker = () => ({
    id: brokerId,
    type: 'iotp-mqtt-broker',
    url: BROKER_URL,
    protocolVersion: '5',
    receiveMaximum: 20,
    cleanSession: false,
    version: 1,
  });
  const records = (): DeadLetterRecord[] => readDeadLetters(deadLetterPath(dir, 'in')).records;

  it('JSON nested 100,000 deep on an ingest wired to two nodes: error path, file, acknowledged; a restart gets nothing back; the next message flows', async () => {
    // On a tab, as a Catch node needs (the helper loads the core catch node).
    const nodes = [
      { id: 'tab', type: 'tab', label: 'sensors' },
      broker(),
      {
        id: 'in',
        z: 'tab',
        type: 'iotp-mqtt-in',
        broker: brokerId,
        topics: `${base}/sensors`,
        qos: '1',
        format: 'json',
        ack: 'complete',
        wires: [['a', 'b']],
      },
      { id: 'a', z: 'tab', type: 'test-sink' },
      { id: 'b', z: 'tab', type: 'test-sink' },
      { id: 'catcher', z: 'tab', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', z: 'tab', type: 'test-sink' },
    ];
    await helper.load([brokerNode, ingestNode, sinkNode], testFlow(nodes));
    const [a, b, caught] = [record('a'), record('b'), record('caught')];
    await sleep(500);
    await publish(`${base}/sensors`, [DEEP, '{"sensor_id":"s1","value":21.5}']);

    await until('the good message after it reached both nodes', () => a.length === 1 && b.length === 1);
    assert.deepEqual(
      [a[0].payload, b[0].payload],
      [
        { sensor_id: 's1', value: 21.5 },
        { sensor_id: 's1', value: 21.5 },
      ],
    );
    await until('the Catch node got the poison message', () => caught.length === 1);
    const error = caught[0].error as { message: string; source: { id: string } };
    assert.equal(error.source.id, 'in');
    assert.equal(error.message, 'iotp-mqtt-in.errors.deadLetter');
    assert.equal(Buffer.from(caught[0].payload as Buffer).length, DEEP.length, 'the payload as received');
    // The file is named without a path outside the user directory (no absolute paths in the log).
    assert.deepEqual(caught[0].deadLetter, {
      reason: 'iotp-mqtt-in.errors.payload',
      code: 'MQTT_PAYLOAD_TOO_DEEP',
      tries: 1,
      file: 'in.jsonl',
    });

    const [kept] = records();
    assert.equal(records().length, 1, 'one record');
    assert.deepEqual(
      [kept.topic, kept.code, kept.tries, kept.bytes, kept.encoding, kept.truncated],
      [`${base}/sensors`, 'MQTT_PAYLOAD_TOO_DEEP', 1, DEEP.length, 'utf8', true],
    );
    assert.ok(DEEP.startsWith(kept.payload) && kept.payload.length > 1000, 'the payload begins the record');

    // Restart on the same persistent session: an unacknowledged message would come back (dup), see
    // test/node/mqtt.test.ts; this one was acknowledged and does not.
    await helper.unload();
    await helper.load([brokerNode, ingestNode, sinkNode], testFlow(nodes));
    const [a2, caught2] = [record('a'), record('caught')];
    await sleep(500);
    await publish(`${base}/sensors`, ['{"sensor_id":"s1","value":22}']);
    await until('the message after the restart', () => a2.length === 1, 40_000);
    await sleep(1500);
    assert.deepEqual(
      a2.map((m) => m.payload),
      [{ sensor_id: 's1', value: 22 }],
      'nothing handed over again',
    );
    assert.equal(caught2.length, 0, 'no error after the restart');
    assert.equal(records().length, 1, 'dead-lettered once');
  });

  it('a message Node-RED cannot copy for a second wire is dead-lettered at once', async () => {
    // The ingest refuses JSON this deep before sending, so the copy failure is staged: Node-RED's
    // clone throws for this one message as it does for a value nested too deep for the stack.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const util = (require('@node-red/util') as { util: { cloneMessage: (msg: unknown) => unknown } }).util;
    const clone = util.cloneMessage;
    util.cloneMessage = (msg: unknown) => {
      if ((msg as { payload?: unknown })?.payload === 'uncopyable') throw new RangeError('Maximum call stack size exceeded');
      return clone(msg);
    };
    try {
      await helper.load(
        [brokerNode, ingestNode, sinkNode],
        testFlow([
          broker(),
          {
            id: 'in',
            type: 'iotp-mqtt-in',
            broker: brokerId,
            topics: `${base}/data`,
            qos: '1',
            format: 'string',
            ack: 'complete',
            wires: [['a', 'b']],
          },
          { id: 'a', type: 'test-sink' },
          { id: 'b', type: 'test-sink' },
        ]),
      );
      const ingest = helper.getNode('in') as unknown as NodeJS.EventEmitter;
      const errors: unknown[][] = [];
      ingest.on('call:error', (call: { args: unknown[] }) => errors.push(call.args));
      const [a, b] = [record('a'), record('b')];
      await sleep(500);
      await publish(`${base}/data`, ['uncopyable', 'fine']);
      await until('the next message reached both nodes', () => b.length === 1 && a.length === 2);
      await until('dead-lettered', () => records().length === 1);
      await sleep(1500);
      assert.deepEqual(
        a.map((m) => m.payload),
        ['uncopyable', 'fine'],
        'the first wire got its copy',
      );
      assert.deepEqual(
        b.map((m) => m.payload),
        ['fine'],
      );
      assert.deepEqual(
        errors.map(([text]) => text),
        ['iotp-mqtt-in.errors.deadLetter'],
        'one error, with the message; the bare RangeError is not logged besides',
      );
      assert.deepEqual((errors[0][1] as { deadLetter: { tries: number } }).deadLetter.tries, 1);
      assert.deepEqual(
        records().map((r) => [r.payload, r.tries, r.reason]),
        [['uncopyable', 1, 'iotp-mqtt-in.errors.copy']],
      );
    } finally {
      util.cloneMessage = clone;
    }
  });

  it('a message a node completes with an error is kept and acknowledged, reported by that node only', async () => {
    const nodes = [
      broker(),
      {
        id: 'in',
        type: 'iotp-mqtt-in',
        broker: brokerId,
        topics: `${base}/r`,
        qos: '1',
        format: 'string',
        ack: 'complete',
        wires: [['refusing', 'a']],
      },
      { id: 'refusing', type: 'test-refusing', wires: [['b']] },
      { id: 'a', type: 'test-sink' },
      { id: 'b', type: 'test-sink' },
    ];
    await helper.load([brokerNode, ingestNode, sinkNode, refusingNode], testFlow(nodes));
    const ingestErrors: unknown[] = [];
    (helper.getNode('in') as unknown as NodeJS.EventEmitter).on('call:error', (call: unknown) => ingestErrors.push(call));
    const [a, b] = [record('a'), record('b')];
    await sleep(500);
    await publish(`${base}/r`, ['refuse me', 'fine']);
    await until('the next message', () => b.length === 1);
    await until('dead-lettered', () => records().length === 1);
    const [kept] = records();
    assert.deepEqual([kept.payload, kept.code, kept.tries], ['refuse me', 'TEST_REFUSED', 1]);
    assert.match(kept.reason, /^test-refusing refusing: this reading is refused$/);
    assert.equal(ingestErrors.length, 0, 'the refusing node reported it; the ingest adds no second error');

    await helper.unload();
    await helper.load([brokerNode, ingestNode, sinkNode, refusingNode], testFlow(nodes));
    const a2 = record('a');
    await sleep(2000);
    assert.equal(a2.length, 0, 'acknowledged: nothing handed over again after a restart');
    assert.deepEqual(
      a.map((m) => m.payload),
      ['refuse me', 'fine'],
    );
  });

  it('a message a downstream node can never pass on is handed over a bounded number of times, then dead-lettered', async () => {
    // The relay's copy for its second wire cannot be cloned (nested 100,000 deep), so one route
    // of every hand-over is dropped: 'undelivered' each time, as when a deploy restarts a node.
    await helper.load(
      [brokerNode, ingestNode, sinkNode, deepRelayNode],
      testFlow([
        broker(),
        {
          id: 'in',
          type: 'iotp-mqtt-in',
          broker: brokerId,
          topics: `${base}/u`,
          qos: '1',
          format: 'string',
          ack: 'complete',
          wires: [['relay']],
        },
        { id: 'relay', type: 'test-deep-relay', wires: [['a', 'b']] },
        { id: 'a', type: 'test-sink' },
        { id: 'b', type: 'test-sink' },
      ]),
    );
    const b = record('b');
    await sleep(500);
    await publish(`${base}/u`, ['poison', 'fine']);
    await until('the next message passed the relay', () => b.some((m) => m.payload === 'fine'));
    await until('dead-lettered after the retries', () => records().length === 1, 90_000);
    const [kept] = records();
    assert.deepEqual([kept.payload, kept.tries, kept.reason], ['poison', 31, 'iotp-mqtt-in.errors.undelivered']);
    await sleep(2500);
    assert.equal(relayed, 31 + 1, 'handed over 31 times, and no more once dead-lettered');
  });
});
