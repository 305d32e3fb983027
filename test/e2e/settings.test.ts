/**
 * settings.js as the container and `npm start` use it: NODE_RED_ADMIN_PASSWORD_HASH protects the
 * editor and admin API (anonymous requests refused, a token from POST /auth/token accepted, no
 * warning printed) and NODE_RED_CREDENTIAL_SECRET encrypts flows_cred.json with that key (no
 * clear secret in the file). The unprotected case and its warning are covered by stack.test.ts.
 */
import assert from 'node:assert/strict';
import { createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { httpJson, packageRoot, startNodeRed, type RunningNodeRed } from '../support/node-red';

// Node-RED's own bcrypt implementation (a dependency of node-red): the hash it will verify.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const bcrypt = require(require.resolve('bcryptjs', { paths: [require.resolve('node-red/package.json', { paths: [packageRoot] })] })) as {
  hashSync(password: string, rounds: number): string;
};

/** Node-RED's credential encryption: aes-256-ctr, key = sha256(secret), hex IV prefix + base64. */
function decryptCredentials(secret: string, file: { $: string }): unknown {
  const key = createHash('sha256').update(secret).digest();
  const iv = Buffer.from(file.$.slice(0, 32), 'hex');
  const decipher = createDecipheriv('aes-256-ctr', key, iv);
  return JSON.parse(decipher.update(file.$.slice(32), 'base64', 'utf8') + decipher.final('utf8'));
}

describe('settings.js: admin password and credential secret from the environment', function () {
  this.timeout(90_000);
  const password = `pw-${randomBytes(6).toString('hex')}`;
  const secret = randomBytes(24).toString('base64');
  const plainSecret = `clear-text-${randomBytes(6).toString('hex')}`;
  let red: RunningNodeRed | undefined;

  before(async () => {
    red = await startNodeRed({
      flows: [{ id: 'settings.tab', type: 'tab', label: 'settings test' }],
      env: {
        NODE_RED_ADMIN_USER: 'operator',
        NODE_RED_ADMIN_PASSWORD_HASH: bcrypt.hashSync(password, 8),
        NODE_RED_CREDENTIAL_SECRET: secret,
        SIMULATE: 'false',
      },
    });
  });
  after(async () => {
    await red?.stop();
  });

  const token = async (username: string, pass: string) =>
    httpJson(`${red!.url}/auth/token`, {
      method: 'POST',
      body: { client_id: 'node-red-admin', grant_type: 'password', scope: '*', username, password: pass },
    });

  it('refuses anonymous admin requests and prints no warning', async () => {
    assert.equal((await httpJson(`${red!.url}/flows`)).status, 401);
    assert.equal((await httpJson(`${red!.url}/flows`, { method: 'POST', body: [] })).status, 401);
    assert.equal((await httpJson(`${red!.url}/nodes`)).status, 401);
    assert.doesNotMatch(red!.output(), /NOT password protected|not a bcrypt hash/);
    const login = (await httpJson(`${red!.url}/auth/login`)).body as { type?: string };
    assert.equal(login.type, 'credentials', 'the editor asks for a user name and password');
  });

  it('refuses a wrong password and accepts a token from POST /auth/token', async () => {
    assert.notEqual((await token('operator', 'not-the-password')).status, 200);
    assert.notEqual((await token('admin', password)).status, 200, 'NODE_RED_ADMIN_USER renames the user');
    const granted = await token('operator', password);
    assert.equal(granted.status, 200, granted.text);
    const accessToken = (granted.body as { access_token: string }).access_token;
    const flows = await httpJson(`${red!.url}/flows`, { headers: { authorization: `Bearer ${accessToken}` } });
    assert.equal(flows.status, 200);
    assert.ok(Array.isArray(flows.body));
  });

  it('encrypts deployed credentials with NODE_RED_CREDENTIAL_SECRET', async () => {
    const accessToken = ((await token('operator', password)).body as { access_token: string }).access_token;
    const flow = [
      { id: 'settings.tab', type: 'tab', label: 'settings test' },
      {
        id: 'settings.req',
        type: 'http request',
        z: 'settings.tab',
        name: '',
        method: 'GET',
        ret: 'txt',
        url: 'http://127.0.0.1:9/',
        authType: 'basic',
        x: 200,
        y: 100,
        wires: [[]],
        credentials: { user: 'u', password: plainSecret },
      },
    ];
    const deployed = await httpJson(`${red!.url}/flows`, {
      method: 'POST',
      body: flow,
      headers: { authorization: `Bearer ${accessToken}`, 'Node-RED-Deployment-Type': 'full' },
    });
    assert.ok(deployed.status === 200 || deployed.status === 204, deployed.text);
    const text = readFileSync(join(red!.userDir, 'flows_cred.json'), 'utf8');
    assert.ok(!text.includes(plainSecret), 'no clear-text secret in flows_cred.json');
    const file = JSON.parse(text) as { $: string };
    assert.deepEqual(Object.keys(file), ['$']);
    assert.deepEqual(decryptCredentials(secret, file), { 'settings.req': { user: 'u', password: plainSecret } });
    assert.throws(() => decryptCredentials('another key', file), 'only that key decrypts it');
  });

  // Node-RED's own rule, documented in docs/security.md (with how a proxy limits it): runs last,
  // it locks the user out.
  it('locks the user out after five wrong passwords, the right one included (core behaviour, as documented)', async () => {
    for (let i = 0; i < 5; i++) assert.notEqual((await token('operator', `wrong-${i}`)).status, 200);
    const locked = await token('operator', password);
    assert.notEqual(locked.status, 200);
    assert.match(locked.text, /Too many login attempts\. Wait 10 minutes/);
  });
});

describe('settings.js: a NODE_RED_ADMIN_PASSWORD_HASH that is not a bcrypt hash', function () {
  this.timeout(90_000);

  it('stops start-up with one line that names it and says why, without printing it', async () => {
    // What a compose file makes of an unescaped hash: its `$` signs interpolated away.
    const eaten = bcrypt.hashSync('pw', 8).replace(/\$/g, '');
    await assert.rejects(
      startNodeRed({
        flows: [{ id: 'settings.tab', type: 'tab', label: 'settings test' }],
        env: { NODE_RED_ADMIN_PASSWORD_HASH: eaten, SIMULATE: 'false' },
      }),
      (err: Error) => {
        assert.match(err.message, /exited \(code 1\)/);
        assert.match(
          err.message,
          /configuration error: NODE_RED_ADMIN_PASSWORD_HASH cannot be used: its `\$` signs are missing[^\n]*nobody could log in/,
        );
        assert.doesNotMatch(err.message, new RegExp(eaten), 'the hash itself is not printed');
        return true;
      },
    );
  });
});
