/**
 * iotp-mqtt-broker: the broker connection settings shared by ingest and publish nodes. Each user
 * node takes a lease on one shared session (lib/mqtt/registry), so a flow opens one connection
 * per broker config; connection changes are logged once, without secrets.
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { hostname } from 'node:os';
import { instanceIdentity } from '../../lib/instance-identity';
import { acquireSession, classifyConnectError, describeBroker, resolveBrokerSettings, type BrokerSettings, type ResolvedBroker, type SessionLease } from '../../lib/mqtt';
import { resolveEnvDefault, unsetVariableProblem } from '../../lib/env-reference';
import { flowEnv } from '../shared/flow-env';

interface BrokerNodeDef extends NodeDef {
  url: string;
  protocolVersion: string | number;
  clientId: string;
  cleanSession: boolean;
  sessionExpiry: number | string;
  keepalive: number | string;
  receiveMaximum: number | string;
  tlsRejectUnauthorized: boolean;
}

interface BrokerCredentials {
  username?: string;
  password?: string;
  ca?: string;
}

export interface BrokerConfigNode extends Node<BrokerCredentials> {
  /** A lease on the shared session; throws an MqttError for unusable settings. */
  lease(): SessionLease;
  readonly description: string;
}

const positive = (value: unknown, fallback: number): number => {
  const n = Number(value);
  return Number.isFinite(n) && n >= 0 ? n : fallback;
};

/**
 * The client id must be stable across restarts (so the broker keeps the persistent session) and
 * distinct between Node-RED instances running the same flow (or they would disconnect each
 * other): the config node's id plus this instance's identity (lib/instance-identity:
 * IOTP_INSTANCE_ID, else host name and user directory).
 */
export function instanceStableId(nodeId: string, userDir: string): string {
  return `${nodeId}@${instanceIdentity(process.env, hostname(), userDir).id}`;
}

export function brokerSettingsFrom(def: BrokerNodeDef, credentials: BrokerCredentials): BrokerSettings {
  const settings: BrokerSettings = {
    url: def.url,
    protocolVersion: Number(def.protocolVersion) === 4 ? 4 : 5,
    cleanSession: def.cleanSession === true,
    sessionExpirySeconds: positive(def.sessionExpiry, 86_400),
    keepaliveSeconds: positive(def.keepalive, 60),
    receiveMaximum: Math.max(1, positive(def.receiveMaximum, 1000)),
  };
  if (def.clientId) settings.clientId = def.clientId;
  if (credentials.username) settings.username = credentials.username;
  if (credentials.password) settings.password = credentials.password;
  if (/^(mqtts|wss|ssl|tls):/i.test(def.url ?? '') || credentials.ca) {
    settings.tls = { rejectUnauthorized: def.tlsRejectUnauthorized !== false, ...(credentials.ca ? { ca: credentials.ca } : {}) };
  }
  return settings;
}

export default function register(RED: NodeAPI): void {
  function BrokerNode(this: BrokerConfigNode, def: BrokerNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const userDir = (RED.settings.userDir as string | undefined) ?? process.cwd();
    let resolved: ResolvedBroker | undefined;
    let description = '(not configured)';
    let problem: Error | undefined;
    try {
      const url = resolveEnvDefault(String(def.url ?? ''), flowEnv(RED, node)); // ${MQTT_URL:-mqtt://…}
      const unset = unsetVariableProblem(url, 'mqtt://127.0.0.1:1883');
      if (unset) throw new Error(unset);
      resolved = resolveBrokerSettings(brokerSettingsFrom({ ...def, url }, node.credentials ?? {}), instanceStableId(node.id, userDir));
      description = describeBroker(resolved);
    } catch (err) {
      problem = err as Error;
      node.error(RED._('iotp-mqtt-broker.errors.config', { message: problem.message }));
    }
    Object.defineProperty(node, 'description', { get: () => description });

    let connected: boolean | undefined;
    // The last refusal logged as an error: repeated on every retry it would flood the log.
    let reportedProblem: string | undefined;
    node.lease = (): SessionLease => {
      if (!resolved) throw problem ?? new Error('MQTT broker not configured');
      const lease = acquireSession(node.id, resolved);
      const session = lease.session;
      if (session.listenerCount('connect') === 0) {
        // Once per session: log transitions, not every reconnect attempt.
        session.on('connect', (sessionPresent: boolean) => {
          reportedProblem = undefined;
          if (connected === true) return;
          connected = true;
          node.log(RED._('iotp-mqtt-broker.errors.connected', { broker: description, session: sessionPresent ? 'resumed' : 'new' }));
        });
        session.on('disconnect', () => {
          if (connected === false) return;
          connected = false;
          // A refusal was already logged as an error; "connection lost" would only blur it.
          if (reportedProblem === undefined) node.warn(RED._('iotp-mqtt-broker.errors.connectionLost', { broker: description, reason: 'disconnected' }));
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
  }

  RED.nodes.registerType('iotp-mqtt-broker', BrokerNode as unknown as Parameters<NodeAPI['nodes']['registerType']>[1], {
    credentials: {
      username: { type: 'text' },
      password: { type: 'password' },
      ca: { type: 'text' },
    },
  });
}
