/**
 * Completion tracking for at-least-once sources (the MQTT ingest node).
 *
 * A message from the broker is acknowledged only when every node it reached downstream has
 * finished with it, i.e. called `done()` (the writer does so only once its rows are committed or
 * journaled; `done(err)` means it deliberately went to an error path). The source stamps the
 * message with a completion id (`msg._iotpAck`, a string, so it survives Node-RED's message
 * cloning); runtime hooks count deliveries and completions of messages carrying it:
 *
 *   preDeliver  the message (or a clone) is about to reach a node       -> pending + 1
 *   onComplete  a node called done() / done(err) for it                 -> pending - 1
 *
 * When the count returns to zero the source's settle callback runs. A node that forwards a
 * message calls send() before done(), so the count never touches zero in between. A merged
 * message (one output from several inputs) may carry an array of ids.
 *
 * A message that is still pending after `staleAfterMs` (a node in the flow never calls done())
 * is settled anyway with outcome 'timeout' and reported: the flow must not stall forever.
 *
 * While a deploy restarts nodes, Node-RED routes a message sent to a node that is out of the flow
 * nowhere, without an error and without calling preDeliver; a message routed to a node just before
 * the deploy closed it reaches a node without input handlers and vanishes too. The sender's done()
 * would then complete it as if it had been stored. So preRoute counts the routes a message takes,
 * and a route that never reached preDeliver (or that onReceive finds without a handler) was
 * dropped: the message settles as 'undelivered', and its source hands it over again rather than
 * acknowledging it. A node that is delivered a message while it is going away (a writer already
 * closing) gives it back the same way with giveBack() instead of failing it.
 */
import type { NodeAPI } from 'node-red';
import { checkNodeInputHandlers, hasInputHandler } from '../../lib/private-apis';

export const COMPLETION_PROPERTY = '_iotpAck';
/** A journaled message's receive-journal position (`<journal id>:<seq>`), for writers to record with its rows. */
export const JOURNAL_POSITION_PROPERTY = '_iotpJournal';
/** Set on a message the receive journal hands over again after a restart. */
export const JOURNAL_REPLAY_PROPERTY = '_iotpReplay';

export type CompletionOutcome = 'completed' | 'failed' | 'unrouted' | 'timeout' | 'undelivered';
/** For 'failed': the first error a node completed the message with, and that node. */
export interface CompletionFailure {
  error: unknown;
  node?: { id: string; type?: string; name?: string };
}
export type Settle = (id: string, outcome: CompletionOutcome, failure?: CompletionFailure) => void;

interface Pending {
  count: number;
  since: number;
  settle: Settle;
  /** Routes started (preRoute) and routes that reached a node (preDeliver): fewer deliveries = a copy was dropped. */
  routes: number;
  deliveries: number;
  failure?: CompletionFailure;
}

const pending = new Map<string, Pending>();
let installedOn: NodeAPI | undefined;
let sweeper: NodeJS.Timeout | undefined;
let staleAfterMs = 300_000;
let onStale: ((id: string, ageMs: number) => void) | undefined;

function idsOf(msg: unknown): string[] {
  const value = (msg as Record<string, unknown> | null | undefined)?.[COMPLETION_PROPERTY];
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return [];
}

/**
 * Calls `visit` for each tracked entry a message carries. The hooks run for every message of
 * every flow, so this allocates nothing: most messages carry no id, the tracked ones one.
 */
function forEachEntry<A>(msg: unknown, visit: (id: string, entry: Pending, arg: A) => void, arg: A): void {
  const value = (msg as Record<string, unknown> | null | undefined)?.[COMPLETION_PROPERTY];
  if (typeof value === 'string') {
    const entry = pending.get(value);
    if (entry) visit(value, entry, arg);
  } else if (Array.isArray(value)) {
    for (const id of value) {
      if (typeof id !== 'string') continue;
      const entry = pending.get(id);
      if (entry) visit(id, entry, arg);
    }
  }
}

function countRoute(_id: string, entry: Pending): void {
  entry.routes += 1;
}

function countDelivery(_id: string, entry: Pending): void {
  entry.count += 1;
  entry.deliveries += 1;
}

function countCompletion(id: string, entry: Pending, event: CompletionEvent): void {
  entry.count -= 1;
  if (event.error && !entry.failure) {
    const node = event.node?.node;
    entry.failure = { error: event.error, node: event.node ? { id: event.node.id, type: node?.type, name: node?.name } : undefined };
  }
  if (entry.count <= 0) finish(id, entry, dropped(entry) ? 'undelivered' : entry.failure ? 'failed' : 'completed');
}

interface CompletionEvent {
  msg: unknown;
  error?: unknown;
  node?: { id: string; node?: { type?: string; name?: string } };
}

/** Some copy was routed to a node that was not in the flow: Node-RED dropped it. */
function dropped(entry: Pending): boolean {
  return entry.routes > entry.deliveries;
}

function finish(id: string, entry: Pending, outcome: CompletionOutcome): void {
  pending.delete(id);
  entry.settle(id, outcome, outcome === 'failed' ? entry.failure : undefined);
  if (pending.size === 0 && sweeper) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
}

