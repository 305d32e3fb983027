/**
 * The one way this package defines a node: `defineNode(RED, { type, setup })` creates it
 * (`RED.nodes.createNode`), brings its stored properties up to the current config version,
 * gives it a rate-limited status, and registers the type with a typed constructor, so no node
 * casts its constructor for `registerType`.
 *
 * A node that cannot start calls `kit.startupFailed(err)`: the error is logged once, the status
 * turns red, and every message that arrives afterwards ends with `done(err)` (Catch nodes see it),
 * after the node's `refuse` hook answered it where it needs an answer (an HTTP request). Input
 * therefore goes through `kit.onInput`: a node that also listens with `node.on('input')` and
 * fails at start would end each message twice.
 */
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow, NodeStatus } from 'node-red';
import { migrateNodeConfig, type ConfigMigration } from './config-version';
import { userDirectory } from './directories';
import { ThrottledStatus } from './status';

/** Every node stores `version: 1`; a flow saved before versions existed is read as version 0. */
export const CURRENT_CONFIG: readonly ConfigMigration[] = [{ version: 1, up: (config) => ({ ...config }) }];

export type Send = (msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null>) => void;
export type Done = (err?: Error) => void;
export type InputHandler<M> = (msg: M, send: Send, done: Done) => void;

export interface StartupFailure {
  /** What goes to the log (default: the error's message). */
  log?: string;
  /** The status text (default: the error's message cut to 40 characters). */
  status?: string;
}

export interface NodeKit<N extends Node<object>, C> {
  RED: NodeAPI;
  node: N;
  /** Node-RED's user directory (userDirectory in directories.ts). */
  userDir: string;
  /** The node's properties, migrated to the current config version. */
  config: C;
  status: ThrottledStatus;
  /**
   * The config node `id` names, or undefined after a start-up failure with `missing` (the
   * message for a node whose config node is not set or not deployed).
   */
  configNode<T extends Node<object>>(id: string | undefined, missing: string): T | undefined;
  /** Why the node could not start (the first failure wins); later inputs end with it. */
  startupFailed(err: Error, how?: StartupFailure): void;
  readonly startupError: Error | undefined;
  /**
   * The input handler. While the node has a start-up error, `refuse` (when given) answers the
   * message and it ends with `done(startupError)` without reaching `handler`.
   */
  onInput<M extends NodeMessageInFlow = NodeMessageInFlow>(
    handler: InputHandler<M>,
    refuse?: (msg: M, send: Send, err: Error) => void,
  ): void;
}

export interface NodeDefinition<N extends Node<object>, C> {
  type: string;
  /** Steps from older stored properties; default: every node is at version 1. */
  migrations?: readonly ConfigMigration[];
  credentials?: Record<string, { type: 'text' | 'password' }>;
  setup(kit: NodeKit<N, C>): void;
}

/** A thrown value as an Error (something else thrown becomes its text). */
export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

export function defineNode<C extends object = Record<string, unknown>, N extends Node<object> = Node>(
  RED: NodeAPI,
  definition: NodeDefinition<N, C>,
): void {
  const migrations = definition.migrations ?? CURRENT_CONFIG;
  function constructor(this: N, def: NodeDef): void {
    RED.nodes.createNode(this as unknown as Node, def);
    const node = this;
    const config = migrateNodeConfig(def as unknown as Record<string, unknown>, migrations) as unknown as C;
    const status = new ThrottledStatus(node);
    let startupError: Error | undefined;
    let handler: InputHandler<NodeMessageInFlow> | undefined;
    let refuse: ((msg: NodeMessageInFlow, send: Send, err: Error) => void) | undefined;
    let listening = false;
    // One listener, added by the first onInput or startupFailed: a node that failed before it
    // set its handler still ends every message with its error.
    const listen = (): void => {
      if (listening) return;
      listening = true;
      node.on('input', (msg: NodeMessageInFlow, send: Send, done: Done) => {
        if (startupError) {
          refuse?.(msg, send, startupError);
          return done(startupError);
        }
        if (handler) handler(msg, send, done);
        else done();
      });
    };
    const kit: NodeKit<N, C> = {
      RED,
      node,
      userDir: userDirectory(RED),
      config,
      status,
      get startupError() {
        return startupError;
      },
      configNode<T extends Node<object>>(id: string | undefined, missing: string): T | undefined {
        const found = id ? (RED.nodes.getNode(id) as unknown as T | null) : null;
        if (!found) kit.startupFailed(new Error(missing));
        return found ?? undefined;
      },
      startupFailed(err: Error, how: StartupFailure = {}): void {
        if (startupError) return;
        startupError = err;
        node.error(how.log ?? err.message);
        const shown: NodeStatus = { fill: 'red', shape: 'ring', text: how.status ?? err.message.slice(0, 40) };
        status.set(shown);
        listen();
      },
      onInput<M extends NodeMessageInFlow>(input: InputHandler<M>, refusal?: (msg: M, send: Send, err: Error) => void): void {
        handler = input as InputHandler<NodeMessageInFlow>;
        refuse = refusal as typeof refuse;
        listen();
      },
    };
    // Registered first: a node's own close handler runs after its pending status is dropped.
    node.on('close', () => status.stop());
    definition.setup(kit);
  }
  // Node-RED calls the constructor with `new`; its typings want a constructor of `Node` itself.
  RED.nodes.registerType(
    definition.type,
    constructor as unknown as Parameters<NodeAPI['nodes']['registerType']>[1],
    definition.credentials ? { credentials: definition.credentials } : undefined,
  );
}
