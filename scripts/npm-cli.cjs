// npm's JS entry point, so npm can be run under another Node binary than the one on PATH (the
// Node 22/24/26 legs, the install tests). CommonJS so that both scripts/nr5.mjs and the compiled
// install tests (test/install/scratch.ts) can load it synchronously.
'use strict';
const { existsSync } = require('node:fs');
const { dirname, join } = require('node:path');

function npmCli() {
  const candidates = [
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js'),
    '/usr/lib/node_modules/npm/bin/npm-cli.js',
    '/usr/local/lib/node_modules/npm/bin/npm-cli.js',
  ];
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error('cannot find npm-cli.js');
  return found;
}

module.exports = { npmCli };
