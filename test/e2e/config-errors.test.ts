/**
 * Bad configuration gives one clear line naming the variable, not a stack trace: an unusable
 * value stops start-up; an unreachable database does not (the nodes buffer and retry), and is
 * reported once.
 */
import assert from 'node:assert/strict';
import { freePort, startNodeRed } from '../support/node-red';

describe('configuration errors at start-up', function () {
  this.timeout(90000);

  for (const [variable, value] of [
    ['DATABASE_URL', 'postgres://admin:hunter2@db/x?sslmode=prefer'],
    ['MQTT_URL', 'http://broker:1883'],
    ['BATCH_SIZE', 'lots'],
    ['SIMULATE', 'maybe'],
  ] as const) {
    it(`${variable}=${value} stops start-up with one line naming ${variable}`, async () => {
      const failure = await startNodeRed({ flows: [], env: { [variable]: value } }).then(
        async (running) => {
          await running.stop();
          return undefined;
        },
        (err: Error) => err.message,
      );
      assert.ok(failure, 'Node-RED should not have started');
      const lines = failure.split('\n').filter((line) => line.includes(`configuration error: ${variable}`));
      assert.equal(lines.length, 1, failure);
      assert.doesNotMatch(failure, /^\s+at /m, 'no stack trace');
      assert.doesNotMatch(failure, /hunter2/, 'no password');
    });
  }

  it('an unreachable database is reported once, naming it, while Node-RED keeps running', async () => {
    const closedPort = await freePort();
    const url = `mysql://iot:hunter2@127.0.0.1:${closedPort}/iot`;
    const running = await startNodeRed({
      env: { DATABASE_URL: url },
      flows: [
        { id: 't', type: 'tab', label: 'probe' },
        { id: 'db', type: 'iotp-database', connection: 'url', url: '${DATABASE_URL}', version: 1 },
        {
          id: 'w', z: 't', type: 'iotp-db-write', database: 'db', table: 'probe', columns: 'n', conflict: 'error', migrationSet: '',
          batchSize: 10, maxLatency: 10, maxBuffered: 100, overflow: 'backpressure', journal: true, x: 300, y: 100, wires: [[]],
        },
        { id: 'i', z: 't', type: 'inject', repeat: '0.2', once: true, payload: '{"n":1}', payloadType: 'json', x: 100, y: 100, wires: [['w']] },
      ],
    });
    try {
      await running.waitForOutput(/is unreachable/, 30000);
      await new Promise((r) => setTimeout(r, 3000));
      const reports = running.output().split('\n').filter((line) => /is unreachable/.test(line));
      assert.equal(reports.length, 1, reports.join('\n'));
      assert.match(reports[0], new RegExp(`mysql://iot@127\\.0\\.0\\.1:${closedPort}/iot`));
      assert.doesNotMatch(running.output(), /hunter2/);
    } finally {
      await running.stop();
    }
  });
});
