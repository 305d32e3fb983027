/**
 * iotp-window: sliding (rolling averages over 1/5/30 min...) or tumbling (one aggregate per series
 * per minute...) time windows. The logic lives in lib/window (WindowRunner); this is the glue:
 * messages in, emissions out, ONE timer per node, state in the node's persistent context.
 *
 * Acknowledgement: a reading's done() is called as soon as it is in the window. The window state
 * is what persists it (snapshotted on close and every few seconds while it changes), so an
 * at-least-once source upstream (iotp-mqtt-in) acknowledges a reading once it was accepted.
 * Outputs derived from many readings (interval emissions, closed tumbling windows) are new
 * messages without the source's completion id.
 *
 * Seed (sliding windows): with a database and a query set, a window that starts without saved
 * state first takes the readings the query returns (rows read like payloads, e.g. the rows a
 * pipeline already stored), so its first output counts them. A window that restored its saved
 * state is not seeded: that state already counts every reading it took, and seeding it again
 * would count them twice. Messages arriving meanwhile wait; one that is the same reading as a
 * seeded row (stored by the flow's writer while the query ran) is counted once.
 */
import type { NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from 'node-red';
import { WindowError, WindowRunner, parseWindowSettings, type WindowNodeProperties, type WindowSettings } from '../../lib/window';
import { readingKey } from '../../lib/window/runner';
import { findMigrationSet } from '../../lib/migrations';
import type { MigrationSet } from '../../lib/db/types';
import type { DatabaseConfigNode } from '../shared/config-nodes';
import { asError, defineNode, type Done, type Send } from '../shared/define-node';

type WindowNodeDef = NodeDef &
  WindowNodeProperties & {
    version?: number;
    /** Seed: the database node to read stored readings from (empty: no seed). */
    seedDatabase?: string;
    /** Seed: the query; `:since_ms` / `:since_s` are the start of the longest window (epoch ms / s). */
    seedQuery?: string;
    /** Seed: a shipped migration set applied first, so the table exists on a fresh database. */
    seedMigrationSet?: string;
  };

/** Context key of the persisted state. */
export const STATE_KEY = 'iotp-window-state';
/** Readings held while the saved state is read back at start; beyond this they are refused. */
const MAX_WAITING = 10_000;
/** The timer never sleeps longer than this (keeps it robust to clock jumps). */
const MAX_SLEEP_MS = 60_000;
/** Most rows a seed query may return (memory does not grow with them; reading them does take time). */
const MAX_SEED_ROWS = 1_000_000;

/**
 * The last state of each node that was stopped without being removed, for the runtime's next
 * instance of it. Node-RED deletes a node's context on close unless a context store is configured,
 * so without one this is what carries the windows over a redeploy (not a restart).
 */
const redeployed = new Map<string, unknown>();
let warnedNoStore = false;

/** The context store for window state: one named `file` if the settings define it, else the default. */
export function persistentStore(contextStorage: unknown): string | undefined {
  return contextStorage !== null && typeof contextStorage === 'object' && Object.prototype.hasOwnProperty.call(contextStorage, 'file')
    ? 'file'
    : undefined;
}

function statusText(values: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(values)) {
    if (name === 'series' || name === 'start' || name === 'end') continue;
    parts.push(`${name} ${value === null ? '–' : typeof value === 'number' ? String(Number(value.toPrecision(6))) : String(value)}`);
  }
  return parts.join(' · ').slice(0, 80);
}

