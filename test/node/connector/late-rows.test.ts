/**
 * The connector's schedule and the writers of the same database, in one Node-RED: a window is
 * posted only after rows the writers still hold for it are stored (lib/arrivals.ts). Found by
 * the full soak: after a database cut the connector read the database again before the writer
 * had replayed its backlog, posted those windows without the replayed rows, and moved its
 * bookmark past them for good.
 *
 * The writer and the connector use two config nodes (as in two flows) for the same database,
 * through a TCP proxy that the test cuts. After the cut the connector's next try comes within a
 * second, the writer's retry backoff is longer, so without the wait the window is posted first.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { arrivals } from '../../../lib/arrivals';
import { alignDown } from '../../../lib/connector/windows';
import { formatUtc } from '../../../lib/connector/time';
import { openDatabase } from '../../../lib/db';
import type { Database } from '../../../lib/db/types';
import databaseNode from '../../../nodes/iotp-database/iotp-database';
import batchPostNode from '../../../nodes/iotp-batch-post/iotp-batch-post';
import writerNode from '../../../nodes/iotp-db-write/iotp-db-write';
import { flow, helper } from '../../support/helper';
import { createTestMysqlDatabase, MYSQL_HOST, MYSQL_PORT, requireService, type TestMysqlDatabase } from '../../support/services';
import { TcpProxy } from '../../support/tcp-proxy';
import { makeTempDir, removeTempDir } from '../../support/tmp';
import { createSensorData, startReceiver, storedTime, windowsPerReading, type Receiver } from './fixtures';

const WINDOW_MS = 3000;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('iotp-batch-post waits for rows its database writers still hold (MariaDB behind a proxy)', function () {
  this.timeout(60_000);
  let mysql: TestMysqlDatabase | undefined;
  let db: Database;
  let proxy: TcpProxy;
  let receiver: Receiver;
  let dir: string;

  before(async function () {
    await requireService(this, 'mysql');
    mysql = await createTestMysqlDatabase();
    db = openDatabase({ ...mysql.config });
    await createSensorData(db);
  });
  after(async () => {
    await db?.close();
    await mysql?.drop();
  });
  beforeEach(async () => {
    dir = makeTempDir('iotp-late-');
    proxy = await new TcpProxy(MYSQL_HOST, MYSQL_PORT).start();
    receiver = await startReceiver();
    helper.settings({ iotpJournalDir: join(dir, 'journal') } as never);
  });
  afterEach(async () => {
    await helper.unload();
    helper.settings({});
    await receiver.close();
    await proxy.stop();
    removeTempDir(dir);
  });

  it('posts the window of a row written during a database cut only after the writer stored it, once', async () => {
    const url = `mysql://root@127.0.0.1:${proxy.port}/${mysql!.config.database}`;
    await helper.load(
      [databaseNode, writerNode, batchPostNode],
      flow([
        { id: 'writerDb', type: 'iotp-database', connection: 'url', url, version: 1 },
        { id: 'connectorDb', type: 'iotp-database', connection: 'url', url, version: 1 },
        {
          id: 'write',
          type: 'iotp-db-write',
          database: 'writerDb',
          table: 'sensor_data',
          columns: 'sensor_id\ntimestamp\nvalue',
          batchSize: 100,
          maxLatency: 20,
          journal: true,
          wires: [[]],
        },
        {
          id: 'post',
          type: 'iotp-batch-post',
          database: 'connectorDb',
          endpoint: receiver.url,
          batchSize: '100',
          interval: String(WINDOW_MS / 60_000),
          settle: '0',
          bookmark: `late-${Date.now()}`,
          outboxDir: join(dir, 'outbox'),
          maxAttempts: 1,
          timeout: 5,
          version: 1,
          wires: [[], []],
        },
      ]),
      { post: { apiKey: 'late-key' } },
    );
    const write = helper.getNode('write');
    // The schedule runs: windows arrive while nothing is held.
    await receiver.waitFor(2, 20_000);

    proxy.cut();
    const stamp = Date.now();
    write.receive({ payload: { sensor_id: 7, timestamp: storedTime(stamp), value: 42 } });
    await sleep(4000);
    // The writer, registered under the database both config nodes point at, holds the row.
    const holder = arrivals.earliest(`mysql://127.0.0.1:${proxy.port}/${mysql!.config.database}`, Date.now(), 0);
    assert.equal(holder?.source.label, 'db write "write"');
    assert.ok(
      holder.since >= stamp && holder.since < stamp + 1000,
      `held since the row was accepted (${holder.since - stamp} ms after its stamp)`,
    );
    proxy.restore();

    const window = `${formatUtc(alignDown(stamp, WINDOW_MS))}/${formatUtc(alignDown(stamp, WINDOW_MS) + WINDOW_MS)}`;
    const deadline = Date.now() + 40_000;
    for (;;) {
      const posted = receiver.received.some((request) => {
        const body = JSON.parse(request.body) as { start_time: string; end_time: string };
        return `${body.start_time}/${body.end_time}` === window;
      });
      if (posted) break;
      assert.ok(Date.now() < deadline, `window ${window} not posted within 40 s`);
      await sleep(100);
    }
    const { rows } = await db.query('SELECT COUNT(*) AS n FROM sensor_data WHERE sensor_id = 7');
    assert.equal(Number(rows[0].n), 1, 'the row was stored once');
    const seen = windowsPerReading(receiver.received).get(`sensor_7@${formatUtc(stamp)}`);
    assert.deepEqual([...(seen ?? [])], [window], 'posted in its window, which waited for it');
  });
});
