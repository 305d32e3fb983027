/**
 * The dashboards in a real browser (Debian's headless Chromium via playwright-core): Node-RED as
 * `npm start` runs it (settings.js deploys every shipped flow, the five pipelines and their
 * Dashboard 2.0 pages, into a fresh user directory; SQLite; a private mosquitto), then each page at
 * /dashboard/<page>: its live values change as the simulators publish, its charts draw and move,
 * its tables fill; the connector page re-sends a span through POST /raise-request with the key
 * from the http request node's credentials. What the pages received over socket.io is recorded:
 * text and table widgets get a value only when it changed, charts that update every few seconds get
 * all their lines' points in one message. Screenshots: test-artifacts/dashboard-<page>.png.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { artifactsDir, launchChromium } from '../support/browser';
import { RunningNodeRed, startNodeRed, packageRoot } from '../support/node-red';
import { missingPrograms, startPrivateMosquitto, type PrivateMosquitto } from '../support/private-services';
import { inCi } from '../support/services';

// Node-RED's own bcrypt implementation (a dependency of node-red): the hash it will verify.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const bcrypt = require(require.resolve('bcryptjs', { paths: [require.resolve('node-red/package.json', { paths: [packageRoot] })] })) as {
  hashSync(password: string, rounds: number): string;
};

const API_KEY = 'dashboard-test-key-7Qm';

/** The text of a ui-text widget's value, by node id. */
function textOf(page: Page, id: string): Promise<string> {
  return page.locator(`[id="nrdb-ui-widget-${id}"] .nrdb-ui-text-value`).innerText({ timeout: 30_000 });
}

/** Rows of a ui-table widget, as arrays of cell texts. */
function rowsOf(page: Page, id: string): Promise<string[][]> {
  return page
    .locator(`[id="nrdb-ui-widget-${id}"] tbody tr`)
    .evaluateAll((rows) =>
      rows
        .map((row) => Array.from(row.querySelectorAll('td')).map((cell) => (cell.textContent ?? '').trim()))
        .filter((cells) => cells.length > 1),
    );
}

/** What a chart's canvas shows (a data URL), '' while it has no canvas. */
function chartImage(page: Page, id: string): Promise<string> {
  return page.evaluate((widget) => {
    const canvas = document.getElementById(widget)?.querySelector('canvas');
    return canvas && canvas.width > 0 ? canvas.toDataURL() : '';
  }, `nrdb-ui-widget-${id}`);
}

/** A blank canvas of the chart's size: what an undrawn chart looks like. */
function blankImage(page: Page, id: string): Promise<string> {
  return page.evaluate((widget) => {
    const canvas = document.getElementById(widget)?.querySelector('canvas');
    if (!canvas) return '';
    const blank = document.createElement('canvas');
    blank.width = canvas.width;
    blank.height = canvas.height;
    return blank.toDataURL();
  }, `nrdb-ui-widget-${id}`);
}

/** A message Dashboard 2.0 sent a widget (`msg-input:<id>`), on which socket.io connection. */
interface WidgetUpdate {
  connection: number;
  widget: string;
  payload: unknown;
  action?: unknown;
}

/** Records every widget update the page receives over its socket.io websockets. */
function recordWidgetUpdates(page: Page, updates: WidgetUpdate[]): void {
  let connections = 0;
  page.on('websocket', (socket) => {
    const connection = ++connections;
    socket.on('framereceived', ({ payload }) => {
      // socket.io event packets: 42["event", data]
      if (typeof payload !== 'string' || !payload.startsWith('42[')) return;
      const [event, msg] = JSON.parse(payload.slice(2)) as [string, { payload?: unknown; action?: unknown } | undefined];
      if (event.startsWith('msg-input:'))
        updates.push({ connection, widget: event.slice('msg-input:'.length), payload: msg?.payload, action: msg?.action });
    });
  });
}

async function until<T>(what: string, read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!ok(value)) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(value).slice(0, 300)}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    value = await read();
  }
  return value;
}

/** The chart drew something, and later draws something else (it moves). */
async function chartDrawsAndMoves(page: Page, id: string, timeoutMs = 90_000): Promise<void> {
  const blank = await until(
    `a canvas in ${id}`,
    () => blankImage(page, id),
    (v) => v !== '',
  );
  const first = await until(
    `${id} to draw`,
    () => chartImage(page, id),
    (v) => v !== '' && v !== blank,
    timeoutMs,
  );
  await until(
    `${id} to move`,
    () => chartImage(page, id),
    (v) => v !== first && v !== blank,
    timeoutMs,
  );
}

