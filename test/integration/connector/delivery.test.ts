import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { BookmarkStore, connectorMigrations } from '../../../lib/connector/bookmark';
import { ConnectorEngine, type ConnectorEvent, type EngineOptions } from '../../../lib/connector/engine';
import { Outbox } from '../../../lib/connector/outbox';
import { HttpPoster } from '../../../lib/connector/poster';
import { formatUtc } from '../../../lib/connector/time';
import type { TimeWindow } from '../../../lib/connector/windows';
import type { Database } from '../../../lib/db/types';
import { makeTempDir, removeTempDir } from '../../support/tmp';
import { applyMigrations, openSqlite } from './test-db';

const MIN = 60_000;
const T = (iso: string): number => Date.parse(`${iso}Z`);
const POST_KEY = 'post-key-123';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  url: string;
}

/** A real receiver on 127.0.0.1:0; `respond` decides each answer (n = 1-based request number). */
interface Receiver {
  url: string;
  received: Received[];
  respond: (request: Received, response: ServerResponse, n: number) => void;
  close(): Promise<void>;
}

async function startReceiver(respond: Receiver['respond'] = (_q, r) => r.writeHead(200).end('{"ok":true}')): Promise<Receiver> {
  const receiver = { received: [] as Received[], respond } as Receiver;
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      const entry = { headers: request.headers, body: Buffer.concat(chunks).toString('utf8'), url: request.url ?? '' };
      receiver.received.push(entry);
      receiver.respond(entry, response, receiver.received.length);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ingest`;
  receiver.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return receiver;
}

const ok = (response: ServerResponse): void => {
  response.writeHead(200, { 'Content-Type': 'application/json' }).end('{"ok":true}');
};

function sqlTime(ms: number): string {
  return formatUtc(ms).replace('T', ' ');
}

describe('connector delivery to a real HTTP receiver', function () {
  this.timeout(30_000);
  let dir: string;
  let source: Database;
  let receiver: Receiver;
  let events: ConnectorEvent[];
  let fetches: TimeWindow[];
  let now: number;
  const engines: ConnectorEngine[] = [];

  beforeEach(async () => {
    dir = makeTempDir('iotp-conn-');
    source = await openSqlite(join(dir, 'source.db'));
    await applyMigrations(source, connectorMigrations);
    await source.query('CREATE TABLE sensor_data (id INTEGER PRIMARY KEY, sensor TEXT NOT NULL, timestamp TEXT NOT NULL, value REAL)');
    events = [];
    fetches = [];
    now = T('2021-07-01T12:10:31');
  });

  afterEach(async () => {
    for (const engine of engines.splice(0)) await engine.close();
    await receiver?.close();
    await source.close();
    removeTempDir(dir);
  });

  async function insert(rows: [string, string, number][]): Promise<void> {
    for (const [sensor, iso, value] of rows)
      await source.query('INSERT INTO sensor_data (sensor, timestamp, value) VALUES (?, ?, ?)', [sensor, iso.replace('T', ' '), value]);
  }

  async function engine(
    overrides: Partial<EngineOptions> & { timeoutMs?: number; outboxDir?: string } = {},
  ): Promise<{ engine: ConnectorEngine; outbox: Outbox; bookmark: BookmarkStore }> {
    const { outbox } = await Outbox.open(overrides.outboxDir ?? join(dir, 'outbox'), { fsync: true });
    const bookmark = new BookmarkStore(source, 'test');
    const created = new ConnectorEngine({
      fetchRows: async (window) => {
        fetches.push(window);
        // Half-open, as the node's default query: no boundary row is counted twice.
        const { rows } = await source.query(
          'SELECT sensor, timestamp, value FROM sensor_data WHERE timestamp >= ? AND timestamp < ? ORDER BY timestamp',
          [sqlTime(window.start), sqlTime(window.end)],
        );
        return rows;
      },
      poster: new HttpPoster({ endpoint: receiver.url, apiKey: POST_KEY, timeoutMs: overrides.timeoutMs ?? 2000 }),
      outbox,
      bookmark,
      batchSize: 2,
      schedule: { intervalMs: 5 * MIN, settleMs: 30_000, maxWindowsPerTick: 10, initialStart: T('2021-07-01T12:00:00') },
      retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20, maxElapsedMs: 10_000, retryAfterCapMs: 50 },
      onEvent: (event) => events.push(event),
      clock: () => now,
      ...overrides,
    });
    engines.push(created);
    return { engine: created, outbox, bookmark };
  }

  it('posts the exact contract body and headers, BATCH_SIZE readings per request, then advances the bookmark', async () => {
    receiver = await startReceiver((_q, r) => ok(r));
    await insert([
      ['sensor_1', '2021-07-01T12:00:00', 10],
      ['sensor_1', '2021-07-01T12:00:30', 10],
      ['sensor_2', '2021-07-01T12:01:00', 7.5],
      ['sensor_1', '2021-07-01T12:05:00', 11],
    ]);
    const { engine: e, bookmark } = await engine();
    const report = await e.tick(now);
    assert.deepEqual(report, { delivered: 2, failed: 0, backlog: 0 });
    assert.equal(receiver.received.length, 3, 'window 1: 3 readings in 2 requests; window 2: 1 reading');
    const [first, second, third] = receiver.received;
    assert.equal(first.url, '/ingest');
    assert.equal(first.headers['content-type'], 'application/json');
    assert.equal(first.headers.authorization, `Bearer ${POST_KEY}`);
    assert.match(String(first.headers['idempotency-key']), /^20210701T120000Z-20210701T120500Z-0-[0-9a-f]{16}$/);
    assert.equal(
      first.body,
      '{"start_time":"2021-07-01T12:00:00","end_time":"2021-07-01T12:05:00","data":{"sensor_1":[{"timestamp":"2021-07-01T12:00:00","value":10},{"timestamp":"2021-07-01T12:00:30","value":10}]}}',
    );
    assert.deepEqual(JSON.parse(second.body), {
      start_time: '2021-07-01T12:00:00',
      end_time: '2021-07-01T12:05:00',
      data: { sensor_2: [{ timestamp: '2021-07-01T12:01:00', value: 7.5 }] },
    });
    assert.deepEqual(
      JSON.parse(third.body).data,
      { sensor_1: [{ timestamp: '2021-07-01T12:05:00', value: 11 }] },
      'the 12:05:00 row belongs to the second window only',
    );
    assert.equal((await bookmark.read())?.windowEnd, T('2021-07-01T12:10:00'));
    assert.deepEqual(
      events.filter((ev) => ev.type === 'window-delivered').map((ev) => (ev as { readings: number }).readings),
      [3, 1],
    );
  });

  it('never sends a reading in two windows, never skips one, and catches up bounded per tick', async () => {
    receiver = await startReceiver((_q, r) => ok(r));
    const rows: [string, string, number][] = [];
    for (let m = 0; m <= 40; m++) rows.push([`s${m % 3}`, formatUtc(T('2021-07-01T12:00:00') + m * MIN), m]); // every boundary included
    await insert(rows);
    now = T('2021-07-01T12:40:31');
    const { engine: e, bookmark } = await engine({
      schedule: { intervalMs: 5 * MIN, settleMs: 30_000, maxWindowsPerTick: 3, initialStart: T('2021-07-01T12:00:00') },
    });
    const reports = [await e.tick(now), await e.tick(now), await e.tick(now), await e.tick(now)];
    assert.deepEqual(
      reports.map((r) => [r.delivered, r.backlog]),
      [
        [3, 5],
        [3, 2],
        [2, 0],
        [0, 0],
      ],
    );
    const seen = new Map<string, string>();
    for (const request of receiver.received) {
      const body = JSON.parse(request.body);
      for (const [sensor, list] of Object.entries(body.data) as [string, { timestamp: string }[]][]) {
        for (const reading of list) {
          const key = `${sensor}@${reading.timestamp}`;
          const window = `${body.start_time}/${body.end_time}`;
          assert.ok(!seen.has(key) || seen.get(key) === window, `${key} sent in two windows`);
          seen.set(key, window);
          const t = T(reading.timestamp);
          assert.ok(t >= T(body.start_time) && t < T(body.end_time), `${key} outside ${window}`);
        }
      }
    }
    assert.equal(seen.size, 40, 'minutes 0..39 delivered; 12:40 belongs to a window not yet due');
    assert.equal((await bookmark.read())?.windowEnd, T('2021-07-01T12:40:00'));
    assert.deepEqual(
      fetches.map((w) => w.start),
      Array.from({ length: 8 }, (_, i) => T('2021-07-01T12:00:00') + i * 5 * MIN),
      'each window fetched once, in order',
    );
  });

  it('waits with windows that rows still on their way in may belong to, then posts them with those rows', async () => {
    receiver = await startReceiver((_q, r) => ok(r));
    await insert([
      ['sensor_1', '2021-07-01T12:01:00', 1],
      ['sensor_1', '2021-07-01T12:06:00', 2],
    ]);
    // A writer has held rows since 12:07:00 (a database outage): the 12:05 window must wait.
    let heldSince: number | null = T('2021-07-01T12:07:00');
    const { engine: e, bookmark } = await engine({
      schedule: {
        intervalMs: 5 * MIN,
        settleMs: 30_000,
        maxWindowsPerTick: 10,
        initialStart: T('2021-07-01T12:00:00'),
        heldSince: () => heldSince,
      },
    });
    assert.deepEqual(await e.tick(now), { delivered: 1, failed: 0, backlog: 0, held: 1, heldSince: T('2021-07-01T12:07:00') });
    assert.equal((await bookmark.read())?.windowEnd, T('2021-07-01T12:05:00'));
    // The writer's backlog reaches the database, then nothing is held any more.
    await insert([['sensor_2', '2021-07-01T12:07:00', 3]]);
    heldSince = null;
    assert.deepEqual(await e.tick(now), { delivered: 1, failed: 0, backlog: 0 });
    assert.deepEqual(JSON.parse(receiver.received.at(-1)!.body).data, {
      sensor_1: [{ timestamp: '2021-07-01T12:06:00', value: 2 }],
      sensor_2: [{ timestamp: '2021-07-01T12:07:00', value: 3 }],
    });
  });

  it('records where a first run starts, so windows that wait are not skipped when the clock moves on', async () => {
    receiver = await startReceiver((_q, r) => ok(r));
    await insert([['s', '2021-07-01T12:06:00', 1]]);
    let heldSince: number | null = 0;
    // No initial start: the first window is the last complete one at the first tick, 12:05-12:10.
    const { engine: e, bookmark } = await engine({
      schedule: { intervalMs: 5 * MIN, settleMs: 30_000, maxWindowsPerTick: 10, heldSince: () => heldSince },
    });
    assert.deepEqual(await e.tick(now), { delivered: 0, failed: 0, backlog: 0, held: 1, heldSince: 0 });
    assert.equal((await bookmark.read())?.windowEnd, T('2021-07-01T12:05:00'), 'the start is recorded although nothing was sent');
    now = T('2021-07-01T12:20:31');
    heldSince = null;
    assert.deepEqual(await e.tick(now), { delivered: 3, failed: 0, backlog: 0 });
    assert.deepEqual(
      fetches.map((w) => formatUtc(w.start)),
      ['2021-07-01T12:05:00', '2021-07-01T12:10:00', '2021-07-01T12:15:00'],
      'from the recorded start, not from the last complete window at 12:20:31',
    );
  });

  it('retries 500, 429 with Retry-After, a reset connection and a stalled answer; then delivers', async () => {
    let stalled = 0;
    receiver = await startReceiver((_q, response, n) => {
      if (n === 1) return void response.writeHead(500).end('oops');
      if (n === 2) return void response.writeHead(429, { 'Retry-After': '1' }).end();
      if (n === 3) return void response.socket?.destroy();
      if (n === 4) return void (stalled += 1); // never answers: the whole-request timeout fires
      ok(response);
    });
    await insert([['s', '2021-07-01T12:00:00', 1]]);
    now = T('2021-07-01T12:05:31');
    const { engine: e, bookmark } = await engine({
      timeoutMs: 300,
      retry: { maxAttempts: 6, baseDelayMs: 5, maxDelayMs: 20, maxElapsedMs: 20_000, retryAfterCapMs: 50 },
    });
    const report = await e.tick(now);
    assert.equal(report.delivered, 1);
    assert.equal(stalled, 1);
    assert.equal(receiver.received.length, 5);
    assert.equal(
      new Set(receiver.received.map((r) => r.headers['idempotency-key'])).size,
      1,
      'every attempt carries the same Idempotency-Key',
    );
    assert.equal(new Set(receiver.received.map((r) => r.body)).size, 1);
    assert.equal((await bookmark.read())?.windowEnd, T('2021-07-01T12:05:00'));
  });

  it('does not retry a 400; reports a final failure; keeps the window and the bookmark; sends it again next tick', async () => {
    let refuse = true;
    receiver = await startReceiver((_q, response) => (refuse ? response.writeHead(400).end('{"detail":"bad"}') : ok(response)));
    await insert([['s', '2021-07-01T12:00:00', 1]]);
    now = T('2021-07-01T12:10:31');
    const { engine: e, bookmark, outbox } = await engine();
    const report = await e.tick(now);
    assert.deepEqual([report.delivered, report.failed], [0, 1]);
    assert.equal(receiver.received.length, 1, 'a 400 is not retried');
    const failure = events.find((ev) => ev.type === 'window-failed') as Extract<ConnectorEvent, { type: 'window-failed' }>;
    assert.equal(failure.status, 400);
    assert.equal(failure.retryable, false);
    assert.match(failure.reason, /HTTP 400 is not retryable/);
    assert.equal(
      (await bookmark.read())?.windowEnd,
      T('2021-07-01T12:00:00'),
      'the bookmark stays at the start of the failed window (recorded by the first tick)',
    );
    assert.equal(outbox.batchCount, 1);
    assert.equal(fetches.length, 1, 'the second window waits behind the failed one');
    refuse = false;
    const next = await e.tick(now);
    assert.equal(next.delivered, 2);
    assert.equal(receiver.received[1].body, receiver.received[0].body, 'the stored batch is resent, not refetched');
    assert.equal(fetches.length, 2);
    assert.equal((await bookmark.read())?.windowEnd, T('2021-07-01T12:10:00'));
  });

  it('advances the bookmark only after every batch of the window; acknowledged batches are not resent', async () => {
    let failSecond = true;
    receiver = await startReceiver((request, response) => {
      const index = String(request.headers['idempotency-key']).split('-')[2];
      if (failSecond && index === '1') return void response.writeHead(503).end();
      ok(response);
    });
    await insert([
      ['a', '2021-07-01T12:00:00', 1],
      ['a', '2021-07-01T12:01:00', 2],
      ['a', '2021-07-01T12:02:00', 3],
    ]);
    now = T('2021-07-01T12:05:31');
    const {
      engine: e,
      bookmark,
      outbox,
    } = await engine({ retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2, maxElapsedMs: 5000, retryAfterCapMs: 10 } });
    assert.equal((await e.tick(now)).failed, 1);
    assert.equal((await bookmark.read())?.windowEnd, T('2021-07-01T12:00:00'), 'still at the start of the window');
    assert.equal(outbox.batchCount, 1, 'batch 0 acknowledged and gone, batch 1 kept');
    const sentBefore = receiver.received.length;
    failSecond = false;
    assert.equal((await e.tick(now)).delivered, 1);
    const resent = receiver.received.slice(sentBefore).map((r) => String(r.headers['idempotency-key']).split('-')[2]);
    assert.deepEqual(resent, ['1']);
    assert.equal((await bookmark.read())?.windowEnd, T('2021-07-01T12:05:00'));
    assert.equal(outbox.batchCount, 0);
  });

  it('keeps undelivered batches across a restart: a new engine on the same outbox resends them before fetching', async () => {
    receiver = await startReceiver((_q, response) => response.writeHead(502).end());
    await insert([
      ['a', '2021-07-01T12:00:00', 1],
      ['b', '2021-07-01T12:01:00', 2],
      ['c', '2021-07-01T12:02:00', 3],
    ]);
    now = T('2021-07-01T12:05:31');
    const first = await engine({ retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1, maxElapsedMs: 1000, retryAfterCapMs: 1 } });
    assert.equal((await first.engine.tick(now)).failed, 1);
    const keysBefore = receiver.received.map((r) => r.headers['idempotency-key']).sort();
    await first.engine.close();
    engines.length = 0;

    receiver.respond = (_q, response) => ok(response);
    const fetchesBefore = fetches.length;
    const { outbox: reopened, problems } = await Outbox.open(join(dir, 'outbox'));
    assert.deepEqual(problems, []);
    assert.equal(reopened.batchCount, 2);
    const second = await engine();
    const sentBefore = receiver.received.length;
    assert.equal((await second.engine.tick(now)).delivered, 1);
    assert.equal(fetches.length, fetchesBefore, 'the stored window is not fetched again');
    assert.deepEqual(
      receiver.received
        .slice(sentBefore)
        .map((r) => r.headers['idempotency-key'])
        .sort(),
      keysBefore,
      'same batches, same keys',
    );
    assert.equal((await second.bookmark.read())?.windowEnd, T('2021-07-01T12:05:00'));
  });

  it('drops a window stored only partly (crash before its manifest) and fetches it again', async () => {
    receiver = await startReceiver((_q, r) => ok(r));
    await insert([['a', '2021-07-01T12:00:00', 1]]);
    const { writeFileSync, mkdirSync, existsSync } = await import('node:fs');
    mkdirSync(join(dir, 'outbox'), { recursive: true });
    writeFileSync(join(dir, 'outbox', `s-${T('2021-07-01T12:00:00')}-${T('2021-07-01T12:05:00')}.0.batch.json`), '{"v":1,"partial":true}');
    writeFileSync(join(dir, 'outbox', 'junk.unit.json.tmp'), '{');
    now = T('2021-07-01T12:05:31');
    const { engine: e, outbox } = await engine();
    assert.equal(outbox.batchCount, 0);
    assert.equal(existsSync(join(dir, 'outbox', 'junk.unit.json.tmp')), false);
    assert.equal((await e.tick(now)).delivered, 1);
    assert.equal(fetches.length, 1);
  });

  it('lets only the lease holder run schedule windows', async () => {
    receiver = await startReceiver((_q, r) => ok(r));
    await insert([['a', '2021-07-01T12:00:00', 1]]);
    now = T('2021-07-01T12:05:31');
    const a = await engine({ instanceId: 'A', outboxDir: join(dir, 'outbox-a') });
    const b = await engine({ instanceId: 'B', outboxDir: join(dir, 'outbox-b') });
    const [ra, rb] = await Promise.all([a.engine.tick(now), b.engine.tick(now)]);
    const skipped = [ra, rb].filter((r) => r.skipped === 'lease-busy');
    assert.equal(skipped.length, 1, 'exactly one instance ran');
    assert.equal(receiver.received.length, 1);
  });

  it('applies backpressure: while the outbox is full no new window is fetched, and nothing is dropped', async () => {
    receiver = await startReceiver((_q, response) => response.writeHead(503).end());
    await insert([['a', '2021-07-01T11:00:00', 1]]);
    now = T('2021-07-01T12:30:31');
    const { outbox } = await Outbox.open(join(dir, 'outbox'), { maxBatches: 1 });
    const { engine: e } = await engine({
      outbox,
      retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1, maxElapsedMs: 10, retryAfterCapMs: 1 },
    });
    const finished = new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (events.some((ev) => ev.type === 'task-finished')) {
          clearInterval(timer);
          resolve();
        }
      }, 5);
    });
    const id = e.submit('2021-07-01T11:00:00', '2021-07-01T11:30:00');
    await finished;
    assert.equal(e.getTask(id)?.state, 'FAILURE');
    assert.match(String(e.getTask(id)?.status), /kept in the outbox/);
    assert.equal(outbox.batchCount, 1, 'the undelivered request batch is kept');
    const fetchesBefore = fetches.length;
    await e.tick(now);
    assert.equal(fetches.length, fetchesBefore, 'the full outbox refuses new schedule windows');
    assert.ok(events.some((ev) => ev.type === 'backpressure'));
    receiver.respond = (_q, response) => ok(response);
    const report = await e.tick(now);
    assert.ok(report.delivered >= 2, 'the kept request batch and then schedule windows go out');
    assert.ok(fetches.length > fetchesBefore);
  });

  it('request mode: a task delivers the requested window in batches, reports progress and leaves the bookmark alone', async () => {
    receiver = await startReceiver((_q, r) => ok(r));
    await insert([
      ['a', '2021-07-01T10:00:00', 1],
      ['a', '2021-07-01T10:30:00', 2],
      ['b', '2021-07-01T11:15:00', 3],
      ['b', '2021-07-01T11:30:00', 4],
    ]);
    const { engine: e, bookmark } = await engine({ request: { chunkMs: 3_600_000 } });
    const finished = new Promise<ConnectorEvent>((resolve) => {
      const previous = events.push.bind(events);
      events.push = (...items: ConnectorEvent[]) => {
        for (const item of items) if (item.type === 'task-finished') resolve(item);
        return previous(...items);
      };
    });
    const id = e.submit('2021-07-01T10:00:00', '2021-07-01T11:30:00');
    assert.equal(e.getTask(id)?.total, 2);
    await finished;
    assert.deepEqual(e.getTask(id), {
      state: 'SUCCESS',
      current: 2,
      total: 2,
      status: 'delivered 3 readings in 2 batches (2 of 2 one-hour pieces)',
    });
    for (const request of receiver.received) {
      const body = JSON.parse(request.body);
      assert.equal(body.start_time, '2021-07-01T10:00:00');
      assert.equal(body.end_time, '2021-07-01T11:30:00');
    }
    assert.deepEqual(
      receiver.received.map((r) => String(r.headers['idempotency-key']).split('-')[2]),
      ['0', '1'],
    );
    assert.equal(await bookmark.read(), null, 'request mode never creates or moves the bookmark');
    assert.throws(() => e.submit('2021-07-01T12:00:00', '2021-07-01T11:00:00'), /before/);
  });
});
