/**
 * Import → Examples in a real browser: the package's example flows are listed under its name;
 * importing each adds no unknown node; deploying them succeeds; their nodes show status texts
 * within seconds (the simulators feed them). Screenshots of each flow go to test-artifacts/.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { artifactsDir, launchChromium } from '../support/browser';
import { httpJson, packageRoot, RunningNodeRed, startNodeRed } from '../support/node-red';
import { MQTT_HOST, MQTT_PORT, requireService } from '../support/services';
import { makeTempDir, removeTempDir } from '../support/tmp';

const MODULE = 'node-red-contrib-iot-pipelines';

describe('Import → Examples, deployed in a real browser', function () {
  this.timeout(300000);
  let runtime: RunningNodeRed;
  let browser: Browser;
  let page: Page;
  let dir: string;
  const consoleErrors: string[] = [];
  const examples = readdirSync(join(packageRoot, 'examples'))
    .filter((f) => f.endsWith('.json'))
    .sort();

  before(async function () {
    await requireService(this, 'mqtt');
    browser = await launchChromium(this);
    dir = makeTempDir('iotp-examples-');
    runtime = await startNodeRed({
      flows: [],
      env: {
        DATABASE_URL: `sqlite:${join(dir, 'examples.db')}`,
        MQTT_URL: `mqtt://${MQTT_HOST}:${MQTT_PORT}`,
        SIMULATE: 'true',
        INTERVAL_MS: '500',
        API_KEY: 'example-test-key',
      },
    });
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    // This machine has no internet: the editor's fetch of the public node catalogue fails by design.
    const offline = (text: string): boolean => /catalogue\.nodered\.org|ERR_NAME_NOT_RESOLVED/.test(text);
    page.on('console', (m) => m.type() === 'error' && !offline(m.text()) && consoleErrors.push(m.text()));
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    page.on(
      'requestfailed',
      (request) => !offline(request.url()) && consoleErrors.push(`request failed: ${request.url()} (${request.failure()?.errorText})`),
    );
    await page.goto(runtime.url);
    await page.waitForSelector('.red-ui-palette-node', { timeout: 60000 });
  });

  after(async () => {
    await browser?.close();
    await runtime?.stop();
    if (dir) removeTempDir(dir);
  });

  it('lists every example flow under the package', async () => {
    // The editor's Import > Examples menu reads these two library listings.
    const modules = await httpJson(`${runtime.url}/library/examples/flows/`, { headers: { accept: 'application/json' } });
    assert.equal(modules.status, 200);
    assert.ok((modules.body as string[]).includes(MODULE), JSON.stringify(modules.body));
    const listing = await httpJson(`${runtime.url}/library/examples/flows/${MODULE}/`, { headers: { accept: 'application/json' } });
    assert.equal(listing.status, 200);
    const listed = (listing.body as { fn: string }[]).map((entry) => entry.fn).sort();
    assert.deepEqual(
      listed,
      examples.map((f) => f.replace(/\.json$/, '')),
    );
  });

  it('imports each example without unknown nodes or a second broker or database, deploys them, and shows live status', async () => {
    for (const file of examples) {
      const nodes = JSON.parse(readFileSync(join(packageRoot, 'examples', file), 'utf8')) as unknown[];
      const unknown = await page.evaluate((flow) => {
        const RED = (globalThis as unknown as { RED: any }).RED; // eslint-disable-line @typescript-eslint/no-explicit-any
        try {
          // As Import → Examples does: the nodes' own ids first.
          RED.view.importNodes(flow, { generateIds: false, addFlow: false, notify: false });
        } catch (err) {
          // The examples share their broker and database node (same id): the editor then offers
          // "Import copy", which gives the flow's nodes new ids and reuses the existing config nodes.
          if ((err as { code?: string }).code !== 'import_conflict') throw err;
          RED.view.importNodes(flow, { generateIds: true, addFlow: false, notify: false });
        }
        const types = new Set<string>();
        RED.nodes.eachNode((n: { type: string }) => {
          if (n.type === 'unknown' || !RED.nodes.getType(n.type)) types.add(n.type);
        });
        return [...types];
      }, nodes);
      assert.deepEqual(unknown, [], `${file}: unknown node types`);
    }
    const shared = await page.evaluate(() => {
      const RED = (globalThis as unknown as { RED: any }).RED; // eslint-disable-line @typescript-eslint/no-explicit-any
      const found: string[] = [];
      RED.nodes.eachConfig(
        (n: { id: string; type: string; z?: string }) =>
          void ((n.type === 'iotp-mqtt-broker' || n.type === 'iotp-database') && !n.z && found.push(n.id)),
      );
      return found.sort();
    });
    assert.deepEqual(shared, ['iotp.broker', 'iotp.database'], 'one broker and one database node for all examples');
    const startsBefore = runtime.output().split('Started flows').length;
    await page.click('#red-ui-header-button-deploy');
    // Deployed: the runtime restarted its flows with every example's tab.
    const deadline = Date.now() + 60000;
    for (;;) {
      const flows = await httpJson(`${runtime.url}/flows`, { headers: { accept: 'application/json' } });
      const deployedTabs = (flows.body as { type: string }[]).filter((n) => n.type === 'tab').length;
      if (deployedTabs >= examples.length && runtime.output().split('Started flows').length > startsBefore) break;
      if (Date.now() > deadline) {
        await page.screenshot({ path: join(artifactsDir, 'deploy-failed.png') });
        assert.fail(`deploy did not happen (see test-artifacts/deploy-failed.png):\n${runtime.output().slice(-3000)}`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    // Each example's tab shows status texts from its running nodes within seconds (the simulators feed them).
    const tabs = await page.evaluate(() => {
      const RED = (globalThis as unknown as { RED: any }).RED; // eslint-disable-line @typescript-eslint/no-explicit-any
      const found: { id: string; label: string }[] = [];
      RED.nodes.eachWorkspace((ws: { id: string; label: string }) => found.push({ id: ws.id, label: ws.label }));
      return found;
    });
    const exampleTabs = tabs.filter((tab) => tab.label !== 'Flow 1');
    assert.equal(exampleTabs.length, examples.length, tabs.map((t) => t.label).join(', '));
    for (const [index, tab] of exampleTabs.entries()) {
      await page.evaluate((id) => (globalThis as unknown as { RED: any }).RED.workspaces.show(id), tab.id); // eslint-disable-line @typescript-eslint/no-explicit-any
      await page
        .waitForFunction(
          () =>
            Array.from(document.querySelectorAll('.red-ui-flow-node-status-label')).some((el) => (el.textContent ?? '').trim().length > 0),
          undefined,
          { timeout: 30000 },
        )
        .catch(async (err: Error) => {
          await page.screenshot({ path: join(artifactsDir, `flow-${index + 1}-no-status.png`) });
          throw new Error(`${tab.label}: no status text within 30 s (${err.message})`);
        });
      await page.waitForTimeout(1500);
      await page.screenshot({ path: join(artifactsDir, `flow-${index + 1}.png`) });
    }
    assert.deepEqual(consoleErrors, []);
    const errors = runtime
      .output()
      .split('\n')
      .filter((line) => line.includes('[error]'));
    assert.deepEqual(errors, [], 'no runtime errors after deploy');
  });
});
