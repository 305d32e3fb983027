/**
 * The iotp-mqtt-broker node's properties to BrokerSettings. The ranges are the ones
 * resolveBrokerSettings (options.ts) enforces, and the editor's (test/package/editor-limits.test.ts
 * compares them); the defaults are the node's, which differ from a bare client's (DEFAULTS).
 */
import type { ProtocolChoice } from './negotiation';
import type { BrokerSettings } from './options';

export const BROKER_LIMITS = {
  sessionExpiry: { min: 0, max: 0xffff_ffff, default: 86_400, integer: true },
  keepalive: { min: 0, max: 65_535, default: 60, integer: true },
  receiveMaximum: { min: 1, max: 65_535, default: 1000, integer: true },
} as const;

export interface BrokerNodeProperties {
  url: string;
  protocolVersion?: unknown;
  clientId?: string;
  cleanSession?: boolean;
  sessionExpiry?: unknown;
  keepalive?: unknown;
  receiveMaximum?: unknown;
  tlsRejectUnauthorized?: boolean;
}

export interface BrokerNodeCredentials {
  username?: string;
  password?: string;
  ca?: string;
}

/** A number >= 0, else the default; out of range is resolveBrokerSettings' error to report. */
const nonNegative = (value: unknown, fallback: number): number => {
  const n = Number(value);
  return Number.isFinite(n) && n >= 0 ? n : fallback;
};

/** The stored protocol setting: 'auto', '5' or '4' (numbers in hand-written flows); anything else is auto. */
export function protocolChoice(value: unknown): ProtocolChoice {
  const text = String(value ?? '').trim();
  if (text === '4') return 4;
  if (text === '5') return 5;
  return 'auto';
}

export function brokerSettingsFrom(def: BrokerNodeProperties, credentials: BrokerNodeCredentials): BrokerSettings {
  const settings: BrokerSettings = {
    url: def.url,
    protocolVersion: protocolChoice(def.protocolVersion),
    cleanSession: def.cleanSession === true,
    sessionExpirySeconds: nonNegative(def.sessionExpiry, BROKER_LIMITS.sessionExpiry.default),
    keepaliveSeconds: nonNegative(def.keepalive, BROKER_LIMITS.keepalive.default),
    receiveMaximum: Math.max(BROKER_LIMITS.receiveMaximum.min, nonNegative(def.receiveMaximum, BROKER_LIMITS.receiveMaximum.default)),
  };
  if (def.clientId) settings.clientId = def.clientId;
  if (credentials.username) settings.username = credentials.username;
  if (credentials.password) settings.password = credentials.password;
  if (/^(mqtts|wss|ssl|tls):/i.test(def.url ?? '') || credentials.ca) {
    settings.tls = { rejectUnauthorized: def.tlsRejectUnauthorized !== false, ...(credentials.ca ? { ca: credentials.ca } : {}) };
  }
  return settings;
}
