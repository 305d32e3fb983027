/**
 * The MQTT ingest and publish nodes against the real local mosquitto: decoding, at-least-once
 * acknowledgement driven by downstream completion, redelivery of what was not completed,
 * publish completion on PUBACK, and poison messages dead-lettered (test/node/mqtt-dead-letter.test.ts
 * has the rest).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import mqtt, { MqttClient } from 'mqtt';
import type { NodeAPI, Node } from 'node-red';
import brokerNode from '../../nodes/iotp-mqtt-broker/iotp-mqtt-broker';
import ingestNode from '../../nodes/iotp-mqtt-in/iotp-mqtt-in';
import publishNode from '../../nodes/iotp-mqtt-out/iotp-mqtt-out';
import { deadLetterPath, readDeadLetters } from '../../lib/dead-letter';
import { collect, flow as testFlow, helper, nextEvent } from '../support/helper';
import { MQTT_HOST, MQTT_PORT, requireService } from '../support/services';
import { makeTempDir, removeTempDir } from '../support/tmp';

const BROKER_URL = `mqtt://${MQTT_HOST}:${MQTT_PORT}`;

/** A sink whose done() the test calls: stands in for a writer that has not committed yet. */
const heldDones: Array<() => void> = [];
function deferredSink(RED: NodeAPI): void {
  function DeferredSink(this: Node, config: { id: string }) {
    RED.nodes.createNode(this, config as never);
    this.on('input', (_msg, _send, done) => heldDones.push(() => done()));
  }
  RED.nodes.registerType('test-deferred-sink', DeferredSink as never);
}

function connect(options: mqtt.IClientOptions = {}): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(BROKER_URL, { protocolVersion: 5, ...options });
    client.once('connect', () => resolve(client));
    client.once('error', reject);
  });
}

async function publish(topic: string, payload: string, qos: 0 | 1 | 2 = 1): Promise<void> {
  const client = await connect({ clientId: `iotp-test-pub-${randomBytes(4).toString('hex')}` });
  await client.publishAsync(topic, payload, { qos });
  await client.endAsync();
}

