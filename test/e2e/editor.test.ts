/**
 * The editor in a real browser (Debian's headless Chromium via playwright-core) against a running
 * Node-RED with this package: every node is in the palette under its category with its icon and
 * label; each edit dialog opens without console errors, marks a bad value, and its help shows in
 * the sidebar; the examples are listed under the package. Screenshots go to test-artifacts/.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { artifactsDir, launchChromium } from '../support/browser';
import { RunningNodeRed, startNodeRed } from '../support/node-red';
import { readNodeDefinitions, readPackageJson, literalValue } from '../support/package-info';

/** One property per node type and a value its editor must reject (null: the node has no setting but its name). */
const INVALID_INPUT: Record<string, { field: string; value: string } | null> = {
  'iotp-database': { field: 'url', value: 'redis://nope' },
  'iotp-db-write': { field: 'table', value: 'bad table;' },
  'iotp-db-query': { field: 'maxRows', value: '-5' },
  'iotp-mqtt-broker': { field: 'url', value: 'http://not-mqtt' },
  'iotp-mqtt-in': { field: 'topics', value: 'a/#/b' },
  'iotp-mqtt-out': { field: 'topic', value: 'a/+/b' },
  'iotp-batch-post': { field: 'endpoint', value: 'not a url' },
  'iotp-connector-api': { field: 'connector', value: 'no-such-node' },
  'iotp-sensors': { field: 'source', value: 'elsewhere' },
  'iotp-sensor-reading': { field: 'mode', value: 'window' },
  'iotp-quality': { field: 'interval', value: 'soon' },
  'iotp-catalog': { field: 'migrationSets', value: 'sensorz' },
  'iotp-sensor-api': { field: 'dataset', value: 'raw' },
  'iotp-isems': { field: 'interval', value: '0' },
  'iotp-isems-query': { field: 'limit', value: '0' },
  'iotp-window': { field: 'windows', value: '5 parsecs' },
  'iotp-simulator': { field: 'interval', value: 'soon' },
  'iotp-statestream': { field: 'quietMs', value: '-1' },
  'iotp-hass-simulator': { field: 'rate', value: '0' },
  'iotp-stats': null,
};

const definitions = Object.values(readPackageJson()['node-red']?.nodes ?? {}).flatMap((entry) => readNodeDefinitions(entry));

