/**
 * Broker settings -> MQTT.js client options.
 *
 * The defaults are chosen for at-least-once ingest: a STABLE client id (derived from the Node-RED
 * config node's id, never random) and a persistent session (`clean: false`, MQTT 5 session expiry),
 * so that messages published while Node-RED restarts wait in the broker instead of being lost.
 */
import { createHash } from 'node:crypto';
import type { IClientOptions } from 'mqtt';
import { retryDelay } from '../backoff';
import { hasControlCharacter } from '../control-characters';
import { MqttError } from './errors';
import type { ProtocolChoice, ProtocolVersion } from './negotiation';

export type BrokerProtocol = 'mqtt' | 'mqtts' | 'ws' | 'wss';

export interface TlsSettings {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Verify the broker's certificate (default true). */
  rejectUnauthorized?: boolean;
  /** SNI name when it differs from host. */
  servername?: string;
}

/** What a user configures: a URL, or fields (fields override what the URL says). */
export interface BrokerSettings {
  /** `mqtt://user:pass@host:1883`, `mqtts://host`, `ws://host:8080/mqtt`, `wss://...` */
  url?: string;
  host?: string;
  port?: number;
  protocol?: BrokerProtocol;
  /** WebSocket path (default `/mqtt`). */
  path?: string;
  /** `true` switches mqtt -> mqtts (ws -> wss) with default verification. */
  tls?: TlsSettings | boolean;
  username?: string;
  password?: string;
  /** 4 = MQTT 3.1.1, 5 = MQTT 5, 'auto' (default) = MQTT 5 where the broker accepts it, else 3.1.1 (lib/mqtt/negotiation.ts). */
  protocolVersion?: ProtocolChoice;
  /** Explicit client id; otherwise derived from `stableId`. */
  clientId?: string;
  /** Start a fresh session on every connect (default false: persistent session). */
  cleanSession?: boolean;
  /** MQTT 5: how long the broker keeps the session after a disconnect (default 1 day). */
  sessionExpirySeconds?: number;
  keepaliveSeconds?: number;
  connectTimeoutMs?: number;
  /** First reconnect delay; doubles on each failed attempt up to reconnectMaxMs. */
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
  /**
   * Most unacknowledged QoS 1/2 messages this client holds at once. Advertised to MQTT 5 brokers
   * as Receive Maximum; for 3.1.1 the broker's own window applies (mosquitto
   * `max_inflight_messages`, default 20) and the session pauses reading if it is exceeded.
   */
  receiveMaximum?: number;
  /** Most publishes waiting for the broker (incl. while offline) before publish() rejects. */
  maxPendingPublishes?: number;
  /**
   * MQTT 5: the largest packet this client accepts; the broker discards larger messages for this
   * client instead of sending them (a memory bound against hostile publishers). Unset: no limit.
   */
  maximumPacketSize?: number;
}

/** Settings after validation and defaults: every field known. */
export interface ResolvedBroker {
  protocol: BrokerProtocol;
  host: string;
  port: number;
  path: string;
  tls: TlsSettings | undefined;
  username: string | undefined;
  password: string | undefined;
  protocolVersion: ProtocolChoice;
  clientId: string;
  cleanSession: boolean;
  sessionExpirySeconds: number;
  keepaliveSeconds: number;
  connectTimeoutMs: number;
  reconnectInitialMs: number;
  reconnectMaxMs: number;
  receiveMaximum: number;
  maxPendingPublishes: number;
  maximumPacketSize: number | undefined;
}

export const DEFAULTS = {
  protocolVersion: 'auto' as ProtocolChoice,
  sessionExpirySeconds: 86_400,
  keepaliveSeconds: 60,
  connectTimeoutMs: 10_000,
  reconnectInitialMs: 1_000,
  reconnectMaxMs: 60_000,
  receiveMaximum: 100,
  maxPendingPublishes: 1_000,
  wsPath: '/mqtt',
};

const DEFAULT_PORTS: Record<BrokerProtocol, number> = { mqtt: 1883, mqtts: 8883, ws: 80, wss: 443 };
const URL_PROTOCOLS: Record<string, BrokerProtocol> = {
  'mqtt:': 'mqtt',
  'tcp:': 'mqtt',
  'mqtts:': 'mqtts',
  'ssl:': 'mqtts',
  'tls:': 'mqtts',
  'ws:': 'ws',
  'wss:': 'wss',
};

const bad = (message: string): MqttError => new MqttError('MQTT_BAD_SETTINGS', message);

