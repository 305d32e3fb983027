/**
 * The ingest's journal mode against the real local mosquitto: messages are acknowledged once
 * journaled (before the flow completes them), what the flow did not complete is replayed by the
 * next start, a full journal stops acknowledging without losing anything, and an unusable journal
 * directory falls back to acknowledging on completion.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { MqttClient } from 'mqtt';
import type { Node, NodeAPI } from 'node-red';
import { arrivals } from '../../lib/arrivals';
import { databaseIdentity, parseDatabaseUrl } from '../../lib/db/url';
import brokerNode from '../../nodes/iotp-mqtt-broker/iotp-mqtt-broker';
import databaseNode from '../../nodes/iotp-database/iotp-database';
import writerNode from '../../nodes/iotp-db-write/iotp-db-write';
import ingestNode from '../../nodes/iotp-mqtt-in/iotp-mqtt-in';
import { collect, flow as testFlow, helper } from '../support/helper';
import { deadLetterPath, readDeadLetters } from '../../lib/dead-letter';
import { MQTT_HOST, MQTT_PORT, requireService } from '../support/services';
import { TcpProxy } from '../support/tcp-proxy';
import { makeTempDir, removeTempDir } from '../support/tmp';

const BROKER_URL = `mqtt://${MQTT_HOST}:${MQTT_PORT}`;

/** A sink that refuses every message (a node's done(err)). */
function refusingSink(RED: NodeAPI): void {
  function RefusingSink(this: Node, config: { id: string }) {
    RED.nodes.createNode(this, config as never);
    this.on('input', (_msg, _send, done) => done(new Error('refused by the test')));
  }
  RED.nodes.registerType('test-refusing-sink', RefusingSink as never);
}

/** A sink whose done() the test calls: stands in for a writer that has not committed yet. */
const held: Array<{ payload: string; dup: unknown; position: unknown; replay: unknown; done: () => void }> = [];
function deferredSink(RED: NodeAPI): void {
  function DeferredSink(this: Node, config: { id: string }) {
    RED.nodes.createNode(this, config as never);
    this.on('input', (msg, _send, done) => {
      const m = msg as { dup?: unknown; _iotpJournal?: unknown; _iotpReplay?: unknown };
      held.push({ payload: String(msg.payload), dup: m.dup, position: m._iotpJournal, replay: m._iotpReplay, done: () => done() });
    });
  }
  RED.nodes.registerType('test-deferred-sink', DeferredSink as never);
}

function connect(): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(BROKER_URL, { protocolVersion: 5, clientId: `iotp-test-pub-${randomBytes(4).toString('hex')}` });
    client.once('connect', () => resolve(client));
    client.once('error', reject);
  });
}

