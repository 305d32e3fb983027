/**
 * A node's view of the environment, as its `${NAME}` properties see it: its flow tab's
 * environment variables, the global ones (Settings → Environment), then the process's. The package
 * only reads it: loading the package changes nothing in the host's environment.
 */
import type { Node, NodeAPI, NodeMessage } from 'node-red';
import type { EnvLookup } from '../../lib/env-reference';

export function flowEnv(RED: NodeAPI, node: Node): EnvLookup {
  return (name) => {
    // An 'env'-typed property is the public way in: RED.util has no getSetting in its typings.
    const value: unknown = RED.util.evaluateNodeProperty(name, 'env', node, {} as NodeMessage);
    return value === undefined || value === null ? undefined : String(value);
  };
}
