import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpPoster } from '../../../lib/connector/poster';
import { ConnectorError } from '../../../lib/connector/errors';

const KEY = 'very-secret-post-key';

describe('connector HttpPoster', () => {
  let server: Server;
  let url: string;
  let sockets = 0;
  let behaviour: (res: import('node:http').ServerResponse) => void = (res) => res.end('ok');

  before(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => behaviour(res));
    });
    server.on('connection', () => (sockets += 1));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/in`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it('reuses one keep-alive connection for sequential posts', async () => {
    const poster = new HttpPoster({ endpoint: url, apiKey: KEY });
    const before = sockets;
    for (let i = 0; i < 5; i++) assert.equal((await poster.post('{}', `k${i}`)).kind, 'response');
    assert.equal(sockets - before, 1);
    poster.close();
  });

  it('caps the answer body it keeps and reports the cut', async () => {
    behaviour = (res) => res.end('x'.repeat(100_000));
    const poster = new HttpPoster({ endpoint: url, apiKey: KEY, maxResponseBytes: 1000 });
    const outcome = await poster.post('{}', 'k');
    assert.equal(outcome.kind, 'response');
    if (outcome.kind === 'response') {
      assert.equal(outcome.body.length, 1000);
      assert.equal(outcome.truncated, true);
    }
    poster.close();
    behaviour = (res) => res.end('ok');
  });

  it('never puts the key in an outcome, an error or its description', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const poster = new HttpPoster({ endpoint: `http://127.0.0.1:${port}/x?token=abc`, apiKey: KEY, timeoutMs: 2000 });
    const outcome = await poster.post('{}', 'k');
    assert.equal(outcome.kind, 'network');
    assert.ok(!JSON.stringify(outcome).includes(KEY));
    assert.ok(!poster.description.includes(KEY) && !poster.description.includes('token'));
    const invalidKey = await poster.post('{}', 'bad key with spaces');
    assert.equal(invalidKey.kind, 'network');
    poster.close();
  });

  it("sends no Authorization header without a key (this Node-RED's own receiver)", async () => {
    let seen: string | undefined = 'not called';
    behaviour = (res) => res.end('ok');
    const listener = (req: import('node:http').IncomingMessage) => (seen = req.headers.authorization);
    server.on('request', listener);
    const poster = new HttpPoster({ endpoint: url, apiKey: undefined });
    assert.equal((await poster.post('{}', 'k')).kind, 'response');
    assert.equal(seen, undefined);
    server.off('request', listener);
    poster.close();
  });

  it('refuses endpoints it must not use and keys that cannot be a header', () => {
    const code = (e: unknown) => e instanceof ConnectorError && (e.code === 'INVALID_ENDPOINT' || e.code === 'INVALID_OPTION');
    assert.throws(() => new HttpPoster({ endpoint: 'not a url', apiKey: KEY }), code);
    assert.throws(() => new HttpPoster({ endpoint: 'ftp://127.0.0.1/', apiKey: KEY }), code);
    assert.throws(() => new HttpPoster({ endpoint: 'http://user:pw@127.0.0.1/', apiKey: KEY }), /credentials/);
    assert.throws(() => new HttpPoster({ endpoint: url, apiKey: '' }), code);
    assert.throws(() => new HttpPoster({ endpoint: url, apiKey: 'a\r\nX-Injected: 1' }), code);
    try {
      new HttpPoster({ endpoint: url, apiKey: `${KEY} with space` });
      assert.fail('should throw');
    } catch (err) {
      assert.ok(!(err as Error).message.includes(KEY));
    }
  });
});