async function publish(topic: string, payloads: string[], qos: 1 | 2 = 1): Promise<void> {
  const client = await connect();
  await Promise.all(payloads.map((p) => client.publishAsync(topic, p, { qos })));
  await client.endAsync();
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, what: string, ms = 10000): Promise<void> {
  for (const end = Date.now() + ms; !check();) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('iotp-mqtt-in journal mode (real mosquitto)', function () {
  this.timeout(60000);
  let base: string;
  let brokerId: string;
  let dir: string;

  before(async function () {
    await requireService(this, 'mqtt');
  });

  beforeEach(() => {
    base = `iotp-test/${randomBytes(5).toString('hex')}`;
    brokerId = `b${randomBytes(5).toString('hex')}`;
    dir = makeTempDir('iotp-rj-node-');
    // A short close budget: the held messages are never completed before a restart.
    helper.settings({ iotpJournalDir: dir, nodeCloseTimeout: 4000 } as never);
    held.length = 0;
    qos = 1;
  });

  afterEach(async () => {
    await helper.unload();
    helper.settings({});
    removeTempDir(dir);
  });

  // An in-flight window of 20, mosquitto's default max_inflight_messages.
  const broker = () => ({ id: brokerId, type: 'iotp-mqtt-broker', url: BROKER_URL, protocolVersion: '5', receiveMaximum: 20, version: 1 });
  const ingest = (ack: string, wire: string, extra: Record<string, unknown> = {}) => ({
    id: 'in',
    type: 'iotp-mqtt-in',
    broker: brokerId,
    topics: `${base}/#`,
    qos: String(qos),
    format: 'string',
    ack,
    wires: [[wire]],
    ...extra,
  });
  let qos: 1 | 2 = 1;

  it('acknowledges once journaled: more messages reach the flow than the broker lets be unacknowledged', async () => {
    await helper.load(
      [brokerNode, ingestNode, deferredSink],
      testFlow([broker(), ingest('journal', 'sink'), { id: 'sink', type: 'test-deferred-sink' }]),
    );
    await sleep(500);
    const payloads = Array.from({ length: 200 }, (_, i) => `m${i}`);
    await publish(`${base}/burst`, payloads);
    // None is completed, yet all 200 arrive: with acknowledgement on completion only 20 would.
    await until(() => held.length === 200, `200 messages in the sink (got ${held.length})`);
    assert.deepEqual(
      held.map((h) => h.payload),
      payloads,
      'in the order published',
    );
    for (const h of held.splice(0)) h.done();
  });

  for (const level of [1, 2] as const)
    it(`QoS ${level}: does not get messages from the broker again, but replays from the journal what the flow did not complete`, async () => {
      qos = level;
      await helper.load(
        [brokerNode, ingestNode, deferredSink],
        testFlow([broker(), ingest('journal', 'sink'), { id: 'sink', type: 'test-deferred-sink' }]),
      );
      await sleep(500);
      await publish(`${base}/x`, ['first', 'second', 'third'], level);
      await until(() => held.length === 3, 'three messages in the sink');
      // Each carries its journal position for the writers (exactly-once after a crash); none is a replay yet.
      const positions = held.map((h) => String(h.position));
      assert.ok(
        positions.every((p) => /^[0-9a-f]{16}:\d+$/.test(p)),
        positions.join(', '),
      );
      assert.deepEqual(
        held.map((h) => h.replay),
        [undefined, undefined, undefined],
      );
      held[1].done(); // only the second is "committed"
      await sleep(200);
      await helper.unload(); // a restart with two messages unfinished

      // Without the journal (same client id, persistent session): the broker has nothing to redeliver.
      await helper.load([brokerNode, ingestNode], testFlow([broker(), ingest('complete', 'out'), { id: 'out', type: 'helper' }]));
      const out = helper.getNode('out');
      const fromBroker: unknown[] = [];
      (out as unknown as NodeJS.EventEmitter).on('input', (msg: { payload: unknown }) => fromBroker.push(msg.payload));
      await sleep(1500);
      assert.deepEqual(fromBroker, [], 'the broker redelivered a journaled message');
      await helper.unload();

      // With the journal again: the two unfinished messages come back, marked as possible repeats.
      held.length = 0;
      const sinkFlow = testFlow([broker(), ingest('journal', 'sink'), { id: 'sink', type: 'test-deferred-sink' }]);
      await helper.load([brokerNode, ingestNode, deferredSink], sinkFlow);
      await until(() => held.length === 2, 'two replayed messages');
      assert.deepEqual(
        held.map((m) => [m.payload, m.dup, m.replay, m.position]),
        [
          ['first', true, true, positions[0]],
          ['third', true, true, positions[2]],
        ],
      );
      for (const h of held.splice(0)) h.done();
      await sleep(300);
      await helper.unload();

      // Completed this time: nothing is left to replay.
      await helper.load([brokerNode, ingestNode, deferredSink], sinkFlow);
      await sleep(1000);
      assert.deepEqual(
        held.map((m) => m.payload),
        [],
      );
    });

  it("holds a connector's schedule while journaled messages wait for the flow (the broker no longer has them)", async () => {
    const url = `sqlite:${join(dir, 'iot.db')}`;
    await helper.load(
      [brokerNode, ingestNode, deferredSink, databaseNode, writerNode],
      testFlow([
        broker(),
        ingest('journal', 'sink'),
        // The sink stands in for a slow step before the writer: the path reaches `sensor_data`.
        { id: 'sink', type: 'test-deferred-sink', wires: [['write']] },
        { id: 'db', type: 'iotp-database', connection: 'url', url, version: 1 },
        { id: 'write', type: 'iotp-db-write', database: 'db', table: 'sensor_data', columns: 'sensor_id\ntimestamp\nvalue', wires: [[]] },
      ]),
    );
    const reader = { database: databaseIdentity(parseDatabaseUrl(url)), tables: ['sensor_data'] };
    await until(() => arrivals.heldSince(reader, Date.now(), 0) === null, 'the ingest connected, nothing held');
    await publish(`${base}/r`, ['a', 'b']);
    await until(() => held.length === 2, 'two messages in the sink');
    const since = arrivals.heldSince(reader, Date.now(), 0);
    assert.ok(since !== null && since <= Date.now(), `journaled and not finished: the schedule waits (held since ${since})`);
    assert.equal(
      arrivals.heldSince({ database: reader.database, tables: ['messages'] }, Date.now(), 0),
      null,
      'not for a table it does not feed',
    );
    held[0].done();
    await sleep(100);
    assert.equal(arrivals.heldSince(reader, Date.now(), 0), since, 'one still waits');
    held[1].done();
    await until(() => arrivals.heldSince(reader, Date.now(), 0) === null, 'released: nothing held');
    held.length = 0;
  });

  it('QoS 2: stores a message once when our PUBREC is lost and the broker repeats the PUBLISH after reconnecting', async () => {
    qos = 2;
    const proxy = await new TcpProxy(MQTT_HOST, MQTT_PORT).start();
    try {
      const viaProxy = { ...broker(), url: `mqtt://127.0.0.1:${proxy.port}`, reconnectInitialMs: 200 };
      await helper.load(
        [brokerNode, ingestNode, deferredSink],
        testFlow([viaProxy, ingest('journal', 'sink'), { id: 'sink', type: 'test-deferred-sink' }]),
      );
      await sleep(500);
      // The connection drops as our PUBREC goes out (MQTT 5: type 0x50, length 4 with reason code and properties):
      // the broker never gets it and sends the PUBLISH again on the next connection.
      const pubrecLost = proxy.cutOn(Buffer.from([0x50, 0x04]), 'before-server');
      await publish(`${base}/exactly-once`, ['once'], 2);
      await pubrecLost;
      await until(() => held.length >= 1, 'the message in the flow');
      // The repeat is answered on the new connection; then the broker's PUBREL completes the handshake.
      await sleep(2500);
      await publish(`${base}/exactly-once`, ['next'], 2);
      await until(() => held.length >= 2, 'the next message in the flow');
      await sleep(500);
      assert.deepEqual(
        held.map((h) => h.payload),
        ['once', 'next'],
        'each QoS 2 message reached the flow once',
      );
      for (const h of held.splice(0)) h.done();
    } finally {
      await helper.unload();
      await proxy.stop();
    }
  });

  it('stops acknowledging while the journal is full, and loses nothing', async () => {
    // A limit of about 2 KB: a few dozen small messages.
    await helper.load(
      [brokerNode, ingestNode, deferredSink],
      testFlow([broker(), ingest('journal', 'sink', { journalMB: 0.002 }), { id: 'sink', type: 'test-deferred-sink' }]),
    );
    await sleep(500);
    const payloads = Array.from({ length: 150 }, (_, i) => `full-${i}`);
    await publish(`${base}/f`, payloads);
    await until(() => held.length > 0, 'first messages');
    await sleep(500);
    assert.ok(held.length < 150, `${held.length} messages passed a full journal`);
    // Completing what arrived frees room; repeat until everything came through.
    await until(
      () => {
        for (const h of held) h.done();
        return held.length === 150;
      },
      `all 150 messages (got ${held.length})`,
      20000,
    );
    assert.deepEqual(
      held.map((h) => h.payload),
      payloads,
    );
    for (const h of held) h.done();
  });

  it('dead-letters what the flow cannot process and releases it from the journal: nothing comes back after a restart', async () => {
    const deadDir = join(dir, 'dead');
    helper.settings({ iotpJournalDir: dir, iotpDeadLetterDir: deadDir, nodeCloseTimeout: 4000 } as never);
    const flow = testFlow([broker(), ingest('journal', 'refuse', { format: 'json' }), { id: 'refuse', type: 'test-refusing-sink' }]);
    await helper.load([brokerNode, ingestNode, refusingSink], flow);
    await sleep(500);
    await publish(`${base}/p`, ['{not json', '{"refused":true}']);
    const records = () => readDeadLetters(deadLetterPath(deadDir, 'in')).records;
    await until(() => records().length === 2, 'two dead letters');
    assert.deepEqual(
      records().map((r) => [r.payload, r.tries]),
      [
        ['{not json', 1],
        ['{"refused":true}', 1],
      ],
    );
    await sleep(300);
    await helper.unload();
    await helper.load([brokerNode, ingestNode, refusingSink], flow);
    await sleep(1500);
    assert.equal(records().length, 2, 'a dead letter was replayed from the journal or redelivered by the broker');
  });

  it('dead-letters a journaled message the flow has not finished after five hand-overs across restarts', async function () {
    this.timeout(120_000);
    const deadDir = join(dir, 'dead');
    helper.settings({ iotpJournalDir: dir, iotpDeadLetterDir: deadDir, nodeCloseTimeout: 4000 } as never);
    const flow = testFlow([broker(), ingest('journal', 'sink'), { id: 'sink', type: 'test-deferred-sink' }]);
    await helper.load([brokerNode, ingestNode, deferredSink], flow);
    await sleep(500);
    await publish(`${base}/loop`, ['stops the runtime']);
    for (let start = 1; start <= 5; start++) {
      if (start > 1) await helper.load([brokerNode, ingestNode, deferredSink], flow);
      await until(() => held.length === 1, `hand-over ${start}`);
      held.length = 0; // never completed, as if the process died with it
      await helper.unload();
    }
    await helper.load([brokerNode, ingestNode, deferredSink], flow);
    const records = () => readDeadLetters(deadLetterPath(deadDir, 'in')).records;
    await until(() => records().length === 1, 'the dead letter');
    assert.equal(held.length, 0, 'handed to the flow a sixth time');
    assert.deepEqual([records()[0].payload, records()[0].tries], ['stops the runtime', 6]);
    assert.match(records()[0].reason, /replays/);
    await helper.unload();
    await helper.load([brokerNode, ingestNode, deferredSink], flow);
    await sleep(1000);
    assert.equal(held.length, 0, 'released: not replayed again');
  });

  it('falls back to acknowledging on completion when the journal directory is unusable', async () => {
    const file = join(dir, 'not-a-directory');
    writeFileSync(file, '');
    helper.settings({ iotpJournalDir: join(file, 'journal'), nodeCloseTimeout: 4000 } as never);
    await helper.load([brokerNode, ingestNode], testFlow([broker(), ingest('journal', 'out'), { id: 'out', type: 'helper' }]));
    const logged = (helper.log() as unknown as { args: Array<[{ level: number; msg: unknown }]> }).args.map(([entry]) => String(entry.msg));
    assert.ok(
      logged.some((msg) => msg.includes('journalUnusable') || msg.includes('journal unusable')),
      logged.join('\n'),
    );
    const received = collect<{ payload: string }>(helper.getNode('out'), 2);
    await sleep(500);
    await publish(`${base}/u`, ['a', 'b']);
    assert.deepEqual(
      (await received).map((m) => m.payload),
      ['a', 'b'],
    );
    assert.deepEqual(readdirSync(dir), ['not-a-directory']);
  });
});