/** A URL with any password replaced by `***`, for error messages (best effort on unparsable text). */
export function redactUrl(text: string): string {
  return text.replace(/(\/\/[^/@:]*):[^@/]*@/, '$1:***@');
}

function integerIn(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw bad(`${name} must be an integer from ${min} to ${max} (got ${JSON.stringify(value)})`);
  }
  return value;
}

function parseBrokerUrl(url: string): {
  protocol: BrokerProtocol;
  host: string;
  port?: number;
  path?: string;
  username?: string;
  password?: string;
} {
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    throw bad(`broker URL ${JSON.stringify(redactUrl(url))} is not a valid URL (expected e.g. mqtt://host:1883)`);
  }
  const protocol = URL_PROTOCOLS[parsed.protocol];
  if (!protocol) {
    throw bad(`broker URL scheme ${JSON.stringify(parsed.protocol)} is not supported (use mqtt, mqtts, ws or wss)`);
  }
  if (!parsed.hostname) throw bad('broker URL has no host');
  const decode = (part: string): string => {
    try {
      return decodeURIComponent(part);
    } catch {
      throw bad('broker URL has a badly percent-encoded user name or password');
    }
  };
  return {
    protocol,
    // URL keeps IPv6 brackets in hostname; the socket layer wants the bare address.
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: parsed.port ? Number(parsed.port) : undefined,
    path: protocol === 'ws' || protocol === 'wss' ? (parsed.pathname && parsed.pathname !== '/' ? parsed.pathname : undefined) : undefined,
    username: parsed.username ? decode(parsed.username) : undefined,
    password: parsed.password ? decode(parsed.password) : undefined,
  };
}

/**
 * A client id that is the same on every start for the same config node (persistent sessions
 * depend on it). Only letters and digits, at most 23 characters: the range every MQTT 3.1.1
 * broker must accept. Long ids are shortened with a hash so distinct ids stay distinct.
 */
export function stableClientId(stableId: string, prefix = 'iotp'): string {
  if (typeof stableId !== 'string' || stableId.length === 0) throw bad('a stable id is needed to derive the MQTT client id');
  const clean = stableId.replace(/[^A-Za-z0-9]/g, '');
  const candidate = prefix + clean;
  if (candidate.length <= 23 && clean.length === stableId.length && clean.length > 0) return candidate;
  const hash = BigInt('0x' + createHash('sha256').update(stableId).digest('hex')).toString(36);
  return (prefix + hash).slice(0, 23);
}

