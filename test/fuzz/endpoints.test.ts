/**
 * Fuzzing the HTTP endpoints of the shipped flows in a RUNNING Node-RED (flows 3, 4 and 5 on one
 * SQLite file, SIMULATE=false, API_KEY set): 10,000 generated requests per input kind, sent over
 * keep-alive connections with a per-request timeout.
 *
 * Every answer must be 2xx or 4xx (503 only where documented: the request API's Retry-After
 * answers), a 4xx must carry a reason, no answer may exceed the size bound, the runtime must still
 * serve normal requests afterwards, and its output must hold no crash (uncaught exception,
 * unhandled rejection, TypeError/RangeError...).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Sqlite from 'better-sqlite3';
import fc from 'fast-check';
import { openDatabase } from '../../lib/db';
import type { Database } from '../../lib/db/types';
import { freePort, packageRoot, startNodeRed, type RunningNodeRed } from '../support/node-red';
import { MQTT_HOST, MQTT_PORT } from '../support/services';
import { streamBody } from '../support/stream-body';
import { makeTempDir, removeTempDir } from '../support/tmp';
import { NUMBER_TRICKS, PATH_TRICKS, SQL_FRAGMENTS, TIME_TRICKS, hostileString } from './hostile';

/** Generated requests per input kind. */
const REQUESTS = 10_000;
/** Requests in flight at once (the machine has two cores). */
const CONCURRENCY = 6;
const REQUEST_TIMEOUT_MS = 15_000;
/** No answer of these endpoints may be larger (the read API caps pages at 1,000 rows). */
const MAX_RESPONSE_BYTES = 2 * 1024 * 1024;
const API_KEY = 'fuzz-api-key-Qe7';

const flowFiles = ['3-isems.json', '4-iot-sensors.json', '5-data-connector.json'];

interface FlowNode {
  id: string;
  type: string;
  wires?: string[][];
}

/**
 * The shipped flows, without nodes of this package's types that this build does not register
 * (a flow may already use a node merged later); wires to them are cut. None serves HTTP.
 */
function loadFlows(): FlowNode[] {
  const registered = new Set(
    Object.keys(
      (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { 'node-red': { nodes: Record<string, string> } })['node-red']
        .nodes,
    ),
  );
  const all = flowFiles.flatMap((f) => JSON.parse(readFileSync(join(packageRoot, 'flows', f), 'utf8')) as FlowNode[]);
  const missing = new Set(all.filter((n) => n.type.startsWith('iotp-') && !registered.has(n.type)).map((n) => n.id));
  return all
    .filter((n) => !missing.has(n.id))
    .map((n) => (n.wires ? { ...n, wires: n.wires.map((port) => port.filter((id) => !missing.has(id))) } : n));
}

const flows = loadFlows();

interface FuzzRequest {
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  headers: Record<string, string | string[]>;
  body?: Buffer;
}

interface FuzzResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function send(port: number, req: FuzzRequest, via: Agent | false = agent): Promise<FuzzResponse> {
  return new Promise((resolve, reject) => {
    const headers = { ...req.headers };
    if (req.body) headers['content-length'] = String(req.body.length);
    const r = request({ host: '127.0.0.1', port, method: req.method, path: req.path, headers, agent: via }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) {
          res.destroy();
          reject(new Error(`response larger than ${MAX_RESPONSE_BYTES} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    r.setTimeout(REQUEST_TIMEOUT_MS, () => r.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms (hang)`)));
    r.on('error', reject);
    r.end(req.body);
  });
}

/**
 * Node's client refuses request paths with characters outside U+0021..U+00FF; everything else is
 * sent as is (so `%00`, `../`, raw Latin-1 bytes and broken percent-encodings reach the server).
 */
function rawPath(text: string): string {
  return text.replace(/[^\u0021-\u00ff]/gu, (c) => (/[\uD800-\uDFFF]/.test(c) && c.length === 1 ? '%ED%A0%80' : encodeURIComponent(c)));
}

// ---- generators ----------------------------------------------------------------------------

