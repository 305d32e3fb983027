/**
 * iotp-batch-post: the data connector. Reads a window's readings with the node's SQL query, cuts
 * them into BATCH_SIZE requests and POSTs them to the endpoint through a durable outbox.
 *
 * Schedule mode: one timer per node; each tick delivers the windows due after the bookmark (in the
 * database, moved only after every batch of a window was acknowledged), catching up after downtime.
 * Request mode: a message `{payload: {start_time, end_time}}` (or the request API through
 * iotp-connector-api) delivers that window without touching the bookmark.
 * Logic lives in lib/connector; this file is the Node-RED glue.
 */
import type { NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from 'node-red';
import { BookmarkStore, connectorMigrations } from '../../lib/connector/bookmark';
import { pushRecent, type ConnectorSnapshot, type ConnectorWindowEvent } from '../../lib/pipeline-stats';
import { ConnectorEngine, type ConnectorEvent, type TickReport } from '../../lib/connector/engine';
import { ConnectorError } from '../../lib/connector/errors';
import { Outbox, outboxOwnerId } from '../../lib/connector/outbox';
import { HttpPoster } from '../../lib/connector/poster';
import { httpNodeBaseUrl, type HttpNodeSettings } from '../../lib/connector/own-endpoint';
import type { RequestApiEngine } from '../../lib/connector/auth';
import { windowQueryParams } from '../../lib/connector/query';
import {
  nextTickDelay,
  resolveBatchPostConfig,
  settingText,
  type BatchPostConfig,
  type BatchPostNodeSettings,
} from '../../lib/connector/settings';
import { formatUtc } from '../../lib/connector/time';
import type { TimeWindow } from '../../lib/connector/windows';
import { isDatabaseError } from '../../lib/db/errors';
import type { Database } from '../../lib/db/types';
import type { BatchPostNode, DatabaseConfigNode } from '../shared/config-nodes';
import { arrivals, type ArrivalReader } from '../../lib/arrivals';
import { tablesRead } from '../../lib/sql-tables';
import { defineNode } from '../shared/define-node';
import { credentialOrEnv } from '../shared/flow-env';
import { compactCount } from '../shared/status';

interface BatchPostNodeDef extends NodeDef, BatchPostNodeSettings {
  database: string;
  bookmark?: string;
  version?: number;
}

type Done = (err?: Error) => void;
type Send = (msg: NodeMessage | (NodeMessage | null)[]) => void;

/** The request API's answer while the connector cannot run (API answers are English, like lib/connector/auth.ts). */
const NOT_RUNNING = 'the connector is not running (its status and the Node-RED log say why)';

/** Work still running at close is aborted after this, inside Node-RED's 15 s close timeout. */
const CLOSE_GRACE_MS = 10_000;

function windowFields(window: TimeWindow): { start_time: string; end_time: string } {
  return { start_time: formatUtc(window.start), end_time: formatUtc(window.end) };
}

function clip(text: string, max = 40): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export default function register(RED: NodeAPI): void {
  defineNode<BatchPostNodeDef, BatchPostNode>(RED, {
    type: 'iotp-batch-post',
    credentials: {
      apiKey: { type: 'password' },
    },
    // Its start-up failure is no kit.startupFailed: the request API (iotp-connector-api) and
    // the status keep saying why the connector is not running, and messages end with NOT_READY.
    setup({ node, config: settings, status, userDir }) {
      const databaseNode = RED.nodes.getNode(settings.database) as DatabaseConfigNode | null;

      let engine: ConnectorEngine | undefined;
      let unavailable = RED._('iotp-batch-post.errors.starting');
      /** What request API clients are told meanwhile: words, not the reason's paths or addresses. */
      let unavailableToClients = unavailable;
      let closing = false;
      let timer: NodeJS.Timeout | undefined;
      let migrated = false;
      let lastDeliveredEnd: number | undefined;
      let lastError: string | undefined;
      let leaseBusy = false;
      /** Due windows waiting for rows still on their way in, since when those may be arriving, and through which node. */
      let held: { windows: number; since: number; source: string } | undefined;
      /** For the iotp-stats node: the stored bookmark and the last tick's backlog, recent outcomes (bounded). */
      let bookmarkStore: BookmarkStore | undefined;
      let storedBookmark: number | null = null;
      let windowsDue = 0;
      let windowsHeld = 0;
      const lastDeliveries: ConnectorWindowEvent[] = [];
      const lastFailures: ConnectorWindowEvent[] = [];
      /** Input messages waiting for their request task, by task id. */
      const waiting = new Map<string, { msg: NodeMessageInFlow; send: Send; done: Done }>();

      const notReady = (): never => {
        throw new ConnectorError('NOT_READY', unavailableToClients);
      };
      Object.defineProperty(node, 'requestApi', {
        value: {
          submit: (start: unknown, end: unknown) => (engine ? engine.submit(start, end) : notReady()),
          getTask: (id: string) => (engine ? engine.getTask(id) : notReady()),
        } satisfies RequestApiEngine,
      });

      function connectorState(): ConnectorSnapshot['state'] {
        if (!engine) return current ? 'unavailable' : 'starting';
        if (lastError !== undefined) return 'failed';
        if (leaseBusy) return 'standby';
        if (held) return 'held';
        return 'ready';
      }

      Object.defineProperty(node, 'pipelineStats', {
        value: (): Omit<ConnectorSnapshot, 'tab'> => ({
          kind: 'connector',
          id: node.id,
          name: node.name || '',
          state: connectorState(),
          bookmark: storedBookmark,
          intervalMinutes: current?.schedule ? current.intervalMs / 60_000 : null,
          windowsDue,
          windowsHeld,
          outboxBatches: engine ? engine.stats().outboxBatches : 0,
          lastError: lastError ?? (engine ? null : unavailable),
          lastDeliveries: lastDeliveries.slice(),
          lastFailures: lastFailures.slice(),
        }),
      });

      function recordOutcome(delivered: boolean, payload: Record<string, unknown>): void {
        const event: ConnectorWindowEvent = {
          origin: String(payload.origin ?? ''),
          start_time: String(payload.start_time ?? ''),
          end_time: String(payload.end_time ?? ''),
          at: Date.now(),
        };
        if (typeof payload.readings === 'number') event.readings = payload.readings;
        if (typeof payload.batches === 'number') event.batches = payload.batches;
        if (typeof payload.task_id === 'string') event.task_id = payload.task_id;
        if (typeof payload.status === 'string') event.status = payload.status;
        if (!delivered) event.reason = String(payload.reason ?? payload.status ?? '');
        pushRecent(delivered ? lastDeliveries : lastFailures, event);
      }

      function render(): void {
        if (!engine) {
          status.set({ fill: 'red', shape: 'ring', text: clip(unavailable, 60) });
          return;
        }
        const pending = compactCount(engine.stats().outboxBatches);
        if (lastError !== undefined) {
          status.set({ fill: 'red', shape: 'ring', text: RED._('iotp-batch-post.status.failed', { reason: clip(lastError), pending }) });
        } else if (leaseBusy) {
          status.set({ fill: 'grey', shape: 'ring', text: RED._('iotp-batch-post.status.standby', { pending }) });
        } else if (held) {
          const since = held.since > 0 ? `${formatUtc(held.since).slice(11, 19)} UTC` : RED._('iotp-batch-post.status.sinceStart');
          const key = held.windows === 1 ? 'iotp-batch-post.status.heldOne' : 'iotp-batch-post.status.held';
          status.set({ fill: 'yellow', shape: 'ring', text: RED._(key, { windows: held.windows, source: held.source, since, pending }) });
        } else if (lastDeliveredEnd !== undefined) {
          status.set({
            fill: 'green',
            shape: 'dot',
            text: RED._('iotp-batch-post.status.delivered', { time: formatUtc(lastDeliveredEnd).slice(5, 16).replace('T', ' '), pending }),
          });
        } else {
          status.set({ fill: 'grey', shape: 'dot', text: RED._('iotp-batch-post.status.ready', { pending }) });
        }
      }

      function emitOutput(delivered: boolean, payload: Record<string, unknown>): void {
        recordOutcome(delivered, payload);
        if (closing) return;
        const msg: NodeMessage = { topic: delivered ? 'delivered' : 'failed', payload };
        node.send(delivered ? [msg, null] : [null, msg]);
      }

      /** True when the event belongs to a task of this run (its outcome is reported once, when the task finishes). */
      const isLiveTask = (taskId: string | undefined): boolean => taskId !== undefined && engine?.getTask(taskId) !== undefined;

      function onEvent(event: ConnectorEvent): void {
        switch (event.type) {
          case 'window-delivered':
            if (event.origin === 'request' && isLiveTask(event.taskId)) break;
            if (event.origin === 'schedule') lastDeliveredEnd = event.window.end;
            lastError = undefined;
            emitOutput(true, {
              origin: event.origin,
              ...windowFields(event.window),
              batches: event.batches,
              readings: event.readings,
              ...(event.taskId ? { task_id: event.taskId } : {}),
            });
            break;
          case 'window-failed':
            if (event.origin === 'request' && isLiveTask(event.taskId)) break;
            lastError = event.reason;
            emitOutput(false, {
              origin: event.origin,
              ...windowFields(event.window),
              reason: event.reason,
              retryable: event.retryable,
              ...(event.status !== undefined ? { status: event.status } : {}),
              ...(event.taskId ? { task_id: event.taskId } : {}),
            });
            break;
          case 'fetch-failed':
            if (event.origin === 'request' && isLiveTask(event.taskId)) break;
            lastError = RED._('iotp-batch-post.errors.fetch', { reason: event.reason });
            emitOutput(false, { origin: event.origin, ...windowFields(event.window), reason: lastError, retryable: true });
            break;
          case 'rows-rejected':
            node.warn(
              RED._('iotp-batch-post.errors.rowsRejected', {
                count: event.count,
                ...windowFields(event.window),
                reason: event.examples[0]?.reason ?? '',
              }),
            );
            break;
          case 'backpressure':
            lastError = RED._('iotp-batch-post.errors.outboxFull', { batches: event.batches });
            break;
          case 'lease-busy':
            leaseBusy = true;
            break;
          case 'bookmark-conflict':
            node.warn(RED._('iotp-batch-post.errors.bookmarkConflict', windowFields(event.window)));
            break;
          case 'task-finished': {
            const ok = event.task.state === 'SUCCESS';
            if (ok) lastError = undefined;
            else lastError = event.task.status;
            const payload = { origin: 'request', task_id: event.taskId, ...windowFields(event.window), ...event.task };
            const entry = waiting.get(event.taskId);
            if (!entry) {
              emitOutput(ok, payload);
              break;
            }
            waiting.delete(event.taskId);
            recordOutcome(ok, payload);
            if (!closing) {
              entry.msg.payload = payload;
              entry.send(ok ? [entry.msg, null] : [null, entry.msg]);
            }
            entry.done();
            break;
          }
          case 'error':
            lastError = event.reason;
            node.error(RED._('iotp-batch-post.errors.engine', { reason: event.reason }));
            break;
        }
        render();
      }

      function scheduleTick(delayMs: number): void {
        if (closing) return;
        timer = setTimeout(runTick, delayMs);
      }

      async function runTick(): Promise<void> {
        timer = undefined;
        const running = engine;
        const config = current;
        if (!running || !config || closing) return;
        if (config.schedule && !migrated) {
          try {
            await (databaseNode as DatabaseConfigNode).migrate(connectorMigrations);
            migrated = true;
          } catch (err) {
            lastError = RED._('iotp-batch-post.errors.migrate', { reason: (err as Error).message });
            render();
            return scheduleTick(nextTickDelay(Date.now(), config.intervalMs, config.settleMs, { backlog: 0, failed: 1 }));
          }
        }
        leaseBusy = false; // a lease-busy event during the tick sets it again
        const report: TickReport = await running.tick();
        // A tick that ran cleanly ends what an earlier failure said (a fetch during an outage).
        if (report.failed === 0 && report.skipped === undefined) lastError = undefined;
        const holder = report.held && reader ? arrivals.earliest(reader, Date.now(), config.settleMs) : null;
        held = report.held
          ? { windows: report.held, since: report.heldSince ?? 0, source: clip(holder?.source.label ?? '?', 30) }
          : undefined;
        if (report.skipped === undefined || report.skipped === 'lease-busy') {
          windowsDue = report.backlog;
          windowsHeld = report.held ?? 0;
          // One primary-key read per tick; standby instances see the bookmark the schedule holder moves.
          if (bookmarkStore) storedBookmark = (await bookmarkStore.read().catch(() => null))?.windowEnd ?? storedBookmark;
        }
        render();
        scheduleTick(nextTickDelay(Date.now(), config.intervalMs, config.settleMs, report));
      }

      let current: BatchPostConfig | undefined;
      /** What the schedule waits for: rows on their way into the tables the query names, in its database. */
      let reader: ArrivalReader | undefined;

      async function start(config: BatchPostConfig, database: Database): Promise<void> {
        const { outbox, problems } = await Outbox.open(config.outboxDir, {
          maxBatches: config.outboxMaxBatches,
          maxBytes: config.outboxMaxBytes,
        });
        for (const problem of problems)
          node.warn(RED._('iotp-batch-post.errors.outboxProblem', { file: problem.file, reason: problem.reason }));
        const instanceId = await outboxOwnerId(config.outboxDir);
        const poster = new HttpPoster({ endpoint: config.endpoint, apiKey: config.apiKey, timeoutMs: config.timeoutMs });
        const bookmarkName = settingText(settings.bookmark) ?? `iotp-batch-post:${node.id}`;
        const tables = tablesRead(config.query);
        const waitFor: ArrivalReader | undefined = databaseNode
          ? { database: databaseNode.identity, ...(tables ? { tables } : {}) }
          : undefined;
        reader = waitFor;
        engine = new ConnectorEngine({
          fetchRows: async (window) => {
            try {
              const result = await database.select(config.query, { ...windowQueryParams(window) }, config.maxRows);
              databaseNode?.reportReachable(true);
              if (result.truncated) throw new Error(RED._('iotp-batch-post.errors.tooManyRows', { max: config.maxRows }));
              return result.rows;
            } catch (err) {
              if (isDatabaseError(err) && err.kind === 'connection') databaseNode?.reportReachable(false, err.message);
              throw err;
            }
          },
          poster,
          outbox,
          batchSize: config.batchSize,
          columns: config.columns,
          sendEmptyWindows: config.sendEmptyWindows,
          retry: config.retry,
          ...(config.schedule
            ? {
                schedule: {
                  intervalMs: config.intervalMs,
                  settleMs: config.settleMs,
                  maxWindowsPerTick: config.maxWindowsPerTick,
                  ...(config.initialStart !== undefined ? { initialStart: config.initialStart } : {}),
                  ...(config.waitForArrivals && waitFor
                    ? { heldSince: (now: number) => arrivals.heldSince(waitFor, now, config.settleMs) }
                    : {}),
                },
                bookmark: (bookmarkStore = new BookmarkStore(database, bookmarkName)),
              }
            : {}),
          instanceId,
          onEvent,
        });
        current = config;
        render();
        // The first tick resends what a previous run left in the outbox, then (schedule) catches up.
        scheduleTick(0);
      }

      let starting: Promise<void> = Promise.resolve();
      try {
        if (!databaseNode) throw new ConnectorError('INVALID_OPTION', RED._('iotp-batch-post.errors.noDatabase'));
        const config = resolveBatchPostConfig(settings, credentialOrEnv(RED, node, node.credentials?.apiKey, 'POST_DATA_API_KEY'), {
          userDir,
          nodeId: node.id,
          httpNodeBaseUrl: httpNodeBaseUrl(RED.settings as unknown as HttpNodeSettings),
        });
        const database = databaseNode.acquire(node);
        starting = start(config, database).catch((err: unknown) => {
          unavailable = RED._('iotp-batch-post.errors.start', { reason: (err as Error).message });
          unavailableToClients = NOT_RUNNING;
          node.error(unavailable);
          render();
        });
      } catch (err) {
        unavailable = (err as Error).message;
        unavailableToClients = NOT_RUNNING;
        node.error(RED._('iotp-batch-post.errors.config', { reason: unavailable }));
        render();
      }

      Object.defineProperty(node, 'ready', { value: starting });

      node.on('input', (msg: NodeMessageInFlow, send: Send, done: Done) => {
        const body = msg.payload as { start_time?: unknown; end_time?: unknown } | null;
        if (typeof body !== 'object' || body === null || Array.isArray(body)) {
          return done(new ConnectorError('INVALID_BODY', RED._('iotp-batch-post.errors.badInput')));
        }
        // A message that arrives while the connector is starting waits for it (milliseconds).
        void starting.then(() => {
          let taskId: string;
          try {
            taskId = node.requestApi.submit(body.start_time, body.end_time);
          } catch (err) {
            return done(err as Error);
          }
          waiting.set(taskId, { msg, send, done });
          render();
        });
      });

      node.on('close', (_removed: boolean, done: () => void) => {
        closing = true;
        if (timer) clearTimeout(timer);
        timer = undefined;
        const finish = (): void => {
          // Tasks still unfinished (none normally: close fails queued ones) must not hold their messages.
          for (const entry of waiting.values()) entry.done();
          waiting.clear();
          (databaseNode as DatabaseConfigNode | undefined)?.release(node);
          done();
        };
        starting
          .then(() => engine?.close(CLOSE_GRACE_MS))
          .then(finish, (err: unknown) => {
            node.warn(RED._('iotp-batch-post.errors.close', { reason: (err as Error).message }));
            finish();
          });
      });
    },
  });
}
