import assert from 'node:assert/strict';
import { httpNodeBaseUrl, isOwnEndpoint, ownEndpointUrl } from '../../../lib/connector/own-endpoint';

describe("a path endpoint: this Node-RED's own HTTP-in endpoint", () => {
  it('follows the port, the listen address and httpNodeRoot Node-RED runs with', () => {
    assert.equal(httpNodeBaseUrl({}), 'http://127.0.0.1:1880/');
    assert.equal(httpNodeBaseUrl({ uiPort: 1999, httpNodeRoot: '/api' }), 'http://127.0.0.1:1999/api/');
    assert.equal(httpNodeBaseUrl({ uiPort: '1999', httpNodeRoot: '/api/v1/' }), 'http://127.0.0.1:1999/api/v1/');
    assert.equal(httpNodeBaseUrl({ uiHost: '0.0.0.0' }), 'http://127.0.0.1:1880/', 'a wildcard address answers on loopback');
    assert.equal(httpNodeBaseUrl({ uiHost: '::' }), 'http://[::1]:1880/');
    assert.equal(httpNodeBaseUrl({ uiHost: '10.1.2.3' }), 'http://10.1.2.3:1880/', 'a named address is the only one that answers');
    assert.equal(httpNodeBaseUrl({ uiHost: 'fd00::5' }), 'http://[fd00::5]:1880/');
    assert.equal(httpNodeBaseUrl({ https: { key: 'k', cert: 'c' } }), 'https://127.0.0.1:1880/');
  });

  it('has none when HTTP-in endpoints are off or the port is not one', () => {
    assert.equal(httpNodeBaseUrl({ httpNodeRoot: false }), undefined);
    assert.equal(httpNodeBaseUrl({ uiPort: 'abc' }), undefined);
  });

  it('tells a path from a URL and joins it under the root', () => {
    assert.equal(isOwnEndpoint('/simulated-receiver'), true);
    assert.equal(isOwnEndpoint('//elsewhere/x'), false);
    assert.equal(isOwnEndpoint('https://receiver.example/x'), false);
    assert.equal(ownEndpointUrl('/simulated-receiver', 'http://127.0.0.1:1999/api/'), 'http://127.0.0.1:1999/api/simulated-receiver');
  });
});
