/**
 * The iotp-isems collector node in a real runtime (test helper), polling real local HTTP servers
 * and storing through a real iotp-db-write into SQLite: good nodes' data arrives, each failing node
 * is reported once per poll with its address, malformed lines reach the error path with node and
 * line number, and nothing is emitted twice across polls, MQTT repeats or a redeploy that starts
 * from the persisted watermarks. A delivery that fails downstream is offered again.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Node, NodeAPI } from 'node-red';
import databaseNode from '../../../nodes/iotp-database/iotp-database';
import writerNode from '../../../nodes/iotp-db-write/iotp-db-write';
import isemsNode, { watermarkPath } from '../../../nodes/iotp-isems/iotp-isems';
import { openDatabase } from '../../../lib/db';
import { parseDatabaseUrl } from '../../../lib/db/url';
import type { Database } from '../../../lib/db/types';
import { MEASUREMENT_COLUMNS } from '../../../lib/isems/schema';
import { deadLetterPath, readDeadLetters, recordPayload } from '../../../lib/dead-letter';
import { startSimulatedSolarServer, type SimulatedSolarServer } from '../../../lib/isems/simulate';
import { freePort } from '../../support/node-red';
import { collect, flow as testFlow, helper, nextEvent } from '../../support/helper';
import { makeTempDir, removeTempDir } from '../../support/tmp';

interface RowsMessage {
  topic: string;
  payload: { nodeId: string; timestamp: number; status: number | null }[];
  isems: { source: string; node: string };
}
interface FailureMessage {
  topic: string;
  payload: { node: string; url: string; code: string; reason: string };
}

/** A sink that fails every delivery (a writer refusing the rows), counting what it saw. */
const failedDeliveries: RowsMessage[] = [];
function failingSink(RED: NodeAPI): void {
  function FailingSink(this: Node, config: { id: string }) {
    RED.nodes.createNode(this, config as never);
    this.on('input', (msg, _send, done) => {
      failedDeliveries.push(msg as unknown as RowsMessage);
      done(new Error('refused'));
    });
  }
  RED.nodes.registerType('test-failing-sink', FailingSink as never);
}

/** Completes what it receives, as a debug node does (the test helper's own node never calls done()). */
function completingSink(RED: NodeAPI): void {
  function CompletingSink(this: Node, config: { id: string }) {
    RED.nodes.createNode(this, config as never);
    this.on('input', (_msg, _send, done) => done());
  }
  RED.nodes.registerType('test-completing-sink', CompletingSink as never);
}

