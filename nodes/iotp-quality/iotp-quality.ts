/**
 * iotp-quality: the data-quality service of the sensors pipeline around lib/sensors/quality's
 * QualityMonitor. Sensor messages (raw payloads, straight from the MQTT source) are observed in
 * O(1) and completed at once; a message carrying `msg.req` (from a core `http in` node, e.g.
 * GET /quality) is answered with the report, JSON or HTML, for a core `http response` node.
 * The counters survive restarts: saved to a file in the user directory by the node's one timer
 * (when something changed) and on close, and reloaded at start.
 */
import type { NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { join } from 'node:path';
import { answer, type RequestLike } from '../../lib/sensors/http';
import { QualityMonitor, type QualityOptions } from '../../lib/sensors/quality';
import { qualitySettings } from '../../lib/sensors/quality-settings';
import { readStateFile, writeStateFile, writeStateFileSync } from '../../lib/sensors/state-file';
import { sensorsFor } from '../shared/config-nodes';
import { asError, defineNode } from '../shared/define-node';
import { refuseRequests } from '../shared/http-reply';
import { compactCount } from '../shared/status';

interface QualityNodeDef extends NodeDef {
  sensors: string;
  dataset: string;
  interval: string | number;
  maxDelay: string | number;
  windowSeconds: string | number;
  windows: string | number;
  persist: boolean;
}

type Msg = NodeMessageInFlow & { req?: RequestLike; statusCode?: number; headers?: Record<string, string>; action?: unknown };

/** Saves at most this often while messages arrive (and always on close). */
const SAVE_EVERY_MS = 30_000;
const TICK_MS = 1_000;

export default function register(RED: NodeAPI): void {
  defineNode<QualityNodeDef>(RED, {
    type: 'iotp-quality',
    setup({ node, config: def, status, startupFailed, onInput, userDir }) {
      const stateDir = (RED.settings as unknown as { iotpStateDir?: string }).iotpStateDir ?? join(userDir, 'iot-pipelines', 'quality');
      const statePath = join(stateDir, `${node.id.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`);
      const persist = def.persist !== false;
      let monitor: QualityMonitor | undefined;

      try {
        const options: QualityOptions = { ...qualitySettings(def), sensors: sensorsFor(RED, def.sensors) };
        monitor = new QualityMonitor(options);
        if (persist) {
          try {
            const saved = readStateFile(statePath);
            if (saved !== undefined) monitor = QualityMonitor.fromJSON(saved, options);
          } catch (err) {
            // A damaged state file costs the history, never the service.
            node.warn(RED._('iotp-quality.errors.restore', { path: statePath, message: (err as Error).message }));
          }
        }
      } catch (err) {
        const failure = asError(err);
        startupFailed(failure, { log: RED._('iotp-quality.errors.config', { message: failure.message }) });
      }

      let observed = 0;
      let clean = 0;
      let changedSinceSave = false;
      let lastSave = Date.now();
      let saving: Promise<void> | undefined;
      let shown = -1;

      const save = (): void => {
        if (!monitor || saving) return;
        changedSinceSave = false;
        lastSave = Date.now();
        saving = writeStateFile(statePath, monitor.toJSON()).then(
          () => {
            saving = undefined;
          },
          (err: Error) => {
            saving = undefined;
            changedSinceSave = true;
            node.warn(RED._('iotp-quality.errors.save', { path: statePath, message: err.message }));
          },
        );
      };

      // The node's one timer: status once a second, state every SAVE_EVERY_MS when it changed.
      const ticker = setInterval(() => {
        if (!monitor) return;
        if (persist && changedSinceSave && Date.now() - lastSave >= SAVE_EVERY_MS) save();
        if (observed === shown) return;
        shown = observed;
        // Nothing observed yet: a share of nothing is no percentage (it showed "NaN% clean").
        if (observed === 0) return status.set({ fill: 'grey', shape: 'ring', text: RED._('iotp-quality.status.waiting') });
        const pct = Math.floor((clean / observed) * 1000) / 10;
        status.set({
          fill: pct >= 99 ? 'green' : 'yellow',
          shape: 'dot',
          text: RED._('iotp-quality.status.observed', { count: compactCount(observed), clean: String(pct) }),
        });
      }, TICK_MS);
      ticker.unref?.();

      const refuse = refuseRequests({ error: 'quality service not configured', code: 'NOT_CONFIGURED' });

      onInput<Msg>((msg, send, done) => {
        const isRequest = typeof msg.req === 'object' && msg.req !== null;
        // Only after a start-up failure, whose messages never reach this handler.
        if (!monitor) return done();
        if (isRequest || msg.action === 'report') {
          const report = monitor.report(Date.now());
          if (isRequest) {
            const reply = answer(msg.req, `Data quality: ${report.dataset}`, report);
            msg.payload = reply.payload;
            msg.statusCode = reply.statusCode;
            msg.headers = reply.headers;
          } else {
            msg.payload = report;
          }
          send(msg);
          return done();
        }
        if (monitor.observe(msg.payload, Date.now()).issues.length === 0) clean++;
        observed++;
        changedSinceSave = true;
        done();
      }, refuse);

      node.on('close', (_removed: boolean, done: () => void) => {
        clearInterval(ticker);
        if (!monitor || !persist || (!changedSinceSave && !saving)) return done();
        const final = monitor;
        // After any periodic save in flight, so an older snapshot cannot land over the final one.
        (saving ?? Promise.resolve()).then(() => {
          try {
            writeStateFileSync(statePath, final.toJSON());
          } catch (err) {
            node.warn(RED._('iotp-quality.errors.save', { path: statePath, message: (err as Error).message }));
          }
          done();
        });
      });
    },
  });
}
