/** The integrator's install on this project's baseline: the running Node.js (20) with Node-RED 4.1. */
import { describeInstalledPackage } from './installed-package';
import { currentNode, nodeRed4 } from './scratch';

// Node 20 has no node:sqlite: SQLite runs on better-sqlite3 12, built at install time (npm 11 runs install scripts).
describeInstalledPackage(`Node ${process.versions.node}, Node-RED 4.1`, async () => ({
  node: currentNode,
  redJs: nodeRed4(),
  expectedDriver: Number(process.versions.node.split('.')[0]) >= 24 ? 'node:sqlite' : 'better-sqlite3',
}));
