/**
 * The two file-system steps every journal of the package needs to make a write durable: write a
 * buffer completely at a position (a write may be short), and fsync a directory so that a new or
 * renamed file's name survives a crash as well as its content. Used by the writer's spill journal
 * (lib/writer/journal.ts) and the MQTT receive journal (lib/mqtt/receive-journal/).
 */
import { open, type FileHandle } from 'node:fs/promises';

/** Writes all of `buf` at `position` (loops over short writes). */
export async function writeFully(handle: FileHandle, buf: Buffer, position: number): Promise<void> {
  for (let off = 0; off < buf.length;) {
    const { bytesWritten } = await handle.write(buf, off, buf.length - off, position + off);
    off += bytesWritten;
  }
}

/** Makes the directory's entries (a created, renamed or deleted file name) durable. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