/** The widget's value changes from what it shows now (and is not a placeholder). */
async function textChanges(page: Page, id: string, timeoutMs = 90_000): Promise<[string, string]> {
  const first = await until(
    `${id} to show a value`,
    () => textOf(page, id),
    (v) => v !== '' && v !== '–' && !/counting/.test(v),
    timeoutMs,
  );
  const later = await until(
    `${id} to change from ${first}`,
    () => textOf(page, id),
    (v) => v !== first,
    timeoutMs,
  );
  return [first, later];
}

describe('the dashboards in a real browser', function () {
  this.timeout(600_000);
  let mosquitto: PrivateMosquitto | undefined;
  let runtime: RunningNodeRed | undefined;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const updates: WidgetUpdate[] = [];

  before(async function () {
    const missing = await missingPrograms(['mosquitto']);
    if (missing.length > 0) {
      if (inCi()) throw new Error(`missing ${missing.join(', ')}; CI=true requires it`);
      console.log(`      [skip] missing ${missing.join(', ')}`);
      this.skip();
    }
    browser = await launchChromium(this);
    mosquitto = await startPrivateMosquitto({ extraConfig: ['max_queued_messages 100000'] });
    // No flows given: settings.js deploys the shipped ones on first start, as for `npm start`.
    runtime = await startNodeRed({
      env: {
        IOTP_FLOWS_DIR: join(packageRoot, 'flows'),
        MQTT_URL: mosquitto.url,
        DATABASE_URL: undefined,
        ROLLING_AVERAGES_DATABASE_URL: undefined,
        SIMULATE: 'true',
        API_KEY,
        ISEMS_POLL_INTERVAL: '5',
        FETCH_DATA_INTERVAL: '1',
      },
      startTimeoutMs: 60_000,
    });
    await runtime.waitForOutput(/Dashboard 2\.0 \(v[\d.]+\) started at \/dashboard/, 30_000);
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on('pageerror', (error) => pageErrors.push(String(error)));
    recordWidgetUpdates(page, updates);
  });

  after(async () => {
    await browser?.close();
    await runtime?.stop();
    await mosquitto?.stop();
  });

  async function open(path: string): Promise<void> {
    await page.goto(`${runtime!.url}/dashboard/${path}`, { waitUntil: 'load' });
    await page.locator('.nrdb-ui-widget').first().waitFor({ timeout: 60_000 });
  }

  async function screenshot(name: string): Promise<void> {
    await page.waitForTimeout(1500); // chart animations settle
    await page.screenshot({ path: join(artifactsDir, `dashboard-${name}.png`), fullPage: true });
  }

  it('deploys the five pages beside the pipelines and lists them in the navigation', async () => {
    assert.match(runtime!.output(), /deployed 10 shipped flow\(s\)/);
    await open('statestream');
    await page.locator('header button').first().click();
    const links = await page.locator('nav a, .v-navigation-drawer a').allInnerTexts();
    for (const name of ['Statestream', 'Rolling averages', 'ISEMS solar nodes', 'IoT sensors', 'Data connector']) {
      assert.ok(
        links.some((text) => text.includes(name)),
        `navigation lists ${name}: ${JSON.stringify(links)}`,
      );
    }
    await page.keyboard.press('Escape');
  });

  it('statestream: entities with their latest state, facts per minute, the ingest backlog', async () => {
    await open('statestream');
    const entities = await until(
      'ten simulated entities',
      () => rowsOf(page, 'iotp.dash.ss.table'),
      (rows) => rows.length >= 10,
    );
    // Entity ids as Home Assistant names them (the label is the object id, the domain beside it).
    assert.ok(
      entities.some(([entity, domain]) => entity === 'light.kitchen' && domain === 'light'),
      JSON.stringify(entities),
    );
    assert.deepEqual(
      entities.filter(([entity, domain]) => !entity.startsWith(`${domain}.`)),
      [],
      'every entity as <domain>.<object id>',
    );
    assert.match(await textOf(page, 'iotp.dash.ss.state'), /^writing$/);
    assert.match(
      await until(
        'a backlog figure',
        () => textOf(page, 'iotp.dash.ss.backlogtext'),
        (v) => /messages/.test(v),
      ),
      /^[\d,]+ messages/,
    );
    await until(
      'a facts-per-minute figure',
      () => textOf(page, 'iotp.dash.ss.facttext'),
      (v) => /^[\d,]+$/.test(v),
      60_000,
    );
    await chartDrawsAndMoves(page, 'iotp.dash.ss.backlogchart');
    await chartDrawsAndMoves(page, 'iotp.dash.ss.factchart', 60_000);
    await screenshot('statestream');
  });

  it('rolling averages: the three averages live and charted, the raw numbers beside them', async () => {
    await open('rolling-averages');
    // The simulated publisher sends a number every 1-30 s.
    const [before, after] = await textChanges(page, 'iotp.dash.ra.t1', 120_000);
    assert.match(before, /^\d+\.\d\d$/);
    assert.match(after, /^\d+\.\d\d$/);
    assert.match(await textOf(page, 'iotp.dash.ra.t30'), /^\d+\.\d\d$/);
    const stored = await until(
      'stored numbers',
      () => rowsOf(page, 'iotp.dash.ra.table'),
      (rows) => rows.length >= 2,
    );
    assert.match(stored[0][0], /^\d\d:\d\d:\d\d UTC$/);
    await chartDrawsAndMoves(page, 'iotp.dash.ra.chart', 120_000);
    await chartDrawsAndMoves(page, 'iotp.dash.ra.rawchart', 120_000);
    await screenshot('rolling-averages');
  });

  it('ISEMS: every node with battery and status in words, the last day of the chosen node charted', async () => {
    await open('isems');
    const nodes = await until(
      'five simulated solar nodes',
      () => rowsOf(page, 'iotp.dash.isems.table'),
      (rows) => rows.length === 5,
    );
    for (const [node, seen, charge, voltage, , , status, location] of nodes) {
      assert.match(location, /^-?\d+\.\d{4}, -?\d+\.\d{4}$/);
      assert.match(node, /^isems-00\d$/);
      assert.match(seen, /UTC \(\d+ min ago\)$/);
      assert.match(charge, /^\d+ %$/);
      assert.match(voltage, /^\d+\.\d\d V$/);
      assert.match(status, /charging|fully charged|discharging|healthy|battery low|no status/);
    }
    assert.match(await page.locator('[id="nrdb-ui-widget-iotp.dash.isems.pick"]').innerText(), /isems-001/);
    assert.match(
      await until(
        'the day shown',
        () => textOf(page, 'iotp.dash.isems.rows'),
        (v) => /measurements since/.test(v),
      ),
      /^\d+ measurements since/,
    );
    for (const chart of ['voltage', 'charge', 'solar', 'temp']) {
      const id = `iotp.dash.isems.c.${chart}`;
      const blank = await until(
        `a canvas in ${id}`,
        () => blankImage(page, id),
        (v) => v !== '',
      );
      await until(
        `${id} to draw`,
        () => chartImage(page, id),
        (v) => v !== '' && v !== blank,
      );
    }
    // A new poll (every 5 s here) moves the newest measurement of a node.
    await until(
      'a newer measurement',
      () => rowsOf(page, 'iotp.dash.isems.table'),
      (rows) => rows.some((row, i) => row[3] !== nodes[i][3] || row[1] !== nodes[i][1]),
      60_000,
    );
    await screenshot('isems');
  });

  it('IoT sensors: live values, per-minute means, the six quality metrics and their trend, the catalog', async () => {
    await open('sensors');
    const first = await until(
      'five sensors',
      () => rowsOf(page, 'iotp.dash.sensors.latesttable'),
      (rows) => rows.length === 5,
    );
    await until(
      'a newer reading',
      () => rowsOf(page, 'iotp.dash.sensors.latesttable'),
      (rows) => rows.some((row, i) => row[4] !== first[i][4]),
      30_000,
    );
    await chartDrawsAndMoves(page, 'iotp.dash.sensors.live', 30_000);
    for (const metric of ['completeness', 'validity', 'accuracy', 'consistency', 'timeliness', 'uniqueness']) {
      assert.match(
        await until(
          metric,
          () => textOf(page, `iotp.dash.sensors.q.${metric}`),
          (v) => v !== '–' && v !== '',
        ),
        /^\d+(\.\d)? %$/,
        metric,
      );
    }
    const quality = 'iotp.dash.sensors.quality.chart';
    const blank = await until(
      'the quality chart canvas',
      () => blankImage(page, quality),
      (v) => v !== '',
    );
    await until(
      'the quality trend to draw',
      () => chartImage(page, quality),
      (v) => v !== blank,
    );
    const catalog = await until(
      'the catalog',
      () => rowsOf(page, 'iotp.dash.sensors.catalog.table'),
      (rows) => rows.length >= 3,
    );
    assert.deepEqual(catalog.map((row) => row[0]).sort(), ['aggregated_sensor_data', 'aggregated_sensor_parts', 'sensor_data']);
    // Per-minute means appear once the first minute closes (its grace period included).
    const means = 'iotp.dash.sensors.meanchart';
    const blankMeans = await until(
      'the means chart canvas',
      () => blankImage(page, means),
      (v) => v !== '',
    );
    await until(
      'per-minute means to draw',
      () => chartImage(page, means),
      (v) => v !== blankMeans,
      150_000,
    );
    await screenshot('sensors');
  });

  it('connector: bookmark, windows waiting, deliveries; re-send goes through the request API with the credential key', async () => {
    await open('connector');
    const bookmark = await until(
      'a bookmark',
      () => textOf(page, 'iotp.dash.connector.t.bookmark'),
      (v) => /UTC$/.test(v),
      120_000,
    );
    assert.match(bookmark, /^\d{4}-\d\d-\d\d \d\d:\d\d:00 UTC$/);
    assert.match(await textOf(page, 'iotp.dash.connector.t.state'), /^(ready|held)/);
    assert.match(await textOf(page, 'iotp.dash.connector.t.waiting'), /^\d+/);
    await until(
      'a scheduled delivery',
      () => rowsOf(page, 'iotp.dash.connector.deliveries'),
      (rows) => rows.some((row) => row[1] === 'schedule'),
    );
    await page.getByRole('button', { name: 'Re-send' }).click();
    const answer = await until(
      'the re-sent task to finish',
      () => textOf(page, 'iotp.dash.connector.t.request'),
      (v) => /SUCCESS|FAILURE|refused/.test(v),
      60_000,
    );
    assert.match(answer, /^task [0-9a-f]{8}: SUCCESS 1\/1 · delivered \d+ readings/);
    await until(
      'the request in the deliveries',
      () => rowsOf(page, 'iotp.dash.connector.deliveries'),
      (rows) => rows.some((row) => row[1] === 'request'),
    );
    // The key came from credentials: the flow files hold only the ${API_KEY} reference.
    assert.ok(!runtime!.output().includes(API_KEY), 'the API key is never logged');
    await screenshot('connector');
  });

  it('sends text and table widgets only what changed, and chart lines in one message per update', () => {
    // Every open page receives every widget's updates, so the pages opened above saw them all.
    const sentOnChange = [
      'iotp.dash.ss.state',
      'iotp.dash.ss.backlogtext',
      'iotp.dash.ss.count.text',
      'iotp.dash.ss.table',
      'iotp.dash.ra.t1',
      'iotp.dash.ra.t5',
      'iotp.dash.ra.t30',
      'iotp.dash.ra.table',
      'iotp.dash.isems.table',
      'iotp.dash.sensors.q.completeness',
      'iotp.dash.connector.t.state',
      'iotp.dash.connector.t.bookmark',
      'iotp.dash.connector.t.waiting',
      'iotp.dash.connector.t.outbox',
      'iotp.dash.connector.deliveries',
      'iotp.dash.connector.failures',
    ];
    // A value that never changes (the writer's state) is sent once, before a page connects, and
    // reaches later pages from Dashboard 2.0's store; these change while the pages are open.
    for (const widget of ['iotp.dash.ss.table', 'iotp.dash.ra.t1', 'iotp.dash.isems.table', 'iotp.dash.connector.deliveries']) {
      assert.ok(
        updates.some((u) => u.widget === widget),
        `${widget} got no update`,
      );
    }
    for (const widget of sentOnChange) {
      const received = updates.filter((u) => u.widget === widget);
      const repeated = received.filter(
        (u, i) =>
          i > 0 && received[i - 1].connection === u.connection && JSON.stringify(received[i - 1].payload) === JSON.stringify(u.payload),
      );
      assert.deepEqual(repeated, [], `${widget} was sent the value it already showed`);
    }
    const batched: [widget: string, line: string, lines: (n: number) => boolean][] = [
      ['iotp.dash.sensors.live', 'sensor', (n) => n >= 1],
      ['iotp.dash.ss.backlogchart', 'line', (n) => n === 2],
      ['iotp.dash.ra.chart', 'line', (n) => n >= 1 && n <= 3],
    ];
    for (const [widget, line, lines] of batched) {
      const received = updates.filter((u) => u.widget === widget);
      assert.ok(received.length > 0, `${widget} got no update`);
      for (const { payload } of received) {
        assert.ok(Array.isArray(payload), `${widget}: ${JSON.stringify(payload)}`);
        const names = (payload as Record<string, unknown>[]).map((point) => point[line]);
        assert.ok(
          lines(names.length) && new Set(names).size === names.length,
          `${widget}: one point per line in ${JSON.stringify(payload)}`,
        );
      }
    }
    // Five simulated sensors: a poll carries the newest reading of several at once.
    assert.ok(
      updates.some((u) => u.widget === 'iotp.dash.sensors.live' && (u.payload as unknown[]).length > 1),
      'the live chart got several sensors in one message',
    );
    // Charts re-read whole get all their lines in one message that replaces the chart's.
    for (const [widget, line] of [
      ['iotp.dash.sensors.quality.chart', 'metric'],
      ['iotp.dash.sensors.meanchart', 'sensor'],
    ]) {
      const received = updates.filter((u) => u.widget === widget);
      assert.ok(received.length > 0, `${widget} got no update`);
      for (const { payload, action } of received) assert.ok(Array.isArray(payload) && action === 'replace', `${widget}: ${action}`);
      assert.ok(
        received.some((u) => new Set((u.payload as Record<string, unknown>[]).map((point) => point[line])).size > 1),
        `${widget}: several lines in one message`,
      );
    }
    const raw = updates.filter((u) => u.widget === 'iotp.dash.ra.rawchart');
    assert.ok(raw.length > 0, 'the raw numbers chart got no update');
    for (const { payload } of raw) assert.ok(Array.isArray(payload) && payload.length > 0, JSON.stringify(payload));
  });

  it('no page raised a script error', () => {
    assert.deepEqual(pageErrors, []);
  });
});

