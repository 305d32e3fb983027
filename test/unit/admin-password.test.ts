import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { adminPasswordHashProblem, createNoLoginGuard } from '../../lib/admin-password';
import { packageRoot } from '../support/node-red';

// The bcrypt implementation Node-RED itself ships (bcryptjs, a dependency of node-red).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const bcrypt = require(require.resolve('bcryptjs', { paths: [require.resolve('node-red/package.json', { paths: [packageRoot] })] })) as {
  hashSync(password: string, rounds: number): string;
  compareSync(password: string, hash: string): boolean;
};

describe('adminPasswordHashProblem', () => {
  const hash = bcrypt.hashSync('correct horse', 8);

  it('accepts what `node-red admin hash-pw` makes, in every bcrypt variant', () => {
    assert.equal(adminPasswordHashProblem(hash), undefined);
    for (const variant of ['$2a$', '$2b$', '$2y$']) assert.equal(adminPasswordHashProblem(variant + hash.slice(4)), undefined, variant);
    assert.equal(adminPasswordHashProblem(bcrypt.hashSync('x', 4)), undefined);
  });

  it('names the usual mistakes, each of which Node-RED would accept and then refuse every login with', () => {
    const cases: Array<[string, RegExp]> = [
      ['correct horse', /not a bcrypt hash/],
      [`${hash}\n`, /line break/],
      [` ${hash}`, /spaces/],
      [hash.slice(0, 59), /59 characters/],
      [hash.replace(/\$/g, ''), /`\$` signs are missing/],
      // A shell expanding `$2b` and `$08` (unset) leaves the rest.
      [hash.slice(7), /not a bcrypt hash/],
      ['$2b$99$' + hash.slice(7), /cost/],
      ['', /not a bcrypt hash/],
    ];
    for (const [value, reason] of cases) {
      assert.match(String(adminPasswordHashProblem(value)), reason, JSON.stringify(value));
      let verified = false;
      try {
        verified = bcrypt.compareSync('correct horse', value);
      } catch {
        verified = false;
      }
      assert.equal(verified, false, `Node-RED would log in with ${JSON.stringify(value)}`);
    }
  });
});

describe('createNoLoginGuard (no editor login configured)', () => {
  async function withServer(run: (url: string) => Promise<void>): Promise<void> {
    const guard = createNoLoginGuard();
    const server = createServer((req, res) =>
      guard(req, res, () => {
        res.statusCode = 200;
        res.end('passed on');
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      await run(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  }

  it('answers /auth/token and /auth/revoke with a JSON 404 once the body was read, and passes everything else on', async () => {
    await withServer(async (url) => {
      for (const path of ['/auth/token', '/auth/revoke', '/auth/token/?x=1']) {
        const res = await fetch(`${url}${path}`, {
          method: 'POST',
          body: 'client_id=node-red-admin&grant_type=password&username=a&password=b',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        });
        assert.equal(res.status, 404, path);
        const body = (await res.json()) as { error: string; reason: string };
        assert.equal(body.error, 'not found');
        assert.match(body.reason, /no login/);
      }
      for (const path of ['/auth/login', '/flows', '/authx/token']) {
        const res = await fetch(`${url}${path}`);
        assert.equal(await res.text(), 'passed on', path);
      }
    });
  });
});
