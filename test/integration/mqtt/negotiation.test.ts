/**
 * The broker config's protocol choice against real brokers: `auto` speaks MQTT 5 where the broker
 * accepts it (mosquitto 2) and falls back to 3.1.1 where it does not, in both ways brokers refuse:
 * aedes answers the v5 CONNECT with CONNACK code 1, RabbitMQ's MQTT plugin before 3.13 closes the
 * connection. Each case prints what was negotiated. An explicit version never switches, and an
 * unreachable broker is reported with its cause.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import { resolveBrokerSettings, type BrokerSettings } from '../../../lib/mqtt/options';
import { MqttSession, type Negotiated, type ReceivedMessage } from '../../../lib/mqtt/session';
import { protocolName } from '../../../lib/mqtt/negotiation';
import { MQTT_HOST, MQTT_PORT, requireService } from '../../support/services';
import { RABBITMQ_HOST, RABBITMQ_MQTT_PORT, requireRabbitMqMqtt } from '../../support/rabbitmq-mqtt';
import { freePort } from '../../support/node-red';
import { uniqueClientId, uniqueTopic, waitFor } from './support';

interface Observed {
  session: MqttSession;
  negotiated: Negotiated[];
  disconnects: Array<string | undefined>;
  errors: Error[];
}

const sessions: MqttSession[] = [];

function open(settings: BrokerSettings): Observed {
  const broker = resolveBrokerSettings(
    { clientId: uniqueClientId(), reconnectInitialMs: 200, reconnectMaxMs: 1000, ...settings },
    'negotiation-test',
  );
  const session = new MqttSession(broker);
  sessions.push(session);
  const observed: Observed = { session, negotiated: [], disconnects: [], errors: [] };
  session.on('negotiated', (n: Negotiated) => observed.negotiated.push(n));
  session.on('disconnect', (reason: string | undefined) => observed.disconnects.push(reason));
  session.on('error', (err: Error) => observed.errors.push(err));
  return observed;
}

/** A QoS 1 round trip through the session: subscribe, publish, receive, settle. */
async function roundTrip(session: MqttSession): Promise<void> {
  const topic = uniqueTopic();
  const got: ReceivedMessage[] = [];
  await session.subscribe(topic, { qos: 1 }, (m) => {
    got.push(m);
    m.settle();
  }).ready;
  await session.publish(topic, 'hello', { qos: 1 });
  await waitFor(() => got.length === 1, 'the message back');
  assert.equal(got[0]!.payload.toString(), 'hello');
  await waitFor(() => session.counts().acked === 1, 'its acknowledgement');
}

function report(broker: string, observed: Observed): void {
  const n = observed.negotiated[0];
  console.log(
    `      negotiated with ${broker}: ${n ? protocolName(n.version) : 'nothing'}${n?.fellBackBecause ? ` (${n.fellBackBecause})` : ''}`,
  );
}