/** Validates settings and fills in defaults. `stableId` (e.g. the config node id) names the session. */
export function resolveBrokerSettings(settings: BrokerSettings, stableId: string): ResolvedBroker {
  if (settings == null || typeof settings !== 'object') throw bad('broker settings must be an object');
  const fromUrl = settings.url ? parseBrokerUrl(settings.url) : undefined;

  let protocol: BrokerProtocol = settings.protocol ?? fromUrl?.protocol ?? 'mqtt';
  if (!(protocol in DEFAULT_PORTS)) throw bad(`protocol ${JSON.stringify(protocol)} is not supported (use mqtt, mqtts, ws or wss)`);
  const tlsWanted = settings.tls === true || (typeof settings.tls === 'object' && settings.tls !== null);
  if (tlsWanted && protocol === 'mqtt') protocol = 'mqtts';
  if (tlsWanted && protocol === 'ws') protocol = 'wss';
  const secure = protocol === 'mqtts' || protocol === 'wss';
  const tls: TlsSettings | undefined = secure ? (typeof settings.tls === 'object' && settings.tls ? { ...settings.tls } : {}) : undefined;

  const host = (settings.host ?? fromUrl?.host ?? '').trim();
  if (!host) throw bad('broker host is missing (set a URL like mqtt://host:1883 or a host)');
  if (/[\s/@]/.test(host)) throw bad(`broker host ${JSON.stringify(host)} is not a host name or address`);
  const port = integerIn(settings.port ?? fromUrl?.port ?? DEFAULT_PORTS[protocol], 'broker port', 1, 65_535);

  const protocolVersion = settings.protocolVersion ?? DEFAULTS.protocolVersion;
  if (protocolVersion !== 4 && protocolVersion !== 5 && protocolVersion !== 'auto') {
    throw bad(`protocolVersion must be 'auto', 4 (MQTT 3.1.1) or 5 (got ${JSON.stringify(protocolVersion)})`);
  }

  let clientId: string;
  if (settings.clientId !== undefined && settings.clientId !== '') {
    if (typeof settings.clientId !== 'string' || settings.clientId.length > 256 || hasControlCharacter(settings.clientId)) {
      throw bad('client id must be printable text of at most 256 characters');
    }
    clientId = settings.clientId;
  } else {
    clientId = stableClientId(stableId);
  }

  const username = settings.username || fromUrl?.username || undefined;
  const password = settings.password || fromUrl?.password || undefined;
  if (password !== undefined && username === undefined) throw bad('a password is set but no user name');

  const reconnectInitialMs = integerIn(settings.reconnectInitialMs ?? DEFAULTS.reconnectInitialMs, 'reconnectInitialMs', 10, 3_600_000);
  const reconnectMaxMs = integerIn(
    settings.reconnectMaxMs ?? Math.max(DEFAULTS.reconnectMaxMs, reconnectInitialMs),
    'reconnectMaxMs',
    reconnectInitialMs,
    3_600_000,
  );

  return {
    protocol,
    host,
    port,
    path: settings.path ?? fromUrl?.path ?? DEFAULTS.wsPath,
    tls,
    username,
    password,
    protocolVersion,
    clientId,
    cleanSession: settings.cleanSession === true,
    sessionExpirySeconds: integerIn(settings.sessionExpirySeconds ?? DEFAULTS.sessionExpirySeconds, 'sessionExpirySeconds', 0, 0xffff_ffff),
    keepaliveSeconds: integerIn(settings.keepaliveSeconds ?? DEFAULTS.keepaliveSeconds, 'keepaliveSeconds', 0, 65_535),
    connectTimeoutMs: integerIn(settings.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs, 'connectTimeoutMs', 100, 600_000),
    reconnectInitialMs,
    reconnectMaxMs,
    receiveMaximum: integerIn(settings.receiveMaximum ?? DEFAULTS.receiveMaximum, 'receiveMaximum', 1, 65_535),
    maxPendingPublishes: integerIn(settings.maxPendingPublishes ?? DEFAULTS.maxPendingPublishes, 'maxPendingPublishes', 1, 10_000_000),
    maximumPacketSize:
      settings.maximumPacketSize === undefined ? undefined : integerIn(settings.maximumPacketSize, 'maximumPacketSize', 64, 268_435_455),
  };
}

/** `mqtt://user@host:1883` (never the password), for logs and status. */
export function describeBroker(broker: Pick<ResolvedBroker, 'protocol' | 'host' | 'port' | 'username' | 'path'>): string {
  const user = broker.username ? `${encodeURIComponent(broker.username)}@` : '';
  const host = broker.host.includes(':') ? `[${broker.host}]` : broker.host;
  const path = broker.protocol === 'ws' || broker.protocol === 'wss' ? broker.path : '';
  return `${broker.protocol}://${user}${host}:${broker.port}${path}`;
}

/**
 * MQTT.js options for a resolved broker, speaking `version` (default: MQTT 5 unless the broker
 * is set to 3.1.1; an `auto` session switches with withProtocolVersion). `manualConnect` so the
 * session can install its acknowledgement hooks before the first packet; `resubscribe: false`
 * because the session re-applies its users' subscriptions itself.
 */
export function toClientOptions(broker: ResolvedBroker, version: ProtocolVersion = broker.protocolVersion === 4 ? 4 : 5): IClientOptions {
  const options: IClientOptions = {
    protocol: broker.protocol,
    host: broker.host,
    port: broker.port,
    clientId: broker.clientId,
    clean: broker.cleanSession,
    keepalive: broker.keepaliveSeconds,
    connectTimeout: broker.connectTimeoutMs,
    reconnectPeriod: broker.reconnectInitialMs,
    resubscribe: false,
    // MQTT.js gives up for good after a refused CONNECT (bad credentials, "server unavailable"
    // while a broker restarts): an ingest must keep trying, at the backoff's pace, until fixed.
    reconnectOnConnackError: true,
    manualConnect: true,
    queueQoSZero: true,
  };
  // MQTT.js logs a dozen debug lines per packet through the `debug` package, which allocates its
  // arguments even when disabled (measured: ~2 % of the runtime's CPU in the statestream burst).
  // Unless DEBUG asks for MQTT.js's lines, it gets a no-op logger.
  if (!mqttDebugRequested(process.env.DEBUG)) options.log = noLog;
  if (broker.protocol === 'ws' || broker.protocol === 'wss') options.path = broker.path;
  if (broker.username !== undefined) options.username = broker.username;
  if (broker.password !== undefined) options.password = broker.password;
  if (broker.tls) {
    if (broker.tls.ca !== undefined) options.ca = broker.tls.ca;
    if (broker.tls.cert !== undefined) options.cert = broker.tls.cert;
    if (broker.tls.key !== undefined) options.key = broker.tls.key;
    options.rejectUnauthorized = broker.tls.rejectUnauthorized !== false;
    if (broker.tls.servername) options.servername = broker.tls.servername;
  }
  return withProtocolVersion(options, broker, version);
}

