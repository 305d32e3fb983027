/**
 * The adapter over the dependencies' private members (lib/private-apis.ts): the installed MQTT.js
 * and Node-RED pass its checks (this is what an upgrade runs into first), and an object lacking a
 * member, or keeping it elsewhere, is refused with a DependencyApiError that names the dependency,
 * the member and where to look, before anything relies on it.
 */
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { IotpError } from '../../lib/errors';
import {
  checkMqttClient,
  checkNodeInputHandlers,
  connackReceived,
  DependencyApiError,
  hasInputHandler,
  interceptIncomingAcks,
  type SendPacket,
  tolerateReceiveMaximumOverrun,
} from '../../lib/private-apis';

/** A client of the installed MQTT.js that never connects. */
function realClient(): mqtt.MqttClient {
  return mqtt.connect({ host: '127.0.0.1', port: 1, manualConnect: true, reconnectPeriod: 0 });
}

/** A real Node-RED node object (the runtime's Node class, as RED.nodes.createNode sets it up). */
function realNode(): object {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const NodeClass = require('@node-red/runtime/lib/nodes/Node') as new (def: Record<string, unknown>) => object;
  return new NodeClass({ id: 'probe', type: 'probe', wires: [] });
}

function refusal(member: string, dependency: string): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof DependencyApiError, String(err));
    assert.ok(err instanceof IotpError);
    assert.equal(err.code, 'DEPENDENCY_API_MISSING');
    assert.equal(err.member, member);
    assert.equal(err.dependency, dependency);
    assert.match(err.message, new RegExp(`^${dependency} `), 'names the dependency first');
    assert.ok(err.message.includes(member), `names ${member}: ${err.message}`);
    return true;
  };
}

