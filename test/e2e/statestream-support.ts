/**
 * Shared by the statestream end-to-end test and benchmark: a private mosquitto (large queues, for
 * crash tests and bursts the system broker's default 1000-message queue would cut), an MQTT.js
 * publisher with a bounded window, database counters and polling.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { openDatabase, parseDatabaseUrl, type Database } from '../../lib/db';
import { freePort, packageRoot } from '../support/node-red';
import { portOpen } from '../support/services';
import { makeTempDir, removeTempDir } from '../support/tmp';

export interface PrivateMosquitto {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** `mosquitto -c <tmp conf>` on a free 127.0.0.1 port; queues large enough that nothing is dropped while a subscriber is down. */
export async function startPrivateMosquitto(): Promise<PrivateMosquitto> {
  const dir = makeTempDir('iotp-mosq-');
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'max_queued_messages 1000000',
      'max_inflight_messages 1000',
      'message_size_limit 0',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  while (!(await portOpen('127.0.0.1', port, 200))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`private mosquitto did not start: ${stderr}`);
    }
    await sleep(50);
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      removeTempDir(dir);
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitUntil(predicate: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

export function connectPublisher(url: string, clientId: string): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { protocolVersion: 5, clientId, clean: true, reconnectPeriod: 500 });
    client.once('connect', () => resolve(client));
    client.once('error', reject);
  });
}

export interface Publish {
  topic: string;
  payload: string;
  retain?: boolean;
}

/**
 * Publishes QoS 1 with at most `window` unacknowledged; `onAck(i, at)` runs at each PUBACK.
 * Resolves when every publish was acknowledged by the broker.
 */
export async function publishAll(
  client: MqttClient,
  messages: readonly Publish[],
  options: { window?: number; onSent?: (index: number, at: number) => void; pause?: (index: number) => Promise<void> | void } = {},
): Promise<void> {
  const window = options.window ?? 500;
  let next = 0;
  let failed: Error | undefined;
  const worker = async (): Promise<void> => {
    while (next < messages.length && !failed) {
      const i = next++;
      if (options.pause) await options.pause(i);
      const m = messages[i];
      options.onSent?.(i, performance.now());
      try {
        await client.publishAsync(m.topic, m.payload, { qos: 1, retain: m.retain === true });
      } catch (err) {
        failed = err as Error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, messages.length) }, worker));
  if (failed) throw failed;
}

export function openDb(url: string): Database {
  return openDatabase(parseDatabaseUrl(url));
}

export async function scalar(db: Database, sql: string, params: unknown[] = []): Promise<number> {
  try {
    const { rows } = await db.query(sql, params as never);
    return Number(Object.values(rows[0] ?? {})[0] ?? 0);
  } catch (err) {
    // The table appears with the writer's first batch (its migration set runs then).
    if (/no such table|doesn't exist|does not exist/i.test((err as Error).message)) return 0;
    throw err;
  }
}

/** The shipped flow file. */
export function shippedStatestreamFlow(): Record<string, unknown>[] {
  return JSON.parse(readFileSync(join(packageRoot, 'flows', '1-statestream.json'), 'utf8')) as Record<string, unknown>[];
}

/** Peak resident set size of a process (Linux: VmHWM), in MiB, or NaN. */
export function peakRssMiB(pid: number | undefined): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]);
    return kb / 1024;
  } catch {
    return Number.NaN;
  }
}
