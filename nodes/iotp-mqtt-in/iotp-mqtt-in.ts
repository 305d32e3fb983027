/**
 * iotp-mqtt-in: the at-least-once MQTT source. A QoS 1/2 message is acknowledged to the broker
 * only when every node it reached has completed it (nodes/shared/completion.ts), e.g. the writer
 * after its commit; the broker's in-flight window then bounds what Node-RED holds in memory.
 */
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { decodePayload, MqttError, parseFilter, protocolName, type PayloadFormat, type QoS, type ReceivedMessage, type SessionLease, type Subscription } from '../../lib/mqtt';
import type { BrokerConfigNode } from '../iotp-mqtt-broker/iotp-mqtt-broker';
import { checkCompletionSupport, installCompletionHooks, sendTracked, type CompletionOutcome } from '../shared/completion';
import { clipText, compactCount, ThrottledStatus } from '../shared/status';
import { arrivals, ConnectionWatch } from '../../lib/arrivals';
import { tablesReachedFrom } from '../shared/arrival-feeds';

interface IngestNodeDef extends NodeDef {
  broker: string;
  topics: string;
  qos: string | number;
  format: PayloadFormat;
  ack: 'complete' | 'receive';
  /** MQTT 5 shared-subscription group (usually `${MQTT_SHARE_GROUP}`); empty = a plain subscription. */
  shareGroup?: string;
}

/**
 * One filter per line (commas are legal in topics, so lines only). `${VAR}` inside a line is
 * replaced by `env(VAR)`: Node-RED itself substitutes only whole-value `${VAR}` properties, and
 * flows subscribe to `${STATESTREAM_BASE_TOPIC}/#`.
 */
export function topicFilters(text: string, env: (name: string) => string | undefined = () => undefined): string[] {
  return String(text ?? '')
    .split('\n')
    .map((line) => line.trim().replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, name: string) => env(name) ?? whole))
    .filter(Boolean);
}

/**
 * The filters to subscribe to. With a share group, each becomes `$share/<group>/<filter>`, so
 * several Node-RED instances running the same flow split the stream instead of each getting all
 * of it. A group left as an unresolved `${VAR}` (Node-RED keeps the text when the variable is
 * unset) counts as no group; filters that already name a `$share/` group keep it.
 */
