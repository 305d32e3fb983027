/**
 * Small JSON state files (the quality monitor's counters) written so a crash never leaves a torn
 * file: write to a temporary sibling, fsync, rename over the old one. Reading tolerates a missing
 * file (first start) and refuses oversized or unparsable ones with a typed error.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { open, mkdir, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { IotpError } from '../errors';

export const MAX_STATE_FILE_BYTES = 64 * 1024 * 1024;

export class StateFileError extends IotpError<'STATE_TOO_LARGE' | 'STATE_BAD_JSON'> {}

/** The parsed content, or undefined when the file does not exist. */
export function readStateFile(path: string): unknown {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  if (size > MAX_STATE_FILE_BYTES) throw new StateFileError('STATE_TOO_LARGE', `${path} is larger than ${MAX_STATE_FILE_BYTES} bytes`);
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new StateFileError('STATE_BAD_JSON', `${path} is not JSON: ${(err as Error).message}`);
  }
}

/** Atomic synchronous write (for close handlers, where the process may exit right after). */
export function writeStateFileSync(path: string, state: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, JSON.stringify(state));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** Atomic asynchronous write (for periodic saves, off the event loop's hot path). */
export async function writeStateFile(path: string, state: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp`;
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(JSON.stringify(state));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
}
