/**
 * Reads what the Flow Library scorecard (node-red-dev validate) reads: package.json, each node's
 * editor HTML (the literal `RED.nodes.registerType` calls inside `<script type="text/javascript">`),
 * and the example flows.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as acorn from 'acorn';
import { packageRoot } from './node-red';

export interface PackageJson {
  name: string;
  version: string;
  license?: string;
  repository?: unknown;
  bugs?: unknown;
  keywords?: string[];
  engines?: { node?: string };
  files?: string[];
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  'node-red'?: { version?: string; nodes?: Record<string, string> };
}

export function readPackageJson(): PackageJson {
  return JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as PackageJson;
}

export interface NodeDefinition {
  type: string;
  /** The entry (.js) that registers it, relative to the package root. */
  entry: string;
  category?: string;
  properties: Map<string, acorn.Node>;
  problems: string[];
}

type AnyNode = acorn.Node & Record<string, unknown>;

function walk(node: unknown, visit: (n: AnyNode) => void): void {
  if (!node || typeof node !== 'object') return;
  if (Array.isArray(node)) {
    for (const child of node) walk(child, visit);
    return;
  }
  const n = node as AnyNode;
  if (typeof n.type === 'string') visit(n);
  for (const key of Object.keys(n)) {
    if (key === 'loc' || key === 'range') continue;
    const value = n[key];
    if (value && typeof value === 'object') walk(value, visit);
  }
}

const SCRIPT_BLOCK = /<script\s+type=["']text\/javascript["'][^>]*>([\s\S]*?)<\/script>/gi;

/** Parses the editor HTML beside an entry like node-red-dev's checknodes.js does. */
export function readNodeDefinitions(entry: string): NodeDefinition[] {
  const htmlPath = join(packageRoot, entry.replace(/\.js$/, '.html'));
  const html = readFileSync(htmlPath, 'utf8');
  const definitions: NodeDefinition[] = [];
  for (const block of html.matchAll(SCRIPT_BLOCK)) {
    const program = acorn.parse(block[1], { ecmaVersion: 'latest', sourceType: 'script' });
    walk(program, (node) => {
      if (node.type !== 'CallExpression') return;
      const callee = node.callee as AnyNode;
      const isRegister = callee.type === 'MemberExpression' && (callee.property as AnyNode).name === 'registerType';
      if (!isRegister) return;
      const [typeArg, defArg] = node.arguments as AnyNode[];
      const problems: string[] = [];
      if (!typeArg || typeArg.type !== 'Literal') {
        problems.push('registerType type is not a literal');
        return;
      }
      const properties = new Map<string, acorn.Node>();
      if (!defArg || defArg.type !== 'ObjectExpression') {
        problems.push('definition is not an inline object');
      } else {
        for (const prop of defArg.properties as AnyNode[]) {
          const key = prop.key as AnyNode | undefined;
          if (key) properties.set(String(key.name ?? key.value), prop.value as acorn.Node);
        }
      }
      for (const literalProp of ['category', 'color', 'icon', 'inputs', 'outputs']) {
        const value = properties.get(literalProp) as AnyNode | undefined;
        if (value && value.type !== 'Literal') problems.push(`${literalProp}-not-inline`);
      }
      for (const objectProp of ['defaults', 'credentials']) {
        const value = properties.get(objectProp) as AnyNode | undefined;
        if (value && value.type !== 'ObjectExpression') problems.push(`${objectProp}-not-inline`);
      }
      const category = properties.get('category') as AnyNode | undefined;
      definitions.push({
        type: String(typeArg.value),
        entry,
        category: category?.type === 'Literal' ? String(category.value) : undefined,
        properties,
        problems,
      });
    });
  }
  return definitions;
}

export function literalValue(node: acorn.Node | undefined): unknown {
  const n = node as AnyNode | undefined;
  return n?.type === 'Literal' ? n.value : undefined;
}

/** Every JSON file under examples/, recursively, as node-red-dev N02 reads them. */
export function readExamples(): { file: string; nodes: unknown }[] {
  const dir = join(packageRoot, 'examples');
  const found: { file: string; nodes: unknown }[] = [];
  const visit = (d: string): void => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) visit(path);
      else if (name.endsWith('.json')) found.push({ file: path, nodes: JSON.parse(readFileSync(path, 'utf8')) });
    }
  };
  if (existsSync(dir)) visit(dir);
  return found;
}

export function entryDir(entry: string): string {
  return join(packageRoot, dirname(entry));
}
