/**
 * iotp-db-write: thin glue around lib/writer's RowWriter. A message's `done()` (and its output)
 * fires only once its rows are committed or journaled, which is what lets an at-least-once MQTT
 * source acknowledge the broker at the right moment.
 */
import type { NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { join } from 'node:path';
import type { Database, MigrationSet } from '../../lib/db/types';
import { gateDatabase } from '../../lib/db/gate';
import {
  RowWriter,
  type CloseReport,
  type DeliveryResult,
  type OverflowPolicy,
  type RejectedRow,
  type WriterStats,
} from '../../lib/writer';
import type { ConflictPolicy } from '../../lib/db/insert';
import { findMigrationSet, parseCustomMigrationSet } from '../../lib/migrations';
import { writerNumbers, writerTableSettings } from '../../lib/writer/settings';
import type { DatabaseConfigNode } from '../shared/config-nodes';
import { defineNode } from '../shared/define-node';
import { journalRoot } from '../shared/directories';
import { compactCount } from '../shared/status';
import { giveBack, JOURNAL_POSITION_PROPERTY, JOURNAL_REPLAY_PROPERTY } from '../shared/completion';
import { arrivals } from '../../lib/arrivals';
import { writerTables } from '../shared/arrival-feeds';
import { closeBudget } from '../shared/close-budget';
import type { WriterSnapshot } from '../../lib/pipeline-stats';

interface WriterNodeDef extends NodeDef {
  database: string;
  table: string;
  columns: string;
  conflict: ConflictPolicy;
  conflictKeys: string;
  updateColumns: string;
  migrationSet: string;
  customMigrations: string;
  batchSize: number | string;
  maxLatency: number | string;
  maxBuffered: number | string;
  maxInFlight: number | string;
  overflow: OverflowPolicy;
  journal: boolean;
}

/** How long a closed writer still counts as holding rows (lib/arrivals.ts) when no successor replaces it. */
const SUCCESSOR_GRACE_MS = 10_000;

export default function register(RED: NodeAPI): void {
  defineNode<WriterNodeDef>(RED, {
    type: 'iotp-db-write',
    setup(kit) {
      const { node, config: def, status, startupFailed, onInput } = kit;
      const config = def.database ? (RED.nodes.getNode(def.database) as DatabaseConfigNode | null) : null;
      let writer: RowWriter | undefined;
      let ticker: NodeJS.Timeout | undefined;
      let unregisterArrivals: (() => void) | undefined;

      // Read by the iotp-stats node (a dashboard on another tab): what the status shows, as data.
      Object.defineProperty(node, 'pipelineStats', {
        value: (): Omit<WriterSnapshot, 'tab'> => {
          const stats = writer?.stats();
          return {
            kind: 'writer',
            id: node.id,
            name: node.name || '',
            table: def.table,
            schema: def.migrationSet === 'custom' ? 'custom' : def.migrationSet || '',
            state: stats ? stats.state : 'failed',
            rowsPerSecond: stats ? Math.round(stats.rowsPerSecond * 10) / 10 : 0,
            committed: stats ? stats.committed : 0,
            backlogRows: stats ? stats.backlogRows + stats.journalRows : 0,
            journalRows: stats ? stats.journalRows : 0,
            pendingSince: writer ? writer.pendingSince() : null,
            lastError: kit.startupError?.message ?? (stats && stats.state !== 'ok' ? (stats.lastError?.message ?? null) : null),
          };
        },
      });

      const fail = (message: string, statusText?: string): void => startupFailed(new Error(message), { status: statusText });

      if (!config) {
        fail(RED._('iotp-db-write.errors.noDatabase'));
      } else {
        try {
          let migrations: MigrationSet | undefined;
          if (def.migrationSet === 'custom') migrations = parseCustomMigrationSet(def.customMigrations);
          else if (def.migrationSet) {
            migrations = findMigrationSet(def.migrationSet);
            if (!migrations) throw new Error(RED._('iotp-db-write.errors.unknownSet', { name: def.migrationSet }));
          }
          const database: Database = config.acquire(node);
          // Every statement waits until this writer's schema is in place; while the database is
          // unreachable the gate fails like a statement would, so rows are buffered and journaled.
          const gated = migrations ? gateDatabase(database, () => config.migrate(migrations)) : database;
          writer = new RowWriter({
            db: gated,
            table: def.table,
            ...writerTableSettings(def),
            ...writerNumbers(def),
            // Batches form while the database works: low latency at low rates, and full batches
            // even when an at-least-once source bounds its unacknowledged messages below batchSize.
            flushWhenIdle: true,
            overflow: def.overflow || 'backpressure',
            journalDir: def.journal === false ? undefined : join(journalRoot(RED), node.id.replace(/[^A-Za-z0-9_.-]/g, '_')),
            warn: (message: string) => node.warn(message),
          });
          // Rows this writer holds are still on their way into the database: a connector reading it
          // waits for them. Keyed by node id: after a redeploy the closed writer (its rows
          // journaled) counts until the new one, which replays that journal, takes its place.
          const rowWriter = writer;
          unregisterArrivals = arrivals.register(
            {
              database: config.identity,
              tables: writerTables(def),
              label: `db write "${node.name || node.id}"`,
              heldSince: () => rowWriter.pendingSince(),
            },
            `iotp-db-write:${node.id}`,
          );
          writer.on('state', (state: string) => {
            // 'connecting' (a retry in progress) says nothing new: report only settled states.
            if (state === 'ok') config.reportReachable(true);
            else if (state === 'down') config.reportReachable(false, writer?.stats().lastError?.message);
          });
        } catch (err) {
          // A missing SQLite driver is no settings mistake: its message already says what to do.
          if ((err as { code?: unknown }).code === 'DB_SQLITE_UNAVAILABLE')
            fail((err as Error).message, RED._('iotp-db-write.status.sqliteUnavailable'));
          else fail(RED._('iotp-db-write.errors.badConfig', { message: (err as Error).message }));
        }
      }

      const showStatus = (stats: WriterStats): void => {
        const rate = compactCount(stats.rowsPerSecond);
        const backlog = compactCount(stats.backlogRows);
        if ((stats.state === 'down' || stats.state === 'connecting') && stats.lastError?.code === 'DB_ADOPTION_REFUSED') {
          // The database node logged what it found and what to do; the rows wait meanwhile.
          status.set({
            fill: 'red',
            shape: 'ring',
            text: RED._('iotp-db-write.status.refused', { backlog: compactCount(stats.backlogRows + stats.journalRows) }),
          });
        } else if (stats.state === 'down' || stats.state === 'connecting') {
          const text =
            stats.journalRows > 0
              ? RED._('iotp-db-write.status.journaled', { journal: compactCount(stats.journalRows) })
              : RED._('iotp-db-write.status.down', { backlog });
          status.set({ fill: 'red', shape: 'ring', text });
        } else if (stats.state === 'closing') {
          status.set({ fill: 'yellow', shape: 'ring', text: RED._('iotp-db-write.status.closing') });
        } else {
          const text =
            stats.backlogRows > 0 ? RED._('iotp-db-write.status.backlog', { rate, backlog }) : RED._('iotp-db-write.status.ok', { rate });
          status.set({ fill: stats.backlogRows > 0 ? 'yellow' : 'green', shape: 'dot', text });
        }
      };
      if (writer) {
        // One status refresh per node, twice a second at most (ThrottledStatus drops repeats).
        ticker = setInterval(() => writer && showStatus(writer.stats()), 500);
        ticker.unref?.();
      }

      onInput((msg, send, done) => {
        // Only after a start-up failure, whose messages never reach this handler.
        if (!writer) return done();
        const payload = msg.payload;
        const rows = Array.isArray(payload) ? payload : [payload];
        if (
          rows.length === 0 ||
          rows.some((row) => typeof row !== 'object' || row === null || Array.isArray(row) || Buffer.isBuffer(row))
        ) {
          return done(new Error(RED._('iotp-db-write.errors.badPayload')));
        }
        writer.write(
          rows,
          (err: Error | null, result: DeliveryResult) => {
            const stored = { committed: result.committed, journaled: result.journaled };
            (msg as NodeMessageInFlow & { stored?: unknown }).stored = stored;
            if (result.rejected.length > 0) {
              const reason = result.rejected[0].reason;
              const error = new Error(
                RED._('iotp-db-write.errors.rejected', { count: result.rejected.length, total: rows.length, reason }),
              );
              (msg as NodeMessageInFlow & { rejected?: unknown }).rejected = result.rejected.map((r: RejectedRow) => ({
                index: r.index,
                reason: r.reason,
                code: r.code,
              }));
              return done(error);
            }
            if (err) {
              // Refused because this node is closing (a deploy replaces it): hand the message back
              // to an at-least-once source, which delivers it again to the new node, rather than
              // fail it, which the source would acknowledge although nothing was stored.
              if ((err as { code?: unknown }).code === 'WRITER_CLOSED' && giveBack(msg)) return;
              return done(err);
            }
            send(msg);
            done();
          },
          {
            position: (msg as Record<string, unknown>)[JOURNAL_POSITION_PROPERTY],
            replayed: (msg as Record<string, unknown>)[JOURNAL_REPLAY_PROPERTY] === true,
          },
        );
      });

      node.on('close', (removed: boolean, closed: () => void) => {
        if (ticker) clearInterval(ticker);
        const done = (): void => {
          // Removed: gone for good. Otherwise the successor replaces the registration (see above);
          // without one (Node-RED stopping) it lapses after a grace period.
          if (removed) unregisterArrivals?.();
          else if (unregisterArrivals) setTimeout(unregisterArrivals, SUCCESSOR_GRACE_MS).unref?.();
          config?.release(node);
          closed();
        };
        if (!writer) return done();
        // Leave a margin inside Node-RED's close timeout: what is not written by then is journaled.
        writer.close(closeBudget(RED, 2000, 1000)).then(
          (report: CloseReport) => {
            if (report.journaled > 0 || report.journalRows > 0)
              node.log(`closed with ${report.journalRows} row(s) journaled for the next start`);
            done();
          },
          (err: Error) => {
            node.error(err.message);
            done();
          },
        );
      });
    },
  });
}
