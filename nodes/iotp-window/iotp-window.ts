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
 */
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from 'node-red';
import { WindowError, WindowRunner, parseWindowSettings, type WindowNodeProperties, type WindowSettings } from '../../lib/window';
import { migrateNodeConfig } from '../shared/config-version';
import { ThrottledStatus } from '../shared/status';

type WindowNodeDef = NodeDef & WindowNodeProperties & { version?: number };
type Done = (err?: Error) => void;
type Send = (msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null>) => void;

/** Context key of the persisted state. */
export const STATE_KEY = 'iotp-window-state';
/** Readings held while the saved state is read back at start; beyond this they are refused. */
const MAX_WAITING = 10_000;
/** The timer never sleeps longer than this (keeps it robust to clock jumps). */
const MAX_SLEEP_MS = 60_000;

/**
 * The last state of each node that was stopped without being removed, for the runtime's next
 * instance of it. Node-RED deletes a node's context on close unless a context store is configured,
 * so without one this is what carries the windows over a redeploy (not a restart).
 */
const redeployed = new Map<string, unknown>();
let warnedNoStore = false;

/** The context store for window state: one named `file` if the settings define it, else the default. */
export function persistentStore(contextStorage: unknown): string | undefined {
  return contextStorage !== null && typeof contextStorage === 'object' && Object.prototype.hasOwnProperty.call(contextStorage, 'file') ? 'file' : undefined;
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
  function WindowNode(this: Node, def: WindowNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const status = new ThrottledStatus(node);
    let settings: WindowSettings;
    try {
      settings = parseWindowSettings(migrateNodeConfig(def as unknown as Record<string, unknown>, []) as WindowNodeProperties);
    } catch (err) {
      const message = (err as Error).message;
      node.error(RED._('iotp-window.errors.config', { message }));
      status.set({ fill: 'red', shape: 'ring', text: RED._('iotp-window.status.config') });
      node.on('input', (_msg: NodeMessageInFlow, _send: Send, done: Done) => done(err as Error));
      return;
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
          text: late > 0
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
        const input = m.payload;
        const outcome = r.accept(m);
        // Output 2: the reading as the windows counted it (and the payload as it arrived), for a
        // writer: it stores exactly what counts, never what a window refused. A new object with
        // the same completion id: an at-least-once source waits for that writer too.
        const { series, value, time } = outcome.reading;
        const counted = { ...m, payload: { series, value, time, epochSeconds: time / 1000, input } };
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

    node.on('input', (msg: NodeMessageInFlow, out: Send, done: Done) => {
      if (runner) return handle(msg, out, done);
      if (closing || waiting.length >= MAX_WAITING) return done(new WindowError('WINDOW_OVERFLOW', RED._('iotp-window.errors.notReady')));
      waiting.push([msg, out, done]);
    });

    const start = (persisted: unknown): void => {
      if (closing) return;
      const created = WindowRunner.create(settings, { persisted });
      runner = created.runner;
      if (created.discarded) node.warn(RED._('iotp-window.errors.discarded', { message: created.discarded.message }));
      for (const [msg, out, done] of waiting.splice(0)) handle(msg, out, done);
      showStatus();
      // Tumbling windows that closed while the node was down are emitted on the first tick.
      arm();
    };

    const restoreCallback = (err: Error | null | undefined, value: unknown): void => {
      if (err) node.warn(RED._('iotp-window.errors.restore', { message: err.message }));
      const carried = redeployed.get(node.id);
      redeployed.delete(node.id);
      start(err || value === undefined ? carried : value);
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
      status.stop();
      for (const [, , inputDone] of waiting.splice(0)) inputDone(new WindowError('WINDOW_OVERFLOW', RED._('iotp-window.errors.notReady')));
      // Removed: the runtime deletes the node's context; nothing to keep.
      if (removed || !runner) {
        redeployed.delete(node.id);
        return done();
      }
      persist(() => done());
    });
  }

  RED.nodes.registerType('iotp-window', WindowNode as unknown as Parameters<NodeAPI['nodes']['registerType']>[1]);
}
