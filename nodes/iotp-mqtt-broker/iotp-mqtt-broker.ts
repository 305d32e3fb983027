/**
 * iotp-mqtt-broker: the broker connection settings shared by ingest and publish nodes. Each user
 * node takes a lease on one shared session (lib/mqtt/registry), so a flow opens one connection
 * per broker config; connection changes are logged once, without secrets.
 */
import type { NodeAPI, NodeDef } from 'node-red';
import { hostname } from 'node:os';
import { instanceIdentity } from '../../lib/instance-identity';
import {
  acquireSession,
  classifyConnectError,
  describeBroker,
  protocolName,
  resolveBrokerSettings,
  type Negotiated,
  type ResolvedBroker,
  type SessionLease,
} from '../../lib/mqtt';
import { brokerSettingsFrom, type BrokerNodeProperties } from '../../lib/mqtt/broker-settings';
import { resolveEnvDefault, unsetVariableProblem } from '../../lib/env-reference';
import { flowEnv } from '../shared/flow-env';
import type { ConfigMigration } from '../shared/config-version';
import type { BrokerConfigNode } from '../shared/config-nodes';
import { asError, defineNode } from '../shared/define-node';

type BrokerNodeDef = NodeDef & BrokerNodeProperties & { version?: number };

/**
 * The client id must be stable across restarts (so the broker keeps the persistent session) and
 * distinct between Node-RED instances running the same flow (or they would disconnect each
 * other): the config node's id plus this instance's identity (lib/instance-identity:
 * IOTP_INSTANCE_ID, else host name and user directory).
 */
export function instanceStableId(nodeId: string, userDir: string): string {
  return `${nodeId}@${instanceIdentity(process.env, hostname(), userDir).id}`;
}

/**
 * Settings of the node as stored in flows, per version (nodes/shared/config-version.ts).
 * 2: the protocol became negotiable. Version 1's editor default, MQTT 5, was never a user's
 * choice (no broker config offered anything else by default), and it locked out every broker
 * without MQTT 5 (aedes, RabbitMQ before 3.13): it becomes `auto`. An explicit 3.1.1 stays.
 */
export const CONFIG_MIGRATIONS: readonly ConfigMigration[] = [
  {
    version: 2,
    up: (config) =>
      config.protocolVersion === undefined || String(config.protocolVersion) === '5' ? { ...config, protocolVersion: 'auto' } : config,
  },
];

export default function register(RED: NodeAPI): void {
  defineNode<BrokerNodeDef, BrokerConfigNode>(RED, {
    type: 'iotp-mqtt-broker',
    migrations: CONFIG_MIGRATIONS,
    credentials: {
      username: { type: 'text' },
      password: { type: 'password' },
      ca: { type: 'text' },
    },
    setup(kit) {
      const { node, config: def, userDir } = kit;
      let resolved: ResolvedBroker | undefined;
      let description = '(not configured)';
      try {
        const url = resolveEnvDefault(String(def.url ?? ''), flowEnv(RED, node)); // ${MQTT_URL:-mqtt://…}
        const unset = unsetVariableProblem(url, 'mqtt://127.0.0.1:1883');
        if (unset) throw new Error(unset);
        resolved = resolveBrokerSettings(brokerSettingsFrom({ ...def, url }, node.credentials ?? {}), instanceStableId(node.id, userDir));
        description = describeBroker(resolved);
      } catch (err) {
        const problem = asError(err);
        kit.startupFailed(problem, { log: RED._('iotp-mqtt-broker.errors.config', { message: problem.message }) });
      }
      Object.defineProperty(node, 'description', { get: () => description });

      /** undefined until the first connection attempt ends either way. */
      let connected: boolean | undefined;
      let everConnected = false;
      // The last refusal logged as an error: repeated on every retry it would flood the log.
      let reportedProblem: string | undefined;
      node.lease = (): SessionLease => {
        if (!resolved) throw kit.startupError ?? new Error('MQTT broker not configured');
        const lease = acquireSession(node.id, resolved);
        const session = lease.session;
        if (session.listenerCount('connect') === 0) {
          // Once per session: log transitions, not every reconnect attempt.
          // The first connection says which version was negotiated, once: a warning when `auto` had
          // to settle for 3.1.1 (with what that costs), else an info line; later ones only that the
          // connection is back.
          let fellBackAnnounced = false;
          session.on('negotiated', (negotiated: Negotiated) => {
            if (negotiated.fellBackBecause === undefined) return;
            fellBackAnnounced = true;
            const losses =
              negotiated.losses.length > 0 ? RED._('iotp-mqtt-broker.errors.losses', { losses: negotiated.losses.join('; ') }) : '';
            node.warn(RED._('iotp-mqtt-broker.errors.fellBack', { broker: description, reason: negotiated.fellBackBecause, losses }));
          });
          session.on('connect', (sessionPresent: boolean) => {
            reportedProblem = undefined;
            if (connected === true) return;
            const values = {
              broker: description,
              session: sessionPresent ? 'resumed' : 'new',
              version: protocolName(session.protocolVersion ?? 5),
            };
            if (everConnected) node.log(RED._('iotp-mqtt-broker.errors.reconnected', values));
            else if (!fellBackAnnounced) node.log(RED._('iotp-mqtt-broker.errors.connected', values));
            connected = true;
            everConnected = true;
          });
          session.on('disconnect', (reason: string | undefined) => {
            if (connected === false) return;
            connected = false;
            // A refusal was already logged as an error; another line would only blur it.
            if (reportedProblem !== undefined) return;
            const key = everConnected ? 'connectionLost' : 'cannotConnect';
            node.warn(RED._(`iotp-mqtt-broker.errors.${key}`, { broker: description, reason: reason ?? 'disconnected' }));
          });
          session.on('error', (err: Error) => {
            const problem = classifyConnectError(err);
            if (problem.kind === 'network') {
              // Reconnecting with backoff is the answer; the warning above already said so once.
              node.debug(`${description}: ${err.message}`);
              return;
            }
            // Bad credentials, an untrusted certificate or a refusing broker need a person: say so
            // once (per distinct reason) as an error. The reason is built from codes, never secrets.
            if (reportedProblem === problem.reason) return;
            reportedProblem = problem.reason;
            node.error(RED._('iotp-mqtt-broker.errors.refused', { broker: description, reason: problem.reason }));
          });
        }
        return lease;
      };
    },
  });
}