describe('iotp-mqtt-in / iotp-mqtt-out nodes (real mosquitto)', function () {
  this.timeout(30000);
  let base: string;
  let brokerId: string;

  before(async function () {
    await requireService(this, 'mqtt');
  });

  beforeEach(() => {
    base = `iotp-test/${randomBytes(5).toString('hex')}`;
    // A fresh config node id per test: a fresh client id, so no persistent session leaks between tests.
    brokerId = `b${randomBytes(5).toString('hex')}`;
    heldDones.length = 0;
  });

  afterEach(() => helper.unload());

  const broker = () => ({ id: brokerId, type: 'iotp-mqtt-broker', url: BROKER_URL, protocolVersion: '5', receiveMaximum: 20, version: 1 });

  it('outputs topic, decoded payload, qos and retain', async () => {
    await helper.load(
      [brokerNode, ingestNode],
      testFlow([
        broker(),
        {
          id: 'in',
          type: 'iotp-mqtt-in',
          broker: brokerId,
          topics: `${base}/#`,
          qos: '1',
          format: 'auto',
          ack: 'complete',
          wires: [['out']],
        },
        { id: 'out', type: 'helper' },
      ]),
    );
    const out = helper.getNode('out');
    await new Promise((r) => setTimeout(r, 500));
    const received = collect<Record<string, unknown>>(out, 2);
    await publish(`${base}/a`, '{"number": 42, "epochtime": "1669940235"}');
    await publish(`${base}/b`, 'on');
    const messages = (await received).sort((a, b) => String(a.topic).localeCompare(String(b.topic)));
    assert.deepEqual(messages[0].payload, { number: 42, epochtime: '1669940235' });
    assert.equal(messages[0].qos, 1);
    assert.equal(messages[0].retain, false);
    assert.equal(messages[1].payload, 'on');
  });

  it('acknowledges only completed messages: an uncompleted one is redelivered with dup after a restart', async () => {
    const flow = (sinkType: string) =>
      testFlow([
        broker(),
        {
          id: 'in',
          type: 'iotp-mqtt-in',
          broker: brokerId,
          topics: `${base}/x`,
          qos: '1',
          format: 'string',
          ack: 'complete',
          wires: [['sink']],
        },
        { id: 'sink', type: sinkType, wires: [] },
      ]);
    await helper.load([brokerNode, ingestNode, deferredSink], flow('test-deferred-sink'));
    await new Promise((r) => setTimeout(r, 500));
    await publish(`${base}/x`, 'first');
    for (let i = 0; i < 50 && heldDones.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(heldDones.length, 1, 'the sink received the message');
    // The sink never completes it; the runtime stops (as in a crash before the commit).
    await helper.unload();

    // Same broker config id → same client id and persistent session: the broker redelivers.
    await helper.load(
      [brokerNode, ingestNode],
      testFlow([
        broker(),
        {
          id: 'in',
          type: 'iotp-mqtt-in',
          broker: brokerId,
          topics: `${base}/x`,
          qos: '1',
          format: 'string',
          ack: 'complete',
          wires: [['out']],
        },
        { id: 'out', type: 'helper' },
      ]),
    );
    const [redelivered] = await collect<Record<string, unknown>>(helper.getNode('out'), 1, 15000);
    assert.equal(redelivered.payload, 'first');
    assert.equal(redelivered.dup, true);
  });

  it('does not redeliver a message whose downstream completed', async () => {
    const flow = testFlow([
      broker(),
      {
        id: 'in',
        type: 'iotp-mqtt-in',
        broker: brokerId,
        topics: `${base}/y`,
        qos: '1',
        format: 'string',
        ack: 'complete',
        wires: [['sink']],
      },
      { id: 'sink', type: 'test-deferred-sink', wires: [] },
    ]);
    await helper.load([brokerNode, ingestNode, deferredSink], flow);
    await new Promise((r) => setTimeout(r, 500));
    await publish(`${base}/y`, 'stored');
    for (let i = 0; i < 50 && heldDones.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    heldDones.splice(0).forEach((done) => done()); // the "commit"
    await new Promise((r) => setTimeout(r, 300));
    await helper.unload();

    await helper.load([brokerNode, ingestNode, deferredSink], flow);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(heldDones.length, 0, 'nothing redelivered');
  });

  it('dead-letters an undecodable payload: error path, dead-letter file, acknowledged', async () => {
    const dir = makeTempDir('iotp-mqtt-test-');
    helper.settings({ iotpDeadLetterDir: dir } as never);
    try {
      await helper.load(
        [brokerNode, ingestNode],
        testFlow([
          broker(),
          {
            id: 'in',
            type: 'iotp-mqtt-in',
            broker: brokerId,
            topics: `${base}/z`,
            qos: '1',
            format: 'json',
            ack: 'complete',
            wires: [['out']],
          },
          { id: 'out', type: 'helper' },
        ]),
      );
      const ingest = helper.getNode('in');
      await new Promise((r) => setTimeout(r, 500));
      const error = nextEvent<{ args: [string, { payload: Buffer; deadLetter: { code: string; tries: number } }] }>(ingest, 'call:error');
      await publish(`${base}/z`, '{not json');
      const [text, msg] = (await error).args;
      assert.equal(text, 'iotp-mqtt-in.errors.deadLetter');
      assert.equal(msg.payload.toString(), '{not json');
      assert.deepEqual([msg.deadLetter.code, msg.deadLetter.tries], ['MQTT_PAYLOAD_NOT_JSON', 1]);
      const { records } = readDeadLetters(deadLetterPath(dir, 'in'));
      assert.deepEqual(
        records.map((r) => [r.topic, r.payload, r.code]),
        [[`${base}/z`, '{not json', 'MQTT_PAYLOAD_NOT_JSON']],
      );
    } finally {
      helper.settings({});
      removeTempDir(dir);
    }
  });

  it('publishes and completes the message when the broker acknowledged it', async () => {
    const subscriber = await connect({ clientId: `iotp-test-sub-${randomBytes(4).toString('hex')}` });
    await subscriber.subscribeAsync(`${base}/stats`, { qos: 1 });
    const arrived = new Promise<string>((resolve) => subscriber.on('message', (_t, payload) => resolve(payload.toString())));
    await helper.load(
      [brokerNode, publishNode],
      testFlow([
        { ...broker() },
        { id: 'pub', type: 'iotp-mqtt-out', broker: brokerId, topic: `${base}/stats`, qos: '1', retain: 'false' },
      ]),
    );
    // The runtime's onComplete hook fires when the node calls done(): after the broker's PUBACK.
    const { hooks } = (await import('@node-red/util')) as unknown as {
      hooks: { add(id: string, fn: (e: { node: { id: string }; error?: unknown }) => void): void; remove(id: string): void };
    };
    const completed = new Promise<unknown>((resolve) =>
      hooks.add('onComplete.mqtt-test', (event) => event.node.id === 'pub' && resolve(event.error)),
    );
    try {
      helper.getNode('pub').receive({ payload: { avg_1min: 46, avg_5min: 45.7, avg_30min: 47.1778 } });
      assert.deepEqual(JSON.parse(await arrived), { avg_1min: 46, avg_5min: 45.7, avg_30min: 47.1778 });
      assert.equal(await completed, undefined, 'completed without error');
    } finally {
      hooks.remove('onComplete.mqtt-test');
    }
    await subscriber.endAsync();
  });
});
