/**
 * The stats node in a Node-RED runtime (test helper): it reports writers and connectors of every
 * tab (a core status node sees only its own), with the numbers their statuses show: a writer's
 * committed rows and backlog, a connector's stored bookmark, due windows and its recent deliveries
 * and failures (bounded to the newest ten).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { alignDown } from '../../lib/connector/windows';
import { formatUtc } from '../../lib/connector/time';
import { openDatabase } from '../../lib/db';
import type { Database } from '../../lib/db/types';
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import type { ConnectorSnapshot, IngestSnapshot, WriterSnapshot } from '../../lib/pipeline-stats';
import brokerNode from '../../nodes/iotp-mqtt-broker/iotp-mqtt-broker';
import ingestNode from '../../nodes/iotp-mqtt-in/iotp-mqtt-in';
import databaseNode from '../../nodes/iotp-database/iotp-database';
import writerNode from '../../nodes/iotp-db-write/iotp-db-write';
import batchPostNode from '../../nodes/iotp-batch-post/iotp-batch-post';
import statsNode from '../../nodes/iotp-stats/iotp-stats';
import { collect, flow, helper } from '../support/helper';
import { MQTT_HOST, MQTT_PORT, requireService } from '../support/services';
import { makeTempDir, removeTempDir } from '../support/tmp';
import { createSensorData, insertReadings, MIN, startReceiver, type Receiver } from './connector/fixtures';

interface StatsMsg {
  payload: { at: string; writers: WriterSnapshot[]; ingests: IngestSnapshot[]; connectors: ConnectorSnapshot[] };
}

describe('iotp-stats node', function () {
  this.timeout(30_000);
  let dir: string;
  let db: Database;
  let receiver: Receiver;

  before(() => {
    dir = makeTempDir('iotp-stats-');
    helper.settings({ iotpJournalDir: join(dir, 'journal') } as never);
  });
  beforeEach(async () => {
    db = openDatabase({ dialect: 'sqlite', file: join(dir, 'stats.db'), busyTimeoutMs: 5000 });
    await db.query('DROP TABLE IF EXISTS sensor_data');
    await db.query('DELETE FROM connector_bookmarks').catch(() => undefined);
    await createSensorData(db);
  });
  afterEach(async () => {
    await helper.unload();
    await receiver?.close();
    await db.close();
  });
  after(() => removeTempDir(dir));

  const url = (): string => `sqlite:${join(dir, 'stats.db')}`;

  async function snapshot(): Promise<StatsMsg['payload']> {
    const answer = collect<StatsMsg>(helper.getNode('out'), 1);
    helper.getNode('stats').receive({ payload: 'tick' });
    return (await answer)[0].payload;
  }

  async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean, what: string): Promise<T> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const value = await read();
      if (ok(value)) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('reports a writer on another tab: table, schema, committed rows, no backlog once stored', async () => {
    await helper.load(
      [databaseNode, writerNode, statsNode],
      flow([
        { id: 'pipeline', type: 'tab', label: '1 Pipeline' },
        { id: 'dash', type: 'tab', label: 'Dashboard' },
        { id: 'db', type: 'iotp-database', connection: 'url', url: url(), version: 1 },
        {
          id: 'w',
          z: 'pipeline',
          type: 'iotp-db-write',
          name: 'raw',
          database: 'db',
          table: 'sensor_data',
          columns: 'sensor_id\ntimestamp\nvalue',
          conflict: 'error',
          migrationSet: '',
          batchSize: 10,
          maxLatency: 20,
          journal: true,
          wires: [[]],
        },
        { id: 'stats', z: 'dash', type: 'iotp-stats', wires: [['out']] },
        { id: 'out', z: 'dash', type: 'helper' },
      ]),
    );
    for (let i = 0; i < 25; i++) helper.getNode('w').receive({ payload: { sensor_id: 1, timestamp: '2024-06-14 16:00:00', value: i } });
    const stats = await until(snapshot, (s) => s.writers[0]?.committed === 25, '25 committed rows');
    assert.equal(stats.connectors.length, 0);
    assert.equal(stats.writers.length, 1);
    const [writer] = stats.writers;
    assert.deepEqual(
      {
        kind: writer.kind,
        id: writer.id,
        name: writer.name,
        tab: writer.tab,
        table: writer.table,
        state: writer.state,
        backlogRows: writer.backlogRows,
        pendingSince: writer.pendingSince,
        lastError: writer.lastError,
      },
      {
        kind: 'writer',
        id: 'w',
        name: 'raw',
        tab: '1 Pipeline',
        table: 'sensor_data',
        state: 'ok',
        backlogRows: 0,
        pendingSince: null,
        lastError: null,
      },
    );
    assert.ok(!Number.isNaN(Date.parse(stats.at)));
  });

  it('reports an MQTT ingest: connected, the tables it feeds, its journal backlog (none once the flow finished)', async function () {
    await requireService(this, 'mqtt');
    const topic = `iotp-test/${randomBytes(5).toString('hex')}/readings`;
    await helper.load(
      [databaseNode, writerNode, statsNode, brokerNode, ingestNode],
      flow([
        { id: 'pipeline', type: 'tab', label: '4 Sensors' },
        { id: 'dash', type: 'tab', label: 'Dashboard' },
        { id: 'db', type: 'iotp-database', connection: 'url', url: url(), version: 1 },
        { id: 'broker', type: 'iotp-mqtt-broker', url: `mqtt://${MQTT_HOST}:${MQTT_PORT}`, cleanSession: true, version: 2 },
        {
          id: 'in',
          z: 'pipeline',
          type: 'iotp-mqtt-in',
          name: 'readings',
          broker: 'broker',
          topics: topic,
          qos: '2',
          format: 'json',
          ack: 'journal',
          wires: [['w']],
        },
        {
          id: 'w',
          z: 'pipeline',
          type: 'iotp-db-write',
          database: 'db',
          table: 'sensor_data',
          columns: 'sensor_id\ntimestamp\nvalue',
          batchSize: 10,
          maxLatency: 20,
          wires: [[]],
        },
        { id: 'stats', z: 'dash', type: 'iotp-stats', wires: [['out']] },
        { id: 'out', z: 'dash', type: 'helper' },
      ]),
    );
    await until(snapshot, (s) => s.ingests[0]?.connected === true, 'the ingest connected');
    const client = await mqtt.connectAsync(`mqtt://${MQTT_HOST}:${MQTT_PORT}`);
    for (let i = 0; i < 3; i++)
      await client.publishAsync(topic, JSON.stringify({ sensor_id: 1, timestamp: '2024-06-14 16:00:00', value: i }), { qos: 1 });
    await client.endAsync();
    const stats = await until(snapshot, (s) => s.writers[0]?.committed === 3 && s.ingests[0]?.inFlow === 0, 'three rows stored');
    const [ingest] = stats.ingests;
    assert.deepEqual(
      { ...ingest, journalBytes: typeof ingest.journalBytes },
      {
        kind: 'ingest',
        id: 'in',
        name: 'readings',
        tab: '4 Sensors',
        topics: topic,
        ack: 'journal',
        connected: true,
        feeds: ['sensor_data'],
        inFlow: 0,
        journalBacklog: 0,
        journalBytes: 'number',
        waitingSince: null,
        deadLettered: 0,
      },
    );
  });

  it('reports a connector: stored bookmark, due windows, recent deliveries and failures (newest first, at most ten)', async () => {
    let refuse = false;
    receiver = await startReceiver((_request, response) => {
      response.writeHead(refuse ? 400 : 200, { 'content-type': 'application/json' });
      response.end(refuse ? '{"detail":"refused"}' : '{}');
    });
    const start = alignDown(Date.now(), MIN) - 3 * MIN;
    await insertReadings(db, [
      { sensorId: 1, ms: start + 1000, value: 1 },
      { sensorId: 2, ms: start + MIN + 1000, value: 2 },
    ]);
    await helper.load(
      [databaseNode, batchPostNode, statsNode],
      flow([
        { id: 'pipeline', type: 'tab', label: '5 Data connector' },
        { id: 'dash', type: 'tab', label: 'Dashboard' },
        { id: 'db', type: 'iotp-database', connection: 'url', url: url(), version: 1 },
        {
          id: 'post',
          z: 'pipeline',
          type: 'iotp-batch-post',
          name: 'to receiver',
          database: 'db',
          endpoint: receiver.url,
          batchSize: '10',
          interval: '1',
          settle: '0',
          bookmark: 'stats-bookmark',
          startFrom: formatUtc(start),
          outboxDir: join(dir, 'outbox'),
          maxAttempts: 1,
          timeout: 5,
          version: 1,
          wires: [[], []],
        },
        { id: 'stats', z: 'dash', type: 'iotp-stats', wires: [['out']] },
        { id: 'out', z: 'dash', type: 'helper' },
      ]),
      { post: { apiKey: 'k' } },
    );
    const caughtUp = await until(
      snapshot,
      (s) => (s.connectors[0]?.lastDeliveries.length ?? 0) >= 3 && s.connectors[0].bookmark !== null,
      'three delivered windows',
    );
    const [connector] = caughtUp.connectors;
    assert.equal(connector.tab, '5 Data connector');
    assert.equal(connector.intervalMinutes, 1);
    assert.equal(connector.state, 'ready');
    assert.equal(connector.windowsDue, 0);
    assert.ok(connector.bookmark! >= start + 3 * MIN, `bookmark ${connector.bookmark} is the stored end of the last window`);
    assert.deepEqual(
      connector.lastDeliveries.slice(-3).map((d) => [d.origin, d.start_time, d.readings]),
      [
        ['schedule', formatUtc(start + 2 * MIN), 0],
        ['schedule', formatUtc(start + MIN), 1],
        ['schedule', formatUtc(start), 1],
      ],
      'newest first',
    );
    assert.deepEqual(connector.lastFailures, []);

    // Twelve refused request windows: the failures list keeps the newest ten.
    refuse = true;
    for (let i = 0; i < 12; i++)
      helper.getNode('post').receive({ payload: { start_time: formatUtc(start + i * 1000), end_time: formatUtc(start + i * 1000 + 500) } });
    const failed = await until(
      snapshot,
      (s) => s.connectors[0].lastFailures.length === 10 && s.connectors[0].lastFailures[0].start_time === formatUtc(start + 11_000),
      'ten failures',
    );
    assert.equal(failed.connectors[0].lastFailures[9].start_time, formatUtc(start + 2000));
    assert.ok(
      failed.connectors[0].lastFailures.every((f) => f.origin === 'request' && typeof f.reason === 'string' && f.reason.length > 0),
    );
  });
});
