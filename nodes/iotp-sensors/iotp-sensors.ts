/**
 * iotp-sensors: the sensors definition (the original's sensors.json) shared by the quality node
 * (ranges, units, expected intervals) and the reading node (metadata of aggregated rows). Read
 * once per deploy: the built-in five sensors, a file, or JSON edited in the dialog.
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { isAbsolute, join } from 'node:path';
import { defaultSensors, parseSensorsDefinition, readSensorsFileSync, type SensorsDefinition } from '../../lib/sensors/sensors-file';

interface SensorsNodeDef extends NodeDef {
  source: 'builtin' | 'file' | 'json';
  file: string;
  json: string;
}

export interface SensorsConfigNode extends Node {
  /** The validated definition; throws the SensorsFileError that made it unusable. */
  definition(): SensorsDefinition;
}

export function loadSensorsDefinition(def: Pick<SensorsNodeDef, 'source' | 'file' | 'json'>, userDir: string): SensorsDefinition {
  if (def.source === 'file') {
    const file = String(def.file ?? '').trim();
    return readSensorsFileSync(isAbsolute(file) ? file : join(userDir, file));
  }
  if (def.source === 'json') return parseSensorsDefinition(String(def.json ?? ''));
  return defaultSensors();
}

/** The definition a consumer node uses: its iotp-sensors config node's, or the built-in five sensors. */
export function sensorsFor(RED: NodeAPI, configId: string | undefined): SensorsDefinition {
  if (!configId) return defaultSensors();
  const config = RED.nodes.getNode(configId) as SensorsConfigNode | null;
  if (!config) throw new Error(RED._('iotp-sensors.errors.missing'));
  return config.definition();
}

export default function register(RED: NodeAPI): void {
  function SensorsNode(this: SensorsConfigNode, def: SensorsNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    let sensors: SensorsDefinition | undefined;
    let failure: Error | undefined;
    try {
      sensors = loadSensorsDefinition(def, (RED.settings.userDir as string | undefined) ?? process.cwd());
    } catch (err) {
      failure = err as Error;
      node.error(RED._('iotp-sensors.errors.invalid', { message: failure.message }));
    }
    node.definition = (): SensorsDefinition => {
      if (failure) throw failure;
      return sensors as SensorsDefinition;
    };
  }

  RED.nodes.registerType('iotp-sensors', SensorsNode as unknown as Parameters<NodeAPI['nodes']['registerType']>[1]);
}
