/**
 * The integrator's install on the newest major: Node 22 (scripts/nr5.mjs prepareNode22) runs npm,
 * so better-sqlite3 is compiled for Node 22, and Node-RED 5 from the .cache/nr5 mirror.
 */
import { describeInstalledPackage } from './installed-package';
import { node22, nodeRed5 } from './scratch';

describeInstalledPackage('Node 22, Node-RED 5', async () => ({ node: await node22(), redJs: await nodeRed5() }));
