/**
 * iotp-db-query: a parameterised SQL statement; named parameters come from the message.
 */
import type { NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { compileNamed } from '../../lib/db/params';
import { isDatabaseError } from '../../lib/db/errors';
import { maxRowsSetting } from '../../lib/db/settings';
import type { Dialect, SqlParams, SqlValue } from '../../lib/db/types';
import type { DatabaseConfigNode } from '../shared/config-nodes';
import { defineNode } from '../shared/define-node';

interface QueryNodeDef extends NodeDef {
  database: string;
  sql: string;
  maxRows: number | string;
}

type QueryMessage = NodeMessageInFlow & { params?: unknown; topic?: string };

function isSqlValue(value: unknown): value is SqlValue {
  return (
    value === null || ['string', 'number', 'bigint', 'boolean'].includes(typeof value) || value instanceof Date || Buffer.isBuffer(value)
  );
}

/**
 * The statement's parameters: msg.params as given when it is an array (positional `?`), else one
 * value per named `:parameter`, looked up in msg.params, then msg.payload (an object), then msg.
 * A name found nowhere is left out, so the database layer reports it as missing by name.
 */
export function parametersFor(sql: string, dialect: Dialect, msg: QueryMessage): SqlParams | undefined {
  if (Array.isArray(msg.params)) return msg.params as SqlValue[];
  const { names } = compileNamed(sql, dialect);
  if (names.length === 0) return undefined;
  const sources = [msg.params, msg.payload, msg].filter(
    (s): s is Record<string, unknown> => typeof s === 'object' && s !== null && !Array.isArray(s) && !Buffer.isBuffer(s),
  );
  const values: Record<string, SqlValue> = {};
  for (const name of names) {
    for (const source of sources) {
      if (!Object.prototype.hasOwnProperty.call(source, name) || source[name] === undefined) continue;
      const value = source[name];
      if (!isSqlValue(value)) throw new TypeError(`SQL parameter :${name} must be a string, number, boolean, null, Date or Buffer`);
      values[name] = value;
      break;
    }
  }
  return values;
}

/** Statements whose first keyword makes them return rows (read under the row limit). */
export function returnsRows(sql: string): boolean {
  const stripped = sql.replace(/^(\s+|--[^\n]*\n|\/\*[\s\S]*?\*\/)+/, '');
  return /^(select|with|show|pragma|explain|describe|desc|values|table)\b/i.test(stripped) || /\breturning\b/i.test(stripped);
}

export default function register(RED: NodeAPI): void {
  defineNode<QueryNodeDef>(RED, {
    type: 'iotp-db-query',
    setup({ node, config: def, status, configNode, onInput }) {
      const config = configNode<DatabaseConfigNode>(def.database, RED._('iotp-db-query.errors.noDatabase'));
      const maxRows = maxRowsSetting(def.maxRows);
      // The full message goes to done(err); the status has room for a hint only.
      const shortStatus = (err: unknown): string =>
        (err as { code?: unknown }).code === 'DB_SQLITE_UNAVAILABLE'
          ? RED._('iotp-db-query.status.sqliteUnavailable')
          : RED._('iotp-db-query.status.error', { message: (err as Error).message.slice(0, 30) });

      onInput<QueryMessage>((msg, send, done) => {
        const sql = (def.sql || '').trim() || (typeof msg.topic === 'string' ? msg.topic.trim() : '');
        // Only after a start-up failure, whose messages never reach this handler.
        if (!config) return done();
        if (!sql) return done(new Error(RED._('iotp-db-query.errors.noSql')));
        const started = Date.now();
        let params: SqlParams | undefined;
        let database;
        try {
          database = config.acquire(node);
          params = parametersFor(sql, database.dialect, msg);
        } catch (err) {
          status.set({ fill: 'red', shape: 'ring', text: shortStatus(err) });
          return done(err as Error);
        }
        const running = returnsRows(sql)
          ? database.select(sql, params, maxRows).then((result) => {
              if (result.truncated) throw new Error(RED._('iotp-db-query.errors.tooManyRows', { max: maxRows }));
              msg.payload = result.rows;
              return RED._('iotp-db-query.status.rows', { count: result.rows.length, ms: Date.now() - started });
            })
          : database.query(sql, params).then((result) => {
              msg.payload = { affectedRows: result.affectedRows, ...(result.insertId !== undefined && { insertId: result.insertId }) };
              return RED._('iotp-db-query.status.changed', { count: result.affectedRows, ms: Date.now() - started });
            });
        running.then(
          (text) => {
            config.reportReachable(true);
            status.set({ fill: 'green', shape: 'dot', text });
            send(msg);
            done();
          },
          (err: unknown) => {
            if (isDatabaseError(err) && err.kind === 'connection') config.reportReachable(false, err.message);
            status.set({ fill: 'red', shape: 'ring', text: shortStatus(err) });
            done(err as Error);
          },
        );
      });

      node.on('close', () => config?.release(node));
    },
  });
}
