/**
 * The dialogs the build ships: the one-line `<iotp-row>` rows of the editor sources
 * (scripts/editor-rows.mjs) are written out as Node-RED's form rows, and every dialog keeps each
 * row it had when they were written out by hand: its classes, each label (the field it is for, its
 * icon, its i18n key or text) and its node-input-* fields, in order (editor-rows.json, taken from
 * the hand-written dialogs). A dialog changed on purpose updates that file with it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../support/node-red';
import { readPackageJson } from '../support/package-info';

interface Label {
  for?: string;
  icon?: string;
  i18n?: string;
  text?: string;
}

interface Row {
  class: string;
  labels: Label[];
  fields: string[];
}

const TEMPLATE = /<script type="text\/html" data-template-name="([^"]+)">([\s\S]*?)<\/script>/g;

/** Each form row of each template of an editor file, as a dialog shows it. */
function dialogRows(html: string): Record<string, Row[]> {
  const dialogs: Record<string, Row[]> = {};
  for (const [, type, template] of html.matchAll(TEMPLATE)) {
    dialogs[type] = template
      .split(/(?=<div class="form-row[ "])/)
      .filter((part) => part.startsWith('<div class="form-row'))
      .map((row) => ({
        class: /^<div class="([^"]*)"/.exec(row)![1],
        labels: [...row.matchAll(/<label\b([^>]*)>([\s\S]*?)<\/label\s*>/g)].map(([, attributes, content]) => {
          const label: Label = {};
          const forId = /\bfor="([^"]+)"/.exec(attributes);
          if (forId) label.for = forId[1];
          const icon = /<i class="fa (fa-[\w-]+)"><\/i>/.exec(content);
          if (icon) label.icon = icon[1];
          const i18n = /data-i18n="([^"]+)"/.exec(`${attributes} ${content}`);
          if (i18n) label.i18n = i18n[1];
          const text = content
            .replace(/<[^>]*>/g, '')
            .replace(/\s+/g, ' ')
            .trim();
          if (text) label.text = text;
          return label;
        }),
        fields: [...row.matchAll(/\bid="(node-(?:config-)?input-[^"]+)"/g)].map((match) => match[1]),
      }));
  }
  return dialogs;
}

function shippedDialogs(): Record<string, Row[]> {
  const dialogs: Record<string, Row[]> = {};
  for (const entry of Object.values(readPackageJson()['node-red']?.nodes ?? {})) {
    Object.assign(dialogs, dialogRows(readFileSync(join(packageRoot, entry.replace(/\.js$/, '.html')), 'utf8')));
  }
  return dialogs;
}

function expand(html: string): { status: number | null; stdout: string; stderr: string } {
  const script = `import { expandRows } from ${JSON.stringify(join(packageRoot, 'scripts', 'editor-rows.mjs'))};
    let input = ''; for await (const chunk of process.stdin) input += chunk;
    process.stdout.write(expandRows(input, 'test.html'));`;
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], { input: html, encoding: 'utf8' });
}

describe('editor dialogs (one-line rows written out by the build)', () => {
  const sourceOnly = existsSync(join(packageRoot, 'scripts', 'editor-rows.mjs')) ? it : it.skip;

  it('ship no <iotp-row>: every dialog is Node-RED form-row markup', () => {
    for (const entry of Object.values(readPackageJson()['node-red']?.nodes ?? {})) {
      const html = readFileSync(join(packageRoot, entry.replace(/\.js$/, '.html')), 'utf8');
      assert.doesNotMatch(html, /<\/?iotp-row\b/, entry);
    }
  });

  it('keep every row, label, icon, i18n key and node-input-* field the hand-written dialogs had', () => {
    const expected = JSON.parse(readFileSync(join(packageRoot, 'test', 'package', 'editor-rows.json'), 'utf8')) as Record<string, Row[]>;
    const shipped = shippedDialogs();
    assert.deepEqual(Object.keys(shipped).sort(), Object.keys(expected).sort(), 'dialogs');
    for (const type of Object.keys(expected)) assert.deepEqual(shipped[type], expected[type], type);
  });

  it("label with messages the node's catalog has", () => {
    for (const [type, rows] of Object.entries(shippedDialogs())) {
      const entry = readPackageJson()['node-red']!.nodes![type];
      const catalog = JSON.parse(readFileSync(join(packageRoot, entry.replace(/[^/]+$/, ''), 'locales', 'en-US', `${type}.json`), 'utf8'));
      for (const label of rows.flatMap((row) => row.labels)) {
        if (!label.i18n) continue;
        assert.ok(label.i18n.startsWith(`${type}.`), `${type}: ${label.i18n} is another node's message`);
        const message = label.i18n.split('.').reduce<unknown>((at, key) => (at as Record<string, unknown> | undefined)?.[key], catalog);
        assert.equal(typeof message, 'string', `${type}: ${label.i18n} is not in its catalog`);
      }
    }
  });

  sourceOnly('writes a row out with its default message, another key, literal text, classes and the content as written', () => {
    const source = [
      '<script type="text/html" data-template-name="iotp-x">',
      '  <iotp-row icon="tag"><input type="text" id="node-input-name" /></iotp-row>',
      '  <iotp-row i18n="iotp-x.other.key" class="iotp-x-a iotp-x-b"><input type="text" id="node-config-input-port" /> s</iotp-row>',
      '  <iotp-row icon="empire" text="QoS">',
      '    <select id="node-input-qos">',
      '      <option value="1">1</option>',
      '    </select>',
      '  </iotp-row>',
      '</script>',
    ].join('\n');
    const result = expand(source);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(
      result.stdout,
      [
        '<script type="text/html" data-template-name="iotp-x">',
        '  <div class="form-row">',
        '    <label for="node-input-name"><i class="fa fa-tag"></i> <span data-i18n="iotp-x.label.name"></span></label>',
        '    <input type="text" id="node-input-name" />',
        '  </div>',
        '  <div class="form-row iotp-x-a iotp-x-b">',
        '    <label for="node-config-input-port"><span data-i18n="iotp-x.other.key"></span></label>',
        '    <input type="text" id="node-config-input-port" /> s',
        '  </div>',
        '  <div class="form-row">',
        '    <label for="node-input-qos"><i class="fa fa-empire"></i> QoS</label>',
        '    <select id="node-input-qos">',
        '      <option value="1">1</option>',
        '    </select>',
        '  </div>',
        '</script>',
      ].join('\n'),
    );
  });

  sourceOnly('fails the build on a row it cannot write out', () => {
    const template = (row: string) => `<script type="text/html" data-template-name="iotp-x">\n  ${row}\n</script>`;
    for (const [row, reason] of [
      ['<iotp-row icon="tag" for="node-input-name"><input type="text" id="node-input-name" /></iotp-row>', /no attribute for/],
      ['<iotp-row i18n="a.b" text="B"><input type="text" id="node-input-name" /></iotp-row>', /two labels/],
      ['<iotp-row icon="tag"><div id="help"></div></iotp-row>', /no node-input-\* field/],
      ['<iotp-row icon="tag"><input type="text" id="node-input-name" />', /not closed or nested/],
    ] as const) {
      const result = expand(template(row));
      assert.notEqual(result.status, 0, row);
      assert.match(result.stderr, reason, row);
    }
  });
});
