/**
 * Per-node configuration versions (the pattern of node-red-contrib-home-assistant-websocket):
 * every node stores `version` in its flow properties; a node created by an older release is
 * brought up to date step by step at start-up, so saved flows keep working when properties change.
 */

export interface ConfigMigration {
  /** The version this step produces. */
  version: number;
  up(config: Record<string, unknown>): Record<string, unknown>;
}

export function migrateNodeConfig(config: Record<string, unknown>, steps: readonly ConfigMigration[]): Record<string, unknown> {
  // A number; a hand-edited flow may hold it as text.
  const from = Number.isFinite(Number(config.version)) && config.version !== '' && config.version !== null ? Number(config.version) : 0;
  let current = { ...config };
  for (const step of [...steps].sort((a, b) => a.version - b.version)) {
    if (step.version > from) current = { ...step.up(current), version: step.version };
  }
  return current;
}
