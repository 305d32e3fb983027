/**
 * `npm start` (scripts/start.js) as a user runs it, in a child process: its own user directory,
 * the given environment, and the launcher's embedded broker unless an MQTT variable is set.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from './node-red';

export interface NpmStarted {
  child: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

export async function npmStart(env: Record<string, string | undefined>, timeoutMs = 60_000): Promise<NpmStarted> {
  const childEnv: Record<string, string | undefined> = { ...process.env, ...env };
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete childEnv[key];
  const child = spawn(process.execPath, [join(packageRoot, 'scripts', 'start.js')], {
    cwd: env.NODE_RED_USER_DIR,
    env: childEnv as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout?.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (text += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + timeoutMs;
  while (!/Started flows/.test(text)) {
    if (child.exitCode !== null) throw new Error(`npm start exited early:\n${text}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`npm start did not start flows in ${timeoutMs} ms:\n${text}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    child,
    output: () => text,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
