/**
 * One MqttSession per broker config, shared by every node that uses it and reference-counted:
 * the first acquire connects, the last release disconnects (the persistent session keeps
 * collecting messages in the broker meanwhile).
 */
import { MqttSession, type SessionOptions } from './session';
import type { ResolvedBroker } from './options';

export interface SessionLease {
  readonly session: MqttSession;
  /** Gives the lease back; the session closes when no lease is left. Idempotent. */
  release(): Promise<void>;
}

interface Shared {
  session: MqttSession;
  fingerprint: string;
  leases: number;
}

const sessions = new Map<string, Shared>();

/** Identity of the connection settings (kept in memory only; it contains the password). */
function fingerprint(broker: ResolvedBroker): string {
  return JSON.stringify(broker);
}

/**
 * A lease on the session for `key` (e.g. the broker config node's id). If the settings for that
 * key changed, a new session is created for new leases; the old one closes with its last lease.
 */
export function acquireSession(key: string, broker: ResolvedBroker, options?: SessionOptions): SessionLease {
  let shared = sessions.get(key);
  if (!shared || shared.fingerprint !== fingerprint(broker)) {
    shared = { session: new MqttSession(broker, options), fingerprint: fingerprint(broker), leases: 0 };
    sessions.set(key, shared);
  }
  const current = shared;
  current.leases++;
  let released = false;
  return {
    session: current.session,
    async release(): Promise<void> {
      if (released) return;
      released = true;
      if (--current.leases > 0) return;
      if (sessions.get(key) === current) sessions.delete(key);
      await current.session.close();
    },
  };
}

/** Number of live shared sessions (for tests and diagnostics). */
export function sharedSessionCount(): number {
  return sessions.size;
}
