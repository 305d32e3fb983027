/**
 * A message Node-RED drops on its way because the next node is not in the flow (a deploy is
 * restarting it) must not be acknowledged as if it had been stored: the ingest node hands it over
 * again. Found by the soak suite (test/soak): a "modified nodes" deploy restarting the writers
 * lost the messages the parsers forwarded to them meanwhile, and a full deploy lost what arrived
 * while the flows stopped.
 *
 * Here a relay forwards its first copy of a message to a node id that is not in the flow
 * (exactly what Node-RED does during a deploy: routing finds no node, the copy vanishes, the
 * relay calls done()), and later copies to a real sink.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import type { Node, NodeAPI } from 'node-red';
import brokerNode from '../../nodes/iotp-mqtt-broker/iotp-mqtt-broker';
import ingestNode from '../../nodes/iotp-mqtt-in/iotp-mqtt-in';
import { giveBack } from '../../nodes/shared/completion';
import { collect, flow as testFlow, helper } from '../support/helper';
import { MQTT_HOST, MQTT_PORT, requireService } from '../support/services';

const BROKER_URL = `mqtt://${MQTT_HOST}:${MQTT_PORT}`;
const relayed: string[] = [];

/** Output 1 (wired to a node that is not in the flow) for a payload's first copy, output 2 afterwards. */
function relayNode(RED: NodeAPI): void {
  function Relay(this: Node, config: { id: string }) {
    RED.nodes.createNode(this, config as never);
    this.on('input', (msg, send, done) => {
      const payload = String(msg.payload);
      const first = !relayed.includes(payload);
      relayed.push(payload);
      send(first ? [msg, null] : [null, msg]);
      done();
    });
  }
  RED.nodes.registerType('test-relay', Relay as never);
}

/**
 * Routes the first copy of a payload to `sink` and then, before Node-RED delivers it (delivery
 * runs on a later tick), removes the sink's input handlers, as closing it in a deploy does;
 * later copies go to output 2.
 */
function closingRelayNode(RED: NodeAPI): void {
  function ClosingRelay(this: Node, config: { id: string }) {
    RED.nodes.createNode(this, config as never);
    this.on('input', (msg, send, done) => {
      const payload = String(msg.payload);
      const first = !relayed.includes(payload);
      relayed.push(payload);
      if (first) {
        send([msg, null]);
        (RED.nodes.getNode('closing-sink') as unknown as Node).removeAllListeners('input');
      } else {
        send([null, msg]);
      }
      done();
    });
  }
  RED.nodes.registerType('test-closing-relay', ClosingRelay as never);
}

/**
 * A consumer that is going away when the first copy of a payload reaches it (as iotp-db-write is
 * when its writer refuses rows with WRITER_CLOSED during a deploy): it gives that copy back
 * instead of failing it; later copies go to its output.
 */
function givingBackNode(RED: NodeAPI): void {
  function GivingBack(this: Node, config: { id: string }) {
    RED.nodes.createNode(this, config as never);
    this.on('input', (msg, send, done) => {
      const payload = String(msg.payload);
      const first = !relayed.includes(payload);
      relayed.push(payload);
      if (first && giveBack(msg)) return;
      send(msg);
      done();
    });
  }
  RED.nodes.registerType('test-giving-back', GivingBack as never);
}

