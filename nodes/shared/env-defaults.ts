/**
 * The shipped flows read `${TOPIC}`, `${INTERVAL_MS}`, `${DATABASE_URL}`... This package's
 * settings.js resolves those at start-up; a Node-RED of its own (Home Assistant's add-on, a Pi)
 * does not use that file. So the config nodes, when the package registers, fill in the same
 * defaults for variables that are still unset: Import → Examples then works out of the box there
 * too. Variables already set (environment, settings, the editor's global env) are never changed;
 * an invalid one is reported once, not fatal (start-up is Node-RED's business here).
 */
import type { NodeAPI } from 'node-red';
import { resolveRuntimeEnv } from '../../lib/runtime-env';

let applied = false;

export function applyEnvironmentDefaults(RED: NodeAPI): void {
  const userDir = RED.settings.userDir as string | undefined;
  // A runtime without a user directory is a test harness (node-red-node-test-helper): leave its
  // process environment alone.
  if (applied || !userDir) return;
  applied = true;
  try {
    const { set } = resolveRuntimeEnv(process.env, { userDir });
    for (const [name, value] of Object.entries(set)) {
      if (process.env[name] === undefined || process.env[name] === '') process.env[name] = value;
    }
  } catch (err) {
    RED.log.warn(`[iot-pipelines] ${(err as Error).message}; the shipped flows' defaults were not applied`);
  }
}
