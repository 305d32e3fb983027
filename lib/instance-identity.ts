/**
 * Who this Node-RED instance is, for everything that must tell instances apart yet stay the same
 * across restarts: the MQTT client id (nodes/iotp-mqtt-broker) and the `instance` of the per-minute
 * aggregate parts (lib/sensors/aggregate-row). IOTP_INSTANCE_ID when set, else host name and user
 * directory (two instances on one host differ by their user directories).
 *
 * Pure: the caller passes the environment, host name and user directory, so nothing here reads
 * process state and the same inputs always give the same identity.
 */
import { createHash } from 'node:crypto';

export interface InstanceIdentity {
  /** The full identity: IOTP_INSTANCE_ID, else `<host name>:<user directory>`. */
  id: string;
  /**
   * A short printable form (at most 64 characters) for rows in the database: IOTP_INSTANCE_ID
   * itself when it is a plain name (letters, digits, `.` `_` `:` `@` `-`, starting with a letter or
   * digit, at most 64 characters), else `#` and 16 hex digits of the identity's SHA-256. The host
   * fallback is always hashed: a user directory can name a person's home and is nobody's business
   * in a shared table. The `#` keeps the two forms from ever colliding.
   */
  label: string;
}

/** Longest label; the parts table's `instance` column is VARCHAR(64). */
export const INSTANCE_LABEL_MAX = 64;

const PLAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$/;

export function instanceIdentity(env: Readonly<Record<string, string | undefined>>, host: string, userDir: string): InstanceIdentity {
  const explicit = env.IOTP_INSTANCE_ID;
  // An empty IOTP_INSTANCE_ID counts as unset, as it always has for the MQTT client id.
  const id = explicit || `${host}:${userDir}`;
  const label = explicit && PLAIN_NAME.test(explicit) ? explicit : `#${createHash('sha256').update(id).digest('hex').slice(0, 16)}`;
  return { id, label };
}
