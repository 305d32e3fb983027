/**
 * iotp-sensors: the sensors definition (the original's sensors.json) shared by the quality node
 * (ranges, units, expected intervals) and the reading node (metadata of aggregated rows). Read
 * once per deploy: the built-in five sensors, a file, or JSON edited in the dialog.
 */
import type { NodeAPI, NodeDef } from 'node-red';
import type { SensorsDefinition } from '../../lib/sensors/sensors-file';
import { loadSensorsDefinition, type SensorsNodeProperties } from '../../lib/sensors/sensors-settings';
import type { SensorsConfigNode } from '../shared/config-nodes';
import { asError, defineNode } from '../shared/define-node';

type SensorsNodeDef = NodeDef & SensorsNodeProperties;

export default function register(RED: NodeAPI): void {
  defineNode<SensorsNodeDef, SensorsConfigNode>(RED, {
    type: 'iotp-sensors',
    setup(kit) {
      let sensors: SensorsDefinition | undefined;
      try {
        sensors = loadSensorsDefinition(kit.config, kit.userDir);
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
