import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import type { Middleware } from '../../lib/http-guard';
import { rawRequest, type RawAnswer } from '../support/raw-request';
import { createOriginGuard, isSameOrigin, parseAllowedOrigins, parseHost, parseOrigin, serialiseOrigin } from '../../lib/origin-guard';

/** Strings built from the pieces origin and host parsers trip over, plus arbitrary text. */
const hostile = fc.oneof(
  fc
    .array(
      fc.constantFrom(
        'http',
        'https',
        'HTTP',
        'ftp',
        '://',
        ':',
        '//',
        '/',
        '[',
        ']',
        '::1',
        '.',
        '..',
        '@',
        '%',
        '%2e',
        '?',
        '#',
        ',',
        ' ',
        '\t',
        '\u0000',
        '\u00e9',
        '\ud83d\ude00',
        'null',
        'a',
        'example.com',
        '127.0.0.1',
        '80',
        '443',
        '1880',
        '65536',
        '99999',
        '-1',
        '0x7f',
        'localhost',
      ),
      { maxLength: 12 },
    )
    .map((parts) => parts.join('')),
  fc.string({ maxLength: 60 }),
  fc.string({ maxLength: 30, unit: 'binary' }),
);

/** A host as browsers put it in Origin and Host: a DNS name, an IPv4 address, an IPv6 literal. */
const label = fc.stringMatching(/^[a-z][a-z0-9-]{0,6}[a-z0-9]$/);
const hostName = fc.oneof(
  fc.array(label, { minLength: 1, maxLength: 3 }).map((labels) => labels.join('.')),
  fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((octets) => octets.join('.')),
  fc.constantFrom('[::1]', '[2001:db8::7]', '[fe80::1:2]', '[::ffff:7f00:1]'),
);
const scheme = fc.constantFrom('http', 'https') as fc.Arbitrary<'http' | 'https'>;
const port = fc.oneof(fc.constant(undefined), fc.constantFrom(80, 443, 1880), fc.integer({ min: 1, max: 65535 }));

/** Flips the case of some letters: hosts are case-insensitive. */
const recase = (text: string, flips: readonly boolean[]): string =>
  Array.from(text, (c, i) => (flips[i % Math.max(flips.length, 1)] ? c.toUpperCase() : c)).join('');

