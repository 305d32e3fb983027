/**
 * iotp-mqtt-out: publishes on the shared broker session; `done()` fires when the broker has
 * acknowledged a QoS 1/2 publish, so completion (and an at-least-once ingest upstream) waits
 * for it. Publishes wait in the session's bounded queue while disconnected.
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { assertTopicName, type QoS, type SessionLease } from '../../lib/mqtt';
import type { BrokerConfigNode } from '../iotp-mqtt-broker/iotp-mqtt-broker';
import { compactCount, ThrottledStatus } from '../shared/status';

interface PublishNodeDef extends NodeDef {
  broker: string;
  topic: string;
  qos: string | number;
  retain: 'true' | 'false' | 'msg';
}

/** Buffers and strings go as they are, objects as JSON, everything else as its text. */
export function encodePayload(payload: unknown): Buffer | string {
  if (Buffer.isBuffer(payload) || typeof payload === 'string') return payload;
  if (payload === undefined || payload === null) return '';
  if (typeof payload === 'object') return JSON.stringify(payload);
  return String(payload);
}

export default function register(RED: NodeAPI): void {
  function PublishNode(this: Node, def: PublishNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = RED.nodes.getNode(def.broker) as BrokerConfigNode | null;
    const status = new ThrottledStatus(node);
    const qos = Math.min(2, Math.max(0, Number(def.qos) || 0)) as QoS;
    let lease: SessionLease | undefined;
    let ticker: NodeJS.Timeout | undefined;
    let pending = 0;

    if (!config) {
      node.error(RED._('iotp-mqtt-out.errors.noBroker'));
    } else {
      try {
        lease = config.lease();
        const session = lease.session;
        ticker = setInterval(() => {
          const counts = session.counts();
          status.set(
            counts.connected
              ? pending > 0
                ? { fill: 'yellow', shape: 'dot', text: RED._('iotp-mqtt-out.status.pending', { pending: compactCount(pending) }) }
                : { fill: 'green', shape: 'dot', text: RED._('iotp-mqtt-out.status.connected') }
              : { fill: 'red', shape: 'ring', text: RED._('iotp-mqtt-out.status.disconnected', { pending: compactCount(pending) }) },
          );
        }, 1000);
        ticker.unref?.();
      } catch (err) {
        node.error((err as Error).message);
        status.set({ fill: 'red', shape: 'ring', text: (err as Error).message.slice(0, 40) });
      }
    }

    node.on('input', (msg: NodeMessageInFlow & { retain?: unknown }, _send, done) => {
      if (!lease) return done(new Error(RED._('iotp-mqtt-out.errors.noBroker')));
      const topic = def.topic || (typeof msg.topic === 'string' ? msg.topic : '');
      if (!topic) return done(new Error(RED._('iotp-mqtt-out.errors.noTopic')));
      try {
        assertTopicName(topic);
      } catch (err) {
        return done(new Error(RED._('iotp-mqtt-out.errors.badTopic', { topic, message: (err as Error).message })));
      }
      let payload: Buffer | string;
      try {
        payload = encodePayload(msg.payload);
      } catch (err) {
        return done(new Error(RED._('iotp-mqtt-out.errors.payload', { message: (err as Error).message })));
      }
      const retain = def.retain === 'msg' ? msg.retain === true : def.retain === 'true';
      pending += 1;
      lease.session.publish(topic, payload, { qos, retain }).then(
        () => {
          pending -= 1;
          done();
        },
        (err: Error) => {
          pending -= 1;
          done(err);
        },
      );
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      if (ticker) clearInterval(ticker);
      status.stop();
      // The session waits a few seconds for unacknowledged publishes before it closes.
      (lease ? lease.release() : Promise.resolve()).then(
        () => done(),
        () => done(),
      );
    });
  }

  RED.nodes.registerType('iotp-mqtt-out', PublishNode as unknown as Parameters<NodeAPI['nodes']['registerType']>[1]);
}
