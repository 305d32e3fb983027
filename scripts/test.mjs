#!/usr/bin/env node
// The whole test suite, in the order the project promises: build + type-check, lint, package
// checks, unit, hostile-input (fuzz), node, integration, end-to-end, soak (faults under load, short) and install tests on Node 20 with Node-RED 4.1, then the same
// runtime stages on Node 22 with Node-RED 5 (prepared by scripts/nr5.mjs in .cache/nr5).
//
//   npm test                      everything
//   npm test -- --only unit,node  some stages (names below)
//   IOTP_SKIP_NR5=1 npm test      skip the Node 22 / Node-RED 5 leg (local iteration only)
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { prepareNr5 } from './nr5.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const onlyArg = args.find((a) => a.startsWith('--only'));
const only = onlyArg ? (onlyArg.includes('=') ? onlyArg.split('=')[1] : args[args.indexOf(onlyArg) + 1]).split(',') : null;
const totalsFile = join(tmpdir(), `iotp-test-totals-${process.pid}.jsonl`);
rmSync(totalsFile, { force: true });

// soak: the short variant of the fault-under-load suite (`npm run soak` runs the full one).
const mochaStages = ['package', 'unit', 'fuzz', 'node', 'integration', 'e2e', 'soak', 'install'];
const timeouts = { package: 60000, unit: 20000, fuzz: 300000, node: 30000, integration: 120000, e2e: 240000, soak: 600000, install: 600000 };

function run(title, command, commandArgs, options = {}) {
  const started = Date.now();
  console.log(`\n=== ${title} ===`);
  const result = spawnSync(command, commandArgs, {
    stdio: 'inherit',
    cwd: options.cwd ?? root,
    env: { ...process.env, IOTP_TEST_TOTALS: totalsFile, ...options.env },
  });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const ok = result.status === 0;
  console.log(`=== ${title}: ${ok ? 'ok' : `FAILED (exit ${result.status ?? result.signal})`} in ${seconds}s ===`);
  return ok;
}

function mocha(stage, cwd, nodeBinary, label) {
  const dir = join(cwd, 'dist', 'test', stage);
  if (!existsSync(dir)) {
    console.log(`\n=== ${label}: no tests ===`);
    return true;
  }
  const mochaBin = join(cwd, 'node_modules', 'mocha', 'bin', 'mocha.js');
  return run(label, nodeBinary, [
    mochaBin,
    '--recursive',
    '--exit',
    '--timeout', String(timeouts[stage]),
    '--reporter', join(cwd, 'dist', 'test', 'support', 'reporter.js'),
    `dist/test/${stage}/**/*.test.js`,
  ], { cwd });
}

const wanted = (name) => !only || only.includes(name);
let ok = true;

if (wanted('build')) ok = run('build + type-check', process.execPath, [join(root, 'scripts', 'build.mjs')]) && ok;
// Stages run without the build stage still run what the sources say, not an older dist/.
else ok = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs'), '--if-stale'], { stdio: 'inherit' }).status === 0;
if (!ok) process.exit(1);
if (wanted('lint')) ok = run('lint', process.execPath, [join(root, 'node_modules', 'eslint', 'bin', 'eslint.js'), '--max-warnings=0', '.']) && ok;
for (const stage of mochaStages) {
  if (wanted(stage)) ok = mocha(stage, root, process.execPath, `${stage} tests (Node ${process.versions.node}, Node-RED ${nodeRedVersion(root)})`) && ok;
}

if (wanted('nr5') && !/^(1|true)$/.test(process.env.IOTP_SKIP_NR5 ?? '')) {
  console.log('\n=== preparing Node 22 + Node-RED 5 ===');
  const nr5 = prepareNr5();
  // The install stage runs once, from the root: it already installs into Node-RED 4.1 and 5.
  for (const stage of ['unit', 'node', 'integration', 'e2e']) {
    if (!only || only.includes(stage) || only.includes('nr5')) {
      ok = mocha(stage, nr5.dir, nr5.node, `${stage} tests (Node ${nr5.nodeVersion}, Node-RED ${nodeRedVersion(nr5.dir)})`) && ok;
    }
  }
}

function nodeRedVersion(dir) {
  try {
    return JSON.parse(readFileSync(join(dir, 'node_modules', 'node-red', 'package.json'), 'utf8')).version;
  } catch {
    return '?';
  }
}

let passed = 0;
let failed = 0;
let skipped = 0;
if (existsSync(totalsFile)) {
  for (const line of readFileSync(totalsFile, 'utf8').split('\n').filter(Boolean)) {
    const t = JSON.parse(line);
    passed += t.passes;
    failed += t.failures;
    skipped += t.pending;
  }
  rmSync(totalsFile, { force: true });
}
console.log(`\n${ok ? 'suite ok' : 'suite FAILED'}`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(ok && failed === 0 ? 0 : 1);
