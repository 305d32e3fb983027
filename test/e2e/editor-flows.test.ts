/**
 * The example flows as a user sees them in the editor (headless Chromium): the five pipelines and
 * their five Dashboard 2.0 pages, measured from the rendered geometry (test/e2e/flow-geometry.ts),
 * not from the JSON: no node cut off at the canvas edge, no nodes on top of each other, no status
 * text running under another node (nor into the room a status needs), no wire across a comment or
 * a node it does not connect; one fill colour per node family; tab names "<n> <pipeline>" and
 * "Dashboard: <n> <pipeline>"; one shared broker and database node; no "NaN" in a status while
 * idle; help code blocks that wrap; edit-dialog fields wide enough for their values.
 *
 * Screenshots go to test-artifacts/ (flow-<n>-<name>.png and flow-6-dashboard-<n>-<name>.png,
 * running as `npm start` runs them, and the same with -idle, as imported into a Node-RED without its
 * simulators); docs/images/ holds copies of the running pipeline ones.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { artifactsDir, launchChromium } from '../support/browser';
import { packageRoot, RunningNodeRed, startNodeRed } from '../support/node-red';
import { readNodeDefinitions, readPackageJson } from '../support/package-info';
import { MQTT_HOST, MQTT_PORT, requireService } from '../support/services';
import { makeTempDir, removeTempDir } from '../support/tmp';
import { layoutProblems, measureActiveTab, type NodeShape } from './flow-geometry';

/** The colour families of the package's nodes (every non-config node type must be in one). */
const FAMILIES: Record<string, string> = {
  'iotp-mqtt-in': 'MQTT',
  'iotp-mqtt-out': 'MQTT',
  'iotp-db-write': 'database',
  'iotp-db-query': 'database',
  'iotp-statestream': 'Home Assistant',
  'iotp-hass-simulator': 'Home Assistant',
  'iotp-window': 'window',
  'iotp-simulator': 'window',
  'iotp-isems': 'ISEMS',
  'iotp-isems-query': 'ISEMS',
  'iotp-sensor-reading': 'sensors',
  'iotp-quality': 'sensors',
  'iotp-catalog': 'sensors',
  'iotp-sensor-api': 'sensors',
  'iotp-batch-post': 'connector',
  'iotp-connector-api': 'connector',
  // Reports what the db writers (and the connector's batch post) have committed and still hold.
  'iotp-stats': 'database',
};
/** Node-RED's own MQTT nodes' colour: the MQTT family keeps it, nothing else may wear it. */
const CORE_MQTT_FILL = 'rgb(216, 191, 216)';
const PIPELINES = ['1 Home Assistant statestream', '2 Rolling averages', '3 ISEMS solar nodes', '4 IoT sensors', '5 Data connector'];
const PIPELINE_FILES = ['1-statestream', '2-rolling-averages', '3-isems', '4-iot-sensors', '5-data-connector'];
/** The pipelines' tabs, then their dashboard pages' tabs (flows/6-dashboard-<pipeline file>.json). */
const TAB_LABELS = [...PIPELINES, ...PIPELINES.map((name) => `Dashboard: ${name}`)];
const SCREENSHOTS = [...PIPELINE_FILES.map((file) => `flow-${file}`), ...PIPELINE_FILES.map((file) => `flow-6-dashboard-${file}`)];
/** Room kept free to the right of a status text's start, so a longer status of the same node still fits. */
const STATUS_ROOM = 320;

const definitions = Object.values(readPackageJson()['node-red']?.nodes ?? {}).flatMap((entry) => readNodeDefinitions(entry));

/** The shipped flows, on their tabs, as `npm start` deploys them (settings.js seedFlows). */
function shippedFlows(): Record<string, unknown>[] {
  const dir = join(packageRoot, 'flows');
  const seen = new Set<string>();
  const nodes: Record<string, unknown>[] = [];
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    for (const node of JSON.parse(readFileSync(join(dir, file), 'utf8')) as { id: string; type: string }[]) {
      if (node.type === 'global-config' || seen.has(node.id)) continue;
      seen.add(node.id);
      nodes.push(node);
    }
  }
  return nodes;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Red = any;

