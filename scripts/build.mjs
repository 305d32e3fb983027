#!/usr/bin/env node
// Builds the package: TypeScript -> CommonJS in dist/, then places each node's editor HTML and
// locale catalogs next to its compiled entry (where Node-RED's loader looks for them), the icons
// once, and ships flows/*.json as the package's examples/.
//
//   node scripts/build.mjs              build
//   node scripts/build.mjs --if-stale   build only when a source is newer than the last build
//                                       (`npm start` and `npm test` call this: the published
//                                       package has no `prepare` script, so `npm install` builds nothing)
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { expandRows } from './editor-rows.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
/** Written after every successful build; a source newer than it means dist/ is stale. */
const stampFile = join(root, 'dist', '.build-stamp');
const SOURCES = [
  'package.json',
  'tsconfig.json',
  'scripts/build.mjs',
  'scripts/editor-rows.mjs',
  'lib',
  'nodes',
  'icons',
  'flows',
  'test',
  'bench',
];

function fail(message) {
  console.error(`build: ${message}`);
  process.exit(1);
}

/** Newest modification time under a path (directories count too: a deleted file changes its directory's). */
function newestMtime(path) {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

function isStale() {
  if (!existsSync(stampFile) || !existsSync(join(root, 'examples'))) return true;
  const built = statSync(stampFile).mtimeMs;
  return SOURCES.some((source) => newestMtime(join(root, source)) > built);
}

// Sources changed while this build runs must make the next --if-stale build again.
const startedAt = new Date();
if (process.argv.includes('--if-stale')) {
  // Only a source checkout has a tsconfig.json; a copy that ships dist/ (the Node-RED 5 mirror of
  // the tests, an installed package) runs what it has, whatever the files' times after copying.
  if (!existsSync(join(root, 'tsconfig.json')) && existsSync(join(root, 'dist', 'nodes'))) process.exit(0);
  if (!isStale()) process.exit(0);
  console.log(existsSync(stampFile) ? 'build: sources changed since the last build; building' : 'build: not built yet; building');
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

/**
 * The editor's style sets `white-space: nowrap` on every <code> (help included), so a long JSON
 * example or URL in a help page runs out of the sidebar. Each help page gets a wrapper and a style
 * scoped to it (present only while that page is shown), so its code wraps and other nodes' help
 * is untouched.
 */
const HELP_STYLE =
  '<style>.iotp-help code{white-space:normal;overflow-wrap:anywhere}.iotp-help pre{white-space:pre-wrap;overflow-wrap:anywhere}</style>';
function wrapHelp(html) {
  return html.replace(/(<script type="text\/html" data-help-name="[^"]+">)([\s\S]*?)(<\/script>)/g, (_, open, body, close) =>
    body.includes('class="iotp-help"') ? `${open}${body}${close}` : `${open}${HELP_STYLE}<div class="iotp-help">${body}</div>${close}`,
  );
}

// Node folders: runtime .ts compiled by tsc; editor html (its one-line form rows written out, see
// editor-rows.mjs) and locales beside the output.
const nodesDir = join(root, 'nodes');
const iconsDir = join(root, 'icons');
const usedIcons = new Set();
for (const name of existsSync(nodesDir) ? readdirSync(nodesDir) : []) {
  const src = join(nodesDir, name);
  if (!statSync(src).isDirectory() || name === 'shared') continue;
  const out = join(root, 'dist', 'nodes', name);
  mkdirSync(out, { recursive: true });
  // Icons of earlier builds (which copied them beside every node) must not reach the tarball.
  rmSync(join(out, 'icons'), { recursive: true, force: true });
  for (const file of readdirSync(src)) {
    if (!file.endsWith('.html')) continue;
    const editor = readFileSync(join(src, file), 'utf8');
    try {
      writeFileSync(join(out, file), expandRows(editor, `nodes/${name}/${file}`));
    } catch (err) {
      fail(err.message);
    }
    for (const [, icon] of editor.matchAll(/\bicon:\s*['"]([^'"/]+\.(?:svg|png))['"]/g)) usedIcons.add(icon);
  }
  if (existsSync(join(src, 'locales'))) {
    cpSync(join(src, 'locales'), join(out, 'locales'), { recursive: true });
    for (const lang of readdirSync(join(out, 'locales'))) {
      const help = join(out, 'locales', lang, `${name}.html`);
      if (existsSync(help)) writeFileSync(help, wrapHelp(readFileSync(help, 'utf8')));
    }
  }
}

// Icons, once: Node-RED registers every `icons/` folder beside one of a module's node files for
// all the module's nodes (they are addressed as <module>/<icon>), so one folder, beside the first
// declared node, serves every node.
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const entries = Object.values(pkg['node-red'].nodes);
const iconsOut = join(root, dirname(entries[0]), 'icons');
mkdirSync(iconsOut, { recursive: true });
for (const icon of [...usedIcons].sort()) {
  if (!existsSync(join(iconsDir, icon))) fail(`an editor file uses icon ${icon}, which is not in icons/`);
  cpSync(join(iconsDir, icon), join(iconsOut, icon));
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
for (const [type, entry] of Object.entries(pkg['node-red'].nodes)) {
  if (!existsSync(join(root, entry))) fail(`node-red.nodes.${type} points at missing ${entry}`);
  if (!existsSync(join(root, entry.replace(/\.js$/, '.html')))) fail(`${entry} has no editor .html beside it`);
}
writeFileSync(stampFile, `${startedAt.toISOString()}\n`);
utimesSync(stampFile, startedAt, startedAt);
console.log('build: ok');
