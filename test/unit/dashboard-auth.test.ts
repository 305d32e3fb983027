/**
 * lib/dashboard-auth.ts: basic authentication of the dashboard pages and their socket.io
 * connection against the editor's user and bcrypt hash; Dashboard 2.0's own socket.io rules
 * (no direct websocket, no cross-origin handshake) kept; one bcrypt comparison per distinct header.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createDashboardAuth, parseBasic, type DashboardSocket } from '../../lib/dashboard-auth';

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

function setup() {
  let comparisons = 0;
  const auth = createDashboardAuth({
    user: 'operator',
    passwordHash: 'HASH(s3cret:pw)',
    // A stand-in for bcrypt's compareSync: the real one is exercised in the browser test.
    verify: (password, hash) => {
      comparisons += 1;
      return hash === `HASH(${password})`;
    },
  });
  return { auth, comparisons: () => comparisons };
}

function http(
  auth: ReturnType<typeof setup>['auth'],
  authorization?: string,
): { status: number; headers: Record<string, unknown>; passed: boolean } {
  const headers: Record<string, unknown> = {};
  const res = {
    statusCode: 200,
    setHeader: (k: string, v: unknown) => (headers[k.toLowerCase()] = v),
    end: () => undefined,
  } as unknown as ServerResponse;
  let passed = false;
  auth.middleware({ headers: { authorization } } as IncomingMessage, res, () => (passed = true));
  return { status: res.statusCode, headers, passed };
}

function socket(authorization: string | undefined, extra: { url?: string; xdomain?: boolean } = {}) {
  const events: string[] = [];
  const s: DashboardSocket = {
    request: { headers: { authorization } },
    handshake: { xdomain: extra.xdomain ?? false },
    client: {
      conn: { request: { url: extra.url ?? '/dashboard/socket.io/?EIO=4&transport=polling' }, close: () => events.push('closed') },
    },
    disconnect: () => events.push('disconnected'),
  };
  return { s, events };
}

describe('dashboard authentication', () => {
  it('parses basic credentials, a colon in the password included', () => {
    assert.deepEqual(parseBasic(basic('operator', 'a:b')), { user: 'operator', password: 'a:b' });
    assert.equal(parseBasic('Bearer abc'), null);
    assert.equal(parseBasic(undefined), null);
    assert.equal(parseBasic(`Basic ${Buffer.from('no-colon').toString('base64')}`), null);
  });

  it('lets the right user and password through and asks everyone else for them', () => {
    const { auth } = setup();
    assert.equal(http(auth, basic('operator', 's3cret:pw')).passed, true);
    for (const header of [undefined, basic('operator', 'wrong'), basic('admin', 's3cret:pw'), 'Bearer s3cret:pw']) {
      const answer = http(auth, header);
      assert.equal(answer.passed, false, String(header));
      assert.equal(answer.status, 401);
      assert.match(String(answer.headers['www-authenticate']), /^Basic realm="IoT pipelines dashboard"/);
    }
  });

  it('compares a header with bcrypt once, then remembers it (a page load is ~20 requests)', () => {
    const { auth, comparisons } = setup();
    for (let i = 0; i < 20; i++) assert.equal(auth.accepts(basic('operator', 's3cret:pw')), true);
    assert.equal(comparisons(), 1);
    for (let i = 0; i < 3; i++) assert.equal(auth.accepts(basic('operator', 'wrong')), false);
    assert.equal(comparisons(), 4, 'a wrong password is compared every time, never remembered');
  });

  it('socket.io: the same credentials, and Dashboard 2.0 rules kept', () => {
    const { auth } = setup();
    let error: Error | undefined | null = null;
    const ok = socket(basic('operator', 's3cret:pw'));
    auth.ioMiddleware(ok.s, (err) => (error = err));
    assert.equal(error, undefined);

    const anonymous = socket(undefined);
    auth.ioMiddleware(anonymous.s, (err) => (error = err));
    assert.match(String((error as Error | null)?.message), /authentication required/);

    const direct = socket(basic('operator', 's3cret:pw'), { url: '/dashboard/socket.io/?EIO=4&transport=websocket' });
    auth.ioMiddleware(direct.s, () => assert.fail('a direct websocket must not pass'));
    assert.deepEqual(direct.events, ['closed']);

    const foreign = socket(basic('operator', 's3cret:pw'), { xdomain: true });
    auth.ioMiddleware(foreign.s, () => assert.fail('a cross-origin handshake must not pass'));
    assert.deepEqual(foreign.events, ['disconnected']);
  });
});
