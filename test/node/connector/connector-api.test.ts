import assert from 'node:assert/strict';
import { join } from 'node:path';
import { alignDown } from '../../../lib/connector/windows';
import { formatUtc } from '../../../lib/connector/time';
import { openDatabase } from '../../../lib/db';
import type { Database } from '../../../lib/db/types';
import databaseNode from '../../../nodes/iotp-database/iotp-database';
import batchPostNode from '../../../nodes/iotp-batch-post/iotp-batch-post';
import apiNode from '../../../nodes/iotp-connector-api/iotp-connector-api';
import { collect, helper } from '../../support/helper';
import { makeTempDir, removeTempDir } from '../../support/tmp';
import { createSensorData, insertReadings, MIN, startReceiver, statusCalls, type Receiver } from './fixtures';

const API_KEY = 'api-key-7Qp';

interface Answer {
  statusCode: number;
  headers: Record<string, string>;
  payload: Record<string, unknown>;
  res?: unknown;
}

describe('iotp-connector-api node', function () {
  this.timeout(30_000);
  let dir: string;
  let db: Database;
  let receiver: Receiver;

  beforeEach(async () => {
    dir = makeTempDir('iotp-api-');
    db = openDatabase({ dialect: 'sqlite', file: join(dir, 'source.db'), busyTimeoutMs: 5000 });
    await createSensorData(db);
    receiver = await startReceiver();
  });
  afterEach(async () => {
    await helper.unload();
    await db.close();
    await receiver.close();
    removeTempDir(dir);
  });

  function flow() {
    return [
      { id: 'db', type: 'iotp-database', connection: 'url', url: `sqlite:${join(dir, 'source.db')}`, version: 1 },
      {
        id: 'post',
        type: 'iotp-batch-post',
        database: 'db',
        endpoint: receiver.url,
        batchSize: '2',
        schedule: false,
        outboxDir: join(dir, 'outbox'),
        maxAttempts: 1,
        version: 1,
        wires: [[], []],
      },
      { id: 'api', type: 'iotp-connector-api', connector: 'post', version: 1, wires: [['out']] },
      { id: 'out', type: 'helper' },
    ];
  }

  async function call(method: string, headers: Record<string, string>, extra: Record<string, unknown> = {}): Promise<Answer> {
    const answered = collect<Answer>(helper.getNode('out'), 1);
    helper
      .getNode('api')
      .receive({ req: { method, headers, params: extra.params ?? {} }, res: { marker: true }, payload: extra.payload } as never);
    return (await answered)[0];
  }

  const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

  it('raises a request with the right key, reports the task until SUCCESS, and refuses missing, wrong and malformed input', async () => {
    const start = alignDown(Date.now(), MIN) - 2 * MIN;
    await insertReadings(db, [
      { sensorId: 1, ms: start + 1000, value: 1 },
      { sensorId: 2, ms: start + 2000, value: 2 },
      { sensorId: 1, ms: start + 3000, value: 3 },
    ]);
    await helper.load([databaseNode, batchPostNode, apiNode], flow(), { post: { apiKey: 'post-key' }, api: { apiKey: API_KEY } });

    const missing = await call('POST', {}, { payload: { start_time: formatUtc(start), end_time: formatUtc(start + MIN) } });
    assert.equal(missing.statusCode, 401);
    assert.equal(missing.headers['WWW-Authenticate'], 'Bearer');
    assert.deepEqual((missing as { res?: unknown }).res, { marker: true }, 'msg.res travels on to the http response node');

    const wrong = await call('POST', bearer('api-key-7Qq'), {
      payload: { start_time: formatUtc(start), end_time: formatUtc(start + MIN) },
    });
    assert.equal(wrong.statusCode, 403);
    assert.equal(receiver.received.length, 0);

    for (const payload of [
      undefined,
      'not json',
      { start_time: formatUtc(start) },
      { start_time: 'soon', end_time: formatUtc(start) },
      { start_time: formatUtc(start + MIN), end_time: formatUtc(start) },
    ]) {
      const invalid = await call('POST', bearer(API_KEY), { payload });
      assert.equal(invalid.statusCode, 422, JSON.stringify(payload));
      assert.equal(typeof invalid.payload.detail, 'string');
    }

    const raised = await call('POST', bearer(API_KEY), {
      payload: JSON.stringify({ start_time: formatUtc(start), end_time: formatUtc(start + MIN) }),
    });
    assert.equal(raised.statusCode, 200);
    assert.equal(raised.headers['Content-Type'], 'application/json');
    assert.deepEqual(Object.keys(raised.payload).sort(), ['status', 'task_id']);
    assert.equal(raised.payload.status, 'task submitted');
    const taskId = String(raised.payload.task_id);

    let view: Answer;
    const states: string[] = [];
    for (;;) {
      view = await call('GET', bearer(API_KEY), { params: { id: taskId } });
      assert.equal(view.statusCode, 200);
      assert.deepEqual(Object.keys(view.payload).sort(), ['current', 'state', 'status', 'total']);
      states.push(String(view.payload.state));
      if (view.payload.state === 'SUCCESS' || view.payload.state === 'FAILURE') break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(view.payload.state, 'SUCCESS', JSON.stringify(view.payload));
    assert.equal(view.payload.current, view.payload.total);
    assert.ok(states.every((s) => ['PENDING', 'STARTED', 'SUCCESS'].includes(s)));
    assert.equal(receiver.received.length, 2, '3 readings in batches of 2');

    const unknown = await call('GET', bearer(API_KEY), { params: { id: '00000000-0000-0000-0000-000000000000' } });
    assert.equal(unknown.statusCode, 404);
    const unauthorisedRead = await call('GET', {}, { params: { id: taskId } });
    assert.equal(unauthorisedRead.statusCode, 401);
    const otherMethod = await call('DELETE', bearer(API_KEY));
    assert.equal(otherMethod.statusCode, 405);
  });

  it('refuses every request with 503 when API_KEY is not set, and says so in its status', async () => {
    delete process.env.API_KEY;
    await helper.load([databaseNode, batchPostNode, apiNode], flow(), { post: { apiKey: 'post-key' }, api: { apiKey: '${API_KEY}' } });
    const api = helper.getNode('api');
    assert.ok(statusCalls(api).some((s) => s.fill === 'red' && s.text === 'iotp-connector-api.status.noApiKey'));
    for (const headers of [{}, bearer(''), bearer('${API_KEY}'), bearer('anything')]) {
      const answer = await call('POST', headers, { payload: { start_time: '2021-07-01T12:00:00', end_time: '2021-07-01T12:30:00' } });
      assert.equal(answer.statusCode, 503);
      assert.match(String(answer.payload.detail), /API_KEY/);
    }
    assert.equal((await call('GET', bearer('anything'), { params: { id: 'x' } })).statusCode, 503);
  });

  it('answers 503 while its bound connector cannot run, without leaking why the key failed', async () => {
    await helper.load(
      [databaseNode, batchPostNode, apiNode],
      flow().map((n) => (n.id === 'post' ? { ...n, endpoint: 'ftp://example.invalid/' } : n)),
      { post: { apiKey: 'post-key' }, api: { apiKey: API_KEY } },
    );
    const answer = await call('POST', bearer(API_KEY), { payload: { start_time: '2021-07-01T12:00:00', end_time: '2021-07-01T12:30:00' } });
    assert.equal(answer.statusCode, 503);
    assert.match(String(answer.payload.detail), /not running/);
    assert.doesNotMatch(String(answer.payload.detail), /ftp|example\.invalid/, 'the reason (settings, addresses) stays in the log');
    assert.equal((await call('POST', bearer('wrong'), { payload: {} })).statusCode, 403, 'authentication comes first');
  });
});
