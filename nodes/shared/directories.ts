/** Where the nodes keep their files on disk (journals, dead letters, state) unless a setting names the place. */
import { join } from 'node:path';
import type { NodeAPI } from 'node-red';

/**
 * Node-RED's user directory (`settings.userDir`); the working directory when Node-RED runs
 * without one (embedded, or the test helper).
 */
export function userDirectory(RED: NodeAPI): string {
  return (RED.settings.userDir as string | undefined) ?? process.cwd();
}

/**
 * Where the writers' and the MQTT ingests' journals live: the `iotpJournalDir` setting, else
 * `<user directory>/iot-pipelines/journal`, so they survive redeploys and restarts.
 */
export function journalRoot(RED: NodeAPI): string {
  return (RED.settings as unknown as { iotpJournalDir?: string }).iotpJournalDir ?? join(userDirectory(RED), 'iot-pipelines', 'journal');
}