describe('the dashboards behind the editor password', function () {
  this.timeout(180_000);
  const password = `dash-${Date.now().toString(36)}`;
  let mosquitto: PrivateMosquitto | undefined;
  let runtime: RunningNodeRed | undefined;
  let browser: Browser | undefined;

  before(async function () {
    if ((await missingPrograms(['mosquitto'])).length > 0) {
      if (inCi()) throw new Error('missing mosquitto; CI=true requires it');
      this.skip();
    }
    browser = await launchChromium(this);
    mosquitto = await startPrivateMosquitto();
    runtime = await startNodeRed({
      env: {
        IOTP_FLOWS_DIR: join(packageRoot, 'flows'),
        MQTT_URL: mosquitto.url,
        DATABASE_URL: undefined,
        ROLLING_AVERAGES_DATABASE_URL: undefined,
        SIMULATE: 'true',
        NODE_RED_ADMIN_USER: 'operator',
        NODE_RED_ADMIN_PASSWORD_HASH: bcrypt.hashSync(password, 8),
      },
      startTimeoutMs: 60_000,
    });
    await runtime.waitForOutput(/Dashboard 2\.0 \(v[\d.]+\) started at \/dashboard/, 30_000);
  });

  after(async () => {
    await browser?.close();
    await runtime?.stop();
    await mosquitto?.stop();
  });

  it('asks for the editor user and password: the page, its assets and its socket.io connection', async () => {
    const base = `${runtime!.url}/dashboard`;
    const basicAuth = (user: string, pass: string): string => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
    for (const path of ['/statestream', '/', '/_setup']) {
      const anonymous = await fetch(`${base}${path}`);
      assert.equal(anonymous.status, 401, path);
      assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Basic /);
      assert.equal((await fetch(`${base}${path}`, { headers: { authorization: basicAuth('operator', 'wrong') } })).status, 401, path);
    }
    // socket.io's handshake succeeds at the transport level; the connect to the namespace is refused.
    const handshake = await fetch(`${base}/socket.io/?EIO=4&transport=polling`);
    const sid = /"sid":"([^"]+)"/.exec(await handshake.text())?.[1];
    assert.ok(sid, 'an engine.io session');
    await fetch(`${base}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body: '40' });
    const refused = await (await fetch(`${base}/socket.io/?EIO=4&transport=polling&sid=${sid}`)).text();
    assert.match(refused, /^44.*authentication required/, refused);

    // A browser with the credentials gets the live page.
    const context = await browser!.newContext({
      viewport: { width: 1400, height: 1000 },
      httpCredentials: { username: 'operator', password },
    });
    const page = await context.newPage();
    await page.goto(`${base}/statestream`, { waitUntil: 'load' });
    const rows = await until(
      'the entities',
      () => page.locator('[id="nrdb-ui-widget-iotp.dash.ss.table"] tbody tr').count(),
      (n) => n >= 10,
    );
    assert.ok(rows >= 10);
    await context.close();
    assert.ok(!runtime!.output().includes(password), 'the password is never logged');
  });
});
