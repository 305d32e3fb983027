#!/usr/bin/env node
// The full fault-under-load soak (test/soak, issue #9): the outage durations, two repeats,
// ~2,200 msg/s; 15-30 minutes. `npm test` runs the same suite as a short variant.
//   npm run soak                         full variant
//   IOTP_SOAK_REPEATS=3 npm run soak     more repeats
//   npm run soak -- --grep 'database'    only some faults (mocha's --grep)
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const build = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' });
if (build.status !== 0) process.exit(1);
const result = spawnSync(
  process.execPath,
  [
    join(root, 'node_modules', 'mocha', 'bin', 'mocha.js'),
    '--exit',
    '--timeout',
    '3600000',
    'dist/test/soak/**/*.test.js',
    ...process.argv.slice(2),
  ],
  { stdio: 'inherit', cwd: root, env: { ...process.env, IOTP_SOAK: process.env.IOTP_SOAK ?? 'full' } },
);
process.exit(result.status ?? 1);
