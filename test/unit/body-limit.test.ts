import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createBodyLimit, limitRequestBody, limitServerRequests } from '../../lib/body-limit';
import { streamBody } from '../support/stream-body';

const LIMIT = 64 * 1024;
const MiB = 1024 * 1024;

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

function listen(handler: Handler): Promise<{ server: Server; url: string }> {
  return new Promise((resolve) => {
    const server = createServer(handler);
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
  });
}

/** Reads the whole body the way an unlimited raw body parser does; reports how it ended. */
function readAll(req: IncomingMessage): Promise<{ bytes: number; error?: Error }> {
  return new Promise((resolve) => {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => resolve({ bytes }));
    req.on('error', (error) => resolve({ bytes, error }));
  });
}

describe('body-limit', () => {
  const servers: Server[] = [];
  afterEach(() => {
    for (const server of servers.splice(0)) server.close();
  });

  async function start(
    handler: Handler,
    install: (req: IncomingMessage, res: ServerResponse) => void = (req, res) => limitRequestBody(req, res, LIMIT),
  ): Promise<string> {
    const { server, url } = await listen((req, res) => {
      install(req, res);
      handler(req, res);
    });
    servers.push(server);
    return url;
  }

  it('refuses a chunked body at the limit with a JSON 413; the reader gets a 413 error, not the rest', async () => {
    let ended: Promise<{ bytes: number; error?: Error }> | undefined;
    const url = await start((req, res) => {
      ended = readAll(req);
      void ended.then(({ error }) => {
        if (!error) res.end('read it all');
      });
    });
    const outcome = await streamBody(`${url}/x`, { totalBytes: 256 * MiB, headers: { 'content-type': 'text/plain' } });
    assert.equal(outcome.status, 413);
    assert.deepEqual(JSON.parse(outcome.body), { error: 'request body too large', reason: `the request body exceeds ${LIMIT} bytes` });
    assert.ok(outcome.sentBytes < 32 * MiB, `${outcome.sentBytes} bytes sent`);
    const { bytes, error } = await ended!;
    assert.ok(bytes <= LIMIT, `the reader saw ${bytes} bytes`);
    assert.equal((error as { status?: number } | undefined)?.status, 413);
    assert.equal(error?.name, 'PayloadTooLargeError');
  });

  it('passes a body of exactly the limit, chunked or declared, and keeps the connection alive', async () => {
    const url = await start((req, res) => {
      void readAll(req).then(({ bytes }) => res.end(String(bytes)));
    });
    for (const declareLength of [false, true]) {
      const outcome = await streamBody(`${url}/x`, { totalBytes: LIMIT, declareLength });
      assert.equal(outcome.status, 200);
      assert.equal(outcome.body, String(LIMIT));
    }
  });

  it('as middleware, refuses a declared Content-Length over the limit before anything reads the body', async () => {
    const middleware = createBodyLimit(() => LIMIT);
    let reached = false;
    const { server, url } = await listen((req, res) => middleware(req, res, () => (reached = true)));
    servers.push(server);
    const outcome = await streamBody(`${url}/x`, { totalBytes: 10 * MiB, declareLength: true });
    assert.equal(outcome.status, 413);
    assert.equal(reached, false, 'the request went on past the limit');
  });

  it('a request answered before its body was read: a body within the limit keeps the connection, a larger one is cut', async () => {
    const url = await start((_req, res) => {
      res.statusCode = 401;
      res.end('no key');
    });
    const small = await streamBody(`${url}/x`, { totalBytes: LIMIT / 2 });
    assert.equal(small.status, 401);
    // Over the limit: the answer arrives and the connection closes after about the limit.
    const large = await streamBody(`${url}/x`, { totalBytes: 1024 * MiB });
    assert.equal(large.status, 401);
    assert.ok(large.sentBytes < 32 * MiB, `${large.sentBytes} bytes sent`);
  });

  it("an answer attempted after the refusal (as express's final handler does once the connection closes) is ignored, not thrown", async () => {
    let lateAnswer: Error | undefined;
    const url = await start((req, res) => {
      req.resume();
      req.socket.once('close', () => {
        try {
          res.setHeader('Content-Type', 'text/html');
          res.statusCode = 404;
          res.end('late');
        } catch (err) {
          lateAnswer = err as Error;
        }
      });
    });
    const outcome = await streamBody(`${url}/x`, { totalBytes: 64 * MiB });
    assert.equal(outcome.status, 413);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assert.equal(lateAnswer, undefined);
  });

  it('the first limit installed on a request holds', async () => {
    const url = await start(
      (req, res) => void readAll(req).then(({ error }) => !error && res.end('ok')),
      (req, res) => {
        limitRequestBody(req, res, LIMIT);
        limitRequestBody(req, res, 100 * MiB);
      },
    );
    assert.equal((await streamBody(`${url}/x`, { totalBytes: 4 * LIMIT })).status, 413);
  });

  it('limitServerRequests limits the servers it picks, before their request listeners run, and no others', async () => {
    let picked: Server | undefined;
    const stop = limitServerRequests(
      () => LIMIT,
      (server) => server === picked,
    );
    try {
      const a = await listen((req, res) => void readAll(req).then(({ error, bytes }) => !error && res.end(String(bytes))));
      const b = await listen((req, res) => void readAll(req).then(({ error, bytes }) => !error && res.end(String(bytes))));
      servers.push(a.server, b.server);
      picked = a.server;
      assert.equal((await streamBody(`${a.url}/x`, { totalBytes: 4 * LIMIT })).status, 413);
      const other = await streamBody(`${b.url}/x`, { totalBytes: 4 * LIMIT });
      assert.equal(other.status, 200);
      assert.equal(other.body, String(4 * LIMIT));
    } finally {
      stop();
    }
  });

  it('GET without a body, and keep-alive reuse, are untouched', async () => {
    const url = await start((_req, res) => res.end('hello'));
    const agentRequest = (): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = request(`${url}/`, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end();
      });
    assert.deepEqual(await Promise.all([agentRequest(), agentRequest(), agentRequest()]), [200, 200, 200]);
  });
});
