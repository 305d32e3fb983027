#!/usr/bin/env node
// Runs the benchmarks (bench/*.bench.ts, compiled to dist/bench): each prints its figures side by
// side with the peers it is compared to, measured in the same run. `npm run bench -- window db`
// runs only benchmarks whose file name contains one of the words.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const filters = process.argv.slice(2);
const build = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' });
if (build.status !== 0) process.exit(1);
const dir = join(root, 'dist', 'bench');
const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.bench.js')).sort() : [];
let failed = false;
for (const file of files) {
  if (filters.length && !filters.some((f) => file.includes(f))) continue;
  console.log(`\n##### ${file.replace(/\.bench\.js$/, '')} #####`);
  const result = spawnSync(process.execPath, ['--expose-gc', join(dir, file)], { stdio: 'inherit', cwd: root });
  if (result.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
