/**
 * The shipped flow's wiring and settings (flows/1-statestream.json), and that its mqtt ingest
 * filter `${STATESTREAM_BASE_TOPIC}/#` resolves from the environment.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { topicFilters } from '../../../nodes/iotp-mqtt-in/iotp-mqtt-in';
import { packageRoot } from '../../support/node-red';

type FlowNode = Record<string, unknown> & { id: string; type: string; z?: string; wires?: string[][] };
const flow = JSON.parse(readFileSync(join(packageRoot, 'flows', '1-statestream.json'), 'utf8')) as FlowNode[];
const byType = (type: string): FlowNode[] => flow.filter((n) => n.type === type);
const one = (type: string): FlowNode => {
  const nodes = byType(type);
  assert.equal(nodes.length, 1, type);
  return nodes[0];
};

describe('flows/1-statestream.json', () => {
  it('is one tab whose nodes all sit on it, config nodes off it', () => {
    const tab = one('tab');
    for (const node of flow) {
      if (node.type === 'tab') continue;
      if (node.type === 'iotp-mqtt-broker' || node.type === 'iotp-database') assert.equal(node.z, undefined, node.id);
      else assert.equal(node.z, tab.id, node.id);
    }
  });

  it('wires mqtt ingest → statestream → db write into messages with the statestream migration set', () => {
    const ingest = one('iotp-mqtt-in');
    const parse = one('iotp-statestream');
    const write = one('iotp-db-write');
    assert.deepEqual(ingest.wires, [[parse.id]]);
    assert.deepEqual(parse.wires, [[write.id]]);
    assert.equal(ingest.qos, '1');
    assert.equal(ingest.ack, 'journal', 'acknowledged once durable in the receive journal (docs/brokers.md)');
    assert.equal(ingest.format, 'string');
    assert.equal(parse.strings, 'raw', 'mqtt ingest outputs wire text');
    assert.equal(parse.output, 'record');
    assert.equal(parse.baseTopic, '${STATESTREAM_BASE_TOPIC}');
    assert.equal(write.table, 'messages');
    assert.equal(write.migrationSet, 'statestream');
    assert.equal(write.maxInFlight, 1, 'facts must keep arrival order');
    assert.deepEqual(String(write.columns).split('\n'), ['topic', 'qos', 'payload', 'retained', 'received_at = receivedAt']);
    const broker = one('iotp-mqtt-broker');
    assert.equal(broker.url, '${MQTT_URL:-mqtt://127.0.0.1:1883}');
    assert.equal(broker.cleanSession, false, 'a persistent session keeps messages while Node-RED is down');
    assert.equal(one('iotp-database').url, '${DATABASE_URL:-sqlite:iot-pipelines.db}');
  });

  it('publishes simulated traffic only when SIMULATE, through mqtt publish on the same broker, retained from the message', () => {
    const sim = one('iotp-hass-simulator');
    const pub = one('iotp-mqtt-out');
    assert.equal(sim.enabled, '${SIMULATE}');
    assert.equal(sim.baseTopic, '${STATESTREAM_BASE_TOPIC}');
    assert.deepEqual(sim.wires, [[pub.id]]);
    assert.equal(pub.broker, one('iotp-mqtt-in').broker);
    assert.equal(pub.retain, 'msg');
    assert.equal(pub.qos, '1');
  });

  it('sends errors to a debug node through catch and explains its environment in a comment', () => {
    const debug = one('debug');
    assert.deepEqual(one('catch').wires, [[debug.id]]);
    const info = byType('comment')
      .map((c) => String(c.info))
      .join('\n');
    for (const name of ['MQTT_URL', 'DATABASE_URL', 'STATESTREAM_BASE_TOPIC', 'SIMULATE']) assert.match(info, new RegExp(name));
  });

  it("resolves the ingest filter's ${STATESTREAM_BASE_TOPIC} from the environment", () => {
    const env: Record<string, string> = { STATESTREAM_BASE_TOPIC: 'home/statestream' };
    assert.deepEqual(
      topicFilters(String(one('iotp-mqtt-in').topics), (name) => env[name]),
      ['home/statestream/#'],
    );
    assert.deepEqual(
      topicFilters('${UNSET}/#\n\n  a/+/b  ', () => undefined),
      ['${UNSET}/#', 'a/+/b'],
    );
  });
});
