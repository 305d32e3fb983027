// nrlint configuration for the example flows in flows/ (checked by test/package/flows-lint.test.ts).
// Every built-in rule is on; nrlint exits non-zero on any finding.
module.exports = {
  rules: {
    'align-to-grid': { gridSize: 20 },
    // nrlint's own ES2021 rule set: the empty config it replaced parsed function nodes as ES5.
    'function-eslint': {},
    'max-flow-size': { maxSize: 100 },
    'no-duplicate-http-in-urls': true,
    'no-loops': { followLinkNodes: true },
    'no-overlapping-nodes': true,
    'no-unconnected-http-nodes': true,
    'no-unnamed-functions': true,
    'no-unnamed-links': true,
  },
};