async function openEditor(url: string, browser: Browser): Promise<{ page: Page; consoleErrors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  const consoleErrors: string[] = [];
  // This machine has no internet: the editor's fetch of the public node catalogue fails by design.
  const offline = (text: string): boolean => /catalogue\.nodered\.org|ERR_NAME_NOT_RESOLVED/.test(text);
  page.on('console', (m) => m.type() === 'error' && !offline(m.text()) && consoleErrors.push(m.text()));
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  await page.goto(url);
  await page.waitForSelector('.red-ui-palette-node', { timeout: 60000 });
  return { page, consoleErrors };
}

async function tabs(page: Page): Promise<{ id: string; label: string }[]> {
  return page.evaluate(() => {
    const RED = (globalThis as unknown as { RED: Red }).RED;
    const found: { id: string; label: string }[] = [];
    RED.nodes.eachWorkspace((ws: { id: string; label: string }) => found.push({ id: ws.id, label: ws.label }));
    return found;
  });
}

async function showTab(page: Page, id: string): Promise<void> {
  await page.evaluate((tab) => (globalThis as unknown as { RED: Red }).RED.workspaces.show(tab), id);
  await page.waitForTimeout(500);
}

/** Shows each tab, screenshots it, and returns its layout problems and measured nodes. */
async function inspectTabs(page: Page, suffix: string): Promise<{ label: string; problems: string[]; nodes: NodeShape[] }[]> {
  const results = [];
  for (const [index, tab] of (await tabs(page)).entries()) {
    await showTab(page, tab.id);
    await page.screenshot({ path: join(artifactsDir, `${SCREENSHOTS[index] ?? `flow-${index + 1}`}${suffix}.png`) });
    const shape = await page.evaluate(measureActiveTab);
    results.push({ label: tab.label, problems: layoutProblems(shape, { statusRoom: STATUS_ROOM }), nodes: shape.nodes });
  }
  return results;
}

