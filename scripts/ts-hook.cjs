// Loads the TypeScript sources straight, without a build: `npm run test:one -- test/unit/x.test.ts`
// (mocha --require). Each .ts file is transpiled on require with the compiler options of
// tsconfig.json, one file at a time: nothing is type-checked here (`node scripts/build.mjs` and
// `npm test` do that), and a failing line is reported at its place in the .ts file.
'use strict';
const { readFileSync } = require('node:fs');
const { dirname, join } = require('node:path');
const ts = require('typescript');

const root = dirname(__dirname);
const configPath = join(root, 'tsconfig.json');
const config = ts.readConfigFile(configPath, ts.sys.readFile);
if (config.error) throw new Error(ts.flattenDiagnosticMessageText(config.error.messageText, '\n'));
const { options } = ts.convertCompilerOptionsFromJson(config.config.compilerOptions, root, configPath);
const compilerOptions = {
  ...options,
  sourceMap: false,
  inlineSourceMap: true,
  inlineSources: true,
  incremental: false,
  tsBuildInfoFile: undefined,
};

process.setSourceMapsEnabled(true);

// Node's require hook for an extension (what ts-node and similar loaders install too).
require.extensions['.ts'] = function loadTypeScript(module, filename) {
  const { outputText } = ts.transpileModule(readFileSync(filename, 'utf8'), { compilerOptions, fileName: filename });
  module._compile(outputText, filename);
};