describe('mqtt protocol negotiation against real brokers', function () {
  this.timeout(60_000);

  afterEach(async () => {
    await Promise.all(sessions.splice(0).map((s) => s.close(0)));
  });

  describe('aedes (in-process; MQTT 3.1.1 only, answers an MQTT 5 CONNECT with code 1)', () => {
    let broker: Aedes;
    let server: Server;
    let url: string;

    before(async () => {
      broker = await Aedes.createBroker();
      server = createServer(broker.handle);
      const port = await freePort();
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
      url = `mqtt://127.0.0.1:${port}`;
    });
    after(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    });

    it('auto falls back to 3.1.1 at the first refusal, quietly, once, and then works', async () => {
      const observed = open({ url });
      await waitFor(() => observed.session.connected, 'the connection', 15_000);
      report('aedes', observed);
      assert.equal(observed.session.protocolVersion, 4);
      assert.equal(observed.negotiated.length, 1);
      assert.match(observed.negotiated[0]!.fellBackBecause ?? '', /refused MQTT 5 \(CONNACK code 1/);
      assert.ok(
        observed.negotiated[0]!.losses.some((loss) => /keeps the session by its own rules/.test(loss)),
        'says what 3.1.1 goes without',
      );
      assert.deepEqual(observed.errors, [], 'the refusal that led to the fallback is no error');
      assert.deepEqual(observed.disconnects, [], 'nor a disconnect');
      await roundTrip(observed.session);
    });

    it('an explicit MQTT 5 stays refused and says why', async () => {
      const observed = open({ url, protocolVersion: 5 });
      await waitFor(() => observed.errors.length > 0 && observed.disconnects.length > 0, 'the refusal', 15_000);
      assert.equal(observed.session.connected, false);
      assert.equal(observed.session.protocolVersion, undefined);
      assert.match(observed.session.problem ?? '', /unacceptable protocol version \(try MQTT 3\.1\.1\) \(code 1\)/);
      assert.equal(observed.negotiated.length, 0);
    });

    it('an explicit 3.1.1 connects without probing', async () => {
      const observed = open({ url, protocolVersion: 4 });
      await waitFor(() => observed.session.connected, 'the connection', 15_000);
      assert.deepEqual(observed.negotiated, [{ version: 4, losses: [] }]);
    });
  });

  describe('mosquitto (MQTT 5)', () => {
    before(async function () {
      await requireService(this, 'mqtt');
    });

    it('auto stays on MQTT 5', async () => {
      const observed = open({ host: MQTT_HOST, port: MQTT_PORT });
      await waitFor(() => observed.session.connected, 'the connection', 15_000);
      report(`mosquitto ${MQTT_HOST}:${MQTT_PORT}`, observed);
      assert.deepEqual(observed.negotiated, [{ version: 5, losses: [] }]);
      assert.deepEqual(observed.errors, []);
      await roundTrip(observed.session);
    });
  });

  describe("RabbitMQ's MQTT plugin (3.1.1 only before RabbitMQ 3.13: closes the connection on an MQTT 5 CONNECT)", () => {
    before(async function () {
      await requireRabbitMqMqtt(this);
    });

    it('auto falls back to 3.1.1 after the broker hangs up twice on the MQTT 5 CONNECT, and then works', async () => {
      const observed = open({ host: RABBITMQ_HOST, port: RABBITMQ_MQTT_PORT });
      await waitFor(() => observed.session.connected, 'the connection', 20_000);
      report(`RabbitMQ ${RABBITMQ_HOST}:${RABBITMQ_MQTT_PORT}`, observed);
      assert.equal(observed.session.protocolVersion, 4);
      assert.match(observed.negotiated[0]?.fellBackBecause ?? '', /closed the connection on the MQTT 5 CONNECT/);
      assert.deepEqual(observed.errors, []);
      assert.deepEqual(observed.disconnects, [], 'probing is no disconnect to report');
      await roundTrip(observed.session);
    });

    it('an explicit MQTT 5 stays disconnected and says the broker hung up on the MQTT 5 CONNECT', async () => {
      const observed = open({ host: RABBITMQ_HOST, port: RABBITMQ_MQTT_PORT, protocolVersion: 5 });
      await waitFor(() => observed.disconnects.length >= 2, 'two attempts', 20_000);
      assert.equal(observed.session.protocolVersion, undefined);
      assert.match(observed.disconnects[0] ?? '', /without answering the MQTT 5 CONNECT/);
    });
  });

  it('an unreachable broker is reported with its cause, and auto does not fall back for it', async () => {
    const port = await freePort();
    const observed = open({ url: `mqtt://127.0.0.1:${port}` });
    await waitFor(() => observed.disconnects.length >= 3, 'three failed attempts', 20_000);
    for (const reason of observed.disconnects) assert.match(reason ?? '', /ECONNREFUSED: nothing accepts connections/);
    assert.match(observed.session.problem ?? '', /ECONNREFUSED/);
    // A network error says nothing about the protocol: still probing MQTT 5.
    assert.equal(observed.negotiated.length, 0);
    assert.deepEqual(
      observed.errors.map((e) => (e as Error & { code?: unknown }).code).filter((c) => c !== 'ECONNREFUSED'),
      [],
    );
  });
});
