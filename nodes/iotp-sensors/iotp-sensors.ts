/**
 * iotp-sensors: the sensors definition (the original's sensors.json) shared by the quality node
 * (ranges, units, expected intervals) and the reading node (metadata of aggregated rows). Read
 * once per deploy: the built-in five sensors, a file, or JSON edited in the dialog.
 */
import type { NodeAPI, NodeDef } from 'node-red';
import { isAbsolute, join } from 'node:path';
import { defaultSensors, parseSensorsDefinition, readSensorsFileSync, type SensorsDefinition } from '../../lib/sensors/sensors-file';
import type { SensorsConfigNode } from '../shared/config-nodes';
import { asError, defineNode } from '../shared/define-node';

interface SensorsNodeDef extends NodeDef {
  source: 'builtin' | 'file' | 'json';
  file: string;
  json: string;
}

export function loadSensorsDefinition(def: Pick<SensorsNodeDef, 'source' | 'file' | 'json'>, userDir: string): SensorsDefinition {
  if (def.source === 'file') {
    const file = String(def.file ?? '').trim();
    return readSensorsFileSync(isAbsolute(file) ? file : join(userDir, file));
  }
  if (def.source === 'json') return parseSensorsDefinition(String(def.json ?? ''));
  return defaultSensors();
}

export default function register(RED: NodeAPI): void {
  defineNode<SensorsNodeDef, SensorsConfigNode>(RED, {
    type: 'iotp-sensors',
    setup(kit) {
      let sensors: SensorsDefinition | undefined;
      try {
        sensors = loadSensorsDefinition(kit.config, (RED.settings.userDir as string | undefined) ?? process.cwd());
      } catch (err) {
        const failure = asError(err);
        kit.startupFailed(failure, { log: RED._('iotp-sensors.errors.invalid', { message: failure.message }) });
      }
      kit.node.definition = (): SensorsDefinition => {
        if (kit.startupError) throw kit.startupError;
        return sensors as SensorsDefinition;
      };
    },
  });
}
