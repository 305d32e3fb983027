/**
 * `npm start` on a machine with nothing else running: a network namespace of its own (as root:
 * `unshare -n`, then `ip link set lo up`), so nothing listens on MQTT_PORT and the embedded
 * broker starts on the default ports, exactly as the README's first command runs for a newcomer.
 * The test reaches the namespace's 1880 and 1883 through Unix sockets (unix-forwarder.ts).
 * Where a namespace cannot be had (not root, no unshare), free ports stand in for 1880 and 1883.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { freePort, packageRoot } from './node-red';

export interface FreshStart {
  /** http://127.0.0.1:<port> reaching the runtime's editor and HTTP endpoints. */
  url: string;
  /** mqtt://127.0.0.1:<port> reaching the embedded broker. */
  mqttUrl: string;
  /** How the test got an empty machine: `network namespace` or `free ports`. */
  isolation: string;
  output(): string;
  waitForOutput(pattern: RegExp, timeoutMs: number): Promise<void>;
  /** SIGTERM to npm start (it stops Node-RED and the embedded broker), then waits for the exit. */
  stop(): Promise<number | null>;
}

let namespaces: boolean | undefined;

/** True when this process may make a network namespace of its own (root, unshare and ip present). */
export function networkNamespacesAvailable(): boolean {
  if (namespaces === undefined) {
    const probe = spawnSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up'], { stdio: 'ignore', timeout: 10_000 });
    namespaces = probe.status === 0;
  }
  return namespaces;
}

/** A local TCP port whose connections are piped into a Unix socket. */
async function bridge(socketPath: string): Promise<{ port: number; server: Server }> {
  const port = await freePort();
  const server = createServer((local) => {
    const remote = connect(socketPath);
    const drop = (): void => {
      local.destroy();
      remote.destroy();
    };
    local.on('error', drop).on('close', drop);
    remote.on('error', drop).on('close', drop);
    local.pipe(remote).pipe(local);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { port, server };
}

/**
 * Starts `npm start` (scripts/start.js, what the npm script runs) in `userDir` with `env` and
 * nothing else configured: no MQTT_URL, no DATABASE_URL.
 */
export async function freshStart(userDir: string, env: Record<string, string> = {}): Promise<FreshStart> {
  const base: Record<string, string | undefined> = { ...process.env };
  for (const name of ['MQTT_URL', 'MQTT_HOST', 'MQTT_PORT', 'BROKER', 'DATABASE_URL', 'MYSQL_HOST', 'PORT', 'HOST', 'DEBUG'])
    delete base[name];
  const startJs = join(packageRoot, 'scripts', 'start.js');
  let child: ChildProcess;
  let url: string;
  let mqttUrl: string;
  let isolation: string;
  const bridges: Server[] = [];
  if (networkNamespacesAvailable()) {
    const httpSocket = join(userDir, '.http.sock');
    const mqttSocket = join(userDir, '.mqtt.sock');
    const forwarder = join(packageRoot, 'dist', 'test', 'support', 'unix-forwarder.js');
    // The forwarder runs beside npm start, which replaces this shell (same process: its parent).
    const script = 'ip link set lo up && { "$0" "$1" "$2" "$3" & } && exec "$0" "$4"';
    child = spawn('unshare', ['-n', 'sh', '-c', script, process.execPath, forwarder, `${httpSocket}=1880`, `${mqttSocket}=1883`, startJs], {
      cwd: userDir,
      env: { ...base, ...env, NODE_RED_USER_DIR: userDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const http = await bridge(httpSocket);
    const mqtt = await bridge(mqttSocket);
    bridges.push(http.server, mqtt.server);
    url = `http://127.0.0.1:${http.port}`;
    mqttUrl = `mqtt://127.0.0.1:${mqtt.port}`;
    isolation = 'network namespace';
  } else {
    const port = await freePort();
    const mqttPort = await freePort();
    child = spawn(process.execPath, [startJs], {
      cwd: userDir,
      env: { ...base, ...env, NODE_RED_USER_DIR: userDir, PORT: String(port), MQTT_PORT: String(mqttPort) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    url = `http://127.0.0.1:${port}`;
    mqttUrl = `mqtt://127.0.0.1:${mqttPort}`;
    isolation = 'free ports';
  }
  let text = '';
  child.stdout!.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (text += c.toString()));
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      exitCode = code;
      resolve(code);
    }),
  );
  const waitForOutput = async (pattern: RegExp, timeoutMs: number): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(text)) {
      if (exitCode !== undefined) throw new Error(`npm start exited (${exitCode}) before printing ${pattern}:\n${text.slice(-4000)}`);
      if (Date.now() > deadline) throw new Error(`npm start did not print ${pattern} within ${timeoutMs} ms:\n${text.slice(-4000)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  return {
    url,
    mqttUrl,
    isolation,
    output: () => text,
    waitForOutput,
    async stop() {
      if (exitCode === undefined) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        await exited;
        clearTimeout(timer);
      }
      for (const server of bridges) server.close();
      return exitCode ?? null;
    },
  };
}