const READ_PARAMS = ['sensor_id', 'start_time', 'end_time', 'skip', 'limit', 'node_id', 'hideInactiveAfterDays', 'limit[]', 'x'];
const paramValue = fc.oneof(
  fc.constantFrom(...NUMBER_TRICKS, ...TIME_TRICKS, ...SQL_FRAGMENTS, ...PATH_TRICKS),
  fc.nat({ max: 2_000_000 }).map(String),
  fc.integer({ min: 1, max: 1000 }).map(String),
  hostileString(40),
  fc.constant('9'.repeat(5000)),
);
const encodedOrRaw = (v: string, encode: boolean): string => (encode ? encodeURIComponent(v.replace(/[\uD800-\uDFFF]/g, '\uFFFD')) : v);
const queryString = fc
  .array(fc.tuple(fc.constantFrom(...READ_PARAMS), paramValue, fc.boolean()), { maxLength: 8 })
  .map((pairs) => pairs.map(([k, v, encode]) => `${k}=${encodedOrRaw(v, encode)}`).join('&'));
const acceptHeader = fc.constantFrom(
  'application/json',
  'text/html',
  '*/*',
  'text/html;q=0.9, application/json',
  '',
  'image/png',
  'text/html; charset=\u00ff',
);

const sensorsQuery: fc.Arbitrary<FuzzRequest> = fc
  .tuple(
    fc.constantFrom('/data', '/aggregated_data', '/data/', '/DATA', '/aggregated_data/..%2fdata'),
    queryString,
    acceptHeader,
    fc.constantFrom('GET', 'GET', 'GET', 'POST', 'PUT'),
  )
  .map(([route, q, accept, method]): FuzzRequest => ({
    method: method as FuzzRequest['method'],
    path: rawPath(`${route}?${q}`),
    headers: accept ? { accept } : {},
  }));

const nodeId = fc.oneof(
  fc.constantFrom(
    'Roof-North',
    'node1',
    '..',
    '.',
    '%2e%2e',
    '..%2f..%2fetc%2fpasswd',
    '%00',
    'a%00b',
    '%',
    '%zz',
    '%C0%AF',
    '%FF',
    'x'.repeat(300),
    '%20',
  ),
  fc.constantFrom(...SQL_FRAGMENTS).map((s) => encodeURIComponent(s)),
  hostileString(30).map((s) => encodeURIComponent(s.replace(/[\uD800-\uDFFF]/g, '\uFFFD'))),
  hostileString(30).filter((s) => !s.includes('/') && !s.includes('?') && !s.includes('#')),
);
const isemsQuery: fc.Arbitrary<FuzzRequest> = fc
  .tuple(
    fc.oneof(
      fc.constant('/measurements/latest'),
      nodeId.map((id) => `/measurements/${id}/latest`),
      fc.constantFrom('/measurements//latest', '/measurements/latest/latest'),
    ),
    queryString,
    acceptHeader,
  )
  .map(([route, q, accept]): FuzzRequest => ({ method: 'GET', path: rawPath(`${route}?${q}`), headers: accept ? { accept } : {} }));

