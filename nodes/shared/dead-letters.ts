/**
 * The dead-letter file of one ingest node (lib/dead-letter.ts): where it lives (the
 * `iotpDeadLetterDir` setting, else under the user directory) and the name the log gives it.
 */
import { basename, relative } from 'node:path';
import type { NodeAPI } from 'node-red';
import { DeadLetterFile, deadLetterPath, defaultDeadLetterDir } from '../../lib/dead-letter';
import { userDirectory } from './directories';

export interface NodeDeadLetters {
  file: DeadLetterFile;
  /** Relative to the user directory (else the file's name alone), so no absolute path reaches the log. */
  name: string;
}

export function openDeadLetters(RED: NodeAPI, nodeId: string): NodeDeadLetters {
  const userDir = userDirectory(RED);
  const dir = (RED.settings as unknown as { iotpDeadLetterDir?: string }).iotpDeadLetterDir ?? defaultDeadLetterDir(userDir);
  const file = new DeadLetterFile(deadLetterPath(dir, nodeId));
  const underUserDir = relative(userDir, file.path);
  return { file, name: underUserDir.startsWith('..') ? basename(file.path) : underUserDir };
}
