/**
 * The broker config node on a broker that speaks only MQTT 3.1.1 (aedes, in-process, as `npm
 * start` embeds it): a config saved with the old default (MQTT 5, configuration version 1)
 * connects with `auto`, says so in ONE warning and in its nodes' statuses, and carries messages;
 * a publisher whose broker takes no more publishes drops what nobody waits for (counted, one
 * warning) and holds what an at-least-once ingest waits for, instead of an error per message.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import brokerNode from '../../nodes/iotp-mqtt-broker/iotp-mqtt-broker';
import ingestNode from '../../nodes/iotp-mqtt-in/iotp-mqtt-in';
import publishNode from '../../nodes/iotp-mqtt-out/iotp-mqtt-out';
import type { BrokerConfigNode } from '../../nodes/shared/config-nodes';
import type { MqttSession } from '../../lib/mqtt';
import { collect, flow as testFlow, helper } from '../support/helper';
import { freePort } from '../support/node-red';
import { MQTT_HOST, MQTT_PORT, requireService } from '../support/services';

interface LogEntry {
  level: number;
  msg?: unknown;
  id?: string;
  type?: string;
}
const LEVEL = { error: 20, warn: 30, info: 40 };

function logged(level: number, pattern: RegExp): LogEntry[] {
  return (helper.log().args as unknown[][])
    .map(([entry]) => entry as LogEntry)
    .filter((e) => String(e.type).startsWith('iotp-') && e.level === level && pattern.test(String(e.msg)));
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function startAedes(port: number): Promise<{ close: () => Promise<void> }> {
  const broker = await Aedes.createBroker();
  const server: Server = createServer(broker.handle);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Open client connections would keep the server from closing.
        broker.close();
      });
    },
  };
}

/**
 * The node's last status text (the helper records status() calls). The helper has no message
 * catalogs: texts are their keys, so values are checked on the session itself.
 */
function lastStatus(id: string): string {
  // One spy on Node.prototype.status records every node's calls.
  const spy = (helper.getNode(id) as unknown as { status: { args: unknown[][]; thisValues: Array<{ id: string }> } }).status;
  for (let i = spy.args.length - 1; i >= 0; i--) {
    if (spy.thisValues[i]?.id === id) return String((spy.args[i]![0] as { text?: unknown } | undefined)?.text ?? '');
  }
  return '';
}

/** The shared session of a broker config node (a lease, given back at once). */
async function sessionOf(id: string): Promise<MqttSession> {
  const lease = (helper.getNode(id) as unknown as BrokerConfigNode).lease();
  await lease.release();
  return lease.session;
}