export function ingestFilters(topics: string, shareGroup: string | undefined, env: (name: string) => string | undefined = () => undefined): string[] {
  const filters = topicFilters(topics, env);
  const group = String(shareGroup ?? '').trim();
  if (group === '' || /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(group)) return filters;
  if (/[/+#\s]/.test(group) || group.includes('\u0000')) {
    throw new MqttError('MQTT_BAD_TOPIC', `share group ${JSON.stringify(group)} must be a name without /, +, # or spaces`);
  }
  return filters.map((filter) => (filter.startsWith('$share/') ? filter : `$share/${group}/${filter}`));
}

const STALE_AFTER_MS = 300_000;
/** A message a deploy dropped on its way is handed over again up to this often, at the first status tick at least this long after. */
const REDELIVER_ATTEMPTS = 30;
const REDELIVER_DELAY_MS = 1000;

export default function register(RED: NodeAPI): void {
  installCompletionHooks(RED, { staleAfterMs: STALE_AFTER_MS });

  function IngestNode(this: Node, def: IngestNodeDef) {
    RED.nodes.createNode(this, def);
    checkCompletionSupport(RED, this);
    const node = this;
    const config = RED.nodes.getNode(def.broker) as BrokerConfigNode | null;
    const status = new ThrottledStatus(node);
    const qos = Math.min(2, Math.max(0, Number(def.qos) || 0)) as QoS;
    const format: PayloadFormat = def.format || 'auto';
    const atLeastOnce = def.ack !== 'receive';
    const outstanding = new Set<string>();
    let drained: (() => void) | undefined;
    let lease: SessionLease | undefined;
    const subscriptions: Subscription[] = [];
    let ticker: NodeJS.Timeout | undefined;
    /** While this ingest is away or catching up, a connector's schedule waits for its messages (lib/arrivals.ts). */
    // Only a connector reading a table this ingest's messages reach waits for it.
    const connection = new ConnectionWatch(`mqtt in "${node.name || node.id}"`, () => tablesReachedFrom(RED, node.id));
    let unregisterArrivals: (() => void) | undefined;

    let closing = false;
    /** Messages a deploy dropped on their way, oldest first; the status ticker hands them over again (no timer per message). */
    const handOverAgain: Array<{ message: ReceivedMessage; attempt: number; dueAt: number }> = [];
    const settleTracked = (message: ReceivedMessage, attempt: number) => (id: string, outcome: CompletionOutcome): void => {
      outstanding.delete(id);
      if (outcome === 'undelivered') {
        // A deploy was restarting a node on the message's way: Node-RED dropped the copy. Hand
        // it over again once the new node is in place; never acknowledge it unstored. Closing,
        // or still undeliverable after the retries: left unacknowledged, so the broker
        // redelivers it on the next connection.
        if (outstanding.size === 0) drained?.();
        if (closing) return;
        if (attempt >= REDELIVER_ATTEMPTS) {
          node.warn(RED._('iotp-mqtt-in.errors.undelivered', { topic: message.topic, attempts: attempt + 1 }));
          return;
        }
        handOverAgain.push({ message, attempt: attempt + 1, dueAt: Date.now() + REDELIVER_DELAY_MS });
        return;
      }
      if (outcome === 'timeout') {
        node.warn(RED._('iotp-mqtt-in.errors.stale', { topic: message.topic, seconds: STALE_AFTER_MS / 1000 }));
      }
      message.settle(outcome === 'failed' ? 'rejected' : 'committed');
      if (outstanding.size === 0) drained?.();
    };

    const onMessage = (message: ReceivedMessage, attempt = 0): void => {
      let payload: unknown;
      try {
        payload = decodePayload(message.payload, { format });
      } catch (err) {
        // Deliberately to the error path: acknowledged, so a poison message cannot block the stream.
        node.error(RED._('iotp-mqtt-in.errors.payload', { topic: message.topic, message: (err as Error).message }), {
          topic: message.topic,
          payload: message.payload,
          qos: message.qos,
          retain: message.retain,
        });
        message.settle('rejected');
        return;
      }
      const msg: Record<string, unknown> = { topic: message.topic, payload, qos: message.qos, retain: message.retain, dup: message.dup };
      if (message.properties) msg.properties = message.properties;
      if (atLeastOnce && message.ackId) {
        outstanding.add(message.ackId);
        sendTracked((m) => node.send(m as NodeMessage), msg, message.ackId, settleTracked(message, attempt));
      } else {
        message.settle('committed');
        node.send(msg);
      }
    };

    if (!config) {
      node.error(RED._('iotp-mqtt-in.errors.noBroker'));
      status.set({ fill: 'red', shape: 'ring', text: RED._('iotp-mqtt-in.errors.noBroker') });
    } else {
      try {
        // Flow/group environment first (RED.util.getSetting where the runtime exposes it), then the process's.
        const getSetting = (RED.util as unknown as { getSetting?: (node: Node, name: string) => unknown }).getSetting;
        const filters = ingestFilters(def.topics, def.shareGroup, (name) => {
          const value = typeof getSetting === 'function' ? getSetting(node, name) : process.env[name];
          return typeof value === 'string' ? value : undefined;
        });
        for (const filter of filters) parseFilter(filter);
        lease = config.lease();
        const session = lease.session;
        unregisterArrivals = arrivals.register(connection, `iotp-mqtt-in:${node.id}`);
        for (const filter of filters) {
          const subscription = session.subscribe(filter, { qos }, onMessage);
          subscription.ready.catch((err: Error) => node.error(RED._('iotp-mqtt-in.errors.badTopic', { message: `${filter}: ${err.message}` })));
          subscriptions.push(subscription);
        }
        ticker = setInterval(() => {
          if (handOverAgain.length > 0) {
            const now = Date.now();
            let due = 0;
            while (due < handOverAgain.length && handOverAgain[due].dueAt <= now) due++;
            for (const { message, attempt } of handOverAgain.splice(0, due)) onMessage(message, attempt);
          }
          const counts = session.counts();
          connection.observe(counts.connected, Date.now());
          const problem = session.problem;
          status.set(
            counts.connected
              ? { fill: 'green', shape: 'dot', text: RED._('iotp-mqtt-in.status.connected', { version: protocolName(session.protocolVersion ?? 5), inflight: compactCount(outstanding.size) }) }
              : problem === undefined
                ? { fill: 'yellow', shape: 'ring', text: RED._('iotp-mqtt-in.status.connecting') }
                : { fill: 'red', shape: 'ring', text: RED._('iotp-mqtt-in.status.disconnected', { reason: clipText(problem, 44) }) },
          );
        }, 1000);
        ticker.unref?.();
        status.set({ fill: 'yellow', shape: 'ring', text: RED._('iotp-mqtt-in.status.connecting') });
      } catch (err) {
        node.error(RED._('iotp-mqtt-in.errors.badTopic', { message: (err as Error).message }));
        status.set({ fill: 'red', shape: 'ring', text: (err as Error).message.slice(0, 40) });
      }
    }

    node.on('close', (removed: boolean, done: () => void) => {
      closing = true;
      if (ticker) clearInterval(ticker);
      unregisterArrivals?.();
      status.stop();
      // Stop taking messages at once: Node-RED has already taken this flow's nodes out of routing,
      // so a message sent now would reach no node, count as unrouted and be acknowledged, i.e.
      // lost. Without a subscription the session holds new messages unacknowledged (parked for
      // the redeployed node, or redelivered by the broker once the connection closes).
      // Removed: the broker can forget the subscription. Redeploy/restart: keep it, so the
      // persistent session collects messages until the node is back.
      const detached = Promise.all(subscriptions.map((s) => s.close({ unsubscribe: removed }).catch(() => undefined)));
      const finish = async (): Promise<void> => {
        await detached;
        await lease?.release();
      };
      // Downstream nodes (writers) are flushing too: keep the connection until their completions
      // have acknowledged our messages, within Node-RED's close timeout.
      const budget = Math.max(1000, (Number((RED.settings as unknown as { nodeCloseTimeout?: number }).nodeCloseTimeout) || 15000) - 3000);
      const waitForCompletions = outstanding.size === 0
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            drained = resolve;
            setTimeout(resolve, budget).unref?.();
          });
      waitForCompletions.then(finish).then(
        () => done(),
        () => done(),
      );
    });
  }

  RED.nodes.registerType('iotp-mqtt-in', IngestNode as unknown as Parameters<NodeAPI['nodes']['registerType']>[1]);
}