describe('the example flows in the editor', function () {
  this.timeout(300000);
  let browser: Browser;
  let dir: string;

  before(async function () {
    await requireService(this, 'mqtt');
    browser = await launchChromium(this);
    dir = makeTempDir('iotp-editor-flows-');
  });

  after(async () => {
    await browser?.close();
    if (dir) removeTempDir(dir);
  });

  describe('running, as `npm start` runs them (simulators on)', () => {
    let runtime: RunningNodeRed;
    let page: Page;
    let consoleErrors: string[];
    let inspected: { label: string; problems: string[]; nodes: NodeShape[] }[] = [];

    before(async () => {
      const run = `iotp-editor-${process.pid}-${Date.now().toString(36)}`;
      runtime = await startNodeRed({
        flows: shippedFlows(),
        env: {
          DATABASE_URL: `sqlite:${join(dir, 'running.db')}`,
          MQTT_URL: `mqtt://${MQTT_HOST}:${MQTT_PORT}`,
          SIMULATE: 'true',
          TOPIC: `${run}/DATA`,
          STATS_TOPIC: `${run}/STATS`,
          MQTT_TOPIC: `${run}/sensors`,
          STATESTREAM_BASE_TOPIC: `${run}/homeassistant`,
        },
      });
      ({ page, consoleErrors } = await openEditor(runtime.url, browser));
      // The longest status texts need data: the averages (the rolling publisher waits 1-30 s) and the sensors' windows.
      await page
        .waitForFunction(
          () => {
            // The editor draws the active tab only; it keeps every node's last status.
            const texts: string[] = [];
            (globalThis as unknown as { RED: Red }).RED.nodes.eachNode(
              (n: { status?: { text?: unknown } }) => void texts.push(String(n.status?.text ?? '')),
            );
            return (
              texts.some((t) => t.startsWith('avg_1min')) && texts.some((t) => /open window/.test(t)) && texts.some((t) => /parsed/.test(t))
            );
          },
          undefined,
          { timeout: 120000, polling: 1000 },
        )
        .catch(async (err: Error) => {
          const seen = await page.evaluate(() => {
            const texts: string[] = [];
            (globalThis as unknown as { RED: Red }).RED.nodes.eachNode(
              (n: { id: string; status?: { text?: unknown } }) => void (n.status?.text && texts.push(`${n.id}: ${String(n.status.text)}`)),
            );
            return texts;
          });
          throw new Error(
            `the running flows did not show their statuses (${err.message}); seen:\n${seen.join('\n')}\n${runtime.output().slice(-3000)}`,
          );
        });
      inspected = await inspectTabs(page, '');
    });

    after(async () => {
      await page?.close();
      await runtime?.stop();
    });

    it('names the tabs "<n> <pipeline>" and shares one MQTT broker and one database node between them', async () => {
      assert.deepEqual(
        inspected.map((t) => t.label),
        TAB_LABELS,
      );
      const configs = await page.evaluate(() => {
        const RED = (globalThis as unknown as { RED: Red }).RED;
        const found: { id: string; type: string; z?: string; label: string }[] = [];
        RED.nodes.eachConfig((n: { id: string; type: string; z?: string; _def: { label?: unknown } }) => {
          const label = typeof n._def.label === 'function' ? (n._def.label as () => string).call(n) : String(n._def.label ?? '');
          found.push({ id: n.id, type: n.type, z: n.z, label });
        });
        return found;
      });
      const global = (type: string) => configs.filter((c) => c.type === type && !c.z);
      assert.deepEqual(
        global('iotp-mqtt-broker').map((c) => [c.id, c.label]),
        [['iotp.broker', 'MQTT broker (MQTT_URL)']],
      );
      assert.deepEqual(
        global('iotp-database').map((c) => [c.id, c.label]),
        [['iotp.database', 'database (DATABASE_URL)']],
      );
    });

    for (const [index, label] of TAB_LABELS.entries()) {
      it(`${label}: nothing cut off, overlapping, under a status text or crossed by a wire`, () => {
        const tab = inspected[index];
        assert.ok(tab && tab.nodes.length > 0, `tab ${label} not rendered`);
        assert.deepEqual(tab.problems, [], `see test-artifacts/${SCREENSHOTS[index]}.png`);
      });
    }

    it('gives each node family one colour of its own, and the core MQTT colour only to MQTT nodes', () => {
      const types = definitions.filter((d) => d.category !== 'config').map((d) => d.type);
      assert.deepEqual(
        types.filter((t) => !FAMILIES[t]),
        [],
        'node types without a family: add them to FAMILIES',
      );
      const fills = new Map<string, Set<string>>();
      for (const node of inspected.flatMap((t) => t.nodes)) {
        const family = FAMILIES[node.type];
        if (!family) continue;
        if (!fills.has(family)) fills.set(family, new Set());
        fills.get(family)!.add(node.fill);
      }
      assert.deepEqual(
        [...new Set(Object.values(FAMILIES))].filter((f) => !fills.has(f)),
        [],
        'families the examples do not show',
      );
      for (const [family, colours] of fills) assert.equal(colours.size, 1, `${family} nodes in ${[...colours].join(', ')}`);
      const colourOf = [...fills].map(([family, colours]) => ({ family, colour: [...colours][0] }));
      const shared = colourOf.filter((a, i) => colourOf.some((b, j) => j !== i && b.colour === a.colour));
      assert.deepEqual(shared, [], 'families sharing a colour');
      assert.deepEqual(
        colourOf.filter((f) => f.colour === CORE_MQTT_FILL).map((f) => f.family),
        ['MQTT'],
      );
    });

    it('opens every node of the examples with values that fit their fields and labels in their lists', async () => {
      const ids = await page.evaluate(() => {
        const RED = (globalThis as unknown as { RED: Red }).RED;
        const found: { id: string; type: string; config: boolean }[] = [];
        RED.nodes.eachNode(
          (n: { id: string; type: string }) => void (n.type.startsWith('iotp-') && found.push({ id: n.id, type: n.type, config: false })),
        );
        RED.nodes.eachConfig(
          (n: { id: string; type: string }) => void (n.type.startsWith('iotp-') && found.push({ id: n.id, type: n.type, config: true })),
        );
        return found;
      });
      const tooNarrow: string[] = [];
      for (const node of ids) {
        await page.evaluate(({ id, config }) => {
          const RED = (globalThis as unknown as { RED: Red }).RED;
          const n = RED.nodes.node(id);
          if (config) RED.editor.editConfig('', n.type, id);
          else {
            RED.workspaces.show(n.z);
            RED.editor.edit(n);
          }
        }, node);
        await page.waitForSelector('.red-ui-tray .red-ui-tray-body form', { timeout: 10000 });
        await page.waitForTimeout(400);
        if (node.id === 'iotp_ss_write') await page.screenshot({ path: join(artifactsDir, 'flow-1-dialog-db-write.png') });
        const narrow = await page.evaluate(() => {
          const visible = (selector: string) =>
            Array.from(document.querySelectorAll(selector)).filter((el) => (el as HTMLElement).offsetParent !== null);
          // A text field scrolls what does not fit; a select cuts its chosen option short.
          const inputs = visible('.red-ui-tray-body input[type="text"], .red-ui-tray-body input:not([type])')
            .filter((el) => el.scrollWidth > el.clientWidth + 1)
            .map((el) => `${el.id || el.className}: "${(el as HTMLInputElement).value}"`);
          const measure = document.createElement('canvas').getContext('2d')!;
          const selects = (visible('.red-ui-tray-body select') as HTMLSelectElement[])
            .filter((el) => {
              const style = getComputedStyle(el);
              measure.font = `${style.fontSize} ${style.fontFamily}`;
              const text = el.selectedOptions[0]?.text ?? '';
              // The drop-down arrow takes about 20 px beside the padding.
              return measure.measureText(text).width + parseFloat(style.paddingLeft) + parseFloat(style.paddingRight) + 20 > el.clientWidth;
            })
            .map((el) => `${el.id || el.className}: "${el.selectedOptions[0]?.text}"`);
          // A configuration node type without a label shows up as its raw type ("Add new iotp-sensors...").
          const rawTypes = (visible('.red-ui-tray-body select') as HTMLSelectElement[])
            .flatMap((el) => Array.from(el.options).map((o) => o.text))
            .filter((text) => /\biotp-[a-z-]+/.test(text))
            .map((text) => `option "${text}" names a node type, not what it is`);
          return [...inputs, ...selects, ...rawTypes];
        });
        tooNarrow.push(...narrow.map((field) => `${node.type} ${node.id}: ${field}`));
        await page.evaluate(() => (globalThis as unknown as { RED: Red }).RED.tray.close());
        await page.waitForFunction(() => document.querySelectorAll('.red-ui-tray').length === 0, undefined, { timeout: 10000 });
      }
      assert.deepEqual(tooNarrow, [], 'fields whose value does not fit');
      assert.deepEqual(consoleErrors, []);
    });

    it("wraps every node's help: no code block or line wider than the sidebar", async () => {
      const overflowing: string[] = [];
      for (const def of definitions) {
        await page.evaluate((type) => (globalThis as unknown as { RED: Red }).RED.sidebar.help.show(type), def.type);
        await page.waitForSelector('.red-ui-sidebar-help-stack .red-ui-help', { timeout: 10000 });
        await page.waitForTimeout(200);
        const wide = await page.evaluate(() => {
          const help = document.querySelector('.red-ui-sidebar-help-stack .red-ui-help') as HTMLElement;
          const limit = help.getBoundingClientRect().right + 1;
          return Array.from(help.querySelectorAll('pre, code, p, li, dd, dt'))
            .filter((el) => el.getBoundingClientRect().right > limit || el.scrollWidth > el.clientWidth + 1)
            .map((el) => `<${el.tagName.toLowerCase()}> ${(el.textContent ?? '').trim().slice(0, 60)}`);
        });
        overflowing.push(...wide.map((w) => `${def.type}: ${w}`));
      }
      assert.deepEqual(overflowing, []);
    });
  });

  describe('idle, as imported into a Node-RED without its simulators', () => {
    let runtime: RunningNodeRed;
    let page: Page;

    before(async () => {
      runtime = await startNodeRed({
        flows: shippedFlows(),
        env: {
          DATABASE_URL: `sqlite:${join(dir, 'idle.db')}`,
          MQTT_URL: `mqtt://${MQTT_HOST}:${MQTT_PORT}`,
          SIMULATE: 'false',
          MQTT_TOPIC: `iotp-editor-idle-${process.pid}/sensors`,
        },
      });
      ({ page } = await openEditor(runtime.url, browser));
      // The status texts settle within seconds (connections, "waiting for readings").
      await page.waitForTimeout(6000);
    });

    after(async () => {
      await page?.close();
      await runtime?.stop();
    });

    it('shows no NaN, undefined or null in a status, and the idle statuses fit the layout too', async () => {
      const inspected = await inspectTabs(page, '-idle');
      const statuses = inspected.flatMap((t) => t.nodes.filter((n) => n.status).map((n) => `${t.label} / ${n.label}: ${n.status!.text}`));
      assert.ok(statuses.length > 0, 'no status texts at all');
      assert.deepEqual(
        statuses.filter((s) => /NaN|undefined|null|\[object/.test(s)),
        [],
      );
      assert.deepEqual(
        inspected.flatMap((t) => t.problems.map((p) => `${t.label}: ${p}`)),
        [],
      );
    });
  });
});
