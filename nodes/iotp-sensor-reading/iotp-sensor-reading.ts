/**
 * iotp-sensor-reading: turns what the sensors publish into rows the writer stores.
 * - mode `reading`: a raw reading (object, JSON text or Buffer) -> a `sensor_data` row
 *   (lib/sensors/reading: UTC timestamp with microseconds, typed checks of every field);
 * - mode `aggregate`: a closed window `{series, start, count, mean}` (or an array of them) -> an
 *   `aggregated_sensor_parts` row stamped with the window's UTC start, with the sensor's metadata
 *   and this instance's label (lib/instance-identity), so the parts several instances store for
 *   one minute are merged, not overwritten. The same row without `instance` fits
 *   `aggregated_sensor_data`, which older flows write directly.
 * A reading that cannot be stored goes to done(err) (a ReadingError with `code` and `field`, also
 * in `msg.invalid`), so a Catch node sees it and the MQTT message is still acknowledged.
 */
import type { NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { hostname } from 'node:os';
import { instanceIdentity } from '../../lib/instance-identity';
import { aggregateRow, AggregateError, type AggregatedRow } from '../../lib/sensors/aggregate-row';
import { blockingIssue, checkReading, ReadingError, type ReadingOptions } from '../../lib/sensors/reading';
import type { SensorsDefinition } from '../../lib/sensors/sensors-file';
import { sensorsFor } from '../shared/config-nodes';
import { asError, defineNode } from '../shared/define-node';
import { compactCount } from '../shared/status';

interface ReadingNodeDef extends NodeDef {
  mode: 'reading' | 'aggregate';
  sensors: string;
  requireMetadata: boolean;
}

type Msg = NodeMessageInFlow & { invalid?: { code: string; field: string; message: string } };

export default function register(RED: NodeAPI): void {
  defineNode<ReadingNodeDef>(RED, {
    type: 'iotp-sensor-reading',
    setup({ node, config: def, status, startupFailed, onInput, userDir }) {
      const mode = def.mode === 'aggregate' ? 'aggregate' : 'reading';
      const options: ReadingOptions = { requireMetadata: def.requireMetadata === true };
      let sensors: SensorsDefinition | undefined;
      // The same identity the MQTT client id is derived from: stable across restarts, distinct per instance.
      const instance = instanceIdentity(process.env, hostname(), userDir).label;
      if (mode === 'aggregate') {
        try {
          sensors = sensorsFor(RED, def.sensors);
        } catch (err) {
          startupFailed(asError(err));
        }
      }
      let stored = 0;
      let rejected = 0;
      let shown = -1;
      // One status refresh per second from two counters: nothing per message but the increments.
      const ticker = setInterval(() => {
        if (stored + rejected === shown) return;
        shown = stored + rejected;
        status.set({
          fill: rejected > 0 ? 'yellow' : 'green',
          shape: 'dot',
          text: RED._('iotp-sensor-reading.status.counts', { stored: compactCount(stored), rejected: compactCount(rejected) }),
        });
      }, 1000);
      ticker.unref?.();

      const reject = (msg: Msg, err: ReadingError | AggregateError, done: (err?: Error) => void): void => {
        msg.invalid = { code: err.code, field: err.field, message: err.message };
        done(err);
      };

      onInput<Msg>((msg, send, done) => {
        if (mode === 'reading') {
          const check = checkReading(msg.payload, options);
          if (check.row === null) {
            const issue = blockingIssue(check, options) ?? {
              code: 'MISSING_FIELD' as const,
              field: 'payload' as const,
              message: 'reading is not storable',
            };
            rejected++;
            return reject(msg, new ReadingError(issue), done);
          }
          msg.payload = check.row;
          stored++;
          send(msg);
          return done();
        }
        const input = msg.payload;
        const results = Array.isArray(input) ? input : [input];
        const rows: AggregatedRow[] = [];
        let first: AggregateError | undefined;
        for (const result of results) {
          try {
            rows.push(aggregateRow(result, sensors as SensorsDefinition, { instance, topic: msg.topic }));
          } catch (err) {
            if (!(err instanceof AggregateError)) throw err;
            rejected++;
            first ??= err;
          }
        }
        stored += rows.length;
        if (first === undefined) {
          msg.payload = Array.isArray(input) ? rows : rows[0];
          send(msg);
          return done();
        }
        // Good aggregates are stored even when one of the batch is malformed.
        if (rows.length > 0) send({ ...msg, payload: rows });
        reject(msg, first, done);
      });

      node.on('close', () => clearInterval(ticker));
    },
  });
}
