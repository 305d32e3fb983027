import assert from 'node:assert/strict';
import { checkApiKey, handleGetTask, handleRaiseRequest, safeEqual, type RequestApiEngine } from '../../../lib/connector/auth';
import { ConnectorError } from '../../../lib/connector/errors';
import { parseRequestWindow } from '../../../lib/connector/windows';
import type { TaskView } from '../../../lib/connector/engine';

const KEY = 's3cret-key';

function fakeEngine(): RequestApiEngine & { submitted: unknown[][] } {
  const tasks = new Map<string, TaskView>();
  return {
    submitted: [],
    submit(start, end) {
      parseRequestWindow(start, end);
      this.submitted.push([start, end]);
      const id = `task-${this.submitted.length}`;
      tasks.set(id, { state: 'PENDING', current: 0, total: 1, status: 'task submitted' });
      return id;
    },
    getTask: (id) => tasks.get(id),
  };
}

describe('connector auth', () => {
  it('refuses everything with 503 when API_KEY is not configured (no default key)', () => {
    for (const key of [undefined, '']) {
      const answer = checkApiKey(`Bearer ${KEY}`, key);
      assert.equal(answer?.status, 503);
      assert.ok(!JSON.stringify(answer).includes(KEY));
    }
  });

  it('401 with WWW-Authenticate for a missing or non-bearer header, 403 for a wrong key, pass for the right one', () => {
    for (const header of [undefined, '', 'Basic abc', 'Bearer', 'Bearer   ']) {
      const answer = checkApiKey(header, KEY);
      assert.equal(answer?.status, 401, String(header));
      assert.equal(answer?.headers['WWW-Authenticate'], 'Bearer');
    }
    for (const wrong of ['Bearer s3cret-ke', 'Bearer s3cret-key2', 'Bearer S3CRET-KEY', `Bearer ${'x'.repeat(10_000)}`]) {
      const answer = checkApiKey(wrong, KEY);
      assert.equal(answer?.status, 403);
      assert.ok(!JSON.stringify(answer).includes(KEY), 'the key never appears in an answer');
    }
    assert.equal(checkApiKey(`Bearer ${KEY}`, KEY), undefined);
    assert.equal(checkApiKey(`bearer  ${KEY} `, KEY), undefined);
    assert.equal(checkApiKey([`Bearer ${KEY}`], KEY), undefined);
  });

  it('compares through the constant-time path, whatever the lengths', () => {
    const calls: [string, string][] = [];
    const spy = (a: string, b: string): boolean => {
      calls.push([a, b]);
      return safeEqual(a, b);
    };
    assert.equal(checkApiKey('Bearer x', KEY, spy)?.status, 403);
    assert.equal(checkApiKey(`Bearer ${KEY}`, KEY, spy), undefined);
    assert.deepEqual(calls, [
      ['x', KEY],
      [KEY, KEY],
    ]);
    assert.equal(safeEqual('a', 'a'), true);
    assert.equal(safeEqual('a', 'ab'), false);
    assert.equal(safeEqual('', ''), true);
  });
});

describe('connector request API', () => {
  it('POST /raise-request: auth first, then 422 with a reason for bad bodies, then the contract answer', () => {
    const engine = fakeEngine();
    assert.equal(handleRaiseRequest({ body: {} }, KEY, engine).status, 401);
    assert.equal(handleRaiseRequest({ authorization: 'Bearer nope', body: {} }, KEY, engine).status, 403);
    const auth = `Bearer ${KEY}`;
    const bad: [unknown, RegExp][] = [
      ['{not json', /not valid JSON/],
      [[1, 2], /JSON object/],
      [null, /JSON object/],
      [{ start_time: '2021-07-01T12:00:00' }, /end_time is required/],
      [{ start_time: '2021-07-01T13:00:00', end_time: '2021-07-01T12:00:00' }, /before/],
      [{ start_time: 'x', end_time: '2021-07-01T12:00:00' }, /ISO 8601/],
      ['x'.repeat(5000), /too large/],
    ];
    for (const [body, reason] of bad) {
      const answer = handleRaiseRequest({ authorization: auth, body }, KEY, engine);
      assert.equal(answer.status, 422, JSON.stringify(body));
      assert.match(String(answer.body.detail), reason);
    }
    assert.equal(engine.submitted.length, 0);
    const ok = handleRaiseRequest(
      { authorization: auth, body: '{"start_time":"2021-07-01T12:00:00","end_time":"2021-07-01T12:30:00"}' },
      KEY,
      engine,
    );
    assert.deepEqual(ok, {
      status: 200,
      body: { task_id: 'task-1', status: 'task submitted' },
      headers: { 'Content-Type': 'application/json' },
    });
  });

  it('answers 503 with Retry-After when the task registry is full', () => {
    const engine: RequestApiEngine = {
      submit() {
        throw new ConnectorError('TASKS_FULL', 'full');
      },
      getTask: () => undefined,
    };
    const answer = handleRaiseRequest({ authorization: `Bearer ${KEY}`, body: { start_time: 'a', end_time: 'b' } }, KEY, engine);
    assert.equal(answer.status, 503);
    assert.equal(answer.headers['Retry-After'], '60');
  });

  it('GET /tasks/<id>: auth, 404 for unknown ids, the contract shape for known ones', () => {
    const engine = fakeEngine();
    engine.submit('2021-07-01T12:00:00', '2021-07-01T12:30:00');
    assert.equal(handleGetTask({ taskId: 'task-1' }, KEY, engine).status, 401);
    assert.equal(handleGetTask({ authorization: `Bearer ${KEY}`, taskId: 'nope' }, KEY, engine).status, 404);
    assert.equal(handleGetTask({ authorization: `Bearer ${KEY}`, taskId: 'y'.repeat(1000) }, KEY, engine).status, 404);
    assert.deepEqual(handleGetTask({ authorization: `Bearer ${KEY}`, taskId: 'task-1' }, KEY, engine).body, {
      state: 'PENDING',
      current: 0,
      total: 1,
      status: 'task submitted',
    });
  });
});
