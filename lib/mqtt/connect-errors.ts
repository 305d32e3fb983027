/**
 * Why a connection to the broker failed, in words a user can act on. MQTT.js reports a refused
 * CONNECT as an error whose `code` is the CONNACK return code (3.1.1) or reason code (MQTT 5), and
 * a failed TLS handshake with Node's OpenSSL error codes; everything else is network trouble that
 * reconnecting with backoff is the answer to. Only refusals and certificate problems need a person,
 * so only those are worth an error in the Node-RED log.
 */

export type ConnectProblemKind = 'auth' | 'tls' | 'refused' | 'network';

export interface ConnectProblem {
  kind: ConnectProblemKind;
  /** What went wrong and what to check; never contains a password (built from codes only). */
  reason: string;
}

/** CONNACK codes meaning "these credentials are not accepted" (3.1.1: 4, 5; MQTT 5: 134, 135, 140). */
const AUTH_CODES = new Set([4, 5, 134, 135, 140]);

/**
 * MQTT 5 reason codes, in words. A code means the same in every packet that carries one (MQTT 5
 * section 2.4), so CONNACK and DISCONNECT share these.
 */
const REASON_TEXT: Record<number, string> = {
  128: 'unspecified error',
  129: 'malformed packet',
  130: 'protocol error',
  131: 'implementation specific error',
  135: 'not authorized',
  137: 'server busy',
  149: 'packet too large',
  151: 'quota exceeded',
  153: 'payload format invalid',
  156: 'use another server',
  157: 'server moved',
  159: 'connection rate exceeded',
};

/** A refused CONNECT: MQTT 3.1.1's return codes (1-5) and the reason codes only a CONNACK carries. */
const REFUSAL_TEXT: Record<number, string> = {
  ...REASON_TEXT,
  1: 'unacceptable protocol version (try MQTT 3.1.1)',
  2: 'client identifier rejected',
  3: 'server unavailable',
  132: 'unsupported protocol version (try MQTT 3.1.1)',
  133: 'client identifier not valid',
  136: 'server unavailable',
  138: 'client banned',
};

/** OpenSSL verification failures as Node reports them (err.code). */
const TLS_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH',
]);

/** Classifies an error MQTT.js emitted while (re)connecting. */
export function classifyConnectError(err: unknown): ConnectProblem {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'number') {
    if (AUTH_CODES.has(code)) {
      return { kind: 'auth', reason: `the broker refused the user name or password (code ${code}); check the credentials` };
    }
    return { kind: 'refused', reason: `the broker refused the connection: ${REFUSAL_TEXT[code] ?? 'reason unknown'} (code ${code})` };
  }
  if (typeof code === 'string') {
    if (TLS_CODES.has(code) || /^ERR_SSL_|^ERR_TLS_|CERT/.test(code)) {
      const hint =
        code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'HOSTNAME_MISMATCH'
          ? 'the certificate is not issued for this host name'
          : 'the broker certificate is not trusted; give its CA certificate, or turn verification off for a test broker';
      return { kind: 'tls', reason: `TLS handshake failed (${code}): ${hint}` };
    }
    // Node's codes are constants such as ECONNREFUSED; anything else is not echoed.
    const known = NETWORK_TEXT[code];
    if (known) return { kind: 'network', reason: `${code}: ${known}` };
    return { kind: 'network', reason: /^[A-Z0-9_]{1,40}$/.test(code) ? `network error (${code})` : 'network error' };
  }
  // MQTT.js's own timeouts carry no code; their fixed texts are safe to recognise (never echoed).
  const message = (err as { message?: unknown } | null)?.message;
  if (message === 'connack timeout') return { kind: 'network', reason: 'no answer to the CONNECT within the connect timeout' };
  if (message === 'Keepalive timeout') return { kind: 'network', reason: 'no answer to the keep-alive ping' };
  return { kind: 'network', reason: 'connection failed' };
}

/** The usual socket errors in words (the code is kept beside them for searching). */
const NETWORK_TEXT: Record<string, string> = {
  ECONNREFUSED: 'nothing accepts connections at that address',
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name cannot be resolved now',
  ETIMEDOUT: 'the connection timed out',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable',
  ECONNRESET: 'the connection was reset',
  EPIPE: 'the connection was closed while writing',
};

/** Reason codes of an MQTT 5 DISCONNECT sent by the broker, in words. */
const DISCONNECT_TEXT: Record<number, string> = {
  ...REASON_TEXT,
  4: 'disconnect with will message',
  139: 'server shutting down',
  141: 'keep-alive timeout',
  142: 'session taken over: another client connected with the same client id',
  143: 'topic filter invalid',
  144: 'topic name invalid',
  147: 'receive maximum exceeded',
  152: 'administrative action',
  160: 'maximum connect time',
};

/** Why the broker ended the connection (an MQTT 5 DISCONNECT's reason code). */
export function describeDisconnect(reasonCode: number): string {
  return `the broker disconnected: ${DISCONNECT_TEXT[reasonCode] ?? 'reason unknown'} (code ${reasonCode})`;
}
