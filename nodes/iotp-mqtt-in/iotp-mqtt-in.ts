/**
 * iotp-mqtt-in: the at-least-once MQTT source. Acknowledgement modes:
 *  - journal (default for new nodes): a message is acknowledged once it is durable in the node's
 *    receive journal, and the flow is fed from the journal (journaled-receive.ts), so the broker's
 *    in-flight and queue limits no longer decide what a burst loses;
 *  - complete: a QoS 1/2 message is acknowledged only when every node it reached has completed it
 *    (nodes/shared/completion.ts), e.g. the writer after its commit; the broker's in-flight window
 *    then bounds what Node-RED holds in memory. Also the journal mode's fallback while its journal
 *    cannot be written;
 *  - receive: acknowledged on receipt, like the core mqtt-in node.
 *
 * A message the flow cannot process is dead-lettered (lib/dead-letter.ts): written to
 * `<userDir>/iot-pipelines/dead-letters/<node id>.jsonl` (or the `iotpDeadLetterDir` setting's
 * directory), then acknowledged (journaled: released), so it is never handed over again.
 * Refusals that cannot change on a retry (the payload does not decode, Node-RED cannot copy the
 * message for a second wired node, a node completes it with an error) are dead-lettered at once;
 * a message that keeps missing a node is handed over again a bounded number of times first (a
 * deploy may be restarting that node), and a journaled one the flow never finishes across
 * restarts (one that stops the process) after MAX_HAND_OVERS_ACROSS_STARTS.
 */
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import {
  decodePayload,
  MqttError,
  parseFilter,
  protocolName,
  type PayloadFormat,
  type QoS,
  type ReceivedMessage,
  type SessionLease,
  type Subscription,
} from '../../lib/mqtt';
import type { BrokerConfigNode } from '../shared/config-nodes';
import { defineNode } from '../shared/define-node';
import {
  checkCompletionSupport,
  forgetTracked,
  installCompletionHooks,
  JOURNAL_POSITION_PROPERTY,
  JOURNAL_REPLAY_PROPERTY,
  sendTracked,
  type CompletionFailure,
  type CompletionOutcome,
} from '../shared/completion';
import { openDeadLetters } from '../shared/dead-letters';
import { journalRoot } from '../shared/directories';
import { clipText, compactCount } from '../shared/status';
import { arrivals, ConnectionWatch } from '../../lib/arrivals';
import { tablesReachedFrom } from '../shared/arrival-feeds';
import { closeBudget, waitWithin } from '../shared/close-budget';
import { JournaledReceive } from './journaled-receive';
import type { IngestSnapshot } from '../../lib/pipeline-stats';
import type { JournalEntry } from '../../lib/mqtt/receive-journal';

