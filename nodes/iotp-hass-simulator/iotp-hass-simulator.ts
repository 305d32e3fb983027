/**
 * iotp-hass-simulator: a simulated Home Assistant publishing MQTT Statestream traffic (wire it to
 * an iotp-mqtt-out node with retain from the message). Runs with the flow, only while its
 * `enabled` property (default `${SIMULATE}`) is true. Thin glue around lib/statestream's
 * HassSimulator: one timer per node, updates spread evenly at the configured rate.
 */
import type { NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { isEnabled } from '../../lib/simulator';
import { HASS_SIMULATOR_LIMITS, hassRateSetting } from '../../lib/statestream/settings';
import { HassSimulator } from '../../lib/statestream/simulate';
import { asError, defineNode } from '../shared/define-node';
import { compactCount } from '../shared/status';

interface HassSimulatorNodeDef extends NodeDef {
  enabled: string | boolean;
  baseTopic: string;
  rate: number | string;
  entitiesPerDomain: number | string;
  publishTimestamps: boolean;
  publishAttributes: boolean;
  seed: string;
}

/** Entity updates that fall due in a tick, never more than one second's worth (no catch-up burst after a stall). */
export function updatesDue(ratePerSecond: number, startedAt: number, now: number, sentSoFar: number): number {
  const total = Math.floor((ratePerSecond * (now - startedAt)) / 1000);
  return Math.max(0, Math.min(total - sentSoFar, Math.ceil(ratePerSecond)));
}

export default function register(RED: NodeAPI): void {
  defineNode<HassSimulatorNodeDef>(RED, {
    type: 'iotp-hass-simulator',
    setup({ node, config: def, status, startupFailed }) {
      const rate = hassRateSetting(def.rate);
      let timer: NodeJS.Timeout | undefined;
      let closed = false;

      if (!isEnabled(def.enabled)) {
        status.set({ fill: 'grey', shape: 'ring', text: RED._('iotp-hass-simulator.status.off') });
      } else if (rate === undefined) {
        startupFailed(new Error(RED._('iotp-hass-simulator.errors.rate', { rate: String(def.rate) })));
      } else {
        let simulator: HassSimulator | undefined;
        try {
          simulator = new HassSimulator({
            baseTopic: def.baseTopic,
            entitiesPerDomain: Number(def.entitiesPerDomain) || HASS_SIMULATOR_LIMITS.entitiesPerDomain.default,
            publishTimestamps: def.publishTimestamps !== false,
            publishAttributes: def.publishAttributes !== false,
            seed: def.seed ? def.seed : undefined,
          });
        } catch (err) {
          startupFailed(new Error(RED._('iotp-hass-simulator.errors.config', { message: asError(err).message })));
        }
        if (simulator) {
          const sim = simulator;
          const send = (messages: ReturnType<HassSimulator['startup']>): void => {
            if (messages.length > 0) node.send([messages as unknown as NodeMessage[]]);
          };
          // Like Home Assistant starting: every entity's full state once (retained), then live updates.
          const startedAt = Date.now();
          let updates = 0;
          const tickMs = Math.min(1000, Math.max(20, Math.round(1000 / rate)));
          // Publish the start-up burst after the flow started (the publisher's connection is opening).
          setImmediate(() => {
            if (closed) return;
            send(sim.startup(Date.now()));
            timer = setInterval(() => {
              const now = Date.now();
              const due = updatesDue(rate, startedAt, now, updates);
              if (due === 0) return;
              updates += due;
              send(sim.updates(due, now));
              status.set({
                fill: 'green',
                shape: 'dot',
                text: RED._('iotp-hass-simulator.status.running', {
                  entities: sim.entityCount,
                  messages: compactCount(sim.messagesPublished),
                }),
              });
            }, tickMs);
          });
          status.set({ fill: 'green', shape: 'dot', text: RED._('iotp-hass-simulator.status.started', { entities: sim.entityCount }) });
        }
      }

      node.on('close', (done: () => void) => {
        closed = true;
        if (timer) clearInterval(timer);
        done();
      });
    },
  });
}
