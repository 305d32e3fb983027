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

/**
 * A credential, or when the node has none (a flow file imported or seeded without its credentials
 * file) the environment variable that is the credential's editor default: shipped flows then work
 * from the environment alone. An explicitly stored value, even `${OTHER}`, always wins.
 */
export function credentialOrEnv(RED: NodeAPI, node: Node, value: string | undefined, variable: string): string | undefined {
  if (typeof value === 'string' && value !== '') return value;
  // Group, flow and global env (the editor's Environment settings, what Home Assistant add-on
  // users have) before process.env, as for `${VAR}` properties. The public way is an 'env'-typed
  // property: RED.util has no evaluateEnvProperty of its own.
  const resolved: unknown = RED.util.evaluateNodeProperty(variable, 'env', node, {} as NodeMessage);
  return typeof resolved === 'string' && resolved !== '' ? resolved : undefined;
}
