/**
 * One pipeline's trouble stays in that pipeline: the connector's schedule waits only for the
 * ingests and writers that feed the table its query reads. Found in the first run: with the
 * statestream broker unreachable, the connector of flow 5 stopped posting ("2 window(s) wait for
 * mqtt in "statestream topics"") although statestream writes `messages`, not `sensor_data`.
 *
 * Here, in one Node-RED: a statestream ingest whose broker does not exist (it never connects), a
 * sensors ingest on the real mosquitto through a proxy the test cuts, their writers into one
 * SQLite database, and the connector reading `sensor_data` on a 3-second schedule.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { arrivals } from '../../../lib/arrivals';
import { formatUtc } from '../../../lib/connector/time';
import { openDatabase } from '../../../lib/db';
import { parseDatabaseUrl } from '../../../lib/db/url';
import type { Database } from '../../../lib/db/types';
import brokerNode from '../../../nodes/iotp-mqtt-broker/iotp-mqtt-broker';
import ingestNode from '../../../nodes/iotp-mqtt-in/iotp-mqtt-in';
import databaseNode from '../../../nodes/iotp-database/iotp-database';
import batchPostNode from '../../../nodes/iotp-batch-post/iotp-batch-post';
import writerNode from '../../../nodes/iotp-db-write/iotp-db-write';
import { flow, helper } from '../../support/helper';
import { freePort } from '../../support/node-red';
import { MQTT_HOST, MQTT_PORT, requireService } from '../../support/services';
import { TcpProxy } from '../../support/tcp-proxy';
import { makeTempDir, removeTempDir } from '../../support/tmp';
import { createSensorData, startReceiver, statusCalls, type PostedBody, type Receiver } from './fixtures';

const WINDOW_MS = 3000;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('iotp-batch-post waits only for the pipelines that feed its query (statestream broker unreachable)', function () {
  this.timeout(90_000);
  let dir: string;
  let file: string;
  let db: Database;
  let proxy: TcpProxy;
  let receiver: Receiver;

  before(async function () {
    await requireService(this, 'mqtt');
  });
  beforeEach(async () => {
    dir = makeTempDir('iotp-held-');
    file = join(dir, 'iot.db');
    db = openDatabase(parseDatabaseUrl(`sqlite:${file}`));
    await createSensorData(db);
    proxy = await new TcpProxy(MQTT_HOST, MQTT_PORT).start();
    receiver = await startReceiver();
    helper.settings({ iotpJournalDir: join(dir, 'journal') } as never);
  });
  afterEach(async () => {
    await helper.unload();
    helper.settings({});
    await receiver.close();
    await proxy.stop();
    await db.close();
    removeTempDir(dir);
  });

  const windowEnds = (): number[] => receiver.received.map((r) => Date.parse(`${(JSON.parse(r.body) as PostedBody).end_time}Z`));

  it('keeps posting while the statestream ingest is down; a sensors outage holds it and the status names that ingest and since when', async () => {
    const deadBroker = `mqtt://127.0.0.1:${await freePort()}`;
    const topic = `iotp-test/${randomBytes(5).toString('hex')}`;
    await helper.load(
      [brokerNode, ingestNode, databaseNode, writerNode, batchPostNode],
      flow([
        { id: 'db', type: 'iotp-database', connection: 'url', url: `sqlite:${file}`, version: 1 },
        { id: 'ssBroker', type: 'iotp-mqtt-broker', url: deadBroker, version: 2 },
        {
          id: 'sensorsBroker',
          type: 'iotp-mqtt-broker',
          url: `mqtt://127.0.0.1:${proxy.port}`,
          clientId: `iotpt${randomBytes(6).toString('hex')}`,
          cleanSession: true,
          version: 2,
        },
        {
          id: 'ssIn',
          type: 'iotp-mqtt-in',
          name: 'statestream topics',
          broker: 'ssBroker',
          topics: 'homeassistant/#',
          qos: '1',
          format: 'string',
          ack: 'complete',
          wires: [['ssWrite']],
        },
        {
          id: 'ssWrite',
          type: 'iotp-db-write',
          name: 'messages',
          database: 'db',
          table: 'messages',
          columns: 'topic\npayload',
          migrationSet: 'statestream',
          batchSize: 100,
          maxLatency: 20,
          journal: true,
          wires: [[]],
        },
        {
          id: 'sensorsIn',
          type: 'iotp-mqtt-in',
          name: 'sensors',
          broker: 'sensorsBroker',
          topics: topic,
          qos: '1',
          format: 'json',
          ack: 'complete',
          wires: [['sensorsWrite']],
        },
        {
          id: 'sensorsWrite',
          type: 'iotp-db-write',
          name: 'raw readings',
          database: 'db',
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
          database: 'db',
          endpoint: receiver.url,
          batchSize: '100',
          interval: String(WINDOW_MS / 60_000),
          settle: '0',
          outboxDir: join(dir, 'outbox'),
          maxAttempts: 1,
          timeout: 5,
          version: 1,
          wires: [[], []],
        },
      ]),
      { post: { apiKey: 'held-key' } },
    );

    // The statestream ingest never connects, yet the windows of sensor_data are posted.
    await receiver.waitFor(3, 30_000);
    const reader = { database: `sqlite:${file}`, tables: ['sensor_data'] };
    assert.equal(arrivals.earliest(reader, Date.now(), 0), null, 'nothing holds sensor_data');
    assert.ok(
      arrivals.earliest({ database: `sqlite:${file}`, tables: ['facts'] }, Date.now(), 0)?.source.label === 'mqtt in "statestream topics"',
      'it would hold a connector reading statestream facts (filled by trigger from messages)',
    );

    // The sensors broker goes away: that pipeline feeds sensor_data, so the schedule waits for it.
    const cutAt = Date.now();
    proxy.cut();
    let holder = arrivals.earliest(reader, Date.now(), 0);
    for (let i = 0; i < 50 && holder === null; i++) {
      await sleep(100);
      holder = arrivals.earliest(reader, Date.now(), 0);
    }
    assert.equal(holder?.source.label, 'mqtt in "sensors"');
    assert.ok(
      holder!.since >= cutAt - 1000 && holder!.since <= cutAt + 2000,
      `held since the loss (${holder!.since - cutAt} ms after the cut)`,
    );
    await sleep(2 * WINDOW_MS + 1000);
    const post = helper.getNode('post');
    assert.ok(
      statusCalls(post).some((s) => s.fill === 'yellow' && /iotp-batch-post\.status\.held/.test(String(s.text))),
      JSON.stringify(statusCalls(post).slice(-5)),
    );
    const heldEnds = windowEnds();
    assert.ok(
      heldEnds.every((end) => end <= holder!.since),
      `no window after ${formatUtc(holder!.since)} was posted while the sensors ingest was down`,
    );

    // Back: the held windows are posted, in order.
    proxy.restore();
    const before = receiver.received.length;
    await receiver.waitFor(before + 2, 30_000);
    const ends = windowEnds();
    assert.ok(ends[ends.length - 1]! > holder!.since, 'the schedule moved on');
    assert.deepEqual(
      ends,
      [...ends].sort((a, b) => a - b),
      'in order',
    );
  });
});