describe('the editor in a real browser', function () {
  this.timeout(240000);
  let runtime: RunningNodeRed;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];

  before(async function () {
    browser = await launchChromium(this);
    runtime = await startNodeRed({ flows: [] });
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(String(error)));
    await page.goto(runtime.url, { waitUntil: 'load' });
    await page.waitForFunction(
      () => (globalThis as unknown as { RED?: { nodes?: { getType?: unknown } } }).RED?.nodes?.getType !== undefined,
      undefined,
      {
        timeout: 60000,
      },
    );
    await page.waitForSelector('.red-ui-palette-node', { timeout: 60000 });
  });

  after(async () => {
    await browser?.close();
    await runtime?.stop();
  });

  it('shows every node of the package in its palette category with its icon and label', async () => {
    await page.screenshot({ path: join(artifactsDir, 'palette.png') });
    for (const def of definitions.filter((d) => d.category !== 'config')) {
      const node = page.locator(`.red-ui-palette-node[data-palette-type="${def.type}"]`);
      assert.equal(await node.count(), 1, `${def.type} not in the palette`);
      const label = (await node.locator('.red-ui-palette-label').innerText()).trim();
      assert.ok(label.length > 0, `${def.type} has no label`);
      const category = await node.evaluate((el) => el.closest('.red-ui-palette-category')?.id ?? '');
      assert.match(category, new RegExp(String(def.category).replace(/ /g, '.?'), 'i'), `${def.type} in ${category}`);
      const icon = await node.locator('.red-ui-palette-icon').evaluate((el) => getComputedStyle(el).backgroundImage);
      assert.ok(icon.includes(String(literalValue(def.properties.get('icon')))), `${def.type} icon: ${icon}`);
      // The icons ship once, beside one node: Node-RED serves them for every node of the package.
      const served = await fetch(`${runtime.url}/icons/node-red-contrib-iot-pipelines/${String(literalValue(def.properties.get('icon')))}`);
      assert.equal(served.status, 200, `${def.type} icon not served`);
      assert.match(served.headers.get('content-type') ?? '', /svg/, `${def.type} icon`);
    }
  });

  it('mqtt broker: a config saved with the old default (MQTT 5, version 1) opens as auto and saves as version 2; a chosen MQTT 5 stays', async () => {
    consoleErrors.length = 0;
    const stamp = Date.now();
    const saved = async (id: string, stored: Record<string, unknown>): Promise<{ shown: string; after: Record<string, unknown> }> => {
      await page.evaluate(
        ({ id, stored }) => {
          const RED = (globalThis as unknown as { RED: any }).RED; // eslint-disable-line @typescript-eslint/no-explicit-any
          RED.view.importNodes([{ id, type: 'iotp-mqtt-broker', url: 'mqtt://broker.example:1883', ...stored }], { notify: false });
          RED.editor.editConfig('', 'iotp-mqtt-broker', id);
        },
        { id, stored },
      );
      const select = page.locator('#node-config-input-protocolVersion');
      await select.waitFor({ state: 'attached', timeout: 10000 });
      await page.waitForTimeout(300);
      const shown = await select.inputValue();
      await page.locator('#node-config-dialog-ok').click();
      await page.waitForFunction(() => document.querySelectorAll('.red-ui-tray').length === 0, undefined, { timeout: 10000 });
      const after = await page.evaluate((id) => {
        const node = (globalThis as unknown as { RED: any }).RED.nodes.node(id); // eslint-disable-line @typescript-eslint/no-explicit-any
        return { protocolVersion: node.protocolVersion, version: node.version };
      }, id);
      return { shown, after };
    };
    const old = await saved(`oldbroker${stamp}`, { protocolVersion: '5', version: 1 });
    assert.equal(old.shown, 'auto');
    assert.deepEqual(old.after, { protocolVersion: 'auto', version: 2 });
    const chosen = await saved(`v5broker${stamp}`, { protocolVersion: '5', version: 2 });
    assert.equal(chosen.shown, '5');
    assert.deepEqual(chosen.after, { protocolVersion: '5', version: 2 });
    const fresh = await page.evaluate(() => {
      const defaults = (globalThis as unknown as { RED: any }).RED.nodes.getType('iotp-mqtt-broker').defaults; // eslint-disable-line @typescript-eslint/no-explicit-any
      return { protocolVersion: defaults.protocolVersion.value, version: defaults.version.value };
    });
    assert.deepEqual(fresh, { protocolVersion: 'auto', version: 2 }, 'a new broker config negotiates');
  });

  it('database node: choosing PostgreSQL fields shows host, port 5432, sslmode and the TimescaleDB option, not the MySQL TLS boxes', async () => {
    consoleErrors.length = 0;
    await page.evaluate(() => {
      const RED = (globalThis as unknown as { RED: any }).RED; // eslint-disable-line @typescript-eslint/no-explicit-any
      RED.editor.editConfig('', 'iotp-database', '');
    });
    const connection = page.locator('#node-config-input-connection');
    await connection.waitFor({ state: 'attached', timeout: 10000 });
    await connection.selectOption('postgres');
    await page.waitForTimeout(300);
    await page.screenshot({ path: join(artifactsDir, 'dialog-iotp-database-postgres.png') });
    const visible = (id: string): Promise<boolean> => page.locator(`#node-config-input-${id}`).isVisible();
    assert.deepEqual(
      {
        host: await visible('host'),
        database: await visible('database'),
        sslmode: await visible('sslmode'),
        timescale: await visible('timescale'),
        tls: await visible('tls'),
        url: await visible('url'),
        file: await visible('file'),
      },
      { host: true, database: true, sslmode: true, timescale: true, tls: false, url: false, file: false },
    );
    assert.equal(await page.locator('#node-config-input-port').inputValue(), '5432', 'the PostgreSQL default port');
    await connection.selectOption('mysql');
    assert.equal(await page.locator('#node-config-input-port').inputValue(), '3306', 'back to MySQL: its default port');
    assert.equal(await visible('sslmode'), false);
    await page.evaluate(() => {
      const RED = (globalThis as unknown as { RED: any }).RED; // eslint-disable-line @typescript-eslint/no-explicit-any
      RED.tray.close();
    });
    await page.waitForFunction(() => document.querySelectorAll('.red-ui-tray').length === 0, undefined, { timeout: 10000 });
    assert.deepEqual(consoleErrors, []);
  });

  it('code editors (resources/iotp-editor.js): Done saves what was typed into the property, Cancel keeps the stored text', async () => {
    consoleErrors.length = 0;
    const id = `codeeditor${Date.now()}`;
    const edit = async (typed: string, button: 'ok' | 'cancel'): Promise<{ sql: unknown; editorLeft: boolean }> => {
      await page.evaluate((id) => {
        const RED = (globalThis as unknown as { RED: any }).RED; // eslint-disable-line @typescript-eslint/no-explicit-any
        RED.editor.edit(RED.nodes.node(id));
      }, id);
      await page.locator('#node-input-sql-editor').waitFor({ state: 'visible', timeout: 10000 });
      await page.waitForTimeout(300);
      await page.evaluate(
        ({ id, typed }) => {
          (globalThis as unknown as { RED: any }).RED.nodes.node(id).editor.setValue(typed, -1); // eslint-disable-line @typescript-eslint/no-explicit-any
        },
        { id, typed },
      );
      await page.locator(`#node-dialog-${button}`).click();
      await page.waitForFunction(() => document.querySelectorAll('.red-ui-tray').length === 0, undefined, { timeout: 10000 });
      return page.evaluate((id) => {
        const node = (globalThis as unknown as { RED: any }).RED.nodes.node(id); // eslint-disable-line @typescript-eslint/no-explicit-any
        return { sql: node.sql, editorLeft: node.editor !== undefined || node.editorInput !== undefined };
      }, id);
    };
    await page.evaluate((id) => {
      const RED = (globalThis as unknown as { RED: any }).RED; // eslint-disable-line @typescript-eslint/no-explicit-any
      RED.view.importNodes(
        [
          {
            id,
            type: 'iotp-db-query',
            x: 300,
            y: 300,
            z: RED.workspaces.active(),
            name: '',
            database: '',
            sql: 'SELECT 1',
            maxRows: 10000,
            version: 1,
          },
        ],
        { notify: false },
      );
    }, id);
    assert.deepEqual(await edit('SELECT 2 AS saved', 'ok'), { sql: 'SELECT 2 AS saved', editorLeft: false });
    assert.deepEqual(await edit('SELECT 3 AS dropped', 'cancel'), { sql: 'SELECT 2 AS saved', editorLeft: false });
    assert.deepEqual(consoleErrors, []);
  });

  for (const def of definitions) {
    it(`${def.type}: the edit dialog opens cleanly, marks a bad value and its help shows`, async () => {
      consoleErrors.length = 0;
      const isConfig = def.category === 'config';
      const prefix = isConfig ? 'node-config-input-' : 'node-input-';
      await page.evaluate(
        ({ type, isConfig }) => {
          const RED = (globalThis as unknown as { RED: any }).RED; // eslint-disable-line @typescript-eslint/no-explicit-any
          const id = `${type.replace(/[^a-z]/g, '')}-${Date.now()}`;
          if (isConfig) {
            RED.editor.editConfig('', type, '');
          } else {
            // As a drag from the palette does: every property starts at its default.
            const node: Record<string, unknown> = { id, type, x: 200, y: 100, z: RED.workspaces.active() };
            const defaults = RED.nodes.getType(type).defaults ?? {};
            for (const key of Object.keys(defaults)) node[key] = JSON.parse(JSON.stringify(defaults[key].value ?? ''));
            RED.view.importNodes([node], { notify: false });
            RED.editor.edit(RED.nodes.node(id));
          }
        },
        { type: def.type, isConfig },
      );
      assert.ok(def.type in INVALID_INPUT, `no invalid-input case for ${def.type}: add one`);
      const invalid = INVALID_INPUT[def.type];
      const field = page.locator(`#${prefix}${invalid ? invalid.field : 'name'}`);
      await field.waitFor({ state: 'attached', timeout: 10000 });
      await page.waitForTimeout(300);
      await page.screenshot({ path: join(artifactsDir, `dialog-${def.type}.png`) });
      if (invalid)
        await field.evaluate((el, value) => {
          const input = el as HTMLInputElement;
          // A select can only hold one of its options: offer the bad value as one, as a stale flow would.
          if (el instanceof HTMLSelectElement && !Array.from(el.options).some((o) => o.value === value)) {
            const option = document.createElement('option');
            option.value = value;
            option.text = value;
            el.appendChild(option);
          }
          input.value = value;
          input.dispatchEvent(new Event('change', { bubbles: true }));
          input.dispatchEvent(new Event('keyup', { bubbles: true }));
        }, invalid.value);
      if (invalid) {
        await page.waitForFunction(
          (selector) => document.querySelector(selector)?.classList.contains('input-error'),
          `#${prefix}${invalid.field}`,
          {
            timeout: 5000,
          },
        );
      }
      await page.evaluate(() => {
        const RED = (globalThis as unknown as { RED: any }).RED; // eslint-disable-line @typescript-eslint/no-explicit-any
        RED.tray.close();
      });
      // The next dialog must not meet this one's form (field ids repeat between node types).
      await page.waitForFunction(() => document.querySelectorAll('.red-ui-tray').length === 0, undefined, { timeout: 10000 });
      await page.evaluate((type) => {
        const RED = (globalThis as unknown as { RED: any }).RED; // eslint-disable-line @typescript-eslint/no-explicit-any
        RED.sidebar.help.show(type);
      }, def.type);
      const help = page.locator('.red-ui-sidebar-help-stack .red-ui-help');
      await help.first().waitFor({ timeout: 10000 });
      const text = await help.first().innerText();
      assert.match(text, isConfig ? /Details/ : /Inputs|Outputs/, `${def.type} help: ${text.slice(0, 200)}`);
      assert.deepEqual(consoleErrors, [], `${def.type}: console errors`);
    });
  }
});