const timeValue = fc.oneof(
  fc.constantFrom(...TIME_TRICKS),
  fc.date({ min: new Date('2000-01-01'), max: new Date('2030-01-01'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 19)),
  hostileString(30),
  fc.jsonValue(),
);
const jsonBody = fc.oneof(
  { weight: 4, arbitrary: fc.record({ start_time: timeValue, end_time: timeValue }, { requiredKeys: [] }).map((o) => JSON.stringify(o)) },
  { weight: 2, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '{',
      '{"start_time":',
      'null',
      '[]',
      '"x"',
      '1e999',
      '{"start_time":"2024-01-01","end_time":"2024-01-02"',
      '\uFEFF{}',
      '{"__proto__":{"start_time":1}}',
    ),
  },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 3000 }).map((n) => '['.repeat(n) + ']'.repeat(n)) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 3000 }).map((n) => '{"start_time":'.repeat(n) + '1' + '}'.repeat(n)) },
  { weight: 1, arbitrary: fc.constantFrom(...SQL_FRAGMENTS) },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 4000, max: 200_000 })
      .map((n) => JSON.stringify({ start_time: '2024-01-01T00:00:00', end_time: '2024-01-01T01:00:00', pad: 'p'.repeat(n) })),
  },
);
const contentType = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=utf-16',
  'application/json; charset=latin1',
  'text/plain',
  'application/x-www-form-urlencoded',
  'application/octet-stream',
  'multipart/form-data; boundary=x',
  'text/xml',
  '',
  'application/vnd.api+json',
  '*/*',
);
const authorization = fc.oneof(
  { weight: 4, arbitrary: fc.constant(`Bearer ${API_KEY}`) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '',
      'Bearer',
      'Bearer ',
      `bearer ${API_KEY}`,
      `Basic ${API_KEY}`,
      `Bearer ${API_KEY}x`,
      `Bearer ' OR '1'='1`,
      'Bearer \u00ff',
    ),
  },
  { weight: 1, arbitrary: hostileString(40).map((s) => `Bearer ${s.replace(/[^\u0020-\u00ff]/g, '')}`) },
);
const raiseRequest: fc.Arbitrary<FuzzRequest> = fc
  .tuple(
    fc.constantFrom('/raise-request', '/api/v1/raise-request', '/raise-request?x=1', '/raise-request/'),
    fc.oneof(
      { weight: 5, arbitrary: jsonBody.map((t) => Buffer.from(t, 'utf8')) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)) },
    ),
    contentType,
    fc.option(authorization, { nil: undefined, freq: 5 }),
    fc.constantFrom(undefined, undefined, undefined, undefined, 'gzip', 'deflate', 'br', 'identity', 'x-unknown'),
  )
  .map(([path, body, type, auth, encoding]): FuzzRequest => {
    const headers: Record<string, string> = {};
    if (type) headers['content-type'] = type;
    if (auth !== undefined) headers.authorization = auth;
    if (encoding) headers['content-encoding'] = encoding;
    return { method: 'POST', path: rawPath(path), headers, body };
  });
const taskQuery: fc.Arbitrary<FuzzRequest> = fc
  .tuple(fc.constantFrom('/tasks/', '/api/v1/tasks/'), nodeId, fc.option(authorization, { nil: undefined }))
  .map(([route, id, auth]): FuzzRequest => ({
    method: 'GET',
    path: rawPath(route + id),
    headers: auth === undefined ? {} : { authorization: auth },
  }));

// ---- checks --------------------------------------------------------------------------------

function describeRequest(req: FuzzRequest): string {
  const body = req.body ? ` body(${req.body.length} B): ${JSON.stringify(req.body.subarray(0, 200).toString('latin1'))}` : '';
  return `${req.method} ${req.path.slice(0, 300)} ${JSON.stringify(req.headers)}${body}`;
}

/** Statuses seen, for the report. */
type Tally = Map<number, number>;

