/**
 * What an example brings into a Node-RED it is imported into, read from the flow files: each tab
 * declares the defaults of every variable its nodes read as its own environment variables (where a
 * user sees and edits them), each as an expression that lets the host's environment win; the shared
 * configuration nodes carry their default in the field itself (`${MQTT_URL:-…}`); simulators are off
 * unless the host turns them on; and every example uses the same broker and database node, so
 * importing several opens one connection each. The runtime side (Node-RED 4.1 and 5 resolving
 * these) is tested in test/install.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../support/node-red';

type FlowNode = Record<string, unknown> & { id: string; type: string; z?: string };
interface EnvEntry {
  name: string;
  value: string;
  type: string;
}

const dir = join(packageRoot, 'flows');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort();
const flows = files.map((file) => ({ file, nodes: JSON.parse(readFileSync(join(dir, file), 'utf8')) as FlowNode[] }));

/** `${NAME}` references anywhere in a node's properties, and env-typed properties (`property: NAME, propertyType: env`). */
function referencedVariables(node: FlowNode): Set<string> {
  const names = new Set<string>();
  const visit = (value: unknown, key?: string, owner?: Record<string, unknown>): void => {
    if (typeof value === 'string') {
      for (const match of value.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}/g)) names.add(match[1]);
      // JSONata's $env("NAME") in an expression-typed property.
      for (const match of value.matchAll(/\$env\("([A-Za-z_][A-Za-z0-9_]*)"\)/g)) names.add(match[1]);
      if (owner && key && owner[`${key}Type`] === 'env') names.add(value);
    } else if (Array.isArray(value)) {
      value.forEach((item) => visit(item));
    } else if (value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) visit(v, k, value as Record<string, unknown>);
    }
  };
  // Credentials (`${API_KEY}` references that settings.js moves to flows_cred.json) are secrets:
  // they come from the host's environment or the node's credential fields, never from a tab.
  for (const [key, value] of Object.entries(node)) if (key !== 'info' && key !== 'env' && key !== 'credentials') visit(value, key, node);
  return names;
}

/** The default an entry falls back to: `$env("$parent.NAME") ? $env("$parent.NAME") : "default"` or `$env("$parent.NAME")` (empty). */
function hostFirstDefault(entry: EnvEntry): string | undefined {
  const name = entry.name.replace(/[.$]/g, '\\$&');
  const host = `\\$env\\("\\$parent\\.${name}"\\)`;
  const match = new RegExp(`^${host}(?: \\? ${host} : (.+))?$`).exec(entry.value);
  return match ? (match[1] ?? '""') : undefined;
}

describe('example flows: what importing one changes', () => {
  it('names the tabs "<n> <pipeline>"', () => {
    const labels = flows.map(({ nodes }) => String(nodes.find((n) => n.type === 'tab')?.label));
    const pipelines = ['1 Home Assistant statestream', '2 Rolling averages', '3 ISEMS solar nodes', '4 IoT sensors', '5 Data connector'];
    assert.deepEqual(labels, [...pipelines, ...pipelines.map((name) => `Dashboard: ${name}`)]);
  });

  for (const { file, nodes } of flows) {
    it(`${file}: every variable its tab reads has a default on the tab, which the host's environment overrides`, () => {
      const tab = nodes.find((n) => n.type === 'tab')!;
      const env = (tab.env ?? []) as EnvEntry[];
      const declared = new Map(env.map((entry) => [entry.name, entry]));
      const read = new Set(nodes.filter((n) => n.z === tab.id).flatMap((n) => [...referencedVariables(n)]));
      assert.deepEqual([...read].filter((name) => !declared.has(name)).sort(), [], 'read by the tab but without a default on it');
      assert.deepEqual(
        [...declared.keys()].filter((name) => !read.has(name)).sort(),
        [],
        'declared on the tab but read by none of its nodes',
      );
      for (const entry of env) {
        // A plain value would shadow the host's variable of the same name (a tab's env comes first).
        assert.equal(entry.type, 'jsonata', `${entry.name}: a ${entry.type} entry would hide the host's ${entry.name}`);
        assert.ok(hostFirstDefault(entry) !== undefined, `${entry.name}: ${entry.value} does not read the host's ${entry.name} first`);
      }
      if (declared.has('SIMULATE'))
        assert.equal(hostFirstDefault(declared.get('SIMULATE')!), '"false"', 'simulators stay off until the user turns them on');
    });

    it(`${file}: its global configuration nodes are the shared ones, with their default in the field`, () => {
      for (const node of nodes.filter((n) => n.z === undefined && n.type !== 'tab')) {
        for (const name of referencedVariables(node)) {
          const withDefault = Object.values(node).some((v) => typeof v === 'string' && new RegExp(`^\\$\\{${name}:-[^}]+\\}$`).test(v));
          assert.ok(withDefault, `${node.id} reads ${name} without a default (a global config node sees no tab's environment)`);
        }
      }
    });
  }

  it('shares one MQTT broker (iotp.broker) and one database node (iotp.database), identical in every example', () => {
    for (const [type, id] of [
      ['iotp-mqtt-broker', 'iotp.broker'],
      ['iotp-database', 'iotp.database'],
    ] as const) {
      const shared = flows.flatMap(({ file, nodes }) =>
        nodes.filter((n) => n.type === type && n.z === undefined).map((n) => ({ file, node: n })),
      );
      assert.ok(shared.length > 0, type);
      for (const { file, node } of shared) {
        assert.equal(node.id, id, `${file}: ${type}`);
        assert.deepEqual(node, shared[0].node, `${file}: ${id} differs from ${shared[0].file}'s`);
      }
      assert.match(String(shared[0].node.name), /\S/, `${id} has a name`);
      // Every node of that type's users points at it (or at a config node on its own tab).
      for (const { file, nodes } of flows) {
        const ids = new Set(nodes.filter((n) => n.type === type).map((n) => n.id));
        const key = type === 'iotp-mqtt-broker' ? 'broker' : 'database';
        for (const user of nodes.filter((n) => typeof n[key] === 'string' && n[key] !== ''))
          assert.ok(ids.has(String(user[key])), `${file}: ${user.id}.${key}`);
      }
    }
    const broker = flows.flatMap(({ nodes }) => nodes).find((n) => n.id === 'iotp.broker')!;
    assert.equal(broker.protocolVersion, 'auto', 'MQTT 5 where the broker offers it, else 3.1.1');
  });
});