/** A node without an input handler: every delivery to it is taken back (as during a redeploy). */
function deafSink(RED: NodeAPI): void {
  function DeafSink(this: Node, config: { id: string }) {
    RED.nodes.createNode(this, config as never);
  }
  RED.nodes.registerType('test-deaf-sink', DeafSink as never);
}

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A log server whose body the test sets (malformed lines among good ones). */
async function startLogServer(): Promise<{ url: string; setBody(text: string): void; close(): Promise<void> }> {
  let body = '';
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/ISEMS/ffopenmppt.log`,
    setBody: (text) => (body = text),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const line = (node: string, epoch: number, status = ';500'): string =>
  `${node};1;${epoch};ESP_2.0;3592;0;19.21;17.9;13.1;87;95;21.5;11.6;14.1;9;30;52.52;13.40${status}`;

describe('iotp-isems node: polling, MQTT and watermarks (real HTTP servers, SQLite)', function () {
  this.timeout(60000);
  let dir: string;
  let sim: SimulatedSolarServer;
  let logServer: Awaited<ReturnType<typeof startLogServer>>;
  let deadUrl: string;
  let db: Database;

  before(async () => {
    dir = makeTempDir('iotp-isems-node-');
    helper.settings({ userDir: dir, iotpDeadLetterDir: join(dir, 'dead-letters') } as never);
    // Nodes 0 and 3 answer (3,600 lines each), 1 is slow past the timeout, 2 answers 404 HTML.
    sim = await startSimulatedSolarServer({ nodes: 4, seed: 7, slowDelayMs: 20_000 });
    sim.setBehaviour(1, 'slow');
    sim.setBehaviour(2, 'not-found');
    logServer = await startLogServer();
    logServer.setBody(
      [line('garden', 1_718_000_000), 'garden;1;oops', line('garden', 1_718_000_060, ';XYZ'), line('garden', 1_718_000_120, '')].join('\n'),
    );
    deadUrl = `http://127.0.0.1:${await freePort()}/ISEMS/ffopenmppt.log`;
    db = openDatabase(parseDatabaseUrl(`sqlite:${join(dir, 'isems.db')}`, { variable: 'URL', baseDir: dir }));
  });

  after(async () => {
    await db?.close();
    await sim?.close();
    await logServer?.close();
    helper.settings({});
    removeTempDir(dir);
  });

  afterEach(() => helper.unload());

  const urls = (): string[] => [sim.url(0), sim.url(1), sim.url(2), deadUrl, sim.url(3), logServer.url];

  function flow(id = 'isems', rowsTo = 'write') {
    return testFlow([
      { id: 'db', type: 'iotp-database', connection: 'url', url: `sqlite:${join(dir, 'isems.db')}`, version: 1 },
      {
        id,
        type: 'iotp-isems',
        nodes: urls().join('\n'),
        interval: '3600',
        simulate: 'false',
        timeout: '1',
        concurrency: '4',
        maxLineErrors: '5',
        wires: [[rowsTo], ['failures']],
      },
      {
        id: 'write',
        type: 'iotp-db-write',
        database: 'db',
        table: 'measurement',
        columns: MEASUREMENT_COLUMNS.join('\n'),
        conflict: 'ignore',
        conflictKeys: 'nodeId\ntimestamp',
        migrationSet: 'isems',
        batchSize: 500,
        maxLatency: 20,
        journal: false,
        wires: [['stored']],
      },
      { id: 'refuse', type: 'test-failing-sink' },
      { id: 'stored', type: 'test-completing-sink' },
      { id: 'failures', type: 'helper' },
    ]);
  }

  const rowCount = async (): Promise<number> => Number((await db.query('SELECT COUNT(*) AS n FROM measurement')).rows[0].n);
  const emitted = new Map<string, number>();
  const remember = (messages: RowsMessage[]): void => {
    for (const message of messages)
      for (const row of message.payload) {
        const key = `${row.nodeId};${row.timestamp}`;
        emitted.set(key, (emitted.get(key) ?? 0) + 1);
      }
  };
  const repeats = (): string[] => [...emitted].filter(([, count]) => count > 1).map(([key]) => key);

  /** Waits for one poll's failure reports (sent at its end) and the rows stored during it. */
  async function awaitPoll(storedMessages: number): Promise<{ stored: RowsMessage[]; failures: FailureMessage[] }> {
    const stored = collect<RowsMessage>(helper.getNode('stored'), storedMessages, 30000);
    const failures = collect<FailureMessage>(helper.getNode('failures'), 3, 30000);
    return { stored: storedMessages === 0 ? [] : await stored, failures: await failures };
  }

  it('stores the good nodes on deploy, reports each failing node once, sends malformed lines to the error path', async () => {
    const errors: string[] = [];
    await helper.load([databaseNode, writerNode, isemsNode, failingSink, completingSink], flow());
    (helper.getNode('isems') as unknown as NodeJS.EventEmitter).on('call:error', (call: { args: unknown[] }) =>
      errors.push(String(call.args[0])),
    );
    const { stored, failures } = await awaitPoll(3);
    remember(stored);

    assert.deepEqual(
      stored.map((m) => m.payload.length).sort((a, b) => a - b),
      [2, 3600, 3600],
    );
    assert.equal(await rowCount(), 7202);
    const byUrl = new Map(failures.map((f) => [f.payload.url, f.payload]));
    assert.equal(byUrl.size, 3, 'one report per failing node');
    assert.equal(byUrl.get(sim.url(1))?.code, 'ISEMS_TIMEOUT');
    assert.equal(byUrl.get(sim.url(2))?.code, 'ISEMS_HTTP_STATUS');
    assert.match(byUrl.get(sim.url(2))!.reason, /404/);
    assert.equal(byUrl.get(deadUrl)?.code, 'ISEMS_NETWORK');
    for (const failure of failures) assert.equal(failure.topic, failure.payload.url, 'the node as configured (here its URL)');

    // Both malformed garden lines in one error naming the node and the first line number.
    assert.equal(errors.length, 1);
    assert.match(errors[0], /iotp-isems\.errors\.malformed/);
    const garden = stored.find((m) => m.topic === 'garden')!;
    assert.deepEqual(
      garden.payload.map((r) => [r.timestamp, r.status]),
      [
        [1_718_000_000, 0x500],
        [1_718_000_120, null],
      ],
    );
  });

  it('emits only new lines on the next poll, and after a redeploy starts from the saved watermarks', async () => {
    await helper.load([databaseNode, writerNode, isemsNode, failingSink, completingSink], flow());
    // Redeployed: the first poll finds nothing new, yet still reports the three failing nodes.
    const first = await awaitPoll(0);
    assert.equal(first.failures.length, 3);
    const saved = JSON.parse(readFileSync(watermarkPath(dir, 'isems'), 'utf8')) as { watermarks: Record<string, number> };
    assert.equal(saved.watermarks[sim.url(0)], sim.simulation.nowEpochSeconds);
    assert.equal(saved.watermarks[logServer.url], 1_718_000_120);

    sim.simulation.advance(2);
    logServer.setBody([line('garden', 1_718_000_120, ''), line('garden', 1_718_000_180)].join('\n'));
    const second = awaitPoll(3);
    helper.getNode('isems').receive({ topic: 'poll' });
    const { stored, failures } = await second;
    remember(stored);
    assert.deepEqual(stored.map((m) => m.payload.length).sort(), [1, 2, 2]);
    assert.equal(failures.length, 3);
    assert.equal(await rowCount(), 7202 + 5);
    assert.deepEqual(repeats(), []);
  });

  it('dead-letters rows a node completes with an error, once, and moves the watermark on', async () => {
    failedDeliveries.length = 0;
    sim.simulation.advance(1);
    await helper.load([databaseNode, writerNode, isemsNode, failingSink, completingSink], flow('isems-refused', 'refuse'));
    const first = await collect<FailureMessage>(helper.getNode('failures'), 3, 30000);
    assert.deepEqual(
      first.map((f) => f.payload.code).filter((code) => code === 'ISEMS_CONSUMER'),
      [],
      'refused rows are not a failed poll',
    );
    assert.equal(failedDeliveries.length, 3, 'nodes 0, 3 and garden delivered once');
    await waitFor(() => readDeadLetters(deadLetterPath(join(dir, 'dead-letters'), 'isems-refused')).records.length === 3);
    const letters = readDeadLetters(deadLetterPath(join(dir, 'dead-letters'), 'isems-refused')).records;
    assert.deepEqual(
      letters.map((l) => l.tries),
      [1, 1, 1],
    );
    // Each record names the refused rows (the test runtime has no catalogs: RED._ gives the key)
    // and holds them, cut at 16 KiB for the 3,600-line logs.
    assert.deepEqual(
      letters.map((l) => l.reason),
      ['iotp-isems.errors.rowsFailed', 'iotp-isems.errors.rowsFailed', 'iotp-isems.errors.rowsFailed'],
    );
    const garden = letters.find((l) => l.topic === 'garden');
    assert.ok(garden && !garden.truncated);
    assert.deepEqual(JSON.parse(recordPayload(garden).toString('utf8')), failedDeliveries.find((m) => m.topic === 'garden')?.payload);
    assert.ok(letters.filter((l) => l.topic !== 'garden').every((l) => l.truncated && l.bytes > 16 * 1024));
    // The next poll finds nothing new: the refused rows are not offered again.
    const again = collect<FailureMessage>(helper.getNode('failures'), 3, 30000);
    helper.getNode('isems-refused').receive({ topic: 'poll' });
    await again;
    assert.equal(failedDeliveries.length, 3);
    assert.ok(existsSync(watermarkPath(dir, 'isems-refused')), 'the watermarks moved past the dead-lettered rows');
  });

  it('offers rows that miss a node again, and dead-letters them after 30 polls in a row', async function () {
    this.timeout(120_000);
    logServer.setBody([line('missed', 1_718_100_000), line('missed', 1_718_100_060)].join('\n'));
    await helper.load(
      [isemsNode, deafSink],
      testFlow([
        {
          id: 'isems-missed',
          type: 'iotp-isems',
          nodes: logServer.url,
          interval: '3600',
          simulate: 'false',
          timeout: '2',
          concurrency: '1',
          maxLineErrors: '5',
          wires: [['deaf'], ['failures']],
        },
        { id: 'deaf', type: 'test-deaf-sink' },
        { id: 'failures', type: 'helper' },
      ]),
    );
    const isems = helper.getNode('isems-missed');
    const errors: Array<{ text: string; msg?: { deadLetter?: { tries: number } } }> = [];
    (isems as unknown as NodeJS.EventEmitter).on('call:error', (call: { args: [string, { deadLetter?: { tries: number } }?] }) =>
      errors.push({ text: String(call.args[0]), msg: call.args[1] }),
    );
    for (let poll = 1; poll <= 30; poll++) {
      const failure = await nextEvent<FailureMessage>(helper.getNode('failures'), 'input', 30000);
      assert.equal(failure.payload.code, 'ISEMS_CONSUMER', `poll ${poll}: offered again next poll`);
      isems.receive({ topic: 'poll' });
    }
    await waitFor(() => errors.some((e) => e.text === 'iotp-isems.errors.deadLetter'));
    assert.equal(errors.find((e) => e.text === 'iotp-isems.errors.deadLetter')?.msg?.deadLetter?.tries, 31);
    const letters = readDeadLetters(deadLetterPath(join(dir, 'dead-letters'), 'isems-missed')).records;
    assert.equal(letters.length, 1);
    assert.equal((JSON.parse(recordPayload(letters[0]).toString('utf8')) as unknown[]).length, 2);
  });

  it('parses MQTT csvlog messages, stores them once and skips what was already completed', async () => {
    const flowNodes = flow('isems-mqtt') as unknown as Record<string, unknown>[];
    // MQTT only: no addresses, no simulation.
    Object.assign(flowNodes[1], { nodes: '', simulate: 'false' });
    await helper.load([databaseNode, writerNode, isemsNode, failingSink, completingSink], testFlow(flowNodes));
    const isems = helper.getNode('isems-mqtt');
    const stored = helper.getNode('stored');
    const log = Array.from({ length: 50 }, (_, i) => line('roof', 1_718_100_000 + i * 60)).join('\n');

    let next = collect<RowsMessage>(stored, 1);
    isems.receive({ topic: '/isems/roof/csvlog', payload: Buffer.from(log) });
    assert.equal((await next)[0].payload.length, 50);
    // The same log again, then one more line: only that line is emitted.
    isems.receive({ topic: '/isems/roof/csvlog', payload: log });
    next = collect<RowsMessage>(stored, 1);
    isems.receive({ topic: '/isems/roof/csvlog', payload: `${log}\n${line('roof', 1_718_100_000 + 50 * 60)}\n` });
    const [latest] = await next;
    assert.deepEqual(
      latest.payload.map((r) => r.timestamp),
      [1_718_100_000 + 50 * 60],
    );
    assert.equal(latest.isems.source, 'mqtt');
    assert.equal(Number((await db.query("SELECT COUNT(*) AS n FROM measurement WHERE nodeId = 'roof'")).rows[0].n), 51);

    // Not a csvlog topic, or not text: the message goes to the error path.
    const bad = nextEvent<{ args: unknown[] }>(isems, 'call:error');
    isems.receive({ topic: '/isems/roof/other', payload: log });
    assert.match(String((await bad).args[0]), /csvlog/);
  });

  it('with simulate true and no addresses, polls simulated solar nodes it starts itself', async () => {
    const flowNodes = flow('isems-sim') as unknown as Record<string, unknown>[];
    Object.assign(flowNodes[1], { nodes: '', simulate: 'true', simulatedNodes: '2' });
    await helper.load([databaseNode, writerNode, isemsNode, failingSink, completingSink], testFlow(flowNodes));
    const stored = await collect<RowsMessage>(helper.getNode('stored'), 2, 30000);
    assert.deepEqual(stored.map((m) => [m.topic, m.payload.length]).sort(), [
      ['isems-001', 3600],
      ['isems-002', 3600],
    ]);
    assert.match(stored[0].isems.node, /^http:\/\/127\.0\.0\.1:\d+\//);
  });
});
