/**
 * Starts a real Node-RED runtime as a child process, exactly as `npm start` and the compose
 * service do: the project's settings.js, this package installed into the user directory, a
 * given flow, a free port. End-to-end tests drive pipelines through it and stop it cleanly (or
 * kill it with SIGKILL to test crash recovery).
 */
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { basename, join, resolve } from 'node:path';
import { makeTempDir } from './tmp';

/**
 * The package root: from dist/test/support (also in the Node-RED 5 mirror, .cache/nr5), and from
 * test/support when a test runs straight from TypeScript (`npm run test:one`).
 */
export const packageRoot =
  basename(resolve(__dirname, '..', '..')) === 'dist' ? resolve(__dirname, '..', '..', '..') : resolve(__dirname, '..', '..');

export interface NodeRedOptions {
  /** Flow to deploy (array of nodes); omitted = keep whatever flows.json the user dir has. */
  flows?: unknown[];
  /** Credentials keyed by node id, written in clear (no credentialSecret) for the test. */
  credentials?: Record<string, Record<string, string>>;
  /** Extra environment for the runtime (merged over the test's environment). */
  env?: Record<string, string | undefined>;
  /** Reuse a user directory (e.g. to restart after a kill); default a fresh temp dir. */
  userDir?: string;
  port?: number;
  /** How long to wait for the runtime to report "Started flows". */
  startTimeoutMs?: number;
}

export interface RunningNodeRed {
  url: string;
  port: number;
  userDir: string;
  child: ChildProcess;
  /** Everything the runtime printed so far. */
  output(): string;
  /** Resolves when the output matches (checks what was already printed first). */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /**
   * Watches what is printed from now on for `pattern` (lines up to 1 KiB), however much is printed
   * meanwhile: output() keeps only the last 2-4 MB, which a flood of debug output can fill.
   */
  watchOutput(pattern: RegExp): { seen(): boolean; stop(): void };
  /** SIGTERM and wait for exit (Node-RED closes nodes within nodeCloseTimeout). */
  stop(timeoutMs?: number): Promise<number | null>;
  /** SIGKILL: a crash, no close handlers run. */
  kill(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** Installs this package into a user directory the way `npm install <path>` does: a symlink. */
export function linkPackageInto(userDir: string): void {
  const modules = join(userDir, 'node_modules');
  mkdirSync(modules, { recursive: true });
  const link = join(modules, 'node-red-contrib-iot-pipelines');
  if (!existsSync(link)) symlinkSync(packageRoot, link, 'dir');
  if (!existsSync(join(userDir, 'package.json'))) {
    writeFileSync(join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-user-dir', private: true }) + '\n');
  }
}

export async function startNodeRed(options: NodeRedOptions = {}): Promise<RunningNodeRed> {
  const userDir = options.userDir ?? makeTempDir('iotp-nr-');
  const port = options.port ?? (await freePort());
  linkPackageInto(userDir);
  if (options.flows) writeFileSync(join(userDir, 'flows.json'), JSON.stringify(options.flows, null, 1));
  if (options.credentials) writeFileSync(join(userDir, 'flows_cred.json'), JSON.stringify(options.credentials));

  const redJs = require.resolve('node-red/red.js', { paths: [packageRoot] });
  const child = spawn(
    process.execPath,
    [redJs, '--settings', join(packageRoot, 'settings.js'), '--userDir', userDir, '--port', String(port)],
    {
      cwd: userDir,
      env: {
        ...process.env,
        NODE_RED_USER_DIR: userDir,
        PORT: String(port),
        HOST: '127.0.0.1',
        // Test runtimes are throwaway: no credential secret means clear-text test credentials load.
        NODE_RED_CREDENTIAL_SECRET: '',
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );

  let text = '';
  const waiters = new Set<() => void>();
  const watchers = new Set<{ pattern: RegExp; seen: boolean; carry: string }>();
  const onData = (chunk: Buffer): void => {
    const piece = chunk.toString('utf8');
    text += piece;
    if (text.length > 4_000_000) text = text.slice(-2_000_000);
    for (const watcher of watchers) {
      // The end of the previous chunk is scanned again: a line may straddle two chunks.
      const scanned = watcher.carry + piece;
      if (watcher.pattern.test(scanned)) watcher.seen = true;
      watcher.carry = scanned.slice(-1024);
    }
    for (const wake of [...waiters]) wake();
  };
  const watchOutput = (pattern: RegExp): { seen(): boolean; stop(): void } => {
    const watcher = { pattern, seen: false, carry: '' };
    watchers.add(watcher);
    return { seen: () => watcher.seen, stop: () => void watchers.delete(watcher) };
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolveExit) => {
    child.once('exit', (code) => {
      exitCode = code;
      for (const wake of [...waiters]) wake();
      resolveExit(code);
    });
  });

  const waitForOutput = (pattern: RegExp, timeoutMs = 30000): Promise<RegExpMatchArray> =>
    new Promise((resolveMatch, reject) => {
      const check = (): boolean => {
        const match = text.match(pattern);
        if (match) {
          cleanup();
          resolveMatch(match);
          return true;
        }
        if (exitCode !== undefined) {
          cleanup();
          reject(new Error(`Node-RED exited (code ${exitCode}) before printing ${pattern}:\n${text.slice(-4000)}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${pattern} from Node-RED:\n${text.slice(-4000)}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        waiters.delete(wake);
      };
      const wake = (): void => void check();
      if (!check()) waiters.add(wake);
    });

  const running: RunningNodeRed = {
    url: `http://127.0.0.1:${port}`,
    port,
    userDir,
    child,
    output: () => text,
    waitForOutput,
    watchOutput,
    async stop(timeoutMs = 20000) {
      if (exitCode !== undefined) return exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    async kill() {
      if (exitCode !== undefined) return;
      child.kill('SIGKILL');
      await exited;
    },
  };

  try {
    await waitForOutput(/Started flows|Starting flows failed|Error loading flows/, options.startTimeoutMs ?? 60000);
  } catch (err) {
    await running.kill();
    throw err;
  }
  const failure = text.match(/Starting flows failed.*|Error loading flows.*/);
  if (failure) {
    await running.kill();
    throw new Error(`Node-RED could not start the flows: ${failure[0]}\n${text.slice(-4000)}`);
  }
  return running;
}

/** GET/POST JSON against a running runtime (admin API or the flows' HTTP endpoints). */
export async function httpJson(
  url: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Headers; body: unknown; text: string }> {
  const response = await fetch(url, {
    method: init.method ?? 'GET',
    headers: { ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}), ...init.headers },
    body: init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, headers: response.headers, body, text };
}
