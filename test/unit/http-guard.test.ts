import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { rawRequest, type RawAnswer } from '../support/raw-request';
import {
  answerFor,
  createHttpGuard,
  isDecodablePath,
  isValidContentType,
  type ErrorMiddleware,
  type Middleware,
} from '../../lib/http-guard';

const LIMIT = 1024;

type Layer = Middleware | ErrorMiddleware;

/** Runs layers the way express does: an error skips to the next four-argument layer. */
function dispatch(layers: readonly Layer[], req: IncomingMessage, res: ServerResponse): void {
  let index = 0;
  const next = (err?: unknown): void => {
    while (index < layers.length) {
      const layer = layers[index++];
      if (err !== undefined && layer.length === 4) return (layer as ErrorMiddleware)(err, req, res, next);
      if (err === undefined && layer.length < 4) return (layer as Middleware)(req, res, next);
    }
    res.statusCode = err === undefined ? 404 : 599;
    res.end('fell through');
  };
  next();
}

describe('http-guard', () => {
  describe('isValidContentType (mirrors the parsers of Node-RED 4 http-in)', () => {
    // http-in's raw body parser: content-type's parse, then media-typer's parse of the type.
    const nodesRequire = createRequire(require.resolve('@node-red/nodes/package.json'));
    const contentType = nodesRequire('content-type') as { parse(header: string): { type: string } };
    const mediaTyper = nodesRequire('media-typer') as { parse(type: string): unknown };
    const nodeRedAccepts = (header: string): boolean => {
      try {
        mediaTyper.parse(contentType.parse(header).type);
        return true;
      } catch {
        return false;
      }
    };

    it('accepts what browsers and clients send', () => {
      for (const header of [
        'application/json',
        'application/json; charset=utf-8',
        'text/plain;charset="utf-8"',
        'application/vnd.api+json',
        'multipart/form-data; boundary=x',
        ' text/html ',
      ]) {
        assert.equal(isValidContentType(header), true, header);
      }
    });

    it('refuses what would make http-in answer 500', () => {
      for (const header of [
        '*/*',
        'text/xml; charset',
        'text/plain;',
        'application',
        'application/',
        '/json',
        'text/plain; a=b c',
        'a b/c',
        'text/plain; charset="x',
        '\u00ff/x',
      ]) {
        assert.equal(isValidContentType(header), false, header);
        assert.equal(nodeRedAccepts(header), false, `Node-RED accepts ${header}`);
      }
    });

    it('agrees with Node-RED on generated headers', () => {
      const piece = fc.constantFrom(
        'application',
        'json',
        'text',
        '*',
        'x+y',
        'a.b',
        '',
        ' ',
        ';',
        '=',
        '"',
        '\\',
        '/',
        'charset',
        'utf-8',
        ',',
        '\u00e9',
        '\t',
        'a\u0000',
      );
      const header = fc.oneof(
        fc.array(piece, { maxLength: 10 }).map((parts) => parts.join('')),
        fc
          .tuple(fc.constantFrom('application/json', 'text/plain', '*/*'), fc.array(fc.tuple(piece, piece, fc.boolean()), { maxLength: 3 }))
          .map(([type, params]) => type + params.map(([k, v, quoted]) => `; ${k}=${quoted ? `"${v}"` : v}`).join('')),
        fc.string({ maxLength: 40 }),
      );
      fc.assert(
        fc.property(header, (h) => isValidContentType(h) === nodeRedAccepts(h)),
        { numRuns: 5000 },
      );
    });
  });

  describe('isDecodablePath', () => {
    it('checks the path only, not the query string', () => {
      assert.equal(isDecodablePath('/tasks/abc'), true);
      assert.equal(isDecodablePath('/tasks/%C3%A9'), true);
      assert.equal(isDecodablePath('/tasks/%FF'), false);
      assert.equal(isDecodablePath('/tasks/%'), false);
      assert.equal(isDecodablePath('/tasks/%zz/latest'), false);
      assert.equal(isDecodablePath('/tasks/%ED%A0%80'), false, 'an encoded lone surrogate');
      assert.equal(isDecodablePath('/data?x=%FF'), true);
    });

    it('fails exactly where express would fail to decode a path parameter', () => {
      fc.assert(
        fc.property(
          fc.array(
            fc.oneof(
              fc.constantFrom('%', '%F', '%FF', '%C3', '%A9', '%C3%A9', '%2F', '%25', 'a', '/'),
              fc.string({ maxLength: 3 }).filter((s) => !s.includes('?')),
            ),
            { maxLength: 8 },
          ),
          (parts) => {
            const path = `/${parts.join('')}`;
            const segmentsDecode = path.split('/').every((segment) => {
              try {
                decodeURIComponent(segment);
                return true;
              } catch {
                return false;
              }
            });
            assert.equal(isDecodablePath(path), segmentsDecode);
          },
        ),
      );
    });
  });

  describe('answerFor', () => {
    it('keeps the message of an exposed client error and names body-parser types', () => {
      const parse = Object.assign(new SyntaxError('Unexpected token } in JSON'), {
        status: 400,
        type: 'entity.parse.failed',
        expose: true,
      });
      assert.deepEqual(answerFor(parse), { status: 400, body: { error: 'malformed request body', reason: 'Unexpected token } in JSON' } });
      const large = Object.assign(new Error('request entity too large'), { statusCode: 413, type: 'entity.too.large', expose: true });
      assert.deepEqual(answerFor(large), { status: 413, body: { error: 'request body too large', reason: 'request entity too large' } });
      const decode = Object.assign(new URIError("Failed to decode param '%FF'"), { status: 400 });
      assert.deepEqual(answerFor(decode).body, { error: 'malformed path', reason: "Failed to decode param '%FF'" });
    });

    it('hides everything else behind a generic 500', () => {
      const internal = Object.assign(new Error('ENOENT: /work/secret/path'), { status: 500 });
      for (const err of [internal, new TypeError('x is undefined'), 'a string', null, undefined, { status: 302 }]) {
        assert.deepEqual(answerFor(err), { status: 500, body: { error: 'internal error', reason: 'the request could not be processed' } });
      }
      assert.equal(answerFor({ status: 403, expose: false, message: 'secret detail' }).body.reason, 'bad request');
    });
  });

  describe('as middleware on a real HTTP server', () => {
    let server: Server;
    let port: number;
    let upstreamError: unknown;
    let reached = 0;

    before(async () => {
      const [guard, answerError] = createHttpGuard({ maxBodyBytes: LIMIT });
      const editorApp: Middleware = (_req, res, next) => {
        // What the editor app in front of the flows does: wildcard CORS, and its parsers' errors.
        res.setHeader('Access-Control-Allow-Origin', '*');
        if (upstreamError !== undefined) return next(upstreamError);
        next();
      };
      const flowRoute: Middleware = (req, res) => {
        reached++;
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => res.end(`ok ${Buffer.concat(chunks).length}`));
      };
      const headersSentRoute: Middleware = (req, res, next) => {
        if (req.url !== '/half') return next();
        res.writeHead(200);
        res.write('partial');
        next(new Error('failed half way'));
      };
      server = createServer((req, res) => dispatch([editorApp, guard, answerError, headersSentRoute, answerError, flowRoute], req, res));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
    });

    after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    beforeEach(() => {
      upstreamError = undefined;
      reached = 0;
    });

    const send = (method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<RawAnswer> =>
      rawRequest(`http://127.0.0.1:${port}${path}`, method, headers, body);

    function assertRefusal(res: RawAnswer, status: number, error: string): void {
      assert.equal(res.status, status, res.text);
      assert.match(String(res.headers['content-type']), /^application\/json/);
      const body = JSON.parse(res.text) as Record<string, unknown>;
      assert.equal(body.error, error);
      assert.equal(typeof body.reason, 'string');
      assert.ok((body.reason as string).length > 0);
      assert.doesNotMatch(res.text, /\n\s+at |node_modules/);
      assert.equal(res.headers['access-control-allow-origin'], undefined);
      assert.equal(reached, 0, 'the flow route must not run');
    }

    it('passes normal requests through, without the editor CORS header', async () => {
      const get = await send('GET', '/data?limit=1&x=%FF');
      assert.equal(get.status, 200);
      assert.equal(get.headers['access-control-allow-origin'], undefined);
      const post = await send('POST', '/raise-request', { 'content-type': 'application/json; charset=utf-8' }, '{"a":1}');
      assert.deepEqual([post.status, post.text], [200, 'ok 7']);
      const exact = await send('POST', '/raise-request', { 'content-type': 'text/plain' }, Buffer.alloc(LIMIT, 0x61));
      assert.deepEqual([exact.status, exact.text], [200, `ok ${LIMIT}`]);
      assert.equal(reached, 3);
    });

    it('answers 400 for a path that is not valid percent-encoding', async () => {
      assertRefusal(await send('GET', '/tasks/%FF'), 400, 'malformed path');
      assertRefusal(await send('GET', '/measurements/%E2%82/latest'), 400, 'malformed path');
    });

    it('answers 415 for a Content-Type that does not parse, with or without a body', async () => {
      assertRefusal(await send('POST', '/raise-request', { 'content-type': '*/*' }, '{}'), 415, 'unsupported media type');
      assertRefusal(await send('POST', '/raise-request', { 'content-type': 'text/xml; charset' }), 415, 'unsupported media type');
    });

    it('answers 413 for a declared body over the limit before reading it, and closes the connection', async () => {
      // Headers only: the answer must come although the announced megabyte never arrives.
      const res = await new Promise<RawAnswer>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: '/raise-request',
            headers: { 'content-type': 'application/json', 'content-length': String(1024 * 1024) },
            agent: false,
          },
          (r) => {
            let text = '';
            r.on('data', (c: Buffer) => (text += c.toString('utf8')));
            r.on('end', () => resolve({ status: r.statusCode ?? 0, headers: r.headers, text }));
          },
        );
        req.on('error', reject);
        req.flushHeaders();
      });
      assertRefusal(res, 413, 'request body too large');
      assert.equal(res.headers.connection, 'close');
    });

    it('answers an upstream body parser error as JSON, keeping its status and message', async () => {
      upstreamError = Object.assign(new SyntaxError('Unexpected end of JSON input'), {
        status: 400,
        type: 'entity.parse.failed',
        expose: true,
      });
      const res = await send('POST', '/raise-request', { 'content-type': 'application/json' }, '{');
      assertRefusal(res, 400, 'malformed request body');
      assert.equal((JSON.parse(res.text) as { reason: string }).reason, 'Unexpected end of JSON input');
      upstreamError = Object.assign(new Error('unsupported content encoding "br"'), {
        status: 415,
        type: 'encoding.unsupported',
        expose: true,
      });
      assertRefusal(
        await send('POST', '/raise-request', { 'content-type': 'application/json', 'content-encoding': 'br' }, '{}'),
        415,
        'unsupported content encoding',
      );
    });

    it('answers an unexpected error with a generic 500 that holds neither message nor stack', async () => {
      upstreamError = new TypeError('Cannot read properties of undefined (/work/secret/file.js:1:1)');
      const logged: string[] = [];
      const original = console.error;
      console.error = (...args: unknown[]) => logged.push(args.join(' '));
      try {
        const res = await send('GET', '/data');
        assert.equal(res.status, 500);
        assert.deepEqual(JSON.parse(res.text), { error: 'internal error', reason: 'the request could not be processed' });
      } finally {
        console.error = original;
      }
      assert.equal(logged.length, 1);
      assert.doesNotMatch(logged[0], /\n/, 'one line, no stack');
    });

    it('ends the connection when an error comes after the answer started', async () => {
      const original = console.error;
      console.error = () => undefined;
      const outcome = await send('GET', '/half')
        .then(
          (res) => `answered ${res.status} ${res.text}`,
          (err: Error) => err.message,
        )
        .finally(() => (console.error = original));
      assert.match(outcome, /socket hang up|ECONNRESET|aborted|answered 200 partial/);
      assert.doesNotMatch(outcome, /internal error/);
    });
  });
});
