/**
 * iotp-isems-query: the ISEMS measurements API and retention on the `measurement` table. The SQL
 * differs per dialect (lib/isems/schema.ts), so the node takes the iotp-database config and runs
 * its query itself; rows leave rendered as the contract's JSON (toApiRow), ready for an HTTP
 * response node:
 *   latest     `GET /measurements/latest[?all=true]`   → {measurements: newest row per active node}
 *   history    `GET /measurements/:node_id/latest`     → {measurements: the node's newest rows}
 *   retention  (e.g. hourly inject)                    → {nodes, deleted}
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { databaseFailure } from '../../lib/database-failure';
import { isDatabaseError } from '../../lib/db/errors';
import type { Database } from '../../lib/db/types';
import { IsemsError } from '../../lib/isems/errors';
import {
  applyRetention,
  DEFAULT_HIDE_INACTIVE_AFTER_DAYS,
  DEFAULT_KEEP_PER_NODE,
  isemsMigrations,
  latestPerNodeQuery,
  nodeHistoryQuery,
  NODE_HISTORY_LIMIT,
  toApiRow,
} from '../../lib/isems/schema';
import type { DatabaseConfigNode } from '../iotp-database/iotp-database';
import { ThrottledStatus } from '../shared/status';

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

type QueryMessage = NodeMessageInFlow & {
  req?: { query?: Record<string, unknown>; params?: Record<string, unknown> };
  statusCode?: number;
  headers?: Record<string, string>;
  nodeId?: unknown;
  all?: unknown;
};

/** A number property after `${ENV}` substitution; empty (an unset variable) means the default. */
function numberSetting(value: unknown, fallback: number, name: string, integer: boolean): number {
  const text = String(value ?? '').trim();
  if (text === '') return fallback;
  const number = Number(text);
  if (!(integer ? /^\d+$/ : /^\d+(\.\d+)?$/).test(text) || !Number.isFinite(number)) {
    throw new IsemsError('ISEMS_BAD_CONFIG', `${name} must be a ${integer ? 'whole ' : ''}number >= 0, not ${JSON.stringify(text.slice(0, 40))}`);
  }
  return number;
}

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
  function IsemsQueryNode(this: Node, def: IsemsQueryNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = RED.nodes.getNode(def.database) as DatabaseConfigNode | null;
    const status = new ThrottledStatus(node);
    const kind: IsemsQueryKind = ['latest', 'history', 'retention'].includes(def.query) ? def.query : 'latest';
    let settings: { days: number; limit: number; keep: number } | undefined;
    let settingsError: Error | undefined;
    try {
      settings = {
        days: numberSetting(def.hideInactiveAfterDays, DEFAULT_HIDE_INACTIVE_AFTER_DAYS, 'HIDE_INACTIVE_AFTER_DAYS', false),
        limit: numberSetting(def.limit, NODE_HISTORY_LIMIT, 'limit', true),
        keep: numberSetting(def.keepPerNode, DEFAULT_KEEP_PER_NODE, 'ISEMS_RETENTION_ROWS', true),
      };
    } catch (error) {
      settingsError = error as Error;
      node.error(RED._('iotp-isems-query.errors.config', { message: settingsError.message }));
      status.set({ fill: 'red', shape: 'ring', text: RED._('iotp-isems-query.status.badConfig') });
    }

    const run = async (database: Database, msg: QueryMessage): Promise<{ payload: unknown; text: string }> => {
      // The table may not exist yet (nothing stored so far): the API answers [] instead of failing.
      await config!.migrate(isemsMigrations);
      const started = Date.now();
      if (kind === 'retention') {
        const result = await applyRetention(database, { keepPerNode: settings!.keep });
        return { payload: result, text: RED._('iotp-isems-query.status.retention', { deleted: result.deleted, nodes: result.nodes, ms: Date.now() - started }) };
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

    node.on('input', (msg: QueryMessage, send, done) => {
      // An HTTP request must be answered even when the query fails, in words (the client's own
      // mistake keeps its reason); the error itself, driver text and all, still reaches Catch.
      const answerError = (error: Error, answer: { status: number; error: string; code?: string; retryAfterSeconds?: number }): void => {
        if (msg.req) {
          msg.statusCode = answer.status;
          msg.payload = { error: answer.error, ...(answer.code ? { code: answer.code } : {}) };
          if (answer.retryAfterSeconds !== undefined) msg.headers = { ...msg.headers, 'retry-after': String(answer.retryAfterSeconds) };
          send(msg);
        }
        done(error);
      };
      const notConfigured = { status: 500, error: 'measurements API not configured', code: 'NOT_CONFIGURED' };
      if (settingsError) return answerError(settingsError, notConfigured);
      if (!config) return answerError(new Error(RED._('iotp-isems-query.errors.noDatabase')), notConfigured);
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
          status.set({ fill: 'red', shape: 'ring', text: RED._('iotp-isems-query.status.error', { message: error.message.slice(0, 30) }) });
          answerError(error, error instanceof IsemsError ? { status: 400, error: error.message } : databaseFailure(error));
        },
      );
    });

    node.on('close', () => {
      status.stop();
      config?.release(node);
    });
  }

  RED.nodes.registerType('iotp-isems-query', IsemsQueryNode as unknown as Parameters<NodeAPI['nodes']['registerType']>[1]);
}
