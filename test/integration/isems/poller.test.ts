import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { IsemsPoller, type NodePollResult, type PollResult } from '../../../lib/isems/poller';
import { SimulatedSolarServer, startSimulatedSolarServer } from '../../../lib/isems/simulate';
import type { IsemsMeasurement } from '../../../lib/isems/parse';

/** A port nothing listens on: bound once, then closed. */
async function closedPortUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `127.0.0.1:${port}`;
}

function keyOf(record: IsemsMeasurement): string {
  return `${record.nodeId}@${record.epochSeconds}`;
}

async function mustPoll(poller: IsemsPoller): Promise<PollResult> {
  const result = await poller.poll();
  assert.ok(result, 'poll was not skipped');
  return result;
}

describe('isems poller against local HTTP nodes', function () {
  this.timeout(60_000);
  let server: SimulatedSolarServer;
  let dead: string;
  const OK = [0, 1, 5];
  const SLOW = 2;
  const NOT_FOUND = 3;
  const HTML = 4;
  let entries: string[];

  before(async () => {
    server = await startSimulatedSolarServer({ seed: 42, nodes: 6, slowDelayMs: 30_000 });
    server.setBehaviour(SLOW, 'slow');
    server.setBehaviour(NOT_FOUND, 'not-found');
    server.setBehaviour(HTML, 'html');
    dead = await closedPortUrl();
    entries = [...server.urls, dead];
  });

  after(() => server?.close());

  it('delivers the good nodes, reports each failure once per poll, and never emits a record twice (also across a restart)', async () => {
    const poller = new IsemsPoller({ nodes: entries, timeoutMs: 800, concurrency: 4 });
    const emitted = new Set<string>();
    const take = (result: PollResult): void => {
      for (const record of result.records) {
        assert.ok(!emitted.has(keyOf(record)), `emitted twice: ${keyOf(record)}`);
        emitted.add(keyOf(record));
      }
    };
    const expectFailures = (result: PollResult): void => {
      const byNode = new Map(result.failures.map((failure) => [failure.node, failure]));
      assert.equal(result.failures.length, 4, JSON.stringify(result.failures));
      assert.deepEqual(
        [
          byNode.get(server.url(SLOW))?.reason,
          byNode.get(server.url(NOT_FOUND))?.reason,
          byNode.get(server.url(HTML))?.reason,
          byNode.get(dead)?.reason,
        ],
        ['timeout after 800 ms', 'HTTP 404', 'not a log (HTML page)', 'ECONNREFUSED'],
      );
      assert.deepEqual(
        [byNode.get(server.url(SLOW))?.code, byNode.get(server.url(NOT_FOUND))?.code, byNode.get(dead)?.code],
        ['ISEMS_TIMEOUT', 'ISEMS_HTTP_STATUS', 'ISEMS_NETWORK'],
      );
      assert.equal(result.stats.nodesOk, OK.length);
      assert.equal(result.stats.nodesFailed, 4);
    };

    // First poll: every line of the three good 3,600-line logs, in timestamp order per node.
    const first = await mustPoll(poller);
    expectFailures(first);
    assert.equal(first.records.length, OK.length * 3600);
    assert.deepEqual(first.errors, []);
    for (const index of OK) {
      const own = first.records.filter((r) => r.nodeId === server.simulation.nodes[index].nodeId);
      assert.equal(own.length, 3600);
      for (let i = 1; i < own.length; i++) assert.ok(own[i].epochSeconds > own[i - 1].epochSeconds);
      assert.equal(poller.watermarkOf(server.url(index)), server.simulation.nowEpochSeconds);
    }
    take(first);
    assert.equal(first.stats.linesRead, OK.length * 3600);
    assert.ok(first.stats.bytes > OK.length * 3600 * 80);

    // Nothing new: nothing emitted, every line skipped on its timestamp, failures again once each.
    const second = await mustPoll(poller);
    expectFailures(second);
    assert.equal(second.records.length, 0);
    assert.equal(second.stats.linesSkipped, OK.length * 3600);

    // Three simulated minutes later: exactly three new lines per good node.
    server.simulation.advance(3);
    const third = await mustPoll(poller);
    expectFailures(third);
    assert.equal(third.records.length, OK.length * 3);
    take(third);

    // Restart: a new poller restored from the exported watermarks emits nothing old.
    const saved = JSON.parse(JSON.stringify(poller.exportWatermarks()));
    poller.close();
    const restarted = new IsemsPoller({ nodes: entries, timeoutMs: 800, concurrency: 4, watermarks: saved });
    const afterRestart = await mustPoll(restarted);
    assert.equal(afterRestart.records.length, 0);
    server.simulation.advance(2);
    const later = await mustPoll(restarted);
    assert.equal(later.records.length, OK.length * 2);
    take(later);
    restarted.close();
    assert.equal(emitted.size, OK.length * 3605);
  });

  it('skips (and counts) a poll requested while one is running', async () => {
    const poller = new IsemsPoller({ nodes: [server.url(SLOW), server.url(0)], timeoutMs: 300 });
    const running = poller.poll();
    assert.equal(poller.busy, true);
    assert.equal(await poller.poll(), null);
    assert.equal(poller.skippedCycles, 1);
    const result = await running;
    assert.ok(result);
    assert.equal(result.stats.skippedCycles, 1);
    assert.equal(poller.busy, false);
    assert.ok(await poller.poll(), 'the next poll runs');
    poller.close();
  });

  it('streams per node through onNode and offers the records again when the consumer fails', async () => {
    let fail = true;
    const seen: NodePollResult[] = [];
    const poller = new IsemsPoller({
      nodes: [server.url(0), server.url(NOT_FOUND)],
      onNode: (result) => {
        seen.push(result);
        if (fail && result.records.length > 0) throw new Error('queue full');
      },
    });
    const first = await mustPoll(poller);
    assert.equal(first.records.length, 0, 'records go to onNode, not into the result');
    assert.deepEqual(
      first.failures.map((f) => [f.url, f.code]).sort(),
      [
        [server.url(0), 'ISEMS_CONSUMER'],
        [server.url(NOT_FOUND), 'ISEMS_HTTP_STATUS'],
      ].sort(),
    );
    assert.equal(poller.watermarkOf(server.url(0)), undefined, 'not committed');
    fail = false;
    await mustPoll(poller);
    const delivered = seen.filter((r) => r.url === server.url(0)).map((r) => r.records.length);
    assert.deepEqual(delivered, [3600, 3600]);
    assert.equal(poller.watermarkOf(server.url(0)), server.simulation.nowEpochSeconds);
    poller.close();
  });

  it('caps the response size per node', async () => {
    const poller = new IsemsPoller({ nodes: [server.url(0), server.url(1)], maxResponseBytes: 10_000 });
    const result = await mustPoll(poller);
    assert.deepEqual(
      result.failures.map((f) => f.code),
      ['ISEMS_TOO_LARGE', 'ISEMS_TOO_LARGE'],
    );
    assert.match(result.failures[0].reason, /larger than 10000 bytes/);
    poller.close();
  });

  it('retries once on a new connection when a kept-alive connection turns out to be closed', async () => {
    const log = server.simulation.logBytes(0);
    const requestsPerSocket = new Map<unknown, number>();
    // Serves the first request of every connection and drops the connection on the second,
    // as a node does whose keep-alive timeout ran out just as the next poll reused it.
    const flaky = http.createServer((request, response) => {
      const seen = (requestsPerSocket.get(request.socket) ?? 0) + 1;
      requestsPerSocket.set(request.socket, seen);
      if (seen > 1) {
        request.socket.destroy();
        return;
      }
      response.writeHead(200, { 'content-length': log.length });
      response.end(log);
    });
    await new Promise<void>((resolve) => flaky.listen(0, '127.0.0.1', resolve));
    const poller = new IsemsPoller({ nodes: [`127.0.0.1:${(flaky.address() as AddressInfo).port}`] });
    try {
      const first = await mustPoll(poller);
      assert.equal(first.records.length, 3600);
      const second = await mustPoll(poller);
      assert.deepEqual(second.failures, []);
      assert.equal(second.stats.linesSkipped, 3600);
      assert.equal(requestsPerSocket.size, 2, 'the retry used a new connection');
    } finally {
      poller.close();
      flaky.closeAllConnections();
      await new Promise<void>((resolve) => flaky.close(() => resolve()));
    }
  });

  it('reports garbage bodies as line errors with the node, and reuses keep-alive connections', async () => {
    const garbage = await startSimulatedSolarServer({ seed: 5, nodes: 2, initialLines: 10 });
    garbage.setBehaviour(1, 'garbage');
    const poller = new IsemsPoller({ nodes: garbage.urls, maxErrorsPerNode: 5 });
    const first = await mustPoll(poller);
    assert.equal(first.records.length, 10);
    assert.equal(first.failures.length, 0);
    assert.ok(first.errors.length > 0 && first.errors.length <= 5);
    assert.ok(first.errors.every((e) => e.url === garbage.url(1) && e.line >= 1));
    assert.ok(first.stats.linesRejected >= first.errors.length);
    const connectionsBefore = garbage.connections;
    await mustPoll(poller);
    await mustPoll(poller);
    assert.equal(garbage.connections, connectionsBefore, 'polls reuse the open connections');
    poller.close();
    await garbage.close();
  });
});
