/**
 * iotp-mqtt-out: publishes on the shared broker session; `done()` fires when the broker has
 * acknowledged a QoS 1/2 publish, so completion (and an at-least-once ingest upstream) waits
 * for it. Publishes wait in the session's bounded queue while disconnected.
 *
 * When that queue is full (the broker unreachable for long), a message an at-least-once source
 * waits for is held here until there is room: its source's in-flight window is the back-pressure
 * and bounds what is held. Any other message is dropped and counted in the status, with one
 * warning when dropping starts and one line when the broker takes publishes again: never an
 * error per message, which would flood the log and the debug sidebar.
 */
import type { NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { assertTopicName, MqttError, protocolName, type MqttSession, type QoS, type SessionLease } from '../../lib/mqtt';
import type { BrokerConfigNode } from '../shared/config-nodes';
import { asError, defineNode } from '../shared/define-node';
import { COMPLETION_PROPERTY, giveBack } from '../shared/completion';
import { clipText, compactCount } from '../shared/status';

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

interface Outgoing {
  msg: NodeMessageInFlow;
  topic: string;
  payload: Buffer | string;
  retain: boolean;
  done: (err?: Error) => void;
}

/** Held messages beyond this are refused (an at-least-once source's window is far smaller). */
const MAX_HELD = 10_000;

export default function register(RED: NodeAPI): void {
  defineNode<PublishNodeDef>(RED, {
    type: 'iotp-mqtt-out',
    setup({ node, config: def, status, configNode, startupFailed, onInput }) {
      const config = configNode<BrokerConfigNode>(def.broker, RED._('iotp-mqtt-out.errors.noBroker'));
      const qos = Math.min(2, Math.max(0, Number(def.qos) || 0)) as QoS;
      let lease: SessionLease | undefined;
      let ticker: NodeJS.Timeout | undefined;
      let pending = 0;
      /** Messages an at-least-once source waits for, held while the session's queue is full (oldest first). */
      const held: Outgoing[] = [];
      /** Dropped since the queue filled up; undefined while it has room. */
      let dropped: number | undefined;
      let onRoom: (() => void) | undefined;

      const publishNow = (session: MqttSession, item: Outgoing): void => {
        pending += 1;
        session.publish(item.topic, item.payload, { qos, retain: item.retain }).then(
          () => {
            pending -= 1;
            item.done();
          },
          (err: Error) => {
            pending -= 1;
            // Another node on the same session filled the queue in between: treat it like a full queue.
            if (err instanceof MqttError && err.code === 'MQTT_PUBLISH_QUEUE_FULL') queueFull(session, item, true);
            else item.done(err);
          },
        );
      };

      const queueFull = (session: MqttSession, item: Outgoing, tracked: boolean): void => {
        if (dropped === undefined) {
          dropped = 0;
          node.warn(
            RED._('iotp-mqtt-out.errors.queueFull', {
              broker: config?.description ?? '',
              queued: session.pendingPublishCount,
              reason: session.problem ?? RED._('iotp-mqtt-out.status.noAck'),
            }),
          );
        }
        session.notifyPublishRoom();
        if (tracked && held.length < MAX_HELD) {
          held.push(item);
          return;
        }
        dropped += 1;
        if (tracked) item.done(new Error(RED._('iotp-mqtt-out.errors.heldFull', { max: MAX_HELD })));
        else item.done();
      };

      /** Publishes held messages while there is room; ends a full-queue episode once all are out. */
      const flushHeld = (session: MqttSession): void => {
        while (held.length > 0 && !session.publishQueueFull) publishNow(session, held.shift()!);
        if (held.length > 0) {
          session.notifyPublishRoom();
          return;
        }
        if (dropped !== undefined && !session.publishQueueFull) {
          node.log(RED._('iotp-mqtt-out.errors.queueRecovered', { broker: config?.description ?? '', dropped }));
          dropped = undefined;
        }
      };

      if (config) {
        try {
          lease = config.lease();
          const session = lease.session;
          onRoom = () => flushHeld(session);
          session.on('publish-room', onRoom);
          ticker = setInterval(() => {
            flushHeld(session);
            const counts = session.counts();
            const version = protocolName(session.protocolVersion ?? 5);
            if (dropped !== undefined) {
              status.set({
                fill: 'red',
                shape: 'ring',
                text: RED._('iotp-mqtt-out.status.full', {
                  queued: compactCount(counts.pendingPublishes),
                  held: compactCount(held.length),
                  dropped: compactCount(dropped),
                }),
              });
            } else if (!counts.connected) {
              const problem = session.problem;
              if (problem === undefined) status.set({ fill: 'yellow', shape: 'ring', text: RED._('iotp-mqtt-out.status.connecting') });
              else
                status.set({
                  fill: 'red',
                  shape: 'ring',
                  text: RED._('iotp-mqtt-out.status.disconnected', { reason: clipText(problem, 40), pending: compactCount(pending) }),
                });
            } else if (pending > 0) {
              status.set({
                fill: 'yellow',
                shape: 'dot',
                text: RED._('iotp-mqtt-out.status.pending', { version, pending: compactCount(pending) }),
              });
            } else {
              status.set({ fill: 'green', shape: 'dot', text: RED._('iotp-mqtt-out.status.connected', { version }) });
            }
          }, 1000);
          ticker.unref?.();
        } catch (err) {
          startupFailed(asError(err));
        }
      }

      onInput<NodeMessageInFlow & { retain?: unknown }>((msg, _send, done) => {
        // Only after a start-up failure, whose messages never reach this handler.
        if (!lease) return done();
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
        const item: Outgoing = { msg, topic, payload, retain, done };
        const session = lease.session;
        if (held.length > 0) flushHeld(session);
        // Held messages go first: a message that finds them waiting waits (or is dropped) too.
        if (held.length > 0 || session.publishQueueFull)
          queueFull(session, item, (msg as Record<string, unknown>)[COMPLETION_PROPERTY] !== undefined);
        else publishNow(session, item);
      });

      node.on('close', (_removed: boolean, done: () => void) => {
        if (ticker) clearInterval(ticker);
        if (onRoom) lease?.session.off('publish-room', onRoom);
        // Held messages were never published: given back, their at-least-once source hands them over
        // again (to this node's successor after a redeploy) instead of acknowledging them.
        for (const item of held.splice(0)) {
          if (!giveBack(item.msg)) item.done(new MqttError('MQTT_SESSION_CLOSED', RED._('iotp-mqtt-out.errors.closedHeld')));
        }
        // The session waits a few seconds for unacknowledged publishes before it closes.
        (lease ? lease.release() : Promise.resolve()).then(
          () => done(),
          () => done(),
        );
      });
    },
  });
}
