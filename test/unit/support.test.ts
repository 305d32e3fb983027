import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { portOpen } from '../support/services';

describe('test support: portOpen', () => {
  it('sees a listening port as open and a closed one as closed', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    assert.ok(address && typeof address === 'object');
    assert.equal(await portOpen('127.0.0.1', address.port), true);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    assert.equal(await portOpen('127.0.0.1', address.port, 500), false);
  });
});