/** Sets the version and its CONNECT properties (MQTT 5 only) on client options, in place. */
export function withProtocolVersion(options: IClientOptions, broker: ResolvedBroker, version: ProtocolVersion): IClientOptions {
  options.protocolVersion = version;
  if (version === 5) {
    options.properties = {
      sessionExpiryInterval: broker.cleanSession ? 0 : broker.sessionExpirySeconds,
      receiveMaximum: broker.receiveMaximum,
    };
    if (broker.maximumPacketSize !== undefined) options.properties.maximumPacketSize = broker.maximumPacketSize;
  } else {
    delete options.properties;
  }
  return options;
}

const noLog = (): void => undefined;

/** True when a DEBUG value (the `debug` package's syntax: comma/space separated, `*` wildcards, `-` excludes) enables MQTT.js's client namespace. */
export function mqttDebugRequested(debug: string | undefined): boolean {
  if (!debug) return false;
  return debug.split(/[\s,]+/).some((pattern) => {
    if (pattern === '' || pattern.startsWith('-')) return false;
    const literalParts = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'));
    return new RegExp(`^${literalParts.join('.*')}$`).test('mqttjs:client');
  });
}

const RECONNECT_JITTER = Object.freeze({ spread: 0.2 });

/**
 * Reconnect delay before attempt `attempt` (0-based): doubles from initial up to max, ±20 % jitter
 * (lib/backoff.ts). At least 1 ms: MQTT.js reads a reconnectPeriod of 0 as "never reconnect".
 */
export function reconnectDelay(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  return Math.max(1, retryDelay(attempt, { initialMs, maxMs, jitter: RECONNECT_JITTER }, random));
}

const TRUE = /^(1|true|yes|on)$/i;
const FALSE = /^(0|false|no|off|)$/i;

/**
 * Broker settings from the original pipelines' environment variables. `MQTT_URL` wins; otherwise
 * MQTT_HOST (or BROKER, host only), MQTT_PORT, MQTT_USER, MQTT_PASSWORD, MQTT_USE_TLS.
 * Errors name the variable and never repeat a password.
 */
export function mqttSettingsFromEnv(env: Record<string, string | undefined>): BrokerSettings {
  const get = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };
  const settings: BrokerSettings = {};
  const url = get('MQTT_URL');
  if (url) {
    try {
      parseBrokerUrl(url);
    } catch (err) {
      throw bad(`MQTT_URL: ${(err as Error).message}`);
    }
    settings.url = url;
  } else {
    const host = get('MQTT_HOST') ?? get('BROKER') ?? 'localhost';
    const hostVar = get('MQTT_HOST') ? 'MQTT_HOST' : 'BROKER';
    if (/[\s/@]/.test(host) || host.includes('://')) {
      throw bad(`${hostVar} must be a host name or address (got ${JSON.stringify(redactUrl(host))}); use MQTT_URL for a URL`);
    }
    settings.host = host;
    const port = get('MQTT_PORT');
    if (port !== undefined) {
      const n = /^\d{1,5}$/.test(port) ? Number(port) : NaN;
      if (!(n >= 1 && n <= 65_535)) throw bad(`MQTT_PORT must be a port number from 1 to 65535 (got ${JSON.stringify(port)})`);
      settings.port = n;
    }
    const tls = get('MQTT_USE_TLS');
    if (tls !== undefined) {
      if (TRUE.test(tls)) settings.tls = true;
      else if (!FALSE.test(tls)) throw bad(`MQTT_USE_TLS must be true or false (got ${JSON.stringify(tls)})`);
    }
  }
  const user = get('MQTT_USER');
  const password = env.MQTT_PASSWORD; // a password may legitimately contain spaces: keep it verbatim
  if (user !== undefined) settings.username = user;
  if (password !== undefined && password !== '') {
    if (user === undefined && !(url && /\/\/[^/@]+@/.test(url))) throw bad('MQTT_PASSWORD is set but MQTT_USER is not');
    settings.password = password;
  }
  return settings;
}
