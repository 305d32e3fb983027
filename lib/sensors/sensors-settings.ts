/**
 * The iotp-sensors node's settings to a sensors definition: the built-in five sensors, a file
 * (relative to the Node-RED user directory), or JSON edited in the dialog.
 */
import { isAbsolute, join } from 'node:path';
import { defaultSensors, parseSensorsDefinition, readSensorsFileSync, type SensorsDefinition } from './sensors-file';

export interface SensorsNodeProperties {
  source: 'builtin' | 'file' | 'json';
  file: string;
  json: string;
}

export function loadSensorsDefinition(def: SensorsNodeProperties, userDir: string): SensorsDefinition {
  if (def.source === 'file') {
    const file = String(def.file ?? '').trim();
    return readSensorsFileSync(isAbsolute(file) ? file : join(userDir, file));
  }
  if (def.source === 'json') return parseSensorsDefinition(String(def.json ?? ''));
  return defaultSensors();
}
