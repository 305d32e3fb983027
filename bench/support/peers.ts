/**
 * Peer packages the benchmarks compare against (node-red-node-smooth, node-red-contrib-aggregator,
 * node-red-node-mysql, ...). They are installed on demand into .cache/bench-peers, not into the
 * project's node_modules: Node-RED scans the node_modules above its own install, so peers there
 * would appear in the palette of `npm start`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(__dirname, '..', '..', '..');
export const peersDir = join(root, '.cache', 'bench-peers');

/** Installs (once) and returns the absolute directory of each requested peer package. */
export function ensurePeers(specs: Record<string, string>): Record<string, string> {
  mkdirSync(peersDir, { recursive: true });
  const missing = Object.keys(specs).filter((name) => !existsSync(join(peersDir, 'node_modules', name, 'package.json')));
  if (missing.length > 0) {
    if (!existsSync(join(peersDir, 'package.json'))) writeFileSync(join(peersDir, 'package.json'), '{"private":true}\n');
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    execFileSync(npm, ['install', '--no-save', '--no-audit', '--no-fund', ...missing.map((name) => `${name}@${specs[name]}`)], {
      cwd: peersDir,
      stdio: 'inherit',
    });
  }
  return Object.fromEntries(Object.keys(specs).map((name) => [name, join(peersDir, 'node_modules', name)]));
}