describe('mqtt broker node on an MQTT 3.1.1-only broker (aedes)', function () {
  this.timeout(60_000);
  let port: number;
  let aedes: { close: () => Promise<void> } | undefined;

  beforeEach(async () => {
    port = await freePort();
  });
  afterEach(async () => {
    await helper.unload();
    await aedes?.close();
    aedes = undefined;
  });

  it('a version 1 config with the old MQTT 5 default connects with 3.1.1, warns once and carries messages', async () => {
    aedes = await startAedes(port);
    const topic = `iotp-test/${randomBytes(5).toString('hex')}`;
    await helper.load(
      [brokerNode, ingestNode, publishNode],
      testFlow([
        { id: 'b', type: 'iotp-mqtt-broker', url: `mqtt://127.0.0.1:${port}`, protocolVersion: '5', version: 1 },
        { id: 'in', type: 'iotp-mqtt-in', broker: 'b', topics: topic, qos: '1', format: 'string', ack: 'complete', wires: [['sink']] },
        { id: 'sink', type: 'helper' },
        { id: 'out', type: 'iotp-mqtt-out', broker: 'b', topic, qos: '1', retain: 'false', wires: [] },
      ]),
    );
    await waitFor(() => lastStatus('in') === 'iotp-mqtt-in.status.connected', 'the ingest to connect');
    assert.equal((await sessionOf('b')).protocolVersion, 4, 'the status shows the negotiated version: MQTT 3.1.1');
    const received = collect<{ payload: unknown }>(helper.getNode('sink'), 1);
    helper.getNode('out').receive({ payload: 'over 3.1.1' } as never);
    assert.equal((await received)[0]!.payload, 'over 3.1.1');
    await waitFor(() => lastStatus('out') === 'iotp-mqtt-out.status.connected', 'the publisher to connect');
    assert.equal(logged(LEVEL.warn, /fellBack/).length, 1, JSON.stringify(helper.log().args));
    assert.equal(logged(LEVEL.warn, /./).length, 1, 'nothing else to warn about');
    assert.equal(logged(LEVEL.info, /errors\.connected/).length, 0, 'the warning already said it connected');
    assert.deepEqual(logged(LEVEL.error, /./), []);
  });

  it('a config saved as MQTT 5 by this release stays MQTT 5: refused, reported once as an error, not retried into a flood', async () => {
    aedes = await startAedes(port);
    await helper.load(
      [brokerNode, ingestNode],
      testFlow([
        { id: 'b', type: 'iotp-mqtt-broker', url: `mqtt://127.0.0.1:${port}`, protocolVersion: '5', version: 2 },
        { id: 'in', type: 'iotp-mqtt-in', broker: 'b', topics: 'x', qos: '1', format: 'string', ack: 'complete', wires: [[]] },
      ]),
    );
    await waitFor(() => lastStatus('in') === 'iotp-mqtt-in.status.disconnected', 'the ingest status');
    assert.match((await sessionOf('b')).problem ?? '', /unacceptable protocol version/, 'the cause the status shows');
    await sleep(3000); // several retries
    assert.equal(logged(LEVEL.error, /refused/).length, 1);
    assert.equal(logged(LEVEL.warn, /./).length, 0, 'the error says it all');
  });

  it('an unreachable broker is reported once with its cause, and the statuses show it', async () => {
    await helper.load(
      [brokerNode, ingestNode],
      testFlow([
        { id: 'b', type: 'iotp-mqtt-broker', url: `mqtt://127.0.0.1:${port}`, version: 2 },
        { id: 'in', type: 'iotp-mqtt-in', broker: 'b', topics: 'x', qos: '1', format: 'string', ack: 'complete', wires: [[]] },
      ]),
    );
    await waitFor(() => lastStatus('in') === 'iotp-mqtt-in.status.disconnected', 'the ingest status');
    assert.match((await sessionOf('b')).problem ?? '', /ECONNREFUSED: nothing accepts connections/, 'the cause the status shows');
    await sleep(2500);
    assert.equal(logged(LEVEL.warn, /cannotConnect/).length, 1, JSON.stringify(helper.log().args));
    assert.equal(logged(LEVEL.warn, /connectionLost/).length, 0, 'never connected: nothing was lost');
  });

  describe('a publisher whose broker takes no more publishes', () => {
    before(async function () {
      await requireService(this, 'mqtt');
    });

    it('drops untracked messages with one warning, holds the one an ingest waits for, and sends it when the broker is back', async () => {
      const topic = `iotp-test/${randomBytes(5).toString('hex')}`;
      const ingestBroker = `b${randomBytes(5).toString('hex')}`;
      await helper.load(
        [brokerNode, ingestNode, publishNode],
        testFlow([
          // The source: mosquitto, through an at-least-once ingest.
          { id: ingestBroker, type: 'iotp-mqtt-broker', url: `mqtt://${MQTT_HOST}:${MQTT_PORT}`, version: 2 },
          {
            id: 'in',
            type: 'iotp-mqtt-in',
            broker: ingestBroker,
            topics: topic,
            qos: '1',
            format: 'string',
            ack: 'complete',
            wires: [['out']],
          },
          // The target: nothing listens there yet.
          { id: 'target', type: 'iotp-mqtt-broker', url: `mqtt://127.0.0.1:${port}`, version: 2 },
          { id: 'out', type: 'iotp-mqtt-out', broker: 'target', topic: `${topic}/copy`, qos: '1', retain: 'false', wires: [] },
        ]),
      );
      const out = helper.getNode('out');
      // 1,000 fill the session's queue; 100 more find it full.
      for (let i = 0; i < 1100; i++) out.receive({ payload: `filler ${i}` } as never);
      await waitFor(() => lastStatus('out') === 'iotp-mqtt-out.status.full', 'the full-queue status');
      const source = await mqtt.connectAsync({ host: MQTT_HOST, port: MQTT_PORT, clientId: `iotpt${randomBytes(6).toString('hex')}` });
      try {
        await waitFor(() => lastStatus('in') === 'iotp-mqtt-in.status.connected', 'the ingest');
        await source.publishAsync(topic, 'must not be lost', { qos: 1 });
        const ingestSession = await sessionOf(ingestBroker);
        await waitFor(() => ingestSession.counts().inFlight === 1, 'the tracked message held, unacknowledged');
        await sleep(500);
        assert.equal(ingestSession.counts().inFlight, 1, 'still held');
        assert.equal(logged(LEVEL.warn, /queueFull/).length, 1, 'one warning');
        assert.deepEqual(logged(LEVEL.error, /./), [], 'no error per message');

        // The broker comes: everything queued and held goes out, the ingest's message last.
        aedes = await startAedes(port);
        const copies: string[] = [];
        const listener = await mqtt.connectAsync({
          host: '127.0.0.1',
          port,
          protocolVersion: 4,
          clientId: `iotpl${randomBytes(6).toString('hex')}`,
        });
        listener.on('message', (_t, payload) => copies.push(payload.toString()));
        await listener.subscribeAsync(`${topic}/copy`, { qos: 1 });
        await waitFor(() => copies.includes('must not be lost'), 'the held message at the broker', 40_000);
        await listener.endAsync(true);
        await waitFor(() => logged(LEVEL.info, /queueRecovered/).length === 1, 'the recovery line');
        await waitFor(
          () => ingestSession.counts().inFlight === 0 && ingestSession.counts().acked === 1,
          'the ingest to acknowledge its message',
        );
        assert.equal(copies.filter((c) => c.startsWith('filler')).length, 1000, 'the queued 1,000 were published, the 100 beyond dropped');
      } finally {
        await source.endAsync(true);
      }
    });
  });
});
