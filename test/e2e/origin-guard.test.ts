/**
 * The origin guard (lib/origin-guard.ts) in a running Node-RED started with the shipped settings.js
 * and no admin password, as `npm start` runs it: a page of another origin can neither deploy flows
 * (the drive-by `fetch('http://127.0.0.1:1880/flows', {method: 'POST', ...})`) nor post a plain
 * HTML form to the admin API, and reads nothing from it; the server's own pages and clients
 * without an Origin work as before; an origin named in HTTP_NODE_CORS_ORIGIN calls a flow endpoint
 * and reads its answer. First with hand-made requests, then from pages in headless Chromium, whose
 * CORS handling is the real thing (on Node-RED 4 editor-api answers the preflight and the guard
 * refuses the request that follows; on Node-RED 5 the guard already refuses the preflight).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/browser';
import { startNodeRed, type RunningNodeRed } from '../support/node-red';
import { rawRequest, type RawAnswer } from '../support/raw-request';

const send = rawRequest;

/** A page server of its own origin (another port), as the attacker's or the allowed web app's site. */
async function startPageServer(): Promise<{ server: Server; url: string }> {
  const server = createServer((_req, res) => {
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.end('<!doctype html><title>another origin</title><p>another origin</p>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const EVIL = 'http://evil.example';
const APP = 'http://app.example';

/** The test flow: an echo endpoint, and an inject node whose button marks flow context, read by a second endpoint. */
const FLOWS = [
  { id: 'og.tab', type: 'tab', label: 'origin guard' },
  {
    id: 'og.echo',
    type: 'http in',
    z: 'og.tab',
    name: '',
    url: '/origin-echo',
    method: 'post',
    upload: false,
    swaggerDoc: '',
    x: 120,
    y: 60,
    wires: [['og.echoed']],
  },
  { id: 'og.echoed', type: 'http response', z: 'og.tab', name: '', statusCode: '', headers: {}, x: 320, y: 60, wires: [] },
  {
    id: 'og.inject',
    type: 'inject',
    z: 'og.tab',
    name: '',
    props: [{ p: 'payload' }],
    repeat: '',
    crontab: '',
    once: false,
    onceDelay: 0.1,
    topic: '',
    payload: '',
    payloadType: 'date',
    x: 120,
    y: 120,
    wires: [['og.mark']],
  },
  {
    id: 'og.mark',
    type: 'change',
    z: 'og.tab',
    name: '',
    rules: [{ t: 'set', p: 'injected', pt: 'flow', to: 'payload', tot: 'msg' }],
    x: 320,
    y: 120,
    wires: [[]],
  },
  {
    id: 'og.state',
    type: 'http in',
    z: 'og.tab',
    name: '',
    url: '/origin-state',
    method: 'get',
    upload: false,
    swaggerDoc: '',
    x: 120,
    y: 180,
    wires: [['og.read']],
  },
  {
    id: 'og.read',
    type: 'change',
    z: 'og.tab',
    name: '',
    rules: [{ t: 'set', p: 'payload', pt: 'msg', to: '{"injected":$flowContext("injected")}', tot: 'jsonata' }],
    x: 320,
    y: 180,
    wires: [['og.stateAnswer']],
  },
  { id: 'og.stateAnswer', type: 'http response', z: 'og.tab', name: '', statusCode: '', headers: {}, x: 520, y: 180, wires: [] },
];

/** What a drive-by page would deploy: the test flow plus a function node of its own. */
const HOSTILE_FLOWS = [
  ...FLOWS,
  { id: 'og.payload', type: 'function', z: 'og.tab', name: 'drive-by', func: 'return msg;', outputs: 1, x: 120, y: 240, wires: [[]] },
];

const deployHeaders = { 'content-type': 'application/json', 'node-red-deployment-type': 'full' };

describe('the origin guard in a running Node-RED (shipped settings.js, no admin password)', function () {
  this.timeout(240_000);
  let red: RunningNodeRed;
  let evilPage: { server: Server; url: string };
  let appPage: { server: Server; url: string };

  before(async () => {
    // The page servers first: the browser tests' allowed origin must be in HTTP_NODE_CORS_ORIGIN.
    evilPage = await startPageServer();
    appPage = await startPageServer();
    red = await startNodeRed({ flows: FLOWS, env: { SIMULATE: 'false', HTTP_NODE_CORS_ORIGIN: ` ${APP}/, ${appPage.url}` } });
  });

  after(async () => {
    await red?.stop();
    for (const page of [evilPage, appPage]) if (page) await new Promise<void>((resolve) => page.server.close(() => resolve()));
  });

  /** The deployed flows, as the admin API reports them to a client without an Origin. */
  async function deployed(): Promise<{ rev: string; ids: string[] }> {
    const res = await send(`${red.url}/flows`, 'GET', { 'node-red-api-version': 'v2' });
    assert.equal(res.status, 200, res.text);
    const body = JSON.parse(res.text) as { rev: string; flows: Array<{ id: string }> };
    return { rev: body.rev, ids: body.flows.map((node) => node.id).sort() };
  }

  async function injectedState(): Promise<unknown> {
    const res = await send(`${red.url}/origin-state`, 'GET');
    assert.equal(res.status, 200, res.text);
    return (JSON.parse(res.text) as { injected?: unknown }).injected;
  }

  function assertRefused(res: RawAnswer, what: string): void {
    assert.equal(res.status, 403, `${what}: ${res.status} ${res.text}`);
    assert.equal(res.headers['access-control-allow-origin'], undefined, what);
    assert.equal((JSON.parse(res.text) as { error?: string }).error, 'cross-origin request refused', what);
  }

  it('reads HTTP_NODE_CORS_ORIGIN as a list, in browser form', async () => {
    await red.waitForOutput(new RegExp(`HTTP APIs: callable from the browser origin\\(s\\) ${APP}, ${appPage.url}`));
  });

  describe('hand-made requests', () => {
    it('refuses a cross-origin POST /flows and leaves the deployed flows unchanged', async () => {
      const before = await deployed();
      assertRefused(
        await send(`${red.url}/flows`, 'POST', { ...deployHeaders, origin: EVIL }, JSON.stringify(HOSTILE_FLOWS)),
        'POST /flows',
      );
      assertRefused(
        await send(
          `${red.url}/flows`,
          'POST',
          { ...deployHeaders, 'node-red-api-version': 'v2', origin: 'null' },
          JSON.stringify({ flows: HOSTILE_FLOWS }),
        ),
        'POST /flows v2, Origin null',
      );
      assertRefused(
        await send(`${red.url}/flows`, 'POST', { ...deployHeaders, origin: `http://localhost:${red.port}` }, JSON.stringify(HOSTILE_FLOWS)),
        'another name for this host is another origin',
      );
      assert.deepEqual(await deployed(), before);
    });

    it('refuses form-encoded cross-origin POSTs, which need no preflight', async () => {
      const form = { 'content-type': 'application/x-www-form-urlencoded', origin: EVIL };
      const before = await deployed();
      assertRefused(await send(`${red.url}/inject/og.inject`, 'POST', form, 'a=b'), 'POST /inject/:id');
      assertRefused(await send(`${red.url}/flows`, 'POST', form, 'flows[0][id]=og.x&flows[0][type]=tab'), 'POST /flows');
      assertRefused(await send(`${red.url}/nodes`, 'POST', form, 'module=node-red-contrib-evil'), 'POST /nodes (install a module)');
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(await injectedState(), undefined, 'the inject node did not fire');
      assert.deepEqual(await deployed(), before);
    });

    it('passes requests without an Origin: the same form post fires the inject node', async () => {
      const res = await send(`${red.url}/inject/og.inject`, 'POST', { 'content-type': 'application/x-www-form-urlencoded' }, 'a=b');
      assert.equal(res.status, 200, res.text);
      const deadline = Date.now() + 10_000;
      while ((await injectedState()) === undefined) {
        assert.ok(Date.now() < deadline, 'the inject node never fired');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    });

    it("accepts a deploy from the server's own origin, and one without an Origin", async () => {
      const before = await deployed();
      const own = await send(`${red.url}/flows`, 'POST', { ...deployHeaders, origin: red.url }, JSON.stringify(HOSTILE_FLOWS));
      assert.ok(own.status === 200 || own.status === 204, own.text);
      const after = await deployed();
      assert.notEqual(after.rev, before.rev);
      assert.ok(after.ids.includes('og.payload'));
      const plain = await send(`${red.url}/flows`, 'POST', deployHeaders, JSON.stringify(FLOWS));
      assert.ok(plain.status === 200 || plain.status === 204, plain.text);
      assert.deepEqual((await deployed()).ids, before.ids);
    });

    it("sends no Access-Control-Allow-Origin to other origins' GET /flows, nor to the allowed ones", async () => {
      for (const origin of [EVIL, 'null', APP]) {
        const res = await send(`${red.url}/flows`, 'GET', { origin });
        assert.equal(res.status, 200, origin);
        assert.equal(res.headers['access-control-allow-origin'], undefined, origin);
      }
    });

    it("lets the allowed origin call a flow endpoint and read the answer, and refuses another origin's POST", async () => {
      const body = JSON.stringify({ reading: 42 });
      const allowed = await send(`${red.url}/origin-echo`, 'POST', { 'content-type': 'application/json', origin: APP }, body);
      assert.equal(allowed.status, 200, allowed.text);
      assert.deepEqual(JSON.parse(allowed.text), { reading: 42 });
      assert.equal(allowed.headers['access-control-allow-origin'], APP);
      assert.match(String(allowed.headers.vary), /Origin/i);
      assertRefused(
        await send(`${red.url}/origin-echo`, 'POST', { 'content-type': 'application/json', origin: EVIL }, body),
        'POST /origin-echo from another origin',
      );
      const plain = await send(`${red.url}/origin-echo`, 'POST', { 'content-type': 'application/json' }, body);
      assert.equal(plain.status, 200, 'a client without an Origin calls it as before');
      assert.equal(plain.headers['access-control-allow-origin'], undefined);
    });
  });

  describe('pages in headless Chromium', () => {
    let browser: Browser;
    let page: Page;
    /** What the server answered, as Chromium received it (also answers CORS hides from the page). */
    const answered: string[] = [];

    before(async function () {
      browser = await launchChromium(this);
      page = await browser.newPage();
      const cdp = await page.context().newCDPSession(page);
      const requests = new Map<string, string>();
      // CDP may report an answer before the request it answers: such answers wait for its name.
      const unnamed = new Map<string, number>();
      cdp.on('Network.requestWillBeSent', (event) => {
        const name = `${event.request.method} ${new URL(event.request.url).pathname}`;
        requests.set(event.requestId, name);
        const status = unnamed.get(event.requestId);
        if (status !== undefined) {
          unnamed.delete(event.requestId);
          answered.push(`${name} ${status}`);
        }
      });
      const seen = new Set<string>();
      const record = (requestId: string, status: number): void => {
        if (seen.has(requestId)) return;
        seen.add(requestId);
        const name = requests.get(requestId);
        if (name === undefined) unnamed.set(requestId, status);
        else answered.push(`${name} ${status}`);
      };
      // Either event may come first; the extra-info one also comes for answers CORS then blocks.
      cdp.on('Network.responseReceivedExtraInfo', (event) => record(event.requestId, event.statusCode));
      cdp.on('Network.responseReceived', (event) => record(event.requestId, event.response.status));
      await cdp.send('Network.enable');
    });
    after(async () => {
      await browser?.close();
    });

    /** Runs fetch in the page; resolves to the status and text, or to the error the page saw. */
    function pageFetch(
      url: string,
      init: { method: string; headers?: Record<string, string>; body?: string; mode?: 'cors' | 'no-cors' },
    ): Promise<string> {
      return page.evaluate(
        async ({ url, init }) => {
          try {
            const res = await fetch(url, init);
            return `${res.status} ${await res.text()}`;
          } catch (err) {
            return `failed: ${String(err)}`;
          }
        },
        { url, init },
      );
    }

    it('a page of another origin cannot deploy with fetch: the POST (or already its preflight) is refused', async () => {
      const before = await deployed();
      await page.goto(evilPage.url);
      answered.length = 0;
      const outcome = await pageFetch(`${red.url}/flows`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
        body: JSON.stringify(HOSTILE_FLOWS),
      });
      assert.match(outcome, /^failed: TypeError/);
      // Text bodies need no preflight; the answer is opaque, and the request refused all the same.
      const simple = await pageFetch(`${red.url}/flows`, {
        method: 'POST',
        mode: 'no-cors',
        headers: { 'content-type': 'text/plain' },
        body: JSON.stringify(HOSTILE_FLOWS),
      });
      assert.equal(simple, '0 ');
      // Node-RED 4's editor-api answers every preflight itself (a wildcard CORS handler ahead of
      // the guard), so the JSON POST follows and the guard refuses it; Node-RED 5 has no such
      // handler, so the guard already refuses the preflight and the browser never sends the POST.
      const preflightAnswered = (): string | undefined => answered.find((a) => a.startsWith('OPTIONS /flows'));
      const expectedPosts = (): number => (/ 20\d$/.test(preflightAnswered() ?? '') ? 2 : 1);
      // Chromium's network events may trail the page's promise by a moment.
      for (
        let waited = 0;
        (!preflightAnswered() || answered.filter((a) => a.startsWith('POST')).length < expectedPosts()) && waited < 5000;
        waited += 50
      )
        await page.waitForTimeout(50);
      const seenNow = answered.join(', ');
      const preflight = preflightAnswered();
      assert.ok(
        preflight === 'OPTIONS /flows 403' || /^OPTIONS \/flows 20\d$/.test(preflight ?? ''),
        `the preflight was answered (editor-api) or refused (the guard): ${seenNow}`,
      );
      assert.deepEqual(
        answered.filter((a) => a.startsWith('POST')),
        new Array<string>(expectedPosts()).fill('POST /flows 403'),
        `every POST that reached the server was refused there: ${seenNow}`,
      );
      assert.deepEqual(await deployed(), before);
      // And it cannot read the admin API either.
      assert.match(await pageFetch(`${red.url}/flows`, { method: 'GET' }), /^failed: TypeError/);
    });

    it('a plain HTML form on another origin cannot press an inject button', async () => {
      const injectedBefore = await injectedState();
      await page.goto(evilPage.url);
      await Promise.all([
        page.waitForNavigation(),
        page.evaluate((action) => {
          const form = document.createElement('form');
          form.method = 'POST';
          form.action = action;
          const field = document.createElement('input');
          field.name = 'a';
          field.value = 'b';
          form.appendChild(field);
          document.body.appendChild(form);
          form.submit();
        }, `${red.url}/inject/og.inject`),
      ]);
      assert.match(await page.content(), /cross-origin request refused/);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(await injectedState(), injectedBefore);
    });

    it("the allowed origin's page calls a flow endpoint and reads its answer; another origin's page cannot", async () => {
      await page.goto(appPage.url);
      const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ reading: 7 }) };
      assert.equal(await pageFetch(`${red.url}/origin-echo`, init), '200 {"reading":7}');
      await page.goto(evilPage.url);
      answered.length = 0;
      assert.match(await pageFetch(`${red.url}/origin-echo`, init), /^failed: TypeError/);
      // Refused by the server, not only unreadable: the POST (Node-RED 4, whose editor-api answered
      // the preflight) or already the preflight (Node-RED 5).
      const refusals = (): string[] => answered.filter((a) => a === 'POST /origin-echo 403' || a === 'OPTIONS /origin-echo 403');
      for (let waited = 0; refusals().length === 0 && waited < 5000; waited += 50) await page.waitForTimeout(50);
      assert.equal(refusals().length, 1, `refused by the server, not only unreadable: ${answered.join(', ')}`);
      assert.ok(!answered.some((a) => /^POST \/origin-echo 2\d\d$/.test(a)), answered.join(', '));
    });

    it("the server's own page deploys with the same fetch (the editor's requests are same-origin)", async () => {
      const before = await deployed();
      await page.goto(`${red.url}/origin-state`);
      const outcome = await pageFetch(`${red.url}/flows`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
        body: JSON.stringify(HOSTILE_FLOWS),
      });
      assert.match(outcome, /^20[04] /);
      const after = await deployed();
      assert.notEqual(after.rev, before.rev);
      assert.ok(after.ids.includes('og.payload'));
    });
  });
});
