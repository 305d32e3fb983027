/** The integrator's install on this project's baseline: the running Node.js (20) with Node-RED 4.1. */
import { describeInstalledPackage } from './installed-package';
import { currentNode, nodeRed4 } from './scratch';

describeInstalledPackage(`Node ${process.versions.node}, Node-RED 4.1`, async () => ({ node: currentNode, redJs: nodeRed4() }));
