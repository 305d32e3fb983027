/**
 * What `npm pack` would publish: everything an installed package needs (compiled nodes with
 * their HTML, icons, locales; examples) and nothing it does not (sources, tests, caches).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { packageRoot } from '../support/node-red';
import { readPackageJson } from '../support/package-info';

interface PackEntry {
  files: { path: string }[];
}

describe('published tarball contents', function () {
  this.timeout(60000);
  let files: string[] = [];

  before(() => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: packageRoot,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    // npm may print lifecycle output before the JSON report; the report is the trailing array.
    const report = out.slice(out.search(/^\[/m));
    files = (JSON.parse(report) as PackEntry[])[0].files.map((f) => f.path);
  });

  it('contains every node entry with its html, icons and locales', () => {
    const entries = Object.values(readPackageJson()['node-red']?.nodes ?? {});
    for (const entry of entries) {
      const dir = entry.replace(/\/[^/]+$/, '');
      const base = entry.split('/').pop()!.replace(/\.js$/, '');
      assert.ok(files.includes(entry), entry);
      assert.ok(files.includes(entry.replace(/\.js$/, '.html')), `${entry} html`);
      assert.ok(files.includes(`${dir}/locales/en-US/${base}.json`), `${entry} messages`);
      assert.ok(files.includes(`${dir}/locales/en-US/${base}.html`), `${entry} help`);
      assert.ok(files.some((f) => f.startsWith(`${dir}/icons/`)), `${entry} icons`);
    }
  });

  it('contains the examples and the README', () => {
    assert.ok(files.some((f) => f.startsWith('examples/') && f.endsWith('.json')));
    assert.ok(files.includes('README.md'));
    assert.ok(files.includes('LICENSE'));
  });

  it('leaves out sources, tests, benchmarks, caches and secrets', () => {
    const unwanted = files.filter((f) =>
      /(^|\/)(test|bench|\.cache|\.node-red|node_modules)\//.test(f) || /\.ts$/.test(f) || /(^|\/)\.env$/.test(f) || /\.tsbuildinfo$/.test(f),
    );
    assert.deepEqual(unwanted, []);
  });
});
