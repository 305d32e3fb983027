/**
 * The integrator's install on the oldest line Node-RED 5 supports: Node 22 (scripts/nr5.mjs
 * prepareNode) runs this machine's npm, and Node-RED 5 from the .cache/nr5 mirror. On Node 22 the
 * SQLite driver is better-sqlite3 (13, prebuilt: no build), since Node 22's node:sqlite is still
 * experimental and reads text only up to a NUL character.
 */
import { describeInstalledPackage } from './installed-package';
import { node22, nodeRed5 } from './scratch';

describeInstalledPackage('Node 22, Node-RED 5', async () => ({
  node: await node22(),
  redJs: await nodeRed5(),
  expectedDriver: 'better-sqlite3',
}));
