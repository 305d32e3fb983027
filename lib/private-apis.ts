/**
 * The only place that touches private (undocumented, underscore or internal) members of a
 * dependency. Each use has a check that runs when the object is first used and throws a
 * DependencyApiError naming the dependency, its version, the member and what relies on it, so an
 * upgrade that renames or drops one fails loudly at start instead of quietly changing what is
 * acknowledged. The "Upgrading dependencies" checklist in DEVELOPERS.md lists what to re-check.
 *
 * MQTT.js (`mqtt`, pinned to one minor version in package.json):
 *  - `MqttClient#_sendPacket(packet, cb, cbStorePut, noStore)`: every packet the client writes goes
 *    through it. lib/mqtt/session.ts replaces it on its client instance to swallow the PUBACK/PUBREC
 *    MQTT.js sends by itself, and calls the original to send them once a message is settled.
 *  - `MqttClient#connackReceived`: whether the broker answered the current CONNECT; tells a broker
 *    that hung up on an MQTT 5 CONNECT (fall back to 3.1.1) from a connection that ended later.
 *  - `MqttClient#_trackIncomingQoS2Publish(messageId, done, pump)` and `#_receiveMaximum`: MQTT.js
 *    counts the QoS 2 messages it holds from PUBLISH to PUBREL against the Receive Maximum it
 *    advertised, and ends the connection (reason 147) when a broker sends more.
 *    tolerateReceiveMaximumOverrun() lifts that limit for the check only (the CONNECT still
 *    advertises ours).
 *  (`handleMessage` and the `customHandleAcks` option are documented API; checked here as well,
 *  since acknowledge-on-settle needs all four.)
 *
 * Node-RED (`Node` of @node-red/runtime):
 *  - `Node#_inputCallback` / `Node#_inputCallbacks`: the node's input handlers (one, or an array of
 *    several). Node-RED clears both when it closes a node; a message delivered after that vanishes.
 *    nodes/shared/completion.ts reads them to take such a delivery back (redelivered, not acked).
 *
 * No Node-RED import: the Node-RED members are read off the node object the runtime created.
 */
import { IotpError } from './errors';

export type DependencyApiErrorCode = 'DEPENDENCY_API_MISSING';

/** A dependency lacks (or changed) a private member this package relies on. */
export class DependencyApiError extends IotpError<DependencyApiErrorCode> {
  readonly dependency: string;
  readonly member: string;

  constructor(dependency: string, member: string, message: string) {
    super('DEPENDENCY_API_MISSING', message);
    this.dependency = dependency;
    this.member = member;
  }
}

type MemberKind = 'function' | 'boolean' | 'number' | 'null-or-function' | 'null-or-array';

interface Requirement {
  member: string;
  kind: MemberKind;
}

function matches(value: unknown, kind: MemberKind): boolean {
  switch (kind) {
    case 'function':
      return typeof value === 'function';
    case 'boolean':
      return typeof value === 'boolean';
    case 'number':
      return typeof value === 'number';
    case 'null-or-function':
      return value === null || value === undefined || typeof value === 'function';
    case 'null-or-array':
      return value === null || value === undefined || Array.isArray(value);
  }
}

function describeValue(target: object, member: string): string {
  if (!(member in target)) return 'missing';
  const value = (target as Record<string, unknown>)[member];
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

function requireMembers(target: object, dependency: string, version: string, requirements: Requirement[], purpose: string): void {
  for (const { member, kind } of requirements) {
    const present = member in target;
    if (present && matches((target as Record<string, unknown>)[member], kind)) continue;
    throw new DependencyApiError(
      dependency,
      member,
      `${dependency} ${version} lacks ${member} (expected ${kind.replace(/-/g, ' ')}, found ${describeValue(target, member)}), which ${purpose} relies on; ` +
        `use a ${dependency} version this package is tested with (package.json), or adapt lib/private-apis.ts (DEVELOPERS.md, "Upgrading dependencies")`,
    );
  }
}

// ---------------------------------------------------------------- MQTT.js

/** MQTT.js's packet writer (`_sendPacket`), bound to its client. */
export type SendPacket = (packet: Record<string, unknown>, cb?: (err?: Error) => void, cbStorePut?: () => void, noStore?: boolean) => void;

const MQTT_CLIENT_MEMBERS: Requirement[] = [
  { member: '_sendPacket', kind: 'function' },
  { member: 'handleMessage', kind: 'function' },
  { member: 'connackReceived', kind: 'boolean' },
  { member: '_trackIncomingQoS2Publish', kind: 'function' },
  { member: '_receiveMaximum', kind: 'number' },
];

/** MQTT packet identifiers are 16-bit: no more QoS 2 messages than this can be held at once. */
const PACKET_IDENTIFIERS = 65_535;

function mqttVersion(): string {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('mqtt/package.json') as { version: string }).version;
  } catch {
    return '(version unknown)';
  }
}

/**
 * Throws DependencyApiError unless `client` (a freshly created, not yet connected MqttClient) has
 * every member acknowledge-on-settle relies on.
 */
