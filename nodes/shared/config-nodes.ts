/**
 * What nodes see of the package's config nodes and of each other: the interfaces a node gets
 * from `kit.configNode()` (nodes/shared/define-node.ts) or `RED.nodes.getNode()`. They live here,
 * not in the providing node's folder, so no node imports another node's module.
 */
import type { Node, NodeAPI } from 'node-red';
import type { RequestApiEngine } from '../../lib/connector/auth';
import type { DatabaseSettingsCredentials } from '../../lib/db/settings';
import type { Database, MigrationSet } from '../../lib/db/types';
import type { SessionLease } from '../../lib/mqtt';
import type { BrokerNodeCredentials } from '../../lib/mqtt/broker-settings';
import { defaultSensors, type SensorsDefinition } from '../../lib/sensors/sensors-file';

export type DatabaseCredentials = DatabaseSettingsCredentials;

/** iotp-database. */
export interface DatabaseConfigNode extends Node<DatabaseCredentials> {
  /**
   * The shared Database; throws a DatabaseConfigError for unusable settings. A node that passes
   * itself is counted as a user until it calls release(): on redeploy the connection closes only
   * after its users have finished closing (Node-RED closes all nodes at once).
   */
  acquire(user?: { id: string }): Database;
  release(user: { id: string }): void;
  /** Applies a migration set once per deploy (concurrent callers share one run). */
  migrate(set: MigrationSet): Promise<void>;
  /** Consumers report outcomes so reachability changes are logged once. */
  reportReachable(reachable: boolean, reason?: string): void;
  /** Secret-free description, e.g. `mysql://iot@db:3306/iot`. */
  readonly description: string;
  /** Which database this is, the same for config nodes in other flows that point at it (lib/db/url.ts databaseIdentity). */
  readonly identity: string;
}

export type BrokerCredentials = BrokerNodeCredentials;

/** iotp-mqtt-broker. */
export interface BrokerConfigNode extends Node<BrokerCredentials> {
  /** A lease on the shared session; throws an MqttError for unusable settings. */
  lease(): SessionLease;
  readonly description: string;
}

/** iotp-sensors. */
export interface SensorsConfigNode extends Node {
  /** The validated definition; throws the SensorsFileError that made it unusable. */
  definition(): SensorsDefinition;
}

/** The definition a consumer node uses: its iotp-sensors config node's, or the built-in five sensors. */
export function sensorsFor(RED: NodeAPI, configId: string | undefined): SensorsDefinition {
  if (!configId) return defaultSensors();
  const config = RED.nodes.getNode(configId) as SensorsConfigNode | null;
  if (!config) throw new Error(RED._('iotp-sensors.errors.missing'));
  return config.definition();
}

export interface BatchPostCredentials {
  apiKey?: string;
}

/** iotp-batch-post, as iotp-connector-api uses it: the engine's request side, or a 503 reason while there is none. */
export interface BatchPostNode extends Node<BatchPostCredentials> {
  readonly requestApi: RequestApiEngine;
  /** Settles once the connector started (or failed to): requests arriving earlier wait for it. */
  readonly ready: Promise<void>;
}
