/**
 * Which nodes a node's messages can reach, read from the flow configuration (plain objects, as
 * Node-RED's runtime holds them): along wires, from a `link out` to its `link in` nodes, and from
 * a static `link call` into the nodes it calls and on along its own wires. Where the path cannot
 * be followed statically (a subflow instance, a dynamic `link call`, a `link out` returning to
 * whichever call came), the answer says it is incomplete, so callers can fall back to assuming
 * "anything". Pure: no Node-RED imports.
 */

export interface FlowNodeConfig {
  id: string;
  type: string;
  wires?: unknown;
  links?: unknown;
  mode?: unknown;
  linkType?: unknown;
}

export interface Downstream {
  /** Every node reachable from the start node (not the start node itself, unless a loop leads back). */
  nodes: FlowNodeConfig[];
  /** False when some path leaves what the configuration shows (see above). */
  complete: boolean;
}

/** Beyond this many nodes a flow is walked no further and the answer is incomplete. */
const MAX_VISITED = 100_000;

function ids(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (!Array.isArray(value)) return [];
  return value.flat().filter((id): id is string => typeof id === 'string');
}

export function downstreamOf(startId: string, nodes: ReadonlyMap<string, FlowNodeConfig>): Downstream {
  const start = nodes.get(startId);
  if (!start) return { nodes: [], complete: false };
  const seen = new Set<string>();
  const reached: FlowNodeConfig[] = [];
  let complete = true;
  const queue: string[] = ids(start.wires);
  while (queue.length > 0) {
    const id = queue.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    if (seen.size > MAX_VISITED) return { nodes: reached, complete: false };
    const node = nodes.get(id);
    if (!node) continue; // a wire to a deleted node: Node-RED drops such messages too
    reached.push(node);
    if (node.type.startsWith('subflow:')) {
      complete = false;
      continue;
    }
    if (node.type === 'link out') {
      if (node.mode === 'return') complete = false;
      else queue.push(...ids(node.links));
    } else if (node.type === 'link call') {
      if (node.linkType === 'dynamic') complete = false;
      else queue.push(...ids(node.links));
    }
    queue.push(...ids(node.wires));
  }
  return { nodes: reached, complete };
}