describe('private APIs of dependencies (lib/private-apis.ts)', () => {
  describe('MQTT.js', () => {
    it('the installed MQTT.js has every member acknowledge-on-settle relies on', () => {
      const client = realClient();
      assert.doesNotThrow(() => checkMqttClient(client));
      assert.equal(connackReceived(client), false, 'not connected: no CONNACK');
    });

    for (const member of ['_sendPacket', 'handleMessage', 'connackReceived', '_trackIncomingQoS2Publish', '_receiveMaximum']) {
      it(`refuses a client without ${member}, naming it and the version`, () => {
        const client = realClient() as unknown as Record<string, unknown>;
        // An own property shadows the prototype's method, as a renamed or removed member would leave it.
        client[member] = undefined;
        assert.throws(() => checkMqttClient(client), refusal(member, 'MQTT.js'));
        assert.throws(() => checkMqttClient(client, '9.0.0'), /MQTT\.js 9\.0\.0 lacks/);
      });
    }

    it('refuses a client whose connackReceived is no longer a flag', () => {
      const client = realClient() as unknown as Record<string, unknown>;
      client.connackReceived = () => true;
      assert.throws(
        () => checkMqttClient(client),
        (err: unknown) => refusal('connackReceived', 'MQTT.js')(err) && /found a function/.test((err as Error).message),
      );
    });

    it('interceptIncomingAcks refuses before replacing anything', () => {
      const client = {
        handleMessage: () => undefined,
        connackReceived: false,
        options: {},
        _trackIncomingQoS2Publish: () => true,
        _receiveMaximum: 100,
      };
      assert.throws(() => interceptIncomingAcks(client), refusal('_sendPacket', 'MQTT.js'));
      assert.equal('_sendPacket' in client, false);
    });

    it('interceptIncomingAcks drops PUBACK/PUBREC (still calling back), passes the rest, and returns the original writer', () => {
      const written: Array<Record<string, unknown>> = [];
      const client = {
        connackReceived: false,
        options: {},
        handleMessage: () => undefined,
        _trackIncomingQoS2Publish: () => true,
        _receiveMaximum: 100,
        _sendPacket: function (this: unknown, packet: Record<string, unknown>, cb?: (err?: Error) => void): void {
          assert.equal(this, client, 'the original runs bound to its client');
          written.push(packet);
          cb?.();
        } as SendPacket,
      };
      const original = interceptIncomingAcks(client);
      let callbacks = 0;
      client._sendPacket({ cmd: 'puback', messageId: 1 }, () => callbacks++);
      client._sendPacket({ cmd: 'pubrec', messageId: 2 }, () => callbacks++);
      client._sendPacket({ cmd: 'pingreq' }, () => callbacks++);
      assert.deepEqual(written, [{ cmd: 'pingreq' }]);
      assert.equal(callbacks, 3, 'MQTT.js moves on after a dropped acknowledgement');
      original({ cmd: 'puback', messageId: 1 });
      assert.deepEqual(written.at(-1), { cmd: 'puback', messageId: 1 });
    });

    it('tolerateReceiveMaximumOverrun lifts the limit for the check only: the CONNECT still advertises ours', () => {
      const limits: number[] = [];
      const client = {
        connackReceived: false,
        options: {},
        handleMessage: () => undefined,
        _sendPacket: () => undefined,
        _receiveMaximum: 100,
        _trackIncomingQoS2Publish: function (this: { _receiveMaximum: number }, messageId: number): boolean {
          limits.push(this._receiveMaximum, messageId);
          return true;
        },
      };
      tolerateReceiveMaximumOverrun(client);
      assert.equal(client._trackIncomingQoS2Publish(7), true);
      assert.deepEqual(limits, [65_535, 7]);
      assert.equal(client._receiveMaximum, 100);
    });

    it('with the installed MQTT.js, a 101st QoS 2 message in flight at Receive Maximum 100 keeps the connection', () => {
      const client = mqtt.connect({
        host: '127.0.0.1',
        port: 1,
        manualConnect: true,
        reconnectPeriod: 0,
        protocolVersion: 5,
        properties: { receiveMaximum: 100 },
      });
      const errors: Error[] = [];
      client.on('error', (err) => errors.push(err));
      tolerateReceiveMaximumOverrun(client);
      const track = (client as unknown as { _trackIncomingQoS2Publish(id: number, done: () => void): boolean })._trackIncomingQoS2Publish;
      for (let id = 1; id <= 101; id++)
        assert.equal(
          track.call(client, id, () => undefined),
          true,
          `message ${id}`,
        );
      assert.deepEqual(errors, [], 'no Receive Maximum exceeded (147)');
    });
  });

  describe('Node-RED', () => {
    it("the installed Node-RED keeps a node's input handlers where hasInputHandler reads them", () => {
      const node = realNode() as { on(event: string, fn: () => void): void; removeListener(event: string, fn: () => void): void };
      assert.doesNotThrow(() => checkNodeInputHandlers(node));
      assert.equal(hasInputHandler(node), false, 'the probe handler is removed again');
      const first = (): void => undefined;
      const second = (): void => undefined;
      node.on('input', first);
      assert.equal(hasInputHandler(node), true);
      node.on('input', second);
      assert.equal(hasInputHandler(node), true, 'several handlers');
      assert.doesNotThrow(() => checkNodeInputHandlers(node));
      node.removeListener('input', first);
      node.removeListener('input', second);
      assert.equal(hasInputHandler(node), false);
    });

    for (const member of ['_inputCallback', '_inputCallbacks']) {
      it(`refuses a node without ${member}`, () => {
        const node = realNode() as Record<string, unknown>;
        delete node[member];
        assert.throws(
          () => checkNodeInputHandlers(node, '6.0.0'),
          (err: unknown) => refusal(member, 'Node-RED')(err) && /Node-RED 6\.0\.0 lacks/.test((err as Error).message),
        );
      });
    }

    it('refuses a node that keeps its input handlers somewhere else', () => {
      // The fields still exist but on('input') no longer fills them (a renamed store).
      const handlers = new Set<unknown>();
      const node = {
        _inputCallback: null,
        _inputCallbacks: null,
        on: (_event: string, fn: unknown) => void handlers.add(fn),
        removeListener: (_event: string, fn: unknown) => void handlers.delete(fn),
      };
      assert.throws(
        () => checkNodeInputHandlers(node),
        (err: unknown) => refusal('_inputCallback', 'Node-RED')(err) && /did not show/.test((err as Error).message),
      );
    });

    it('refuses a node whose fields hold something else', () => {
      const node = realNode() as Record<string, unknown>;
      node._inputCallbacks = new Map();
      assert.throws(() => checkNodeInputHandlers(node), refusal('_inputCallbacks', 'Node-RED'));
    });
  });
});