export default function register(RED: NodeAPI): void {
  defineNode<WindowNodeDef>(RED, {
    type: 'iotp-window',
    setup({ node, config: def, status, startupFailed, onInput }) {
      const failed = (err: Error): void =>
        startupFailed(err, {
          log: RED._('iotp-window.errors.config', { message: err.message }),
          status: RED._('iotp-window.status.config'),
        });
      let settings: WindowSettings;
      try {
        settings = parseWindowSettings(def);
      } catch (err) {
        return failed(asError(err));
      }

      let seed: { config: DatabaseConfigNode; query: string; set?: MigrationSet } | undefined;
      if (
        typeof def.seedDatabase === 'string' &&
        def.seedDatabase !== '' &&
        typeof def.seedQuery === 'string' &&
        def.seedQuery.trim() !== ''
      ) {
        const seedConfig = RED.nodes.getNode(def.seedDatabase) as DatabaseConfigNode | null;
        const set = def.seedMigrationSet ? findMigrationSet(def.seedMigrationSet) : undefined;
        const problem =
          settings.mode !== 'sliding'
            ? RED._('iotp-window.errors.seedMode')
            : !seedConfig
              ? RED._('iotp-window.errors.seedDatabase')
              : def.seedMigrationSet && !set
                ? RED._('iotp-window.errors.seedSet', { name: def.seedMigrationSet })
                : undefined;
        if (problem) return failed(new Error(problem));
        seed = { config: seedConfig!, query: def.seedQuery, ...(set ? { set } : {}) };
      }

      const contextStorage = (RED.settings as unknown as Record<string, unknown>).contextStorage;
      const store = persistentStore(contextStorage);
      if (!contextStorage && !warnedNoStore) {
        warnedNoStore = true;
        node.warn(RED._('iotp-window.errors.noStore'));
      }
      const context = node.context();
      let runner: WindowRunner | undefined;
      let closing = false;
      let timer: NodeJS.Timeout | undefined;
      let armedAt = Infinity;
      const waiting: Array<[NodeMessageInFlow, Send, Done]> = [];

      const send = (emissions: { series: string; payload: Record<string, unknown> }[]): void => {
        for (const e of emissions) {
          // New messages: derived from many inputs, so no completion id of any one of them.
          const msg: NodeMessage & Record<string, unknown> = { payload: e.payload };
          if (settings.seriesFrom !== 'single') msg.topic = e.series;
          node.send([msg, null]);
        }
      };

      const showStatus = (): void => {
        if (!runner) return;
        const stats = runner.stats;
        const late = Number(stats.late) || 0;
        const latest = runner.latest;
        if (latest) {
          status.set({
            fill: late > 0 ? 'yellow' : 'green',
            shape: 'dot',
            text:
              late > 0
                ? RED._('iotp-window.status.valuesLate', { values: statusText(latest.values), late })
                : RED._('iotp-window.status.values', { values: statusText(latest.values) }),
          });
        } else {
          const count = runner.mode === 'sliding' ? stats.series : stats.open;
          status.set({ fill: 'grey', shape: 'ring', text: RED._(`iotp-window.status.${runner.mode}`, { count: count ?? 0 }) });
        }
      };

      const persist = (onSaved?: (err?: Error) => void): void => {
        if (!runner) return onSaved?.();
        const state = runner.snapshot();
        if (closing) redeployed.set(node.id, state);
        const callback = (err?: Error | null): void => {
          if (err) node.warn(RED._('iotp-window.errors.persist', { message: err.message }));
          onSaved?.(err ?? undefined);
        };
        if (store) context.set(STATE_KEY, state, store, callback);
        else context.set(STATE_KEY, state, callback);
      };

      /** Arms the node's one timer for the runner's next due time (only ever moves it earlier). */
      const arm = (): void => {
        if (!runner || closing) return;
        const due = runner.nextDueAt();
        if (due === undefined || due >= armedAt) return;
        if (timer) clearTimeout(timer);
        armedAt = due;
        timer = setTimeout(onTimer, Math.min(MAX_SLEEP_MS, Math.max(0, due - Date.now())));
      };

      function onTimer(): void {
        timer = undefined;
        armedAt = Infinity;
        if (!runner || closing) return;
        try {
          const now = Date.now();
          send(runner.tick(now));
          if (runner.snapshotDue(now)) persist();
          showStatus();
        } catch (err) {
          node.error(err);
        }
        arm();
      }

      const handle = (msg: NodeMessageInFlow, out: Send, done: Done): void => {
        const r = runner!;
        const m = msg as unknown as Record<string, unknown>;
        try {
          if (m.reset !== undefined && m.reset !== false) {
            let series: string | undefined;
            if (m.reset !== 'all') {
              try {
                series = r.seriesOf(m);
              } catch {
                series = undefined; // no series on the message: reset everything
              }
            }
            r.reset(series);
            r.latest = undefined;
            showStatus();
            arm();
            return done();
          }
          let alreadyCounted = false;
          if (seeded && seeded.size > 0) {
            // Waiting since before the seed: the same reading may be among the seeded rows.
            const key = readingKey(r.readingOf(m));
            const left = seeded.get(key) ?? 0;
            if (left > 0) {
              alreadyCounted = true;
              if (left === 1) seeded.delete(key);
              else seeded.set(key, left - 1);
            }
          }
          const input = m.payload;
          const outcome = r.accept(m, { counted: alreadyCounted });
          // Output 2: the reading as the windows counted it (and the payload as it arrived), for a
          // writer: it stores exactly what counts, never what a window refused. A new object with
          // the same completion id: an at-least-once source waits for that writer too. A reading
          // the seed already took from the table is stored there: it is not passed on again.
          const { series, value, time } = outcome.reading;
          // epochSeconds is whole: it goes into integer columns (the original's epochtime INTEGER,
          // BIGINT on the servers), and PostgreSQL refuses 1700000000.25 for a BIGINT where SQLite
          // kept it as a REAL and MySQL rounded it. `time` keeps the milliseconds.
          const epochSeconds = Math.floor(time / 1000);
          const counted = alreadyCounted ? null : { ...m, payload: { series, value, time, epochSeconds, input } };
          if (outcome.values) {
            // The same message goes on (its completion id too): its output is its own result.
            m.payload = outcome.values;
            out([msg, counted as unknown as NodeMessage]);
          } else out([null, counted as unknown as NodeMessage]);
          if (outcome.closed.length > 0) send(outcome.closed);
          showStatus();
          arm();
          done();
        } catch (err) {
          if (err instanceof WindowError && err.code === 'LATE_READING') showStatus();
          done(err as Error);
        }
      };

      onInput((msg, out, done) => {
        if (runner) return handle(msg, out, done);
        if (closing || waiting.length >= MAX_WAITING) return done(new WindowError('WINDOW_OVERFLOW', RED._('iotp-window.errors.notReady')));
        waiting.push([msg, out, done]);
      });

      /** The seeded readings not yet matched by a waiting message (see the top of this file). */
      let seeded: Map<string, number> | undefined;

      const readSeed = async (created: WindowRunner): Promise<void> => {
        if (!seed) return;
        status.set({ fill: 'grey', shape: 'ring', text: RED._('iotp-window.status.seeding') });
        try {
          const database = seed.config.acquire(node);
          if (seed.set) await seed.config.migrate(seed.set);
          const since = Date.now() - Math.max(...settings.sliding.windows!.map((w) => (typeof w === 'number' ? w : w.ms)));
          const result = await database.select(seed.query, { since_ms: since, since_s: Math.floor(since / 1000) }, MAX_SEED_ROWS);
          const taken = created.seed(result.rows);
          seeded = taken.keys;
          node.log(RED._('iotp-window.seeded', { taken: taken.taken, skipped: taken.skipped, database: seed.config.description }));
          if (result.truncated) node.warn(RED._('iotp-window.errors.seedTruncated', { max: MAX_SEED_ROWS }));
        } catch (err) {
          // Without its history the window still works: it starts empty, and says so.
          node.warn(RED._('iotp-window.errors.seed', { message: (err as Error).message }));
        }
      };

      const start = async (persisted: unknown): Promise<void> => {
        if (closing) return;
        const created = WindowRunner.create(settings, { persisted });
        if (created.discarded) node.warn(RED._('iotp-window.errors.discarded', { message: created.discarded.message }));
        if (!created.restored) await readSeed(created.runner);
        if (closing) return;
        runner = created.runner;
        for (const [msg, out, done] of waiting.splice(0)) handle(msg, out, done);
        seeded = undefined;
        showStatus();
        // Tumbling windows that closed while the node was down are emitted on the first tick.
        arm();
      };

      const restoreCallback = (err: Error | null | undefined, value: unknown): void => {
        if (err) node.warn(RED._('iotp-window.errors.restore', { message: err.message }));
        const carried = redeployed.get(node.id);
        redeployed.delete(node.id);
        void start(err || value === undefined ? carried : value);
      };
      try {
        if (store) context.get(STATE_KEY, store, restoreCallback);
        else context.get(STATE_KEY, restoreCallback);
      } catch (err) {
        restoreCallback(err as Error, undefined);
      }

      node.on('close', (removed: boolean, done: () => void) => {
        closing = true;
        if (timer) clearTimeout(timer);
        timer = undefined;
        for (const [, , inputDone] of waiting.splice(0))
          inputDone(new WindowError('WINDOW_OVERFLOW', RED._('iotp-window.errors.notReady')));
        if (seed) seed.config.release(node);
        // Late readings already acknowledged upstream: their windows go out now, not after a restart
        // that no longer holds those closed windows.
        if (runner) send(runner.pendingRevisions());
        // Removed: the runtime deletes the node's context; nothing to keep.
        if (removed || !runner) {
          redeployed.delete(node.id);
          return done();
        }
        persist(() => done());
      });
    },
  });
}