describe('origin-guard', () => {
  describe('parseOrigin and parseHost', () => {
    it('take apart what browsers send', () => {
      assert.deepEqual(parseOrigin('http://127.0.0.1:1880'), { scheme: 'http', host: '127.0.0.1', port: 1880 });
      assert.deepEqual(parseOrigin('https://Example.COM.'), { scheme: 'https', host: 'example.com', port: 443 });
      assert.deepEqual(parseOrigin('HTTP://[::1]'), { scheme: 'http', host: '[::1]', port: 80 });
      assert.deepEqual(parseOrigin('http://[2001:DB8::1]:8080'), { scheme: 'http', host: '[2001:db8::1]', port: 8080 });
      assert.deepEqual(parseHost('127.0.0.1:1880'), { host: '127.0.0.1', port: 1880 });
      assert.deepEqual(parseHost('Example.com.'), { host: 'example.com', port: undefined });
      assert.deepEqual(parseHost('[::1]:1880'), { host: '[::1]', port: 1880 });
    });

    it('refuse null, other schemes, paths, user info and broken ports', () => {
      for (const origin of [
        'null',
        '',
        'file://',
        'ftp://example.com',
        'chrome-extension://abc',
        'http://',
        'http://example.com/',
        'http://example.com/x',
        'http://u@example.com',
        'http://example.com:',
        'http://example.com:65536',
        'http://example.com:-1',
        'http://::1',
        'http://[::1',
        'http://a b',
        'http://a,http://b',
        'http://.',
        'http://..',
        ' http://a',
        'http://a\n',
      ]) {
        assert.equal(parseOrigin(origin), undefined, JSON.stringify(origin));
      }
      for (const host of ['', '::1', '[::1', 'a:b', 'a:', 'a:99999', 'a/b', 'a@b', 'a b', '.', 'a, b']) {
        assert.equal(parseHost(host), undefined, JSON.stringify(host));
      }
    });
  });

  describe('isSameOrigin', () => {
    it('compares host and port, with default ports, whatever the scheme', () => {
      const same: Array<[string, string]> = [
        ['http://127.0.0.1:1880', '127.0.0.1:1880'],
        ['https://127.0.0.1:1880', '127.0.0.1:1880'],
        ['http://nodered.example', 'nodered.example'],
        ['http://nodered.example', 'nodered.example:80'],
        ['https://nodered.example', 'nodered.example'],
        ['https://nodered.example', 'nodered.example:443'],
        ['http://nodered.example:443', 'nodered.example:443'],
        ['http://NodeRed.Example.', 'nodered.example'],
        ['http://nodered.example', 'NODERED.example.:80'],
        ['http://[::1]:1880', '[::1]:1880'],
        ['http://[FE80::1]:1880', '[fe80::1]:1880'],
      ];
      for (const [origin, host] of same) assert.equal(isSameOrigin(origin, host), true, `${origin} vs ${host}`);
      const foreign: Array<[string | undefined, string | undefined]> = [
        ['http://evil.example', '127.0.0.1:1880'],
        ['http://127.0.0.1:1881', '127.0.0.1:1880'],
        ['http://localhost:1880', '127.0.0.1:1880'],
        ['http://127.0.0.1', '127.0.0.1:1880'],
        ['http://nodered.example', 'nodered.example:443'],
        ['https://nodered.example', 'nodered.example:80'],
        ['http://nodered.example:443', 'nodered.example'],
        ['http://nodered.example:8080', 'nodered.example'],
        ['http://[::1]:1880', '[::2]:1880'],
        ['http://[::1]:1880', '::1:1880'],
        ['null', '127.0.0.1:1880'],
        ['http://127.0.0.1:1880', undefined],
        [undefined, '127.0.0.1:1880'],
        ['http://nodered.example.evil.example', 'nodered.example'],
        ['http://sub.nodered.example', 'nodered.example'],
      ];
      for (const [origin, host] of foreign) assert.equal(isSameOrigin(origin, host), false, `${origin} vs ${host}`);
    });

    it('never throws on hostile Origin and Host headers', () => {
      fc.assert(
        fc.property(hostile, hostile, (origin, host) => {
          assert.equal(typeof isSameOrigin(origin, host), 'boolean');
          parseOrigin(origin);
          parseHost(host);
        }),
        { numRuns: 10000 },
      );
    });

    it('holds for every spelling of the same host and port, and fails when either differs', () => {
      fc.assert(
        fc.property(
          scheme,
          hostName,
          port,
          fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }),
          fc.boolean(),
          fc.boolean(),
          (s, host, p, flips, dotOrigin, dotHost) => {
            const effective = p ?? (s === 'https' ? 443 : 80);
            const dot = (h: string, yes: boolean): string => (yes && !h.startsWith('[') ? `${h}.` : h);
            const origin = `${recase(s, flips)}://${recase(dot(host, dotOrigin), flips)}${p === undefined ? '' : `:${p}`}`;
            // The Host header as a client of that origin sends it: the port only when not the default.
            const hostHeader = `${recase(dot(host, dotHost), [...flips].reverse())}${effective === (s === 'https' ? 443 : 80) ? '' : `:${effective}`}`;
            assert.equal(isSameOrigin(origin, hostHeader), true, `${origin} vs ${hostHeader}`);
            assert.equal(isSameOrigin(origin, `${dot(host, dotHost)}:${effective}`), true, 'the default port spelt out');
            assert.equal(isSameOrigin(origin, `${host}:${(effective % 65535) + 1}`), false, 'another port');
            assert.equal(isSameOrigin(origin, `x${host.replace(/^\[/, '')}`), false, 'another host');
            assert.equal(isSameOrigin(origin, `${host}.evil.example`), false, 'a name under it');
          },
        ),
        { numRuns: 5000 },
      );
    });

    it('agrees with the WHATWG URL parser whenever it says two are the same', () => {
      const withPort = (h: string, p: number | undefined): string => `${h}${p === undefined ? '' : `:${p}`}`;
      // Independent strings, and pairs of one host spelt two ways with the same or another port.
      const pair = fc.oneof(
        fc.tuple(hostile, hostile),
        fc.tuple(scheme, hostName, port, port).map(([s, h, p, q]) => [`${s}://${withPort(h, p)}`, withPort(h, q)] as [string, string]),
        fc
          .tuple(scheme, hostName, port, fc.array(fc.boolean(), { minLength: 1 }), fc.constantFrom('', '.'), hostile)
          .map(
            ([s, h, p, flips, dot, noise]) =>
              [
                `${s}://${withPort(recase(h, flips), p)}`,
                `${h.startsWith('[') ? h : h + dot}${p === undefined ? '' : `:${p}`}${noise.slice(0, 1)}`,
              ] as [string, string],
          ),
      );
      let agreed = 0;
      fc.assert(
        fc.property(pair, ([origin, host]) => {
          if (!isSameOrigin(origin, host)) return;
          // What no browser would send (`http://999.1`, not an IPv4 address) URL refuses on both sides.
          const parse = (text: string): URL | undefined => (URL.canParse(text) ? new URL(text) : undefined);
          const from = parse(origin);
          const to = parse(`${origin.slice(0, origin.indexOf(':'))}://${host}`);
          assert.equal(from === undefined, to === undefined, `${origin} vs ${host}: URL parses only one`);
          if (from === undefined || to === undefined) return;
          assert.equal(from.origin, `${from.protocol}//${from.host}`, 'a plain origin, nothing after it');
          assert.equal(to.hostname.replace(/\.$/, ''), from.hostname.replace(/\.$/, ''));
          assert.equal(to.port, from.port);
          agreed++;
        }),
        { numRuns: 10000 },
      );
      assert.ok(agreed > 100, `only ${agreed} same-origin pairs generated`);
    });

    it('serialises parsed origins the way browsers do', () => {
      fc.assert(
        fc.property(scheme, hostName, port, (s, host, p) => {
          const origin = `${s}://${host}${p === undefined ? '' : `:${p}`}`;
          // Only origins a browser can send: the URL parser refuses some generated labels (an invalid
          // punycode label such as xn--0 on Node 20), and a browser would never put one in a header.
          let browserForm: string | undefined;
          try {
            browserForm = new URL(origin).origin;
          } catch {
            browserForm = undefined;
          }
          fc.pre(browserForm !== undefined);
          const parsed = parseOrigin(origin);
          assert.ok(parsed, origin);
          assert.equal(serialiseOrigin(parsed), browserForm);
        }),
        { numRuns: 3000 },
      );
    });
  });

  describe('parseAllowedOrigins (HTTP_NODE_CORS_ORIGIN)', () => {
    it('reads one origin or a comma list, in browser form, without duplicates', () => {
      assert.deepEqual(parseAllowedOrigins('https://app.example.com'), ['https://app.example.com']);
      assert.deepEqual(
        parseAllowedOrigins(' https://App.Example.com:443/ , http://10.0.0.5:8080,,http://[::1]:80, https://app.example.com'),
        ['https://app.example.com', 'http://10.0.0.5:8080', 'http://[::1]'],
      );
      assert.deepEqual(parseAllowedOrigins(''), []);
      assert.deepEqual(parseAllowedOrigins(' , '), []);
    });

    it('refuses the wildcard and anything that is not an origin, naming it', () => {
      assert.throws(
        () => parseAllowedOrigins('*'),
        (err: unknown) => err instanceof TypeError && /\*/.test(err.message),
      );
      assert.throws(() => parseAllowedOrigins('https://a.example, *'), TypeError);
      for (const bad of [
        'app.example.com',
        'https://app.example.com/api',
        'https://app.example.com?x',
        'null',
        'ftp://a',
        'https://a.example:70000',
        'https://u:p@a.example',
        'https://a.example https://b.example',
      ]) {
        assert.throws(
          () => parseAllowedOrigins(bad),
          (err: unknown) => err instanceof TypeError && err.message.includes(JSON.stringify(bad.trim())),
          bad,
        );
      }
    });

    it('throws nothing but TypeError on hostile lists', () => {
      fc.assert(
        fc.property(fc.array(hostile, { maxLength: 4 }), (entries) => {
          try {
            for (const origin of parseAllowedOrigins(entries.join(','))) assert.ok(parseOrigin(origin), origin);
          } catch (err) {
            assert.ok(err instanceof TypeError, String(err));
          }
        }),
        { numRuns: 5000 },
      );
    });
  });

  describe('as middleware on a real HTTP server', () => {
    let server: Server;
    let port: number;
    let reached: string[] = [];

    before(async () => {
      const guard = createOriginGuard({ allowedOrigins: ['https://app.example.com', 'http://10.0.0.5:8080'] });
      const editorCors: Middleware = (_req, res, next) => {
        // What editor-api's cors handler does to every request before the guard runs.
        res.setHeader('Access-Control-Allow-Origin', '*');
        next();
      };
      const adminRoute: Middleware = (req, res) => {
        reached.push(`${req.method} ${req.url}`);
        req.resume();
        req.on('end', () => res.end('deployed'));
      };
      server = createServer((req, res) => {
        const chain = [editorCors, guard, adminRoute];
        let index = 0;
        const next = (err?: unknown): void => {
          if (err !== undefined) {
            res.statusCode = 599;
            res.end(String(err));
            return;
          }
          chain[index++](req, res, next);
        };
        next();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
    });

    after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    beforeEach(() => {
      reached = [];
    });

    const send = (method: string, headers: Record<string, string>, body?: string): Promise<RawAnswer> =>
      rawRequest(`http://127.0.0.1:${port}/flows`, method, headers, body);

    const json = { 'content-type': 'application/json', 'node-red-deployment-type': 'full' };
    const form = { 'content-type': 'application/x-www-form-urlencoded' };

    it('passes requests without an Origin untouched', async () => {
      const res = await send('POST', json, '[]');
      assert.deepEqual([res.status, res.text, res.headers['access-control-allow-origin']], [200, 'deployed', '*']);
      assert.deepEqual(reached, ['POST /flows']);
    });

    it("passes the server's own origin, whatever scheme and spelling", async () => {
      for (const origin of [`http://127.0.0.1:${port}`, `https://127.0.0.1:${port}`, `HTTP://127.0.0.1.:${port}`]) {
        const res = await send('POST', { ...json, origin }, '[]');
        assert.equal(res.status, 200, origin);
      }
      const put = await send('DELETE', { origin: `http://127.0.0.1:${port}` });
      assert.equal(put.status, 200);
      assert.equal(reached.length, 4);
    });

    it('refuses writes from any other origin with a JSON 403 that carries no CORS header', async () => {
      const cases: Array<[string, string, Record<string, string>, string | undefined]> = [
        ['POST', 'http://evil.example', json, '[{"id":"x","type":"function","func":"process.exit()"}]'],
        ['POST', 'http://evil.example', form, 'module=evil-package'],
        ['POST', 'null', form, 'a=b'],
        ['PUT', `http://127.0.0.1:${port + 1}`, json, '{}'],
        ['DELETE', `http://localhost:${port}`, {}, undefined],
        ['PATCH', 'https://app.example.com.evil.example', json, '{}'],
        ['POST', 'http://evil.example, http://127.0.0.1', json, '[]'],
        ['POST', '', json, '[]'],
      ];
      for (const [method, origin, headers, body] of cases) {
        const res = await send(method, { ...headers, origin }, body);
        assert.equal(res.status, 403, `${method} from ${origin}: ${res.text}`);
        assert.match(String(res.headers['content-type']), /^application\/json/);
        const answer = JSON.parse(res.text) as { error: string; reason: string };
        assert.equal(answer.error, 'cross-origin request refused');
        assert.ok(answer.reason.length > 0);
        assert.equal(res.headers['access-control-allow-origin'], undefined, `${method} from ${origin}`);
      }
      assert.deepEqual(reached, [], 'no refused request reaches the admin API');
    });

    it('lets other origins read, but without the wildcard header their page would need', async () => {
      const get = await send('GET', { origin: 'http://evil.example' });
      assert.deepEqual([get.status, get.text], [200, 'deployed']);
      assert.equal(get.headers['access-control-allow-origin'], undefined);
      const head = await send('HEAD', { origin: 'null' });
      assert.equal(head.status, 200);
      assert.equal(head.headers['access-control-allow-origin'], undefined);
      assert.deepEqual(reached, ['GET /flows', 'HEAD /flows']);
    });

    it("passes the allowed origins, however spelt, without the editor's wildcard header", async () => {
      for (const origin of ['https://app.example.com', 'https://APP.example.com:443', 'http://10.0.0.5:8080']) {
        const res = await send('POST', { ...json, origin }, '[]');
        assert.equal(res.status, 200, origin);
        assert.equal(res.headers['access-control-allow-origin'], undefined, origin);
      }
      assert.equal(
        (await send('POST', { ...json, origin: 'http://app.example.com' }, '[]')).status,
        403,
        'another scheme is another origin',
      );
      assert.equal((await send('POST', { ...json, origin: 'http://10.0.0.5' }, '[]')).status, 403, 'another port is another origin');
      assert.equal(reached.length, 3);
    });

    it('refuses a configuration that is not a list of origins', () => {
      assert.throws(() => createOriginGuard({ allowedOrigins: ['*'] }), TypeError);
      assert.throws(() => createOriginGuard({ allowedOrigins: ['https://a.example/path'] }), TypeError);
      assert.equal(typeof createOriginGuard(), 'function');
    });
  });
});
