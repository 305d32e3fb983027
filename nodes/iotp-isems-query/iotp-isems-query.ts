/**
 * iotp-isems-query: the ISEMS measurements API and retention on the `measurement` table. The SQL
 * differs per dialect (lib/isems/schema.ts), so the node takes the iotp-database config and runs
 * its query itself; rows leave rendered as the contract's JSON (toApiRow), ready for an HTTP
 * response node:
 *   latest     `GET /measurements/latest[?all=true]`   → {measurements: newest row per active node}
 *   history    `GET /measurements/:node_id/latest`     → {measurements: the node's newest rows}
 *   retention  (e.g. hourly inject)                    → {nodes, deleted}
 */
import type { NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { databaseFailure } from '../../lib/database-failure';
import { isDatabaseError } from '../../lib/db/errors';
import type { Database } from '../../lib/db/types';
import { IsemsError } from '../../lib/isems/errors';
import { applyRetention, isemsMigrations, latestPerNodeQuery, nodeHistoryQuery, toApiRow } from '../../lib/isems/schema';
import { isemsQuerySettings, type IsemsQuerySettings } from '../../lib/isems/settings';
import type { DatabaseConfigNode } from '../shared/config-nodes';
import { asError, defineNode, type Send } from '../shared/define-node';

export type IsemsQueryKind = 'latest' | 'history' | 'retention';

interface IsemsQueryNodeDef extends NodeDef {
  database: string;
  query: IsemsQueryKind;
  /** Days; default `${HIDE_INACTIVE_AFTER_DAYS}`. */
  hideInactiveAfterDays: string | number;
  /** Rows of `history`; default 1440. */
  limit: string | number;
  /** Rows kept per node by `retention`; default `${ISEMS_RETENTION_ROWS}`. */
  keepPerNode: string | number;
  version?: number;
}

interface RequestAnswer {
  status: number;
  error: string;
  code?: string;
  retryAfterSeconds?: number;
}

type QueryMessage = NodeMessageInFlow & {
  req?: { query?: Record<string, unknown>; params?: Record<string, unknown> };
  statusCode?: number;
  headers?: Record<string, string>;
  nodeId?: unknown;
  all?: unknown;
};

/** `?all=true` (also `1`/`yes`), or msg.all === true outside HTTP. */
export function wantsAll(msg: QueryMessage): boolean {
  if (msg.all === true) return true;
  const all = msg.req?.query?.all;
  return typeof all === 'string' && /^(true|1|yes)$/i.test(all);
}

/** The node id of `history`: the route's `:node_id`, else msg.nodeId, else a text payload. */
export function requestedNodeId(msg: QueryMessage): string | null {
  const candidates = [msg.req?.params?.node_id, msg.nodeId, msg.req ? undefined : msg.payload];
  for (const candidate of candidates) if (typeof candidate === 'string' && candidate.length > 0) return candidate;
  return null;
}

export default function register(RED: NodeAPI): void {
  defineNode<IsemsQueryNodeDef>(RED, {
    type: 'iotp-isems-query',
    setup({ node, config: def, status, startupFailed, onInput }) {
      const kind: IsemsQueryKind = ['latest', 'history', 'retention'].includes(def.query) ? def.query : 'latest';
      let settings: IsemsQuerySettings | undefined;
      try {
        settings = isemsQuerySettings(def);
      } catch (error) {
        const failure = asError(error);
        startupFailed(failure, {
          log: RED._('iotp-isems-query.errors.config', { message: failure.message }),
          status: RED._('iotp-isems-query.status.badConfig'),
        });
      }
      const config = def.database ? (RED.nodes.getNode(def.database) as DatabaseConfigNode | null) : null;
      if (!config) startupFailed(new Error(RED._('iotp-isems-query.errors.noDatabase')));

      const run = async (database: Database, msg: QueryMessage): Promise<{ payload: unknown; text: string }> => {
        // The table may not exist yet (nothing stored so far): the API answers [] instead of failing.
        await config!.migrate(isemsMigrations);
        const started = Date.now();
        if (kind === 'retention') {
          const result = await applyRetention(database, { keepPerNode: settings!.keep });
          return {
            payload: result,
            text: RED._('iotp-isems-query.status.retention', { deleted: result.deleted, nodes: result.nodes, ms: Date.now() - started }),
          };
        }
        let statement;
        if (kind === 'latest') {
          statement = latestPerNodeQuery(database.dialect, { all: wantsAll(msg), hideInactiveAfterDays: settings!.days });
        } else {
          const nodeId = requestedNodeId(msg);
          if (nodeId === null) throw new IsemsError('ISEMS_BAD_CONFIG', RED._('iotp-isems-query.errors.noNodeId'));
          statement = nodeHistoryQuery(database.dialect, nodeId, settings!.limit);
        }
        // Bounded anyway: `latest` returns one row per node, `history` at most `limit`.
        const result = await database.select(statement.sql, statement.params, Math.max(settings!.limit, 100_000));
        return {
          payload: { measurements: result.rows.map(toApiRow) },
          text: RED._('iotp-isems-query.status.rows', { count: result.rows.length, ms: Date.now() - started }),
        };
      };

      // An HTTP request must be answered even when the query fails, in words (the client's own
      // mistake keeps its reason); the error itself, driver text and all, still reaches Catch.
      const answerRequest = (msg: QueryMessage, send: Send, answer: RequestAnswer): void => {
        if (!msg.req) return;
        msg.statusCode = answer.status;
        msg.payload = { error: answer.error, ...(answer.code ? { code: answer.code } : {}) };
        if (answer.retryAfterSeconds !== undefined) msg.headers = { ...msg.headers, 'retry-after': String(answer.retryAfterSeconds) };
        send(msg);
      };
      const refuse = (msg: QueryMessage, send: Send): void =>
        answerRequest(msg, send, { status: 500, error: 'measurements API not configured', code: 'NOT_CONFIGURED' });

      onInput<QueryMessage>((msg, send, done) => {
        const answerError = (error: Error, answer: RequestAnswer): void => {
          answerRequest(msg, send, answer);
          done(error);
        };
        // Only after a start-up failure, whose messages never reach this handler.
        if (!config) return done();
        let database: Database;
        try {
          database = config.acquire(node);
        } catch (error) {
          return answerError(error as Error, databaseFailure(error));
        }
        run(database, msg).then(
          ({ payload, text }) => {
            config.reportReachable(true);
            status.set({ fill: 'green', shape: 'dot', text });
            msg.payload = payload;
            send(msg);
            done();
          },
          (error: Error) => {
            const connection = isDatabaseError(error) && error.kind === 'connection';
            if (connection) config.reportReachable(false, error.message);
            status.set({
              fill: 'red',
              shape: 'ring',
              text: RED._('iotp-isems-query.status.error', { message: error.message.slice(0, 30) }),
            });
            answerError(error, error instanceof IsemsError ? { status: 400, error: error.message } : databaseFailure(error));
          },
        );
      }, refuse);

      node.on('close', () => config?.release(node));
    },
  });
}
