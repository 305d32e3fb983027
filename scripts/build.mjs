#!/usr/bin/env node
// Builds the package: TypeScript -> CommonJS in dist/, then places each node's editor HTML,
// locale catalogs and the shared icons next to its compiled entry (where Node-RED's loader
// looks for them), and ships flows/*.json as the package's examples/.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

function fail(message) {
  console.error(`build: ${message}`);
  process.exit(1);
}

let tscBin;
try {
  tscBin = require.resolve('typescript/bin/tsc', { paths: [root] });
} catch {
  if (existsSync(join(root, 'dist', 'nodes'))) {
    console.log('build: typescript is not installed (production install); keeping the shipped dist/');
    process.exit(0);
  }
  fail('typescript is not installed; run `npm install` first');
}

const tsc = spawnSync(process.execPath, [tscBin, '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });
if (tsc.status !== 0) fail('TypeScript compilation failed');

// Node folders: runtime .ts compiled by tsc; copy editor html, locales and icons beside the output.
const nodesDir = join(root, 'nodes');
const iconsDir = join(root, 'icons');
for (const name of existsSync(nodesDir) ? readdirSync(nodesDir) : []) {
  const src = join(nodesDir, name);
  if (!statSync(src).isDirectory() || name === 'shared') continue;
  const out = join(root, 'dist', 'nodes', name);
  mkdirSync(out, { recursive: true });
  for (const file of readdirSync(src)) {
    if (file.endsWith('.html')) cpSync(join(src, file), join(out, file));
  }
  if (existsSync(join(src, 'locales'))) cpSync(join(src, 'locales'), join(out, 'locales'), { recursive: true });
  if (existsSync(iconsDir)) cpSync(iconsDir, join(out, 'icons'), { recursive: true });
}

// flows/ -> examples/ (each must be a JSON array so Import > Examples and the scorecard can read it).
const examplesDir = join(root, 'examples');
rmSync(examplesDir, { recursive: true, force: true });
mkdirSync(examplesDir, { recursive: true });
const flowsDir = join(root, 'flows');
for (const file of existsSync(flowsDir) ? readdirSync(flowsDir) : []) {
  if (!file.endsWith('.json')) continue;
  const text = readFileSync(join(flowsDir, file), 'utf8');
  let flow;
  try {
    flow = JSON.parse(text);
  } catch (err) {
    fail(`flows/${file} is not valid JSON: ${err.message}`);
  }
  if (!Array.isArray(flow)) fail(`flows/${file} must be a JSON array of nodes`);
  writeFileSync(join(examplesDir, file), text);
}

// Every declared node entry must exist after the build.
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
for (const [type, entry] of Object.entries(pkg['node-red'].nodes)) {
  if (!existsSync(join(root, entry))) fail(`node-red.nodes.${type} points at missing ${entry}`);
  if (!existsSync(join(root, entry.replace(/\.js$/, '.html')))) fail(`${entry} has no editor .html beside it`);
}
console.log('build: ok');
