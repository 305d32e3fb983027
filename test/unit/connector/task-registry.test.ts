import assert from 'node:assert/strict';
import { ConnectorError } from '../../../lib/connector/errors';
import { TaskRegistry } from '../../../lib/connector/task-registry';

const window = { start: 0, end: 3_600_000 };

describe('connector task registry', () => {
  let now: number;
  beforeEach(() => {
    now = 1_000_000;
  });
  const registry = (options = {}) => new TaskRegistry({ clock: () => now, ...options });

  it('takes a task from PENDING through STARTED to a final state, answering copies of its state', () => {
    const tasks = registry();
    const task = tasks.add(window, 3);
    const submitted = tasks.view(task.id);
    assert.deepEqual(submitted, { state: 'PENDING', current: 0, total: 3, status: 'task submitted' });
    assert.equal(tasks.queued, 1);
    assert.equal(tasks.nextQueued(), task);
    assert.equal(tasks.queued, 0);
    tasks.start(task, 'posting');
    assert.equal(tasks.running, 1);
    tasks.progress(task, 2, '2 of 3 sent');
    assert.deepEqual(tasks.view(task.id), { state: 'STARTED', current: 2, total: 3, status: '2 of 3 sent' });
    assert.deepEqual(tasks.finish(task, 'SUCCESS', 'done'), { state: 'SUCCESS', current: 2, total: 3, status: 'done' });
    assert.equal(tasks.running, 0);
    assert.deepEqual(
      submitted,
      { state: 'PENDING', current: 0, total: 3, status: 'task submitted' },
      'an answer given earlier does not change',
    );
    assert.equal(tasks.view('no-such-task'), undefined);
  });

  it('forgets a finished task after its time to live, never an unfinished one', () => {
    const tasks = registry({ taskTtlMs: 1000 });
    const finished = tasks.add(window, 1);
    const waiting = tasks.add(window, 1);
    tasks.finish(finished, 'FAILURE', 'no');
    now += 1000;
    assert.equal(tasks.view(finished.id)?.state, 'FAILURE', 'still within its time to live');
    now += 1;
    assert.equal(tasks.view(finished.id), undefined);
    now += 86_400_000;
    assert.equal(tasks.view(waiting.id)?.state, 'PENDING');
  });

  it('when full, makes room by forgetting the oldest finished task; with none finished, refuses with TASKS_FULL', () => {
    const tasks = registry({ maxTasks: 3 });
    const [a, b, c] = [tasks.add(window, 1), tasks.add(window, 1), tasks.add(window, 1)];
    tasks.finish(c, 'SUCCESS', 'done');
    tasks.finish(b, 'SUCCESS', 'done');
    const d = tasks.add(window, 1);
    assert.equal(tasks.view(b.id), undefined, 'b was registered before c: the oldest finished goes');
    assert.ok(tasks.view(c.id) && tasks.view(a.id) && tasks.view(d.id));
    tasks.add(window, 1);
    assert.equal(tasks.view(c.id), undefined, 'then c, the only finished one');
    assert.equal(tasks.view(a.id)?.state, 'PENDING');
    assert.throws(
      () => tasks.add(window, 1),
      (e: unknown) => e instanceof ConnectorError && e.code === 'TASKS_FULL' && /3 tasks are pending or running/.test(e.message),
    );
  });

  it('hands every queued task over at once when the connector stops', () => {
    const tasks = registry();
    const first = tasks.add(window, 1);
    const rest = [tasks.add(window, 1), tasks.add(window, 1)];
    assert.equal(tasks.nextQueued(), first);
    assert.deepEqual(tasks.takeQueued(), rest);
    assert.equal(tasks.queued, 0);
    assert.equal(tasks.nextQueued(), undefined);
  });
});
