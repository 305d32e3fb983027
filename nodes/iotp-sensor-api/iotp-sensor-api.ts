/**
 * iotp-sensor-api: the read endpoints `GET /data` (sensor_data) and `GET /aggregated_data`
 * (aggregated_sensor_data). Query parameters `sensor_id`, `start_time`, `end_time`, `skip`,
 * `limit` are validated by lib/sensors/read-api (a bad one gets 400 with the parameter and the
 * reason); rows come ordered by time, at most `limit` (<= 1000) per answer, JSON or HTML.
 */
import type { NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { isDatabaseError } from '../../lib/db/errors';
import { databaseErrorAnswer, errorAnswer, type RequestLike } from '../../lib/sensors/http';
import { parseReadQuery, ReadApiError, readSql, renderRow, type ReadDataset, type ReadQuery } from '../../lib/sensors/read-api';
import { sensorsMigrations } from '../../lib/sensors/schema';
import { formatIsoTimestamp } from '../../lib/sensors/time';
import type { DatabaseConfigNode } from '../shared/config-nodes';
import { defineNode } from '../shared/define-node';
import { refuseRequests, replyIfRequest, sendResult } from '../shared/http-reply';

interface ApiNodeDef extends NodeDef {
  database: string;
  dataset: ReadDataset;
}

type Msg = NodeMessageInFlow & { req?: RequestLike; statusCode?: number; headers?: Record<string, string> };

/** The answer's body: the rows plus what a client needs to fetch the next page. */
export function pageBody(dataset: ReadDataset, query: ReadQuery, rows: Record<string, unknown>[]): Record<string, unknown> {
  return {
    dataset,
    sensor_id: query.sensorId,
    start_time: query.startUs === null ? null : formatIsoTimestamp(query.startUs),
    end_time: query.endUs === null ? null : formatIsoTimestamp(query.endUs),
    skip: query.skip,
    limit: query.limit,
    count: rows.length,
    next_skip: rows.length === query.limit ? query.skip + query.limit : null,
    data: rows,
  };
}

export default function register(RED: NodeAPI): void {
  defineNode<ApiNodeDef>(RED, {
    type: 'iotp-sensor-api',
    setup({ node, config: def, status, configNode, onInput }) {
      const config = configNode<DatabaseConfigNode>(def.database, RED._('iotp-sensor-api.errors.noDatabase'));
      const dataset: ReadDataset = def.dataset === 'aggregated_data' ? 'aggregated_data' : 'data';
      const refuse = refuseRequests({ error: 'database not configured', code: 'NO_DATABASE' });

      onInput<Msg>((msg, send, done) => {
        const req = typeof msg.req === 'object' && msg.req !== null ? msg.req : undefined;
        // Only after a start-up failure, whose messages never reach this handler.
        if (!config) return done();
        let query: ReadQuery;
        try {
          const input = req ? (req.query ?? {}) : msg.payload;
          query = parseReadQuery(
            typeof input === 'object' && input !== null && !Array.isArray(input) ? (input as Record<string, unknown>) : {},
          );
        } catch (err) {
          if (!(err instanceof ReadApiError)) return done(err as Error);
          // A client's mistake, answered with the reason; not an error of the flow.
          if (req) {
            replyIfRequest(msg, send, errorAnswer(400, err.toJSON()));
            return done();
          }
          return done(err);
        }
        const started = Date.now();
        let database;
        try {
          database = config.acquire(node);
        } catch (err) {
          replyIfRequest(msg, send, databaseErrorAnswer(err));
          return done(err as Error);
        }
        const { sql, params } = readSql(database.dialect, dataset, query);
        config
          .migrate(sensorsMigrations)
          .then(() => database.select(sql, params, query.limit))
          .then(
            (result) => {
              config.reportReachable(true);
              const body = pageBody(dataset, query, result.rows.map(renderRow));
              status.set({
                fill: 'green',
                shape: 'dot',
                text: RED._('iotp-sensor-api.status.rows', { count: result.rows.length, ms: Date.now() - started }),
              });
              sendResult(msg, send, dataset === 'data' ? 'Sensor readings' : 'Per-minute sensor means', body);
              done();
            },
            (err: Error) => {
              const unreachable = isDatabaseError(err) && err.kind === 'connection';
              if (unreachable) config.reportReachable(false, err.message);
              status.set({ fill: 'red', shape: 'ring', text: err.message.slice(0, 40) });
              // The client learns what failed; the driver's text goes to the error path (the log).
              replyIfRequest(msg, send, databaseErrorAnswer(err));
              done(err);
            },
          );
      }, refuse);

      node.on('close', () => config?.release(node));
    },
  });
}