function checkAnswer(req: FuzzRequest, res: FuzzResponse, allow503: boolean): void {
  const where = `${describeRequest(req)} -> ${res.status} ${res.body.subarray(0, 300).toString('utf8')}`;
  // The editor's static file server redirects `/x/..`-style paths to a directory URL: same origin only.
  if (res.status === 301 || res.status === 302 || res.status === 308) {
    const location = String(res.headers.location ?? '');
    assert.ok(
      location.startsWith('/') && !location.startsWith('//') && !location.startsWith('/\\'),
      `redirect off-site: ${where} -> ${location}`,
    );
    return;
  }
  // Everything but the editor's redirects is the flows' (or the guard's) answer: no CORS header
  // unless HTTP_NODE_CORS_ORIGIN names an origin (it is unset here).
  assert.equal(res.headers['access-control-allow-origin'], undefined, `a CORS header: ${where}`);
  const ok2xx = res.status >= 200 && res.status < 300;
  const ok4xx = res.status >= 400 && res.status < 500;
  const ok503 = allow503 && res.status === 503 && res.headers['retry-after'] !== undefined;
  assert.ok(ok2xx || ok4xx || ok503, `unexpected status: ${where}`);
  // Node's HTTP parser refuses a request line + headers over 16 KB (431) and raw bytes a header or
  // request line may not hold (400) before any JavaScript runs: the status line is the whole
  // answer and the connection is closed.
  if (res.status === 431 || (res.status === 400 && res.body.length === 0 && res.headers.connection === 'close')) return;
  if (ok4xx || ok503) {
    const text = res.body.toString('utf8').trim();
    assert.ok(text.length > 0, `a ${res.status} without a reason: ${where}`);
    if (String(res.headers['content-type'] ?? '').includes('json')) {
      const parsed = JSON.parse(text) as Record<string, unknown>;
      const reason = parsed.detail ?? parsed.reason ?? parsed.error ?? parsed.message;
      assert.ok(typeof reason === 'string' && reason.length > 0, `a JSON ${res.status} without detail/reason/error: ${where}`);
    }
    // Error pages must not hand out the runtime's stack traces or file paths.
    assert.ok(!/\n\s+at |node_modules|\/work\//.test(text), `a ${res.status} leaks a stack trace or path: ${where}`);
  }
}

async function fuzz(red: RunningNodeRed, requests: readonly FuzzRequest[], allow503: boolean): Promise<Tally> {
  const tally: Tally = new Map();
  let next = 0;
  let failure: Error | undefined;
  const worker = async (): Promise<void> => {
    while (next < requests.length && !failure) {
      const req = requests[next++];
      try {
        const res = await send(red.port, req);
        checkAnswer(req, res, allow503);
        tally.set(res.status, (tally.get(res.status) ?? 0) + 1);
      } catch (err) {
        failure ??= err instanceof assert.AssertionError ? err : new Error(`${(err as Error).message}: ${describeRequest(req)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  if (failure) throw failure;
  return tally;
}

function sample<T>(arb: fc.Arbitrary<T>, seed: number): T[] {
  return fc.sample(arb, { numRuns: REQUESTS, seed });
}

function summary(tally: Tally): string {
  return [...tally.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([s, n]) => `${s}x${n}`)
    .join(' ');
}

/**
 * Crash signs in the runtime output: an uncaught exception or unhandled rejection, a blown stack
 * or heap, or a node reporting a programming error (`[error] [iotp-...] TypeError: ...`). Node
 * errors reported through done(err) are the error path.
 */
const CRASH = /Uncaught Exception|Unhandled ?Rejection|Maximum call stack|heap out of memory|FATAL ERROR/i;
const NODE_BUG = /\[error\].*\b(TypeError|RangeError|ReferenceError)\b/;

function crashLines(output: string): string[] {
  return output.split('\n').filter((l) => CRASH.test(l) || NODE_BUG.test(l));
}

/**
 * Stacks express printed for errors that reached its default handler (an HTML page with the stack):
 * the guard of settings.js (lib/http-guard.ts) answers every one of them itself.
 */
function expressStacks(output: string): string[] {
  return output.split('\n').filter((l) => /^(\w*Error): /.test(l));
}

describe('fuzz: HTTP endpoints of the running flows', function () {
  this.timeout(300_000);
  let dir: string;
  let red: RunningNodeRed;
  let db: Database;
  let file: string;
  const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
  const hostileDescriptions = SQL_FRAGMENTS.filter((s) => !s.includes('\u0000'));

  before(async function () {
    dir = makeTempDir('iotp-fuzz-http-');
    file = join(dir, 'fuzz.db');
    const port = await freePort();
    red = await startNodeRed({
      flows,
      port,
      env: {
        DATABASE_URL: `sqlite:${file}`,
        MQTT_URL: `mqtt://${MQTT_HOST}:${MQTT_PORT}`,
        MQTT_TOPIC: `iotp-fuzz/${process.pid}/${Date.now()}/sensors`,
        SIMULATE: 'false',
        API_KEY,
        POST_DATA_ENDPOINT: `http://127.0.0.1:${port}/simulated-receiver`,
        POST_DATA_API_KEY: 'fuzz-post-key',
        FETCH_DATA_INTERVAL: '60',
        BATCH_SIZE: '100',
        ISEMS_ROUTER_IPS: '',
        INTERVAL_MS: '1000',
      },
    });
    console.log(`      fuzz seed ${seed} (FUZZ_SEED=${seed} repeats this run)`);
    // Ready once the sensors migrations ran (the read API answers 200).
    const deadline = Date.now() + 60_000;
    for (;;) {
      const res = await send(red.port, { method: 'GET', path: '/data?limit=1', headers: {} }).catch(() => undefined);
      if (res?.status === 200) break;
      if (Date.now() > deadline) assert.fail(`the read API never became ready (last status ${res?.status})\n${red.output().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    // Rows with SQL injection text, so answers carry data (and must carry it verbatim).
    db = openDatabase({ dialect: 'sqlite', file, busyTimeoutMs: 5000 });
    for (let i = 0; i < 300; i++) {
      const description = hostileDescriptions[i % hostileDescriptions.length];
      await db.query(
        'INSERT INTO sensor_data (sensor_id, timestamp, value, lat, lng, unit, type, description) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        [
          1 + (i % 5),
          `2024-06-14 16:${String(Math.floor(i / 60)).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}.000000`,
          i / 10,
          52.5,
          13.4,
          'C',
          'temperature',
          description,
        ],
      );
    }
  });

  after(async () => {
    agent.destroy();
    await db?.close();
    if (red) {
      const crashes = crashLines(red.output());
      const errors = red
        .output()
        .split('\n')
        .filter((l) => l.includes('[error]'));
      for (const line of crashes.slice(0, 5)) console.log(`      crash line: ${line.slice(0, 300)}`);
      console.log(
        `      runtime output: ${errors.length} [error] lines (node errors on the error path), ${crashes.length} crash lines, ${expressStacks(red.output()).length} stacks printed by express's default error handler`,
      );
      await red.stop();
    }
    if (dir) removeTempDir(dir);
  });

  it(`GET /data and /aggregated_data: ${REQUESTS} hostile query strings`, async () => {
    const tally = await fuzz(red, sample(sensorsQuery, seed), false);
    console.log(`      statuses: ${summary(tally)}`);
    assert.ok((tally.get(200) ?? 0) > 0 && (tally.get(400) ?? 0) > 0, 'both answers and refusals were exercised');
  });

  it(`GET /measurements/latest and /measurements/:node_id/latest: ${REQUESTS} hostile node ids and query strings`, async () => {
    const tally = await fuzz(red, sample(isemsQuery, seed + 1), false);
    console.log(`      statuses: ${summary(tally)}`);
    assert.ok((tally.get(200) ?? 0) > 0);
  });

  it(`POST /raise-request: ${REQUESTS} hostile bodies, content types, encodings and Authorization headers`, async () => {
    const tally = await fuzz(red, sample(raiseRequest, seed + 2), true);
    console.log(`      statuses: ${summary(tally)}`);
    for (const status of [200, 401, 403, 422]) assert.ok((tally.get(status) ?? 0) > 0, `no ${status} answer was exercised`);
  });

  it(`GET /tasks/:id: ${REQUESTS} hostile task ids and Authorization headers`, async () => {
    const tally = await fuzz(red, sample(taskQuery, seed + 3), false);
    console.log(`      statuses: ${summary(tally)}`);
  });

  it('request bodies over apiMaxLength (1 MB) get 413 without being read to the end', async () => {
    for (const size of [2 * 1024 * 1024, 10 * 1024 * 1024]) {
      const body = Buffer.alloc(size, 0x20);
      body.write('{"start_time":"');
      const started = Date.now();
      const res = await send(
        red.port,
        {
          method: 'POST',
          path: '/raise-request',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
          body,
        },
        false,
      ).catch((err: Error) => err);
      // The server may answer 413 and close before the client finished sending; both end the request.
      if (res instanceof Error) assert.match(res.message, /EPIPE|ECONNRESET|socket hang up/);
      else assert.equal(res.status, 413);
      console.log(`      ${size / 1024 / 1024} MB body: ${res instanceof Error ? res.message : res.status} in ${Date.now() - started} ms`);
    }
    // Node answers 431 and closes while the client may still be writing the request line.
    const hugeUrl = await send(red.port, { method: 'GET', path: `/data?x=${'a'.repeat(100_000)}`, headers: {} }, false).catch(
      (err: Error) => err,
    );
    if (hugeUrl instanceof Error) assert.match(hugeUrl.message, /EPIPE|ECONNRESET|socket hang up/);
    else assert.equal(hugeUrl.status, 431);
  });

  it('streamed and typeless bodies: generated sizes around the limit, chunked or declared, any type or none: over it 413, within it answered', async () => {
    const LIMIT = 1024 * 1024;
    const cases = fc.sample(
      fc.record({
        path: fc.constantFrom(
          '/raise-request',
          '/api/v1/raise-request',
          '/tasks/abc',
          '/data',
          '/catalog',
          '/measurements/latest',
          '/quality',
          '/simulated-receiver',
          '/no-such-path',
          '/auth/token',
        ),
        method: fc.constantFrom('POST', 'POST', 'PUT', 'PATCH', 'DELETE'),
        type: fc.option(
          fc.constantFrom(
            'text/plain',
            'application/json',
            'application/x-www-form-urlencoded',
            'application/octet-stream',
            'multipart/form-data; boundary=x',
            'text/xml',
            'application/cbor',
          ),
          { nil: undefined, freq: 3 },
        ),
        size: fc.oneof(
          fc.integer({ min: 0, max: LIMIT }),
          fc.integer({ min: LIMIT + 1, max: 6 * LIMIT }),
          fc.constant(LIMIT),
          fc.constant(LIMIT + 1),
        ),
        chunked: fc.boolean(),
        authorization: fc.option(fc.constant(`Bearer ${API_KEY}`), { nil: undefined }),
      }),
      { numRuns: 240, seed: seed + 4 },
    );
    const tally: Tally = new Map();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < cases.length) {
        const c = cases[next++];
        const headers: Record<string, string> = {};
        if (c.type) headers['content-type'] = c.type;
        if (c.authorization) headers.authorization = c.authorization;
        const outcome = await streamBody(`${red.url}${c.path}`, {
          method: c.method,
          totalBytes: c.size,
          declareLength: !c.chunked,
          headers,
          timeoutMs: REQUEST_TIMEOUT_MS,
        });
        const where = `${c.method} ${c.path} ${c.type ?? '(no type)'} ${c.size} B ${c.chunked ? 'chunked' : 'declared'} -> ${JSON.stringify(outcome).slice(0, 300)}`;
        assert.ok(outcome.status !== undefined, `no answer: ${where}`);
        tally.set(outcome.status, (tally.get(outcome.status) ?? 0) + 1);
        if (c.size > LIMIT) {
          // Refused before any node or key check: never a flow's answer to a body it read.
          assert.equal(outcome.status, 413, where);
          assert.equal((JSON.parse(outcome.body) as { error?: string }).error, 'request body too large', where);
          assert.ok(outcome.sentBytes < LIMIT + 32 * 1024 * 1024, `the rest of the body was read: ${where}`);
        } else {
          assert.notEqual(outcome.status, 413, where);
          assert.ok(outcome.status < 500 || (outcome.status === 503 && c.path.includes('raise-request')), where);
        }
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    console.log(`      statuses: ${summary(tally)}`);
  });

  it('credentials on failing requests (tables gone, bad parameters, wrong keys) never reach the log or an answer', async () => {
    const secrets = new Set<string>();
    const secret = (): string => {
      const value = `s3cr3t-${randomBytes(12).toString('base64url')}`;
      secrets.add(value);
      return value;
    };
    const credentialHeaders = (): Record<string, string> => ({
      authorization: fc.sample(fc.constantFrom('Bearer', 'Basic', 'Token', 'bearer'), 1)[0] + ' ' + secret(),
      cookie: `session=${secret()}; remember_me=${secret()}`,
      'x-api-key': secret(),
      'proxy-authorization': `Basic ${Buffer.from(`user:${secret()}`).toString('base64')}`,
    });
    const failing = [
      '/data?limit=5',
      '/data?sensor_id=1&limit=5',
      '/data?skip=3&limit=2',
      '/measurements/latest',
      '/measurements/Roof-North/latest',
    ];
    const refused = ['/data?limit=0', '/data?start_time=yesterday', '/tasks/x', '/api/v1/tasks/x', '/measurements/%FF/latest'];
    // The tables behind the failing endpoints disappear (renamed): every query of theirs fails.
    const hide = new Sqlite(file, { timeout: 10_000 });
    const tables = ['sensor_data', 'measurement'];
    for (const table of tables) hide.exec(`ALTER TABLE ${table} RENAME TO ${table}_fuzz_hidden`);
    const statuses: Tally = new Map();
    try {
      let next = 0;
      const requests = Array.from({ length: 120 }, (_, i) => (i % 2 === 0 ? failing : refused)[Math.floor(i / 2) % 5]);
      const worker = async (): Promise<void> => {
        while (next < requests.length) {
          const path = requests[next++];
          const res = await send(red.port, { method: 'GET', path, headers: credentialHeaders() });
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          const text = res.body.toString('utf8');
          if (failing.includes(path)) {
            assert.ok(res.status === 500 || res.status === 503, `${path}: ${res.status} ${text}`);
            assert.match((JSON.parse(text) as { error: string }).error, /^database (query failed|unavailable|busy)$/, text);
          }
          assert.doesNotMatch(
            text,
            /SQLITE|no such table|sensor_data|measurement\b|fuzz\.db|\/tmp\/|node_modules/,
            `${path}: driver text or a path: ${text}`,
          );
          for (const value of secrets) assert.ok(!text.includes(value), `${path}: the answer repeats a credential`);
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    } finally {
      for (const table of tables) hide.exec(`ALTER TABLE ${table}_fuzz_hidden RENAME TO ${table}`);
      hide.close();
    }
    console.log(`      statuses: ${summary(statuses)}; ${secrets.size} generated credentials`);
    // The database is back: the same requests are answered again.
    assert.equal((await send(red.port, { method: 'GET', path: '/data?limit=1', headers: credentialHeaders() })).status, 200);
    const log = red.output();
    for (const value of secrets) assert.ok(!log.includes(value), 'a caller credential reached the log');
    assert.ok(!log.includes(API_KEY), 'the API key reached the log');
    assert.match(log, /\[debug:errors\] \[iotp-sensor-api:[^\]]+\] .*no such table/i, 'the operator still learns what failed');
  });

  it('still serves normal requests afterwards, with the SQL injection text verbatim, and logged no crash', async () => {
    const data = await send(red.port, { method: 'GET', path: '/data?sensor_id=1&limit=1000', headers: {} });
    assert.equal(data.status, 200);
    const rows = (JSON.parse(data.body.toString('utf8')) as { data: Array<{ description: string }> }).data;
    assert.equal(rows.length, 60);
    const seen = new Set(rows.map((r) => r.description));
    for (let i = 0; i < 300; i += 5)
      assert.ok(seen.has(hostileDescriptions[i % hostileDescriptions.length]), 'descriptions come back verbatim');
    const latest = await send(red.port, { method: 'GET', path: '/measurements/latest', headers: {} });
    assert.equal(latest.status, 200);
    const now = Date.now();
    const task = await send(red.port, {
      method: 'POST',
      path: '/raise-request',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
      body: Buffer.from(
        JSON.stringify({
          start_time: new Date(now - 3_600_000).toISOString().slice(0, 19),
          end_time: new Date(now - 1_800_000).toISOString().slice(0, 19),
        }),
      ),
    });
    assert.ok(
      task.status === 200 || (task.status === 503 && task.headers['retry-after'] !== undefined),
      `raise-request answered ${task.status}`,
    );
    const crashes = crashLines(red.output());
    assert.deepEqual(crashes.slice(0, 5), [], 'the runtime logged a crash');
    assert.deepEqual(expressStacks(red.output()).slice(0, 5), [], "errors reached express's default handler");
    assert.equal(red.child.exitCode, null, 'the runtime is still running');
  });
});