interface IngestNodeDef extends NodeDef {
  broker: string;
  topics: string;
  qos: string | number;
  format: PayloadFormat;
  ack: 'journal' | 'complete' | 'receive';
  /** Journal mode: its size limit in MB (default 256). */
  journalMB?: string | number;
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
export function ingestFilters(
  topics: string,
  shareGroup: string | undefined,
  env: (name: string) => string | undefined = () => undefined,
): string[] {
  const filters = topicFilters(topics, env);
  const group = String(shareGroup ?? '').trim();
  if (group === '' || /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(group)) return filters;
  if (/[/+#\s]/.test(group) || group.includes('\u0000')) {
    throw new MqttError('MQTT_BAD_TOPIC', `share group ${JSON.stringify(group)} must be a name without /, +, # or spaces`);
  }
  return filters.map((filter) => (filter.startsWith('$share/') ? filter : `$share/${group}/${filter}`));
}

/** The receive journal's directory for a node, beside the writers' journals (journalRoot). */
function journalDirectory(RED: NodeAPI, nodeId: string): string {
  return join(journalRoot(RED), `mqtt-in-${nodeId.replace(/[^A-Za-z0-9_.-]/g, '_')}`);
}

export const DEFAULT_JOURNAL_MB = 256;

/** What the flow gets of a message, from the broker or from the journal. */
interface Delivery {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  properties: ReceivedMessage['properties'];
  /** Completion id; undefined: not tracked (acknowledged on receipt). */
  id: string | undefined;
  /** Its receive-journal position (`<journal id>:<seq>`) and whether this is a replay after a restart. */
  position?: string;
  replayed?: boolean;
  /** The flow is done with it: completed, or deliberately on an error path. */
  finish(outcome: 'completed' | 'rejected'): void;
  /** It could not be handed over: the broker (or the journal's next run) delivers it again. */
  abandon(): void;
}

let instanceSeq = 0;

const STALE_AFTER_MS = 300_000;
/** The status ticker's period; it also hands dropped messages over again. */
const TICK_MS = 1000;
/**
 * A message a deploy dropped on its way is handed over again up to this often, at the status
 * tick nearest to this long after (within half a tick: "the first tick at least this long after"
 * made every wait nearly two ticks); still undelivered, it is dead-lettered.
 */
const REDELIVER_ATTEMPTS = 30;
const REDELIVER_DELAY_MS = 1000;
/**
 * A journaled message handed to the flow this often (the count survives restarts) without the
 * flow finishing it is dead-lettered at its next replay: it probably stops Node-RED each time.
 */
const MAX_HAND_OVERS_ACROSS_STARTS = 5;

export default function register(RED: NodeAPI): void {
  installCompletionHooks(RED, { staleAfterMs: STALE_AFTER_MS });

  defineNode<IngestNodeDef>(RED, {
    type: 'iotp-mqtt-in',
    setup({ node, config: def, status, configNode, startupFailed }) {
      checkCompletionSupport(RED, node);
      const config = configNode<BrokerConfigNode>(def.broker, RED._('iotp-mqtt-in.errors.noBroker'));
      const qos = Math.min(2, Math.max(0, Number(def.qos) || 0)) as QoS;
      const format: PayloadFormat = def.format || 'auto';
      const atLeastOnce = def.ack !== 'receive';
      const journaled = def.ack === 'journal';
      const journalMB = Number(def.journalMB) > 0 ? Number(def.journalMB) : DEFAULT_JOURNAL_MB;
      const outstanding = new Set<string>();
      let drained: (() => void) | undefined;
      let lease: SessionLease | undefined;
      const subscriptions: Subscription[] = [];
      let ticker: NodeJS.Timeout | undefined;
      /** The receive journal (ack: 'journal'), created below once the deliver path exists. */
      let receiver: JournaledReceive | undefined;
      /** While this ingest is away or catching up, a connector's schedule waits for its messages (lib/arrivals.ts). */
      // Only a connector reading a table this ingest's messages reach waits for it.
      const connection = new ConnectionWatch(
        `mqtt in "${node.name || node.id}"`,
        () => tablesReachedFrom(RED, node.id),
        () => receiver?.journal.waitingSince() ?? null,
      );
      let unregisterArrivals: (() => void) | undefined;
      let detachSession: (() => void) | undefined;

      let closing = false;
      const { file: deadLetters, name: deadLetterName } = openDeadLetters(RED, node.id);
      let deadLettered = 0;
      /** Dead letters not yet acknowledged: close waits for them before it lets the connection go. */
      const deadLettering = new Set<Promise<void>>();

      /**
       * Dead-letters a delivery: writes it to the dead-letter file, reports it on this node's error
       * path with `reason` (unless a node of the flow already did), then finishes it as rejected
       * (acknowledged, or released from the journal). Resolves once finished. Written or not, it is
       * finished: a message the flow cannot process would otherwise come back on every connection;
       * the error path then carries the only copy.
       */
      const deadLetter = (delivery: Delivery, reason: unknown, tries: number, options: { reported?: boolean } = {}): Promise<void> => {
        const text = reason instanceof Error ? reason.message : String(reason);
        const code = typeof (reason as { code?: unknown } | null)?.code === 'string' ? (reason as { code: string }).code : undefined;
        deadLettered++;
        const report = (kept: boolean, problem?: unknown): void => {
          if (options.reported && kept) return;
          const details = { topic: delivery.topic, tries, reason: text, file: deadLetterName, problem: writeProblem(problem) };
          node.error(RED._(kept ? 'iotp-mqtt-in.errors.deadLetter' : 'iotp-mqtt-in.errors.deadLetterNotKept', details), {
            topic: delivery.topic,
            payload: delivery.payload,
            qos: delivery.qos,
            retain: delivery.retain,
            deadLetter: { reason: text, code, tries, file: kept ? deadLetterName : undefined },
          } as unknown as NodeMessage);
        };
        const done = deadLetters
          .append({ topic: delivery.topic, payload: delivery.payload, reason: text, code, tries })
          .then(
            () => report(true),
            (err: unknown) => report(false, err),
          )
          .finally(() => {
            delivery.finish('rejected');
            deadLettering.delete(done);
          });
        deadLettering.add(done);
        return done;
      };

      /** Messages a deploy dropped on their way, oldest first; the status ticker hands them over again (no timer per message). */
      const handOverAgain: Array<{ delivery: Delivery; attempt: number; dueAt: number }> = [];
      /** Errors Node-RED reported on this node while a send was under way (it cannot copy a message for a second wire). */
      let sendErrors: unknown[] | undefined;
      const settleTracked =
        (delivery: Delivery, attempt: number, copyErrors: unknown[]) =>
        (id: string, outcome: CompletionOutcome, failure?: CompletionFailure): void => {
          outstanding.delete(id);
          if (outcome === 'undelivered') {
            // A deploy was restarting a node on the message's way: Node-RED dropped the copy. Hand
            // it over again once the new node is in place; never acknowledge it unstored. Closing:
            // left unacknowledged, so the broker redelivers it on the next connection (or, journaled,
            // the journal on the next start). A copy Node-RED could not make fails the same way every
            // time: dead-lettered at once, as is a message still undelivered after the retries.
            if (outstanding.size === 0) drained?.();
            if (closing) {
              delivery.abandon();
              return;
            }
            if (copyErrors.length > 0) {
              void deadLetter(delivery, RED._('iotp-mqtt-in.errors.copy', { message: errorText(copyErrors[0]) }), attempt + 1);
              return;
            }
            if (attempt >= REDELIVER_ATTEMPTS) {
              void deadLetter(delivery, RED._('iotp-mqtt-in.errors.undelivered', { attempts: attempt + 1 }), attempt + 1);
              return;
            }
            handOverAgain.push({ delivery, attempt: attempt + 1, dueAt: Date.now() + REDELIVER_DELAY_MS });
            return;
          }
          if (outcome === 'failed') {
            // A node completed it with an error, and Node-RED has reported that on the node's error
            // path with the message: kept in the dead-letter file too, then finished. Not retried:
            // the nodes that did complete it would process it twice.
            const by = failure?.node ? `${failure.node.type ?? 'node'} ${failure.node.name || failure.node.id}: ` : '';
            const error = failure?.error;
            const reason = Object.assign(new Error(by + errorText(error)), {
              code: typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : undefined,
            });
            void deadLetter(delivery, reason, attempt + 1, { reported: true }).then(() => {
              if (outstanding.size === 0) drained?.();
            });
            return;
          }
          if (outcome === 'timeout') {
            node.warn(RED._('iotp-mqtt-in.errors.stale', { topic: delivery.topic, seconds: STALE_AFTER_MS / 1000 }));
          }
          delivery.finish('completed');
          if (outstanding.size === 0) drained?.();
        };

      const deliver = (delivery: Delivery, attempt = 0): void => {
        let payload: unknown;
        try {
          payload = decodePayload(delivery.payload, { format });
        } catch (err) {
          // The same payload never decodes: dead-lettered at once, so it cannot block the stream.
          void deadLetter(
            delivery,
            Object.assign(new Error(RED._('iotp-mqtt-in.errors.payload', { message: (err as Error).message })), {
              code: (err as MqttError).code,
            }),
            attempt + 1,
          );
          return;
        }
        const msg: Record<string, unknown> = {
          topic: delivery.topic,
          payload,
          qos: delivery.qos,
          retain: delivery.retain,
          dup: delivery.dup,
        };
        if (delivery.properties) msg.properties = delivery.properties;
        // A writer records the position with the rows, and skips a replay it already stored.
        if (delivery.position) msg[JOURNAL_POSITION_PROPERTY] = delivery.position;
        if (delivery.replayed) msg[JOURNAL_REPLAY_PROPERTY] = true;
        const copyErrors: unknown[] = [];
        sendErrors = copyErrors;
        try {
          if (delivery.id) {
            outstanding.add(delivery.id);
            sendTracked((m) => node.send(m as NodeMessage), msg, delivery.id, settleTracked(delivery, attempt, copyErrors));
          } else {
            delivery.finish('completed');
            node.send(msg);
            // Acknowledged on receipt: kept in the dead-letter file all the same.
            if (copyErrors.length > 0)
              void deadLetter(
                { ...delivery, finish: () => undefined },
                RED._('iotp-mqtt-in.errors.copy', { message: errorText(copyErrors[0]) }),
                1,
              );
          }
        } catch (err) {
          // Whatever threw while handing it over would throw again: dead-lettered, not left to the broker.
          if (delivery.id) {
            forgetTracked([delivery.id]);
            outstanding.delete(delivery.id);
          }
          void deadLetter(delivery, RED._('iotp-mqtt-in.errors.threw', { message: errorText(err) }), attempt + 1);
        } finally {
          sendErrors = undefined;
        }
      };

      // Node-RED reports a message it cannot copy for a second wire (a RangeError from a payload
      // nested too deep for its clone) on the sending node, without the message: taken here while
      // this node sends, and reported once, with the message, when it is dead-lettered.
      const reportError = node.error.bind(node);
      node.error = ((logMessage: unknown, msg?: NodeMessage) => {
        if (sendErrors && msg === undefined) {
          sendErrors.push(logMessage);
          return;
        }
        reportError(logMessage, msg);
      }) as typeof node.error;

      /** A message straight from the broker (modes complete and receive, and the journal's fallback). */
      const onMessage = (message: ReceivedMessage): void => {
        deliver({
          topic: message.topic,
          payload: message.payload,
          qos: message.qos,
          retain: message.retain,
          dup: message.dup,
          properties: message.properties,
          id: atLeastOnce ? message.ackId : undefined,
          finish: (outcome) => message.settle(outcome === 'rejected' ? 'rejected' : 'committed'),
          abandon: () => undefined,
        });
      };

      const instance = `rj${(++instanceSeq).toString(36)}:`;
      /** An entry of the receive journal; released when the flow is done with it. */
      const deliverEntry = (entry: JournalEntry, finished: (release: boolean) => void): void => {
        const delivery: Delivery = {
          topic: entry.topic,
          payload: entry.payload,
          qos: entry.qos,
          retain: entry.retain,
          // A replay after a restart may repeat what the flow already stored, as a broker redelivery would.
          dup: entry.dup || entry.replayed,
          properties: entry.properties as ReceivedMessage['properties'],
          id: `${instance}${entry.seq}`,
          position: `${journalId}:${entry.seq}`,
          replayed: entry.replayed,
          finish: () => finished(true),
          abandon: () => finished(false),
        };
        // `attempts` counts this hand-over too, and every earlier one, across restarts.
        if (entry.replayed && entry.attempts > MAX_HAND_OVERS_ACROSS_STARTS) {
          void deadLetter(delivery, RED._('iotp-mqtt-in.errors.replays', { attempts: entry.attempts - 1 }), entry.attempts);
          return;
        }
        deliver(delivery);
      };

      let journalId = '';
      let journalProblem: string | undefined;
      if (journaled && config) {
        try {
          receiver = new JournaledReceive({
            dir: journalDirectory(RED, node.id),
            maxBytes: journalMB * 1024 * 1024,
            warn: (message) => node.warn(message),
            error: (err) => node.error(RED._('iotp-mqtt-in.errors.journalWrite', { message: err.message })),
            deliver: deliverEntry,
            bypass: onMessage,
          });
          journalId = receiver.journal.id;
        } catch (err) {
          // Never lose, never crash: without a journal the node acknowledges on completion.
          journalProblem = (err as Error).message;
          node.error(RED._('iotp-mqtt-in.errors.journalUnusable', { message: journalProblem }));
        }
      }
      const receive = receiver ? (message: ReceivedMessage) => receiver.receive(message) : onMessage;

      const connectedStatus = (version: string): { fill: 'green' | 'yellow' | 'red'; shape: 'dot' | 'ring'; text: string } => {
        const shown = journalStatus(version);
        if (deadLettered === 0) return shown;
        return {
          ...shown,
          shape: 'ring',
          text: shown.text + RED._('iotp-mqtt-in.status.deadLettered', { dead: compactCount(deadLettered) }),
        };
      };
      const journalStatus = (version: string): { fill: 'green' | 'yellow' | 'red'; shape: 'dot' | 'ring'; text: string } => {
        const inflight = compactCount(outstanding.size);
        if (journalProblem !== undefined) return { fill: 'red', shape: 'ring', text: RED._('iotp-mqtt-in.status.journalUnusable') };
        if (!receiver) return { fill: 'green', shape: 'dot', text: RED._('iotp-mqtt-in.status.connected', { version, inflight }) };
        const stats = receiver.stats();
        const journal = { version, inflight, backlog: compactCount(stats.backlog), mb: (stats.bytes / 1048576).toFixed(1), max: journalMB };
        switch (receiver.state) {
          case 'full':
            return { fill: 'yellow', shape: 'dot', text: RED._('iotp-mqtt-in.status.journalFull', journal) };
          case 'failing':
            return { fill: 'red', shape: 'dot', text: RED._('iotp-mqtt-in.status.journalFailing', journal) };
          default:
            return { fill: 'green', shape: 'dot', text: RED._('iotp-mqtt-in.status.journaled', journal) };
        }
      };

      // Read by the iotp-stats node (a dashboard on another tab): with the journal, the backlog
      // waits here, no longer at the broker.
      Object.defineProperty(node, 'pipelineStats', {
        value: (): Omit<IngestSnapshot, 'tab'> => {
          const journal = receiver?.stats();
          const feeds = tablesReachedFrom(RED, node.id);
          return {
            kind: 'ingest',
            id: node.id,
            name: node.name || '',
            topics: def.topics,
            ack: def.ack || 'complete',
            connected: lease?.session.counts().connected ?? false,
            feeds: feeds ? [...new Set(feeds.map((target) => target.table ?? '*'))] : null,
            inFlow: outstanding.size,
            journalBacklog: journal ? journal.backlog + journal.waiting : 0,
            journalBytes: journal ? journal.bytes : 0,
            waitingSince: receiver?.journal.waitingSince() ?? null,
            deadLettered,
          };
        },
      });

      if (config) {
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
          if (receiver) {
            // QoS 2 is journaled once per message: the broker's PUBREL frees its packet identifier,
            // and a session the broker did not resume voids them all.
            const journaling = receiver;
            const onReleased = (messageId: number): void => journaling.qos2Released(messageId);
            const onConnect = (sessionPresent: boolean): void => {
              if (!sessionPresent) journaling.sessionLost();
            };
            session.on('qos2-released', onReleased);
            session.on('connect', onConnect);
            detachSession = () => {
              session.off('qos2-released', onReleased);
              session.off('connect', onConnect);
            };
          }
          unregisterArrivals = arrivals.register(connection, `iotp-mqtt-in:${node.id}`);
          for (const filter of filters) {
            const subscription = session.subscribe(filter, { qos }, receive);
            subscription.ready.catch((err: Error) =>
              node.error(RED._('iotp-mqtt-in.errors.badTopic', { message: `${filter}: ${err.message}` })),
            );
            subscriptions.push(subscription);
          }
          ticker = setInterval(() => {
            if (handOverAgain.length > 0) {
              const now = Date.now();
              let due = 0;
              while (due < handOverAgain.length && handOverAgain[due].dueAt <= now + TICK_MS / 2) due++;
              for (const { delivery, attempt } of handOverAgain.splice(0, due)) deliver(delivery, attempt);
            }
            receiver?.tick();
            const counts = session.counts();
            connection.observe(counts.connected, Date.now());
            const problem = session.problem;
            status.set(
              counts.connected
                ? connectedStatus(protocolName(session.protocolVersion ?? 5))
                : problem === undefined
                  ? { fill: 'yellow', shape: 'ring', text: RED._('iotp-mqtt-in.status.connecting') }
                  : { fill: 'red', shape: 'ring', text: RED._('iotp-mqtt-in.status.disconnected', { reason: clipText(problem, 44) }) },
            );
          }, TICK_MS);
          ticker.unref?.();
          status.set(
            journalProblem === undefined
              ? { fill: 'yellow', shape: 'ring', text: RED._('iotp-mqtt-in.status.connecting') }
              : { fill: 'red', shape: 'ring', text: clipText(RED._('iotp-mqtt-in.status.journalUnusable'), 60) },
          );
        } catch (err) {
          startupFailed(new Error(RED._('iotp-mqtt-in.errors.badTopic', { message: (err as Error).message })), {
            status: (err as Error).message.slice(0, 40),
          });
        }
      }

      node.on('close', (removed: boolean, done: () => void) => {
        closing = true;
        receiver?.stop();
        if (ticker) clearInterval(ticker);
        unregisterArrivals?.();
        // Stop taking messages at once: Node-RED has already taken this flow's nodes out of routing,
        // so a message sent now would reach no node, count as unrouted and be acknowledged, i.e.
        // lost. Without a subscription the session holds new messages unacknowledged (parked for
        // the redeployed node, or redelivered by the broker once the connection closes).
        // Removed: the broker can forget the subscription. Redeploy/restart: keep it, so the
        // persistent session collects messages until the node is back.
        const detached = Promise.all(subscriptions.map((s) => s.close({ unsubscribe: removed }).catch(() => undefined)));
        const finish = async (): Promise<void> => {
          await detached;
          // Dead letters being written are acknowledged before the connection goes.
          await Promise.all(deadLettering);
          // Appends under way become durable (and acknowledged) before the connection goes.
          await receiver?.close().catch((err: Error) => node.warn(err.message));
          if (removed && receiver && receiver.journal.stats().live === 0) {
            rmSync(receiver.journal.dir, { recursive: true, force: true });
          } else if (removed && receiver) {
            node.warn(RED._('iotp-mqtt-in.errors.journalLeft', { count: receiver.journal.stats().live, dir: receiver.journal.dir }));
          }
          detachSession?.();
          await lease?.release();
        };
        // Downstream nodes (writers) are flushing too: keep the connection until their completions
        // have acknowledged our messages, within Node-RED's close timeout.
        const waitForCompletions = waitWithin(closeBudget(RED, 3000, 1000), outstanding.size > 0, (resolve) => (drained = resolve));
        waitForCompletions.then(finish).then(
          () => done(),
          () => done(),
        );
      });
    },
  });
}

/** An error's message without its stack, whatever was thrown. */
function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Why the dead-letter file could not be written, without the path (no file paths in the log). */
function writeProblem(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown } } | undefined)?.cause;
  return typeof cause?.code === 'string' ? cause.code : err === undefined ? '' : 'write failed';
}
