/**
 * An offline re-implementation of the Flow Library scorecard (node-red-dev validate, rules
 * P01-P07, N01-N02, D01-D02) plus the loader rules Node-RED itself applies, so a package that
 * would be marked down on flows.nodered.org fails here first.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import semver from 'semver';
import { packageRoot } from '../support/node-red';
import { entryDir, literalValue, NodeDefinition, readExamples, readNodeDefinitions, readPackageJson } from '../support/package-info';

const pkg = readPackageJson();
const entries = Object.values(pkg['node-red']?.nodes ?? {});
const definitions: NodeDefinition[] = entries.flatMap((entry) => readNodeDefinitions(entry));
const NODE_RED_5_MIN_NODE = '22.9.0';

function installedNodeRed(dir: string): string | undefined {
  const file = join(dir, 'node_modules', 'node-red', 'package.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version : undefined;
}

describe('Flow Library scorecard (offline)', () => {
  it('P01: declares a license', () => {
    assert.ok(pkg.license && pkg.license.length > 0);
    assert.ok(existsSync(join(packageRoot, 'LICENSE')), 'LICENSE file');
  });

  it('P03: has a repository and bugs URL', () => {
    assert.ok(pkg.repository, 'repository');
    assert.ok(pkg.bugs, 'bugs');
  });

  it('P04: the name is allowed (scoped, or node-red-contrib-*, never a bare node-red-* name)', () => {
    const scoped = pkg.name.startsWith('@');
    assert.ok(scoped || !/^(node-red|nodered)(?!-contrib-)/.test(pkg.name), pkg.name);
  });

  it('P05: has the node-red keyword (the Flow Library rejects modules without it)', () => {
    assert.ok(pkg.keywords?.includes('node-red'));
  });

  it('P06: node-red.version is satisfied by every Node-RED version the suite runs on', () => {
    const range = pkg['node-red']?.version;
    assert.ok(range, 'node-red.version');
    const tested = [installedNodeRed(packageRoot), installedNodeRed(join(packageRoot, '.cache', 'nr5')), '4.1.0', '5.0.0'].filter(
      (v): v is string => Boolean(v),
    );
    for (const version of tested) assert.ok(semver.satisfies(version, range), `${version} does not satisfy ${range}`);
  });

  it('P07: engines.node admits Node 20 and the minimum Node of Node-RED 5', () => {
    const range = pkg.engines?.node;
    assert.ok(range, 'engines.node');
    assert.ok(semver.satisfies(NODE_RED_5_MIN_NODE, range), `${NODE_RED_5_MIN_NODE} vs ${range}`);
    assert.ok(semver.satisfies('20.0.0', range), `20.0.0 vs ${range}`);
  });

  it('D01: at most 6 runtime dependencies; the toolchain stays in devDependencies', () => {
    const runtime = Object.keys(pkg.dependencies ?? {});
    assert.ok(runtime.length <= 6, runtime.join(', '));
    for (const devOnly of ['node-red', 'node-red-node-test-helper', 'mocha', 'typescript']) {
      assert.ok(!runtime.includes(devOnly), `${devOnly} must be a devDependency`);
      assert.ok(pkg.devDependencies?.[devOnly], `${devOnly} devDependency`);
    }
  });

  it('D02: no known-bad package (agent-base < 6) in the runtime dependency tree', () => {
    const seen = new Set<string>();
    const visit = (name: string, from: string): void => {
      let dir = from;
      let manifest: string | undefined;
      for (;;) {
        const candidate = join(dir, 'node_modules', name, 'package.json');
        if (existsSync(candidate)) {
          manifest = candidate;
          break;
        }
        const parent = join(dir, '..');
        if (parent === dir) break;
        dir = parent;
      }
      if (!manifest || seen.has(manifest)) return;
      seen.add(manifest);
      const child = JSON.parse(readFileSync(manifest, 'utf8')) as PackageJsonLike;
      if (name === 'agent-base') assert.ok(semver.gte(child.version, '6.0.0'), `agent-base ${child.version}`);
      for (const dep of Object.keys(child.dependencies ?? {})) visit(dep, join(manifest, '..'));
    };
    for (const dep of [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.optionalDependencies ?? {})]) visit(dep, packageRoot);
    assert.ok(seen.size > 0);
  });

  it('declares its nodes, each entry built with its editor HTML beside it', () => {
    assert.ok(entries.length > 0, 'node-red.nodes is empty');
    for (const entry of entries) {
      assert.ok(existsSync(join(packageRoot, entry)), entry);
      assert.ok(existsSync(join(packageRoot, entry.replace(/\.js$/, '.html'))), `${entry} html`);
    }
  });

  it('editor definitions are literal enough for the scorecard parser', () => {
    assert.ok(definitions.length >= entries.length, 'every entry registers at least one type');
    for (const def of definitions) assert.deepEqual(def.problems, [], `${def.type}: ${def.problems.join(', ')}`);
  });

  it('N01: node types are distinctive (iotp- prefix) and unique within the package', () => {
    const types = definitions.map((d) => d.type);
    assert.equal(new Set(types).size, types.length, 'duplicate type');
    for (const type of types) assert.match(type, /^iotp-[a-z0-9-]+$/);
  });

  it('N02: every example is a JSON array and every non-config node type is used in one', () => {
    const examples = readExamples();
    assert.ok(examples.length > 0, 'no examples/');
    const used = new Set<string>();
    for (const example of examples) {
      assert.ok(Array.isArray(example.nodes), `${example.file} is not an array`);
      for (const node of example.nodes as { type?: string }[]) if (node.type) used.add(node.type);
    }
    for (const def of definitions) {
      if (def.category === 'config') continue;
      assert.ok(used.has(def.type), `${def.type} is not used in any example`);
    }
  });

  it('every example contains a comment node and only core nodes besides ours', () => {
    const ours = new Set(definitions.map((d) => d.type));
    const core = new Set([
      'tab',
      'comment',
      'inject',
      'debug',
      'catch',
      'status',
      'complete',
      'link in',
      'link out',
      'link call',
      'function',
      'change',
      'switch',
      'template',
      'json',
      'delay',
      'trigger',
      'split',
      'join',
      'batch',
      'http in',
      'http response',
      'http request',
      'group',
      'junction',
      'range',
      'filter',
      'rbe',
      'sort',
      'exec',
      'global-config',
    ]);
    // The dashboard pages (6-dashboard-*) add Dashboard 2.0's ui-* nodes; the pipeline examples stay
    // importable and runnable where it is not installed.
    const dashboard = (type: string): boolean => /^ui-/.test(type);
    const examples = readExamples();
    assert.ok(
      examples.some((e) => /^6-dashboard-/.test(e.file.split('/').pop() ?? '')),
      'the dashboard examples are shipped',
    );
    for (const example of examples) {
      const nodes = example.nodes as { type: string }[];
      const isDashboard = /^6-dashboard-/.test(example.file.split('/').pop() ?? '');
      assert.ok(
        nodes.some((n) => n.type === 'comment'),
        `${example.file} has no comment node`,
      );
      for (const node of nodes)
        assert.ok(ours.has(node.type) || core.has(node.type) || (isDashboard && dashboard(node.type)), `${example.file}: ${node.type}`);
      if (isDashboard)
        assert.ok(
          nodes.some((n) => dashboard(n.type)),
          `${example.file} has no dashboard node`,
        );
    }
  });

  it('a configuration node shared by several examples has the same definition in each', () => {
    const seen = new Map<string, { file: string; json: string }>();
    for (const example of readExamples()) {
      for (const node of example.nodes as Record<string, unknown>[]) {
        if (node.z !== undefined || node.type === 'tab' || node.type === 'global-config') continue;
        const { x: _x, y: _y, ...definition } = node;
        const json = JSON.stringify(definition);
        const first = seen.get(String(node.id));
        if (first) assert.equal(json, first.json, `${node.id} differs between ${first.file} and ${example.file}`);
        else seen.set(String(node.id), { file: example.file, json });
      }
    }
  });

  it('icons, message catalogs and help sit where the loader looks, for every node', () => {
    for (const def of definitions) {
      const dir = entryDir(def.entry);
      const base = def.entry.split('/').pop()!.replace(/\.js$/, '');
      const icon = literalValue(def.properties.get('icon'));
      if (typeof icon === 'string' && !icon.startsWith('font-awesome/') && !icon.includes('/')) {
        // Node-RED serves a module's icons from the icons/ folder beside any of its node files.
        const packageIcon = definitions.some((other) => existsSync(join(entryDir(other.entry), 'icons', icon)));
        const stockIcons = ['db.svg', 'bridge.svg', 'inject.svg', 'debug.svg', 'function.svg', 'file.svg'];
        assert.ok(packageIcon || stockIcons.includes(icon), `${def.type}: icon ${icon} not in an icons/ folder beside a node`);
      }
      const catalog = join(dir, 'locales', 'en-US', `${base}.json`);
      assert.ok(existsSync(catalog), `${def.type}: message catalog ${catalog}`);
      JSON.parse(readFileSync(catalog, 'utf8'));
      const helpFile = join(dir, 'locales', 'en-US', `${base}.html`);
      assert.ok(existsSync(helpFile), `${def.type}: help ${helpFile}`);
      const help = readFileSync(helpFile, 'utf8');
      const block = help.match(new RegExp(`data-help-name="${def.type}"[^>]*>([\\s\\S]*?)</script>`));
      assert.ok(block, `${def.type}: no help block`);
      if (def.category !== 'config') {
        // Inputs/Outputs sections are owed where the node has inputs/outputs; Details always.
        const sections = ['Details'];
        if (Number(literalValue(def.properties.get('inputs')) ?? 0) > 0) sections.push('Inputs');
        if (literalValue(def.properties.get('outputs')) !== 0) sections.push('Outputs');
        for (const section of sections) assert.match(block[1], new RegExp(`<h3>${section}</h3>`), `${def.type}: help lacks ${section}`);
      } else {
        assert.match(block[1], /<h3>Details<\/h3>/, `${def.type}: help lacks Details`);
      }
    }
  });

  it('ships flows/*.json as examples/', () => {
    const flows = readdirSync(join(packageRoot, 'flows'))
      .filter((f) => f.endsWith('.json'))
      .sort();
    const examples = readdirSync(join(packageRoot, 'examples'))
      .filter((f) => f.endsWith('.json'))
      .sort();
    assert.deepEqual(examples, flows);
  });
});

interface PackageJsonLike {
  version: string;
  dependencies?: Record<string, string>;
}