function sweep(): void {
  const now = Date.now();
  // Map iteration follows insertion order: the oldest entries come first.
  for (const [id, entry] of pending) {
    const age = now - entry.since;
    if (age < staleAfterMs) break;
    onStale?.(id, age);
    finish(id, entry, dropped(entry) ? 'undelivered' : 'timeout');
  }
}

type Hooks = { add(id: string, handler: (event: never) => void): void; remove(id: string): void };

/**
 * The runtime's hook registry. node-red-node-test-helper's RED object has no `hooks`; there the
 * registry is the @node-red/util singleton the runtime under test also uses.
 */
function runtimeHooks(RED: NodeAPI): Hooks {
  const own = (RED as unknown as { hooks?: Hooks }).hooks;
  if (own) return own;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('@node-red/util') as { hooks: Hooks }).hooks;
}

/**
 * Throws DependencyApiError unless `node` (a source node, just created by Node-RED) keeps its input
 * handlers where the onReceive hook below looks for them: a source calls it at start, so a
 * Node-RED that changed them stops the source instead of acknowledging what a closed node dropped.
 */
export function checkCompletionSupport(RED: NodeAPI, node: object): void {
  // The runtime's node API answers version() with a string (its typings say Promise).
  const version = (RED as unknown as { version?: () => unknown }).version?.();
  checkNodeInputHandlers(node, typeof version === 'string' ? version : undefined);
}

/** Installs the two hooks once per runtime (idempotent). */
export function installCompletionHooks(
  RED: NodeAPI,
  options: { staleAfterMs?: number; onStale?: (id: string, ageMs: number) => void } = {},
): void {
  if (options.staleAfterMs) staleAfterMs = options.staleAfterMs;
  if (options.onStale) onStale = options.onStale;
  if (installedOn === RED) return;
  installedOn = RED;
  const hooks = runtimeHooks(RED);
  // Idempotent per hook registry: a runtime (or test helper) may load the module more than once.
  hooks.remove('*.iotp-completion');
  hooks.add('preRoute.iotp-completion', (event: { msg: unknown }) => forEachEntry(event.msg, countRoute, undefined));
  hooks.add('preDeliver.iotp-completion', (event: { msg: unknown }) => forEachEntry(event.msg, countDelivery, undefined));
  // A message routed to a node just before a deploy closed it reaches the node after its close:
  // Node-RED has removed the node's input handlers by then and the message vanishes (no done(),
  // no error), so it would wait for the stale timeout and be acknowledged. That delivery is
  // taken back instead and the message settles as undelivered. (A node with an input always has
  // a handler while it runs.)
  hooks.add('onReceive.iotp-completion', (event: { msg: unknown; destination?: { node?: unknown } }) => {
    const target = event.destination?.node;
    if (typeof target !== 'object' || target === null || hasInputHandler(target)) return;
    giveBack(event.msg);
  });
  hooks.add('onComplete.iotp-completion', (event: CompletionEvent) => forEachEntry(event.msg, countCompletion, event));
}

/**
 * Takes back a delivery that a node cannot process because it is going away (a deploy closing it):
 * the message settles as 'undelivered' once its other deliveries are done, and its source hands it
 * over again instead of acknowledging it. For a node that would otherwise call done(err), which
 * counts as deliberately sent to an error path, i.e. acknowledged unstored. Call it instead of
 * done(). False when the message carries no tracked id: the node then reports the error as usual.
 */
export function giveBack(msg: unknown): boolean {
  let tracked = false;
  for (const id of idsOf(msg)) {
    const entry = pending.get(id);
    if (!entry || entry.deliveries === 0) continue;
    tracked = true;
    entry.deliveries -= 1;
    entry.count -= 1;
    if (entry.count <= 0) finish(id, entry, 'undelivered');
  }
  return tracked;
}

/**
 * Sends `msg` stamped with `id` and tracks it: `settle` runs once, when every node it reached has
 * completed it (immediately with 'unrouted' when the source's output is not wired anywhere). Ids
 * the message already carries are kept beside `id`.
 */
export function sendTracked(send: (msg: object) => void, msg: Record<string, unknown>, id: string, settle: Settle): void {
  const entry: Pending = { count: 0, since: Date.now(), settle, routes: 0, deliveries: 0 };
  pending.set(id, entry);
  // A message that already carries ids (an MQTT message passed on by a parser) keeps them: the
  // source's acknowledgement and this tracking then both wait for the same downstream completion.
  const carried = idsOf(msg);
  msg[COMPLETION_PROPERTY] = carried.length > 0 ? [...carried, id] : id;
  send(msg);
  // preDeliver runs synchronously inside send(): no delivery means nobody will complete it.
  if (entry.count === 0 && pending.get(id) === entry) finish(id, entry, dropped(entry) ? 'undelivered' : 'unrouted');
  else if (!sweeper && pending.size > 0) {
    sweeper = setInterval(sweep, Math.min(10_000, staleAfterMs));
    sweeper.unref?.();
  }
}

/** Forgets tracked ids (their source disconnected: the broker redelivers them). */
export function forgetTracked(ids: Iterable<string>): void {
  for (const id of ids) pending.delete(id);
}

/** Open entries (for status and tests). */
export function pendingCompletions(): number {
  return pending.size;
}
