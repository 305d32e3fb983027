/**
 * MQTT over TLS with credentials, end to end through the package's nodes, against a private
 * mosquitto that only accepts TLS with a user name and password (certificates made by openssl for
 * this run): messages flow with the CA and the right password; a wrong password and an untrusted
 * certificate are refused with an error that says why and never shows the password; switching
 * verification off is the one way to talk to a broker whose certificate is not trusted.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Node, NodeAPI } from 'node-red';
import brokerNode from '../../../nodes/iotp-mqtt-broker/iotp-mqtt-broker';
import ingestNode from '../../../nodes/iotp-mqtt-in/iotp-mqtt-in';
import publishNode from '../../../nodes/iotp-mqtt-out/iotp-mqtt-out';
import { classifyConnectError, MqttSession, resolveBrokerSettings } from '../../../lib/mqtt';
import { collect, flow as testFlow, helper } from '../../support/helper';
import {
  makeTestCertificates,
  missingPrograms,
  startPrivateMosquitto,
  type PrivateMosquitto,
  type TestCertificates,
} from '../../support/private-services';
import { inCi } from '../../support/services';

const USER = 'iot-ingest';
const PASSWORD = `pw-${randomBytes(8).toString('hex')}`;

/** A sink that completes what it receives (so the ingest acknowledges it) and re-emits it for collect(). */
function completingSink(RED: NodeAPI): void {
  function CompletingSink(this: Node, config: { id: string }) {
    RED.nodes.createNode(this, config as never);
    this.on('input', (msg, _send, done) => {
      this.emit('received', msg);
      done();
    });
  }
  RED.nodes.registerType('test-completing-sink', CompletingSink as never);
}

interface LogEntry {
  level?: number;
  msg?: unknown;
  id?: string;
}

const logEntries = (): LogEntry[] => (helper.log().args as unknown[][]).map(([entry]) => entry as LogEntry);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function waitForLog(predicate: (entry: LogEntry) => boolean, timeoutMs = 10_000): Promise<LogEntry> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = logEntries().find(predicate);
    if (found) return found;
    if (Date.now() > deadline)
      throw new Error(`no such log entry within ${timeoutMs} ms; got ${JSON.stringify(logEntries().map((e) => e.msg))}`);
    await sleep(50);
  }
}