export function checkMqttClient(client: object, version: string = mqttVersion()): void {
  requireMembers(
    client,
    'MQTT.js',
    version,
    MQTT_CLIENT_MEMBERS,
    "acknowledge-on-settle (lib/mqtt/session.ts: the broker's acknowledgement only once a message is settled)",
  );
  const options = (client as { options?: unknown }).options;
  if (typeof options !== 'object' || options === null) {
    throw new DependencyApiError(
      'MQTT.js',
      'options',
      `MQTT.js ${version} has no live options object on its client, where the customHandleAcks hook is installed`,
    );
  }
}

/**
 * Takes over the acknowledgements of incoming QoS 1/2 PUBLISH packets: the PUBACK/PUBREC MQTT.js
 * writes by itself are dropped (their callback still runs, so MQTT.js reads the next packet), every
 * other packet goes out as before. Returns the original writer, through which the caller sends the
 * acknowledgement itself. Checks the client first (checkMqttClient).
 */
export function interceptIncomingAcks(client: object): SendPacket {
  checkMqttClient(client);
  const internals = client as { _sendPacket: SendPacket };
  const original = internals._sendPacket.bind(client);
  internals._sendPacket = (packet, cb, cbStorePut, noStore) => {
    if (packet.cmd === 'puback' || packet.cmd === 'pubrec') {
      if (cb) cb();
      return;
    }
    original(packet, cb, cbStorePut, noStore);
  };
  return original;
}

/**
 * Keeps the connection when a broker has more QoS 2 messages in flight to this client than the
 * Receive Maximum it advertised, instead of MQTT.js ending it with reason 147. mosquitto 2.0.11
 * (Debian 12's) does that on every reconnect to a persistent session while its queue is deep: it
 * resends what was in flight and fills a fresh quota beside it, so MQTT.js's check turned a broker
 * restart into a reconnect loop that never delivered again. Holding the extra messages is safe:
 * the session stops reading from the socket while its consumers hold a full window
 * (lib/mqtt/session.ts, onQosPublish), and the QoS 2 state MQTT.js keeps until PUBREL is bounded
 * by the 65,535 packet identifiers. Checks the client first (checkMqttClient).
 */
export function tolerateReceiveMaximumOverrun(client: object): void {
  checkMqttClient(client);
  type Track = (messageId: number, done: unknown, pump: unknown) => boolean;
  const internals = client as { _trackIncomingQoS2Publish: Track; _receiveMaximum: number };
  const track = internals._trackIncomingQoS2Publish.bind(client);
  internals._trackIncomingQoS2Publish = (messageId, done, pump) => {
    const advertised = internals._receiveMaximum;
    internals._receiveMaximum = PACKET_IDENTIFIERS;
    try {
      return track(messageId, done, pump);
    } finally {
      internals._receiveMaximum = advertised;
    }
  };
}

/** Whether the broker answered the current connection's CONNECT (MQTT.js's `connackReceived`). */
export function connackReceived(client: object): boolean {
  return (client as { connackReceived?: unknown }).connackReceived === true;
}

// ---------------------------------------------------------------- Node-RED

const NODE_INPUT_MEMBERS: Requirement[] = [
  { member: '_inputCallback', kind: 'null-or-function' },
  { member: '_inputCallbacks', kind: 'null-or-array' },
];

interface InputHandlers {
  _inputCallback?: unknown;
  _inputCallbacks?: unknown;
}

/** True while a Node-RED node has an input handler (false once a deploy has closed it). */
export function hasInputHandler(node: object): boolean {
  const handlers = node as InputHandlers;
  return Boolean(handlers._inputCallback || handlers._inputCallbacks);
}

/**
 * Throws DependencyApiError unless a node Node-RED created (after `RED.nodes.createNode`) keeps its
 * input handlers where hasInputHandler() reads them: the fields exist, and a handler added with
 * `on('input')` shows there and is gone after `removeListener`. The probe handler is removed
 * before this returns.
 */
export function checkNodeInputHandlers(node: object, version = '(this version)'): void {
  const purpose = 'taking back a message delivered to a closed node (nodes/shared/completion.ts: redelivered, not acknowledged)';
  requireMembers(node, 'Node-RED', version, NODE_INPUT_MEMBERS, purpose);
  const emitter = node as { on?: unknown; removeListener?: unknown };
  if (typeof emitter.on !== 'function' || typeof emitter.removeListener !== 'function') {
    throw new DependencyApiError(
      'Node-RED',
      'on',
      `Node-RED ${version}: the node has no on()/removeListener(), which ${purpose} relies on`,
    );
  }
  const before = hasInputHandler(node);
  const probe = (): void => undefined;
  (emitter.on as (event: string, listener: () => void) => void).call(node, 'input', probe);
  const seen = hasInputHandler(node);
  (emitter.removeListener as (event: string, listener: () => void) => void).call(node, 'input', probe);
  const after = hasInputHandler(node);
  if (!seen || after !== before) {
    throw new DependencyApiError(
      'Node-RED',
      '_inputCallback',
      `Node-RED ${version} no longer keeps a node's input handlers in _inputCallback/_inputCallbacks (an added handler ${seen ? 'stayed after its removal' : 'did not show'}), which ${purpose} relies on; ` +
        'adapt lib/private-apis.ts (DEVELOPERS.md, "Upgrading dependencies")',
    );
  }
}
