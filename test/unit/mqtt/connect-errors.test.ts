import assert from 'node:assert/strict';
import fc from 'fast-check';
import { classifyConnectError } from '../../../lib/mqtt/connect-errors';
import { resolveBrokerSettings, toClientOptions } from '../../../lib/mqtt/options';

const withCode = (code: unknown, message = 'x'): Error => Object.assign(new Error(message), { code });

describe('mqtt classifyConnectError', () => {
  it('bad credentials (3.1.1 codes 4, 5; MQTT 5 codes 134, 135) are auth problems', () => {
    for (const code of [4, 5, 134, 135]) assert.equal(classifyConnectError(withCode(code)).kind, 'auth', String(code));
  });

  it('other CONNACK refusals name the reason and the code', () => {
    const problem = classifyConnectError(withCode(136));
    assert.equal(problem.kind, 'refused');
    assert.match(problem.reason, /server unavailable \(code 136\)/);
    assert.match(classifyConnectError(withCode(250)).reason, /reason unknown \(code 250\)/);
  });

  it('certificate failures are TLS problems with a hint', () => {
    for (const code of [
      'SELF_SIGNED_CERT_IN_CHAIN',
      'DEPTH_ZERO_SELF_SIGNED_CERT',
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      'CERT_HAS_EXPIRED',
      'ERR_SSL_WRONG_VERSION_NUMBER',
    ]) {
      assert.equal(classifyConnectError(withCode(code)).kind, 'tls', code);
    }
    assert.match(classifyConnectError(withCode('ERR_TLS_CERT_ALTNAME_INVALID')).reason, /host name/);
    assert.match(classifyConnectError(withCode('SELF_SIGNED_CERT_IN_CHAIN')).reason, /CA certificate/);
  });

  it('socket errors and anything unknown are network problems', () => {
    assert.equal(classifyConnectError(withCode('ECONNREFUSED')).kind, 'network');
    assert.equal(classifyConnectError(new Error('boom')).kind, 'network');
    assert.equal(classifyConnectError(null).kind, 'network');
    assert.equal(classifyConnectError('text').kind, 'network');
  });

  it('never repeats the error message (which may quote a URL with a password)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.string(), fc.constant(undefined)), fc.string({ minLength: 8 }), (code, secret) => {
        const problem = classifyConnectError(withCode(code, `failed for mqtt://u:${secret}@h`));
        return !problem.reason.includes(`u:${secret}@`);
      }),
      { numRuns: 2000 },
    );
  });

  it('the client keeps reconnecting after a refused CONNECT', () => {
    assert.equal(toClientOptions(resolveBrokerSettings({ host: 'h' }, 'n')).reconnectOnConnackError, true);
  });
});