describe('MQTT over TLS with credentials (private mosquitto, iotp-mqtt-* nodes)', function () {
  this.timeout(60_000);
  let certs: TestCertificates | undefined;
  let broker: PrivateMosquitto | undefined;
  let brokerId: string;
  let topic: string;

  before(async function () {
    const missing = await missingPrograms(['openssl', 'mosquitto', 'mosquitto_passwd']);
    if (missing.length > 0) {
      const message = `needs ${missing.join(', ')} (Debian: apt-get install openssl mosquitto)`;
      if (inCi()) throw new Error(message);
      console.log(`      [skip] ${message}`);
      this.skip();
    }
    certs = await makeTestCertificates();
    broker = await startPrivateMosquitto({ tls: certs, users: { [USER]: PASSWORD } });
  });

  after(async () => {
    await broker?.stop();
    certs?.remove();
  });

  beforeEach(() => {
    brokerId = `b${randomBytes(5).toString('hex')}`;
    topic = `iotp-tls/${randomBytes(5).toString('hex')}`;
  });

  afterEach(() => helper.unload());

  const brokerConfig = (extra: Record<string, unknown> = {}) => ({
    id: brokerId,
    type: 'iotp-mqtt-broker',
    url: broker!.url,
    protocolVersion: '5',
    receiveMaximum: 20,
    tlsRejectUnauthorized: true,
    version: 1,
    ...extra,
  });

  const pipeline = (extra: Record<string, unknown> = {}) =>
    testFlow([
      brokerConfig(extra),
      {
        id: 'in',
        type: 'iotp-mqtt-in',
        broker: brokerId,
        topics: `${topic}/#`,
        qos: '1',
        format: 'auto',
        ack: 'complete',
        wires: [['out']],
      },
      { id: 'out', type: 'test-completing-sink' },
      { id: 'pub', type: 'iotp-mqtt-out', broker: brokerId, topic: '', qos: '1', retain: 'false' },
    ]);

  /** The sink's 'received' events as the 'input' events collect() listens for. */
  function receivedEvents(): NodeJS.EventEmitter {
    const relay = new EventEmitter();
    (helper.getNode('out') as unknown as EventEmitter).on('received', (msg: unknown) => relay.emit('input', msg));
    return relay;
  }

  /** Publishes through iotp-mqtt-out and expects iotp-mqtt-in to receive it over the same TLS session. */
  async function roundTrip(): Promise<void> {
    await waitForLog((e) => e.msg === 'iotp-mqtt-broker.errors.connected');
    await sleep(300); // the subscription is granted right after CONNACK
    const received = collect<Record<string, unknown>>(receivedEvents(), 2);
    helper.getNode('pub').receive({ topic: `${topic}/a`, payload: { temperature: 21.5 } });
    helper.getNode('pub').receive({ topic: `${topic}/b`, payload: 'on' });
    const messages = (await received).sort((a, b) => String(a.topic).localeCompare(String(b.topic)));
    assert.deepEqual(messages[0].payload, { temperature: 21.5 });
    assert.equal(messages[1].payload, 'on');
  }

  /** Waits long enough for the refusal to be reported and checks nothing arrived and no secret was logged. */
  async function expectRefused(): Promise<void> {
    const out = helper.getNode('out');
    let arrived = 0;
    (out as unknown as EventEmitter).on('received', () => arrived++);
    helper.getNode('pub').receive({ topic: `${topic}/a`, payload: 'must not arrive' });
    const refusal = await waitForLog((e) => e.msg === 'iotp-mqtt-broker.errors.refused');
    assert.equal(refusal.level, 20, 'logged as an error');
    assert.equal(refusal.id, brokerId);
    await sleep(500);
    assert.equal(arrived, 0);
    assert.ok(!logEntries().some((e) => e.msg === 'iotp-mqtt-broker.errors.connected'), 'never connected');
    assert.ok(!JSON.stringify(logEntries()).includes(PASSWORD), 'the password appears in no log entry');
  }

  it('publishes and subscribes over mqtts:// with the CA and user/password as credentials', async () => {
    await helper.load([brokerNode, ingestNode, publishNode, completingSink], pipeline(), {
      [brokerId]: { username: USER, password: PASSWORD, ca: certs!.ca },
    });
    await roundTrip();
  });

  it('refuses a wrong password with an error that names the cause and not the password', async () => {
    await helper.load([brokerNode, ingestNode, publishNode, completingSink], pipeline(), {
      [brokerId]: { username: USER, password: `${PASSWORD}-wrong`, ca: certs!.ca },
    });
    await expectRefused();
    assert.ok(!JSON.stringify(logEntries()).includes(`${PASSWORD}-wrong`));
  });

  it('refuses a broker whose certificate is signed by a CA it was not given', async () => {
    await helper.load([brokerNode, ingestNode, publishNode, completingSink], pipeline(), {
      [brokerId]: { username: USER, password: PASSWORD, ca: certs!.otherCa },
    });
    await expectRefused();
  });

  it('refuses the private CA when no CA is configured (the system trust store does not know it)', async () => {
    await helper.load([brokerNode, ingestNode, publishNode, completingSink], pipeline(), {
      [brokerId]: { username: USER, password: PASSWORD },
    });
    await expectRefused();
  });

  it('connects to the untrusted broker only with verification turned off', async () => {
    await helper.load([brokerNode, ingestNode, publishNode, completingSink], pipeline({ tlsRejectUnauthorized: false }), {
      [brokerId]: { username: USER, password: PASSWORD },
    });
    await roundTrip();
  });

  it('the session reports why (auth, tls) and keeps retrying after a refusal, so fixing the broker side heals it', async () => {
    const reasons: string[] = [];
    let reconnects = 0;
    const session = new MqttSession(
      resolveBrokerSettings(
        {
          url: broker!.url,
          username: USER,
          password: 'not-the-password',
          tls: { ca: certs!.ca },
          protocolVersion: 5,
          reconnectInitialMs: 100,
          reconnectMaxMs: 200,
        },
        `s${randomBytes(4).toString('hex')}`,
      ),
    );
    session.on('error', (err: Error) => reasons.push(`${classifyConnectError(err).kind}: ${err.message}`));
    session.on('reconnecting', () => reconnects++);
    try {
      const deadline = Date.now() + 10_000;
      while (reconnects < 2 && Date.now() < deadline) await sleep(50);
      assert.ok(reconnects >= 2, `retried after the refusal (reconnects: ${reconnects})`);
      assert.match(reasons[0], /^auth: Connection refused: Not authorized/);
      assert.ok(!reasons.join('\n').includes('not-the-password'));
    } finally {
      await session.close();
    }

    const tlsReasons: string[] = [];
    const untrusted = new MqttSession(
      resolveBrokerSettings(
        { url: broker!.url, username: USER, password: PASSWORD, tls: { ca: certs!.otherCa }, reconnectInitialMs: 100 },
        `s${randomBytes(4).toString('hex')}`,
      ),
    );
    untrusted.on('error', (err: Error) => tlsReasons.push(classifyConnectError(err).kind));
    try {
      const deadline = Date.now() + 10_000;
      while (tlsReasons.length === 0 && Date.now() < deadline) await sleep(50);
      assert.equal(tlsReasons[0], 'tls');
      assert.equal(untrusted.connected, false);
    } finally {
      await untrusted.close();
    }
  });
});
