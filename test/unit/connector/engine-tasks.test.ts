import assert from 'node:assert/strict';
import { ConnectorEngine, type ConnectorEvent } from '../../../lib/connector/engine';
import { ConnectorError } from '../../../lib/connector/errors';
import { Outbox } from '../../../lib/connector/outbox';
import type { BatchPoster, PostOutcome } from '../../../lib/connector/poster';
import { makeTempDir, removeTempDir } from '../../support/tmp';

/** A poster that answers from a script, recording bodies (no network: this is the task registry's test). */
class ScriptedPoster implements BatchPoster {
  bodies: string[] = [];
  constructor(private readonly answer: (n: number) => PostOutcome) {}
  async post(body: string): Promise<PostOutcome> {
    this.bodies.push(body);
    return this.answer(this.bodies.length);
  }
  close(): void {}
}

const ok: PostOutcome = { kind: 'response', status: 200, body: '', truncated: false };
const T = (iso: string): number => Date.parse(`${iso}Z`);

describe('connector engine: request tasks', () => {
  let dir: string;
  let now: number;
  beforeEach(() => {
    dir = makeTempDir('iotp-engine-');
    now = T('2021-07-02T00:00:00');
  });
  afterEach(() => removeTempDir(dir));

  async function make(poster: BatchPoster, request = {}, fetchRows = async () => [] as Record<string, unknown>[]) {
    const { outbox } = await Outbox.open(dir);
    const events: ConnectorEvent[] = [];
    const engine = new ConnectorEngine({
      fetchRows,
      poster,
      outbox,
      batchSize: 10,
      request,
      clock: () => now,
      onEvent: (e) => events.push(e),
      retry: { maxAttempts: 1 },
    });
    const settled = () =>
      new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
        for (let i = 0; i < 200 && engine.stats().tasksRunning + engine.stats().tasksQueued > 0; i++)
          await new Promise((r) => setTimeout(r, 5));
      });
    return { engine, events, outbox, settled };
  }

  it('runs PENDING → STARTED → SUCCESS and sends one empty envelope for an empty span', async () => {
    const poster = new ScriptedPoster(() => ok);
    const { engine, settled } = await make(poster);
    const id = engine.submit('2021-07-01T10:00:00', '2021-07-01T10:30:00');
    assert.deepEqual(engine.getTask(id), { state: 'PENDING', current: 0, total: 1, status: 'task submitted' });
    await settled();
    assert.deepEqual(engine.getTask(id), {
      state: 'SUCCESS',
      current: 1,
      total: 1,
      status: 'delivered 0 readings in 1 batch (1 of 1 one-hour piece)',
    });
    assert.deepEqual(poster.bodies, ['{"start_time":"2021-07-01T10:00:00","end_time":"2021-07-01T10:30:00","data":{}}']);
    await engine.close();
  });

  it('reports FAILURE with the reason when the database read fails', async () => {
    const { engine, settled, events } = await make(new ScriptedPoster(() => ok), {}, async () => {
      throw new Error('connection refused');
    });
    const id = engine.submit('2021-07-01T10:00:00', '2021-07-01T10:30:00');
    await settled();
    assert.equal(engine.getTask(id)?.state, 'FAILURE');
    assert.match(String(engine.getTask(id)?.status), /reading the database failed/);
    assert.ok(events.some((e) => e.type === 'fetch-failed' && /connection refused/.test(e.reason)));
    await engine.close();
  });

  it('drops a refused (4xx) request batch but keeps a retryable failure in the outbox', async () => {
    const refused = await make(new ScriptedPoster(() => ({ kind: 'response', status: 422, body: '', truncated: false })));
    const a = refused.engine.submit('2021-07-01T10:00:00', '2021-07-01T10:30:00');
    await refused.settled();
    assert.equal(refused.engine.getTask(a)?.state, 'FAILURE');
    assert.equal(refused.outbox.batchCount, 0);
    await refused.engine.close();
    const down = await make(new ScriptedPoster(() => ({ kind: 'timeout', timeoutMs: 1 })));
    const b = down.engine.submit('2021-07-01T10:00:00', '2021-07-01T10:30:00');
    await down.settled();
    assert.match(String(down.engine.getTask(b)?.status), /kept in the outbox/);
    assert.equal(down.outbox.batchCount, 1);
    await down.engine.close();
  });

  it('bounds the registry: finished tasks expire or make room; unfinished ones answer TASKS_FULL', async () => {
    const { engine, settled } = await make(new ScriptedPoster(() => ok), { maxTasks: 2, taskTtlMs: 1000 });
    const first = engine.submit('2021-07-01T10:00:00', '2021-07-01T10:30:00');
    await settled();
    engine.submit('2021-07-01T10:00:00', '2021-07-01T10:30:00');
    engine.submit('2021-07-01T10:00:00', '2021-07-01T10:30:00'); // evicts the finished first task
    assert.equal(engine.getTask(first), undefined);
    assert.throws(
      () => engine.submit('2021-07-01T10:00:00', '2021-07-01T10:30:00'),
      (e: unknown) => e instanceof ConnectorError && e.code === 'TASKS_FULL',
    );
    await settled();
    now += 1001;
    engine.submit('2021-07-01T10:00:00', '2021-07-01T10:30:00');
    assert.equal(engine.stats().tasksQueued + engine.stats().tasksRunning >= 1, true);
    await settled();
    await engine.close();
  });

  it('refuses request windows that end in the future unless allowed', async () => {
    const { engine } = await make(new ScriptedPoster(() => ok));
    assert.throws(() => engine.submit('2021-07-01T23:00:00', '2021-07-02T01:00:00'), /future/);
    await engine.close();
  });
});

describe('connector engine: task wording', () => {
  it('counts in words that read right', async () => {
    const { counted, pieceLength } = await import('../../../lib/connector/request-runner');
    assert.equal(counted(1, 'batch', 'batches'), '1 batch');
    assert.equal(counted(3, 'batch', 'batches'), '3 batches');
    assert.equal(counted(0, 'reading', 'readings'), '0 readings');
    assert.equal(pieceLength(3_600_000), 'one-hour');
    assert.equal(pieceLength(7_200_000), '2-hour');
    assert.equal(pieceLength(1_800_000), '30-minute');
  });
});
