/**
 * iotp-simulator: publishes simulated readings (lib/simulator) as {topic, payload} messages, from
 * ONE timer per node set to the simulator's next due time. Runs from deploy when `enabled`
 * (default `${SIMULATE}`) is true; `msg.payload` "start" / "stop" switches it at any time.
 */
import { isAbsolute, resolve } from 'node:path';
import type { NodeAPI, NodeDef, NodeMessage } from 'node-red';
import {
  Simulator,
  SimulatorError,
  presetSensors,
  simulatorConfigFrom,
  isEnabled,
  type SimulatorNodeProperties,
} from '../../lib/simulator';
import { parseSensorsDefinition, readSensorsFile } from '../../lib/sensors/sensors-file';
import { defineNode } from '../shared/define-node';
import { compactCount } from '../shared/status';

type SimulatorNodeDef = NodeDef & SimulatorNodeProperties & { sensors?: string; version?: number };

/** The timer never sleeps longer than this (keeps it robust to clock jumps). */
const MAX_SLEEP_MS = 60_000;

/** The sensors preset's definition: JSON in the dialog, a file path (relative to the user directory), or the built-in five sensors. */
async function loadSensors(source: string | undefined, userDir: string): Promise<ReturnType<typeof presetSensors> | undefined> {
  const text = String(source ?? '').trim();
  if (text === '') return undefined;
  if (text.startsWith('{')) return presetSensors(parseSensorsDefinition(text));
  return presetSensors(await readSensorsFile(isAbsolute(text) ? text : resolve(userDir, text)));
}

export default function register(RED: NodeAPI): void {
  defineNode<SimulatorNodeDef>(RED, {
    type: 'iotp-simulator',
    setup({ node, config: props, status, startupFailed, onInput, userDir }) {
      let simulator: Simulator | undefined;
      let wanted = isEnabled(props.enabled);
      let running = false;
      let closing = false;
      let timer: NodeJS.Timeout | undefined;
      let sent = 0;

      const show = (): void => {
        if (!simulator) return;
        status.set(
          running
            ? { fill: 'green', shape: 'dot', text: RED._('iotp-simulator.status.running', { count: compactCount(sent) }) }
            : { fill: 'grey', shape: 'ring', text: RED._('iotp-simulator.status.stopped', { count: compactCount(sent) }) },
        );
      };

      const schedule = (): void => {
        if (!running || closing || !simulator) return;
        const due = simulator.nextDueAt() ?? Date.now();
        timer = setTimeout(onTimer, Math.min(MAX_SLEEP_MS, Math.max(0, due - Date.now())));
      };

      function onTimer(): void {
        timer = undefined;
        if (!running || closing || !simulator) return;
        try {
          for (const reading of simulator.due(Date.now())) {
            node.send({ topic: reading.topic, payload: reading.message } as NodeMessage);
            sent++;
          }
        } catch (err) {
          node.error(err);
        }
        show();
        schedule();
      }

      const apply = (): void => {
        if (!simulator || closing) return;
        if (wanted && !running) {
          running = true;
          // Re-anchors every series at now: a restart does not burst the readings it missed.
          simulator.start(Date.now());
          schedule();
        } else if (!wanted && running) {
          running = false;
          if (timer) clearTimeout(timer);
          timer = undefined;
        }
        show();
      };

      onInput((msg, _send, done) => {
        const command = typeof msg.payload === 'string' ? msg.payload.trim().toLowerCase() : msg.payload;
        if (command !== 'start' && command !== 'stop') {
          return done(new SimulatorError('INVALID_COMMAND', RED._('iotp-simulator.errors.command')));
        }
        wanted = command === 'start';
        apply();
        done();
      });

      const sensorsSource = props.preset === 'sensors' ? props.sensors : undefined;
      loadSensors(sensorsSource, userDir)
        .then((sensors) => {
          if (closing) return;
          simulator = new Simulator(simulatorConfigFrom(props, sensors));
          apply();
        })
        .catch((err: Error) => {
          startupFailed(err, {
            log: RED._('iotp-simulator.errors.config', { message: err.message }),
            status: RED._('iotp-simulator.status.config'),
          });
        });

      node.on('close', () => {
        closing = true;
        running = false;
        if (timer) clearTimeout(timer);
        timer = undefined;
      });
    },
  });
}