describe('iotp-mqtt-in: a message dropped on its way (deploy restarting a node) is handed over again, not acknowledged', function () {
  this.timeout(60000);
  const base = `iotp-test/${randomBytes(5).toString('hex')}`;
  const brokerId = `b${randomBytes(5).toString('hex')}`;

  before(async function () {
    await requireService(this, 'mqtt');
  });

  after(() => helper.unload());

  it('reaches the sink on the second hand-over', async () => {
    await helper.load(
      [brokerNode, ingestNode, relayNode],
      testFlow([
        { id: brokerId, type: 'iotp-mqtt-broker', url: BROKER_URL, protocolVersion: '5', receiveMaximum: 20, version: 1 },
        {
          id: 'in',
          type: 'iotp-mqtt-in',
          broker: brokerId,
          topics: `${base}/x`,
          qos: '1',
          format: 'string',
          ack: 'complete',
          wires: [['relay']],
        },
        { id: 'relay', type: 'test-relay', wires: [['not-in-the-flow'], ['sink']] },
        { id: 'sink', type: 'helper' },
      ]),
    );
    await new Promise((r) => setTimeout(r, 500));
    const received = collect<Record<string, unknown>>(helper.getNode('sink'), 1, 15000);
    const client = await mqtt.connectAsync(BROKER_URL, { clientId: `iotp-test-pub-${randomBytes(4).toString('hex')}` });
    await client.publishAsync(`${base}/x`, 'reading 1', { qos: 1 });
    await client.endAsync();
    const [message] = await received;
    assert.equal(message.payload, 'reading 1');
    assert.deepEqual(relayed, ['reading 1', 'reading 1'], 'the dropped copy was handed over once more');
  });

  it('reaches the sink on the second hand-over when the first target closed after routing', async () => {
    await helper.unload();
    relayed.length = 0;
    await helper.load(
      [brokerNode, ingestNode, closingRelayNode],
      testFlow([
        { id: brokerId, type: 'iotp-mqtt-broker', url: BROKER_URL, protocolVersion: '5', receiveMaximum: 20, version: 1 },
        {
          id: 'in',
          type: 'iotp-mqtt-in',
          broker: brokerId,
          topics: `${base}/y`,
          qos: '1',
          format: 'string',
          ack: 'complete',
          wires: [['relay']],
        },
        { id: 'relay', type: 'test-closing-relay', wires: [['closing-sink'], ['sink']] },
        { id: 'closing-sink', type: 'helper' },
        { id: 'sink', type: 'helper' },
      ]),
    );
    await new Promise((r) => setTimeout(r, 500));
    const received = collect<Record<string, unknown>>(helper.getNode('sink'), 1, 15000);
    const client = await mqtt.connectAsync(BROKER_URL, { clientId: `iotp-test-pub-${randomBytes(4).toString('hex')}` });
    await client.publishAsync(`${base}/y`, 'reading 2', { qos: 1 });
    await client.endAsync();
    const [message] = await received;
    assert.equal(message.payload, 'reading 2');
    assert.deepEqual(relayed, ['reading 2', 'reading 2'], 'the copy that reached a closed node was handed over once more');
  });

  it('hands over again a message a closing consumer gave back, instead of acknowledging it', async () => {
    await helper.unload();
    relayed.length = 0;
    await helper.load(
      [brokerNode, ingestNode, givingBackNode],
      testFlow([
        { id: brokerId, type: 'iotp-mqtt-broker', url: BROKER_URL, protocolVersion: '5', receiveMaximum: 20, version: 1 },
        {
          id: 'in',
          type: 'iotp-mqtt-in',
          broker: brokerId,
          topics: `${base}/z`,
          qos: '1',
          format: 'string',
          ack: 'complete',
          wires: [['consumer']],
        },
        { id: 'consumer', type: 'test-giving-back', wires: [['sink']] },
        { id: 'sink', type: 'helper' },
      ]),
    );
    await new Promise((r) => setTimeout(r, 500));
    const received = collect<Record<string, unknown>>(helper.getNode('sink'), 1, 15000);
    const client = await mqtt.connectAsync(BROKER_URL, { clientId: `iotp-test-pub-${randomBytes(4).toString('hex')}` });
    await client.publishAsync(`${base}/z`, 'reading 3', { qos: 1 });
    await client.endAsync();
    const [message] = await received;
    assert.equal(message.payload, 'reading 3');
    assert.deepEqual(relayed, ['reading 3', 'reading 3'], 'the given-back copy was handed over once more');
  });
});
