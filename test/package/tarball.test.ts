/**
 * What `npm pack` publishes: everything an installed package needs (compiled nodes with their
 * HTML and locales, the icons once, examples) and nothing it does not (sources, tests, caches); a
 * package.json without scripts that point at files the tarball lacks; a README whose links and
 * images also resolve where the Flow Library and npm show it (not beside the repository's files).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { packageRoot } from '../support/node-red';
import { literalValue, readNodeDefinitions, readPackageJson } from '../support/package-info';
import { makeTempDir, removeTempDir } from '../support/tmp';

/** Scripts npm runs when the package is installed (npm 12 blocks them unless the user allows them). */
const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall', 'prepare', 'prepublish'];

/** The repository's web address, from package.json (`git+https://github.com/o/r.git` → `https://github.com/o/r`). */
function repositoryUrl(): string {
  const repository = readPackageJson().repository as { url?: string } | string | undefined;
  const url = typeof repository === 'string' ? repository : (repository?.url ?? '');
  return url.replace(/^git\+/, '').replace(/\.git$/, '');
}

describe('published tarball contents', function () {
  this.timeout(120000);
  let files: string[] = [];
  let publishedPackage: { scripts?: Record<string, string> } = {};
  let dir: string;

  before(() => {
    // A real pack (not --dry-run), read back from the tarball: what the registry would get.
    dir = makeTempDir('iotp-tarball-');
    execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], {
      cwd: packageRoot,
      stdio: ['ignore', 'ignore', 'ignore'],
    });
    const tarball = join(
      dir,
      readdirSync(dir).find((f) => f.endsWith('.tgz'))!,
    );
    files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line.startsWith('package/') && !line.endsWith('/'))
      .map((line) => line.slice('package/'.length));
    publishedPackage = JSON.parse(
      execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }),
    ) as typeof publishedPackage;
  });

  after(() => {
    if (dir) removeTempDir(dir);
  });

  it('contains every node entry with its html and locales', () => {
    const entries = Object.values(readPackageJson()['node-red']?.nodes ?? {});
    for (const entry of entries) {
      const dir = entry.replace(/\/[^/]+$/, '');
      const base = entry.split('/').pop()!.replace(/\.js$/, '');
      assert.ok(files.includes(entry), entry);
      assert.ok(files.includes(entry.replace(/\.js$/, '.html')), `${entry} html`);
      assert.ok(files.includes(`${dir}/locales/en-US/${base}.json`), `${entry} messages`);
      assert.ok(files.includes(`${dir}/locales/en-US/${base}.html`), `${entry} help`);
    }
  });

  it('ships every editor script a node loads from resources/ (served at resources/<package name>/)', () => {
    const { name, 'node-red': nodeRed } = readPackageJson();
    const loaded = new Set<string>();
    for (const entry of Object.values(nodeRed?.nodes ?? {})) {
      const html = readFileSync(join(packageRoot, entry.replace(/\.js$/, '.html')), 'utf8');
      for (const match of html.matchAll(/<script\s[^>]*src="([^"]+)"/g)) {
        assert.ok(match[1].startsWith(`resources/${name}/`), `${entry} loads ${match[1]}: only resources/${name}/... is this package's`);
        loaded.add(`resources/${match[1].slice(`resources/${name}/`.length)}`);
      }
    }
    assert.ok(loaded.size > 0, 'the node editors load a shared script');
    for (const file of loaded) assert.ok(files.includes(file), `${file} in the tarball`);
  });

  it('ships each icon once, where Node-RED finds it for every node, and only icons a node uses', () => {
    const entries = Object.values(readPackageJson()['node-red']?.nodes ?? {});
    const used = new Set(
      entries
        .flatMap((entry) => readNodeDefinitions(entry).map((def) => literalValue(def.properties.get('icon'))))
        .filter((icon): icon is string => typeof icon === 'string'),
    );
    const icons = files.filter((f) => /(^|\/)icons\/[^/]+$/.test(f));
    const names = icons.map((f) => basename(f));
    assert.deepEqual(
      names.filter((name, i) => names.indexOf(name) !== i),
      [],
      'icons shipped more than once',
    );
    // Node-RED's registry registers an icons/ folder only when it sits beside one of the module's node files.
    const nodeDirs = new Set(entries.map((entry) => dirname(entry)));
    assert.deepEqual(
      icons.filter((f) => !nodeDirs.has(dirname(dirname(f)))),
      [],
      'icons outside a node folder are never served',
    );
    assert.deepEqual([...used].filter((icon) => !names.includes(icon)).sort(), [], 'icons a node uses but the tarball lacks');
    assert.deepEqual(names.filter((name) => !used.has(name)).sort(), [], 'icons no node uses');
  });

  it('contains the examples and the README', () => {
    assert.ok(files.some((f) => f.startsWith('examples/') && f.endsWith('.json')));
    assert.ok(files.includes('README.md'));
    assert.ok(files.includes('LICENSE'));
  });

  it('leaves out sources, tests, benchmarks, caches, build stamps and secrets', () => {
    const unwanted = files.filter(
      (f) =>
        /(^|\/)(test|bench|\.cache|\.node-red|node_modules)\//.test(f) ||
        /\.ts$/.test(f) ||
        /(^|\/)\.env$/.test(f) ||
        /\.tsbuildinfo$/.test(f) ||
        /(^|\/)\.build-stamp$/.test(f),
    );
    assert.deepEqual(unwanted, []);
  });

  it('has no install script and no start or build script that runs a file the tarball lacks', () => {
    const scripts = publishedPackage.scripts ?? {};
    assert.deepEqual(
      INSTALL_SCRIPTS.filter((name) => scripts[name] !== undefined).map((name) => `${name}: ${scripts[name]}`),
      [],
      'install scripts (npm 11 warns about them, npm 12 blocks them)',
    );
    for (const name of ['start', 'build']) {
      const script = scripts[name];
      if (script === undefined) continue;
      const missing = [...script.matchAll(/(?:^|\s)((?:\.\/)?[\w./-]+\.(?:c?js|mjs))(?=\s|$)/g)]
        .map((m) => m[1].replace(/^\.\//, ''))
        .filter((file) => !files.includes(file));
      assert.deepEqual(missing, [], `scripts.${name} (${script}) runs files the tarball lacks`);
    }
    // The checkout keeps working: `npm start` runs server.js (npm's default without a start script).
    assert.ok(existsSync(join(packageRoot, 'server.js')), 'server.js, which `npm start` runs in the checkout');
    assert.ok(!files.includes('server.js'), 'server.js starts the checkout, not an installed package');
  });

  it('README links and images resolve on the Flow Library and npm pages: absolute, into this repository', () => {
    const readme = readFileSync(join(packageRoot, 'README.md'), 'utf8').replace(/```[\s\S]*?```/g, '');
    const repo = repositoryUrl();
    assert.match(repo, /^https:\/\/github\.com\/[^/]+\/[^/]+$/, `package.json repository: ${repo}`);
    const raw = repo.replace('https://github.com/', 'https://raw.githubusercontent.com/');
    const targets = [...readme.matchAll(/!?\[[^\]]*\]\(([^)\s]+)[^)]*\)/g), ...readme.matchAll(/<img[^>]*\ssrc="([^"]+)"/g)].map((m) => ({
      target: m[1],
      image: m[0].startsWith('!') || m[0].startsWith('<img'),
    }));
    assert.ok(targets.length > 0, 'the README has links');
    for (const { target, image } of targets) {
      assert.match(target, /^https?:\/\//, `relative link or image ${target}: broken outside the repository`);
      // A link into the repository must name a file that exists in it (README and docs move together).
      const inRepo = target.startsWith(`${repo}/blob/`)
        ? target.slice(repo.length + '/blob/'.length)
        : target.startsWith(`${raw}/`)
          ? target.slice(raw.length + 1)
          : undefined;
      if (image) assert.ok(target.startsWith(`${raw}/`), `image ${target} is not served raw from ${repo}`);
      if (inRepo !== undefined) {
        const path = inRepo.replace(/^[^/]+\//, '').replace(/#.*$/, '');
        assert.ok(existsSync(join(packageRoot, path)), `${target}: ${path} is not in the repository`);
      }
    }
  });
});
