/**
 * The acknowledge-on-settle session against the real mosquitto (127.0.0.1:1883).
 * Every test uses its own random topics and client ids, so runs never see each other's messages.
 */
import assert from 'node:assert/strict';
import { requireService } from '../../support/services';
import { settleAck } from '../../../lib/mqtt/acks';
import type { ReceivedMessage } from '../../../lib/mqtt/session';
import { CuttableProxy, Opened, publishMany, sleep, texts, uniqueClientId, uniqueTopic, waitFor } from './support';

describe('mqtt session (mosquitto)', function () {
  this.timeout(30_000);
  const opened = new Opened();

  before(async function () {
    await requireService(this, 'mqtt');
  });
  afterEach(() => opened.closeAll());

  for (const protocolVersion of [4, 5] as const) {
    describe(`MQTT ${protocolVersion === 4 ? '3.1.1' : '5'}`, () => {
      it('receives QoS 0, 1 and 2 with the granted QoS and acknowledges the settled ones', async () => {
        const topic = uniqueTopic();
        const session = opened.session({ protocolVersion, clientId: uniqueClientId() });
        const got: ReceivedMessage[] = [];
        const sub = session.subscribe(`${topic}/#`, { qos: 2 }, (m) => {
          got.push(m);
          m.settle();
        });
        await sub.ready;
        const pub = await opened.publisher(protocolVersion);
        await pub.publishAsync(`${topic}/q0`, 'zero', { qos: 0 });
        await pub.publishAsync(`${topic}/q1`, 'one', { qos: 1 });
        await pub.publishAsync(`${topic}/q2`, 'two', { qos: 2 });
        await waitFor(() => got.length === 3, 'three messages');
        const byTopic = new Map(got.map((m) => [m.topic, m]));
        assert.equal(byTopic.get(`${topic}/q0`)?.qos, 0);
        assert.equal(byTopic.get(`${topic}/q0`)?.ackId, undefined);
        assert.equal(byTopic.get(`${topic}/q1`)?.qos, 1);
        assert.equal(byTopic.get(`${topic}/q2`)?.qos, 2);
        assert.equal(byTopic.get(`${topic}/q2`)?.payload.toString(), 'two');
        assert.equal(typeof byTopic.get(`${topic}/q1`)?.ackId, 'string');
        await waitFor(() => session.counts().acked === 2, 'two acknowledgements');
        assert.equal(session.counts().inFlight, 0);
        // The QoS 2 exchange completes (PUBREL -> PUBCOMP) without a second delivery.
        await pub.publishAsync(`${topic}/marker`, 'marker', { qos: 1 });
        await waitFor(() => got.length >= 4, 'the marker');
        assert.deepEqual(got.map((m) => m.topic).sort(), [`${topic}/marker`, `${topic}/q0`, `${topic}/q1`, `${topic}/q2`]);
      });

      for (const qos of [1, 2] as const) {
        it(`redelivers an unsettled QoS ${qos} message (dup) after reconnecting with the same client id, not a settled one`, async () => {
          const topic = uniqueTopic();
          const clientId = uniqueClientId();
          const first = opened.session({ protocolVersion, clientId });
          const got: ReceivedMessage[] = [];
          await first.subscribe(topic, { qos }, (m) => got.push(m)).ready;
          const pub = await opened.publisher(protocolVersion);
          await pub.publishAsync(topic, 'settled', { qos });
          await pub.publishAsync(topic, 'unsettled', { qos });
          await waitFor(() => got.length === 2, 'both messages');
          assert.deepEqual(texts(got), ['settled', 'unsettled']);
          assert.equal(got[0]!.dup, false);
          got[0]!.settle();
          got[0]!.settle(); // idempotent
          await first.close();

          const second = opened.session({ protocolVersion, clientId });
          const again: ReceivedMessage[] = [];
          second.subscribe(topic, { qos }, (m) => {
            again.push(m);
            m.settle();
          });
          await waitFor(() => again.length >= 1, 'the redelivery');
          await pub.publishAsync(topic, 'marker', { qos });
          await waitFor(() => again.some((m) => m.payload.toString() === 'marker'), 'the marker');
          assert.deepEqual(texts(again), ['unsettled', 'marker']);
          assert.equal(again[0]!.dup, true);
          assert.equal(again[1]!.dup, false);
          // settling the first connection's copy now is a no-op (its packet id is void)
          assert.equal(settleAck(got[1]!.ackId), false);
        });
      }

      it('keeps a persistent session: messages published while disconnected arrive after reconnecting', async () => {
        const topic = uniqueTopic();
        const clientId = uniqueClientId();
        const first = opened.session({ protocolVersion, clientId });
        await first.subscribe(topic, { qos: 1 }, (m) => m.settle()).ready;
        await first.close();

        const pub = await opened.publisher(protocolVersion);
        await publishMany(pub, topic, 5);

        // The subscriber registers only after the session is connected (startup order of nodes):
        // the broker's messages are held unacknowledged until it does.
        const second = opened.session({ protocolVersion, clientId });
        await waitFor(() => second.connected, 'the reconnect');
        await waitFor(() => second.counts().inFlight === 5, 'the five queued messages to be parked');
        const got: ReceivedMessage[] = [];
        second.subscribe(topic, { qos: 1 }, (m) => {
          got.push(m);
          m.settle();
        });
        await waitFor(() => got.length === 5, 'five messages');
        assert.deepEqual(texts(got), ['0', '1', '2', '3', '4']);
        await waitFor(() => second.counts().inFlight === 0, 'all acknowledged');
      });

      for (const qos of [1, 2] as const) {
        it(`accepts QoS ${qos} acknowledgements in any order`, async () => {
          const topic = uniqueTopic();
          const clientId = uniqueClientId();
          const session = opened.session({ protocolVersion, clientId });
          const got: ReceivedMessage[] = [];
          await session.subscribe(topic, { qos }, (m) => got.push(m)).ready;
          const pub = await opened.publisher(protocolVersion);
          await publishMany(pub, topic, 10, qos);
          await waitFor(() => got.length === 10, 'ten messages');
          for (const m of [...got].reverse()) assert.equal(settleAck(m.ackId), true);
          await publishMany(pub, topic, 10, qos);
          await waitFor(() => got.length === 20, 'ten more after settling out of order');
          const odd = got.slice(10).filter((_, i) => i % 2 === 1);
          const even = got.slice(10).filter((_, i) => i % 2 === 0);
          for (const m of [...odd, ...even]) m.settle();
          await waitFor(() => session.counts().acked === 20, 'twenty acknowledgements');
          // QoS 2 finishes with the broker's PUBREL and our PUBCOMP after the PUBREC counted above;
          // let that exchange complete (it can lag on a loaded machine) before disconnecting.
          await new Promise((resolve) => setTimeout(resolve, 500));
          await session.close();

          const again: ReceivedMessage[] = [];
          const check = opened.session({ protocolVersion, clientId });
          check.subscribe(topic, { qos }, (m) => {
            again.push(m);
            m.settle();
          });
          await waitFor(() => check.connected, 'the reconnect');
          await pub.publishAsync(topic, 'marker', { qos });
          await waitFor(() => again.length >= 1, 'the marker');
          assert.deepEqual(texts(again), ['marker'], 'nothing acknowledged out of order was redelivered');
        });
      }
    });
  }

  it('bounds in-flight messages by Receive Maximum (MQTT 5): 200 unsettled -> 10 held, all arrive once settled', async () => {
    const topic = uniqueTopic();
    const session = opened.session({ protocolVersion: 5, clientId: uniqueClientId(), receiveMaximum: 10 });
    const got: ReceivedMessage[] = [];
    await session.subscribe(topic, { qos: 1 }, (m) => got.push(m)).ready;
    const pub = await opened.publisher(5);
    await publishMany(pub, topic, 200);
    await waitFor(() => got.length === 10, 'the first window');
    await sleep(300); // give the broker the chance to (wrongly) send more
    assert.equal(got.length, 10);
    assert.equal(session.counts().inFlight, 10);
    assert.equal(session.counts().pauses, 0, 'the broker honoured Receive Maximum; no need to pause reading');
    // Settle everything, including what arrives later.
    for (const m of got) m.settle();
    const seen = new Set(texts(got));
    session.subscribe(topic, { qos: 1 }, () => undefined).close(); // exercise add/remove while running
    await waitFor(() => {
      for (const m of got) {
        m.settle();
        seen.add(m.payload.toString());
      }
      return seen.size === 200;
    }, 'all 200 messages');
    assert.deepEqual(
      texts(got),
      Array.from({ length: 200 }, (_, i) => String(i)),
      'in order, none lost, no duplicates',
    );
  });

  it('bounds in-flight messages on MQTT 3.1.1 by pausing reading when the broker window is larger', async () => {
    const topic = uniqueTopic();
    // mosquitto's max_inflight_messages (default 20) is larger than this client's window of 5.
    const session = opened.session({ protocolVersion: 4, clientId: uniqueClientId(), receiveMaximum: 5 });
    const got: ReceivedMessage[] = [];
    await session.subscribe(topic, { qos: 1 }, (m) => got.push(m)).ready;
    const pub = await opened.publisher(4);
    await publishMany(pub, topic, 200);
    await waitFor(() => got.length === 5, 'the first window');
    await sleep(300);
    assert.equal(got.length, 5);
    assert.equal(session.counts().inFlight, 5);
    assert.ok(session.counts().pauses >= 1);
    let settledUpTo = 0;
    await waitFor(() => {
      // by id, as a downstream node holding only msg.ackId would
      while (settledUpTo < got.length) settleAck(got[settledUpTo++]!.ackId);
      return got.length === 200;
    }, 'all 200 messages');
    assert.deepEqual(
      texts(got),
      Array.from({ length: 200 }, (_, i) => String(i)),
      'in order, none lost, no duplicates',
    );
  });

  it('acknowledges messages no subscription claims within the grace period, and survives a throwing handler', async () => {
    const topic = uniqueTopic();
    const clientId = uniqueClientId();
    const first = opened.session({ protocolVersion: 4, clientId });
    await first.subscribe(`${topic}/#`, { qos: 1 }, (m) => m.settle()).ready;
    await first.close(); // the broker keeps the subscription of the persistent session

    const pub = await opened.publisher(4);
    const session = opened.session({ protocolVersion: 4, clientId }, { unmatchedGraceMs: 100 });
    const errors: Error[] = [];
    session.on('error', (err: Error) => errors.push(err));
    await waitFor(() => session.connected, 'the connection');
    await pub.publishAsync(`${topic}/orphan`, 'nobody wants me', { qos: 1 });
    await waitFor(() => session.counts().unmatched === 1, 'the orphan to be acknowledged after the grace period');
    assert.equal(session.counts().inFlight, 0);

    let calls = 0;
    session.subscribe(`${topic}/bad`, { qos: 1 }, () => {
      calls++;
      throw new Error('consumer bug');
    });
    await pub.publishAsync(`${topic}/bad`, 'x', { qos: 1 });
    await waitFor(() => errors.some((e) => /consumer bug/.test(e.message)), 'the handler error to be reported');
    assert.equal(calls, 1);
    assert.equal(session.counts().inFlight, 1, 'left unacknowledged: the broker redelivers it after a reconnect');
  });

  it('shares one session per key through the registry and closes it with the last lease', async () => {
    const { acquireSession, sharedSessionCount } = await import('../../../lib/mqtt/registry');
    const { resolveBrokerSettings } = await import('../../../lib/mqtt/options');
    const { MQTT_HOST, MQTT_PORT } = await import('../../support/services');
    const broker = resolveBrokerSettings({ host: MQTT_HOST, port: MQTT_PORT, cleanSession: true }, uniqueClientId());
    const before = sharedSessionCount();
    const a = acquireSession('cfg-1', broker);
    const b = acquireSession('cfg-1', broker);
    assert.equal(a.session, b.session);
    assert.equal(sharedSessionCount(), before + 1);
    await waitFor(() => a.session.connected, 'the shared connection');
    await a.release();
    await a.release(); // idempotent
    assert.equal(a.session.connected, true, 'still leased by b');
    await b.release();
    assert.equal(b.session.connected, false);
    assert.equal(sharedSessionCount(), before);
    await assert.rejects(b.session.publish('x/y', 'z'), { code: 'MQTT_SESSION_CLOSED' });
  });

  it('splits a shared subscription ($share/<group>/...) between two clients', async () => {
    const topic = uniqueTopic();
    const group = `g${uniqueClientId()}`;
    const a: ReceivedMessage[] = [];
    const b: ReceivedMessage[] = [];
    const sa = opened.session({ protocolVersion: 5, clientId: uniqueClientId() });
    const sb = opened.session({ protocolVersion: 5, clientId: uniqueClientId() });
    await sa.subscribe(`$share/${group}/${topic}/+`, { qos: 1 }, (m) => (a.push(m), m.settle())).ready;
    await sb.subscribe(`$share/${group}/${topic}/+`, { qos: 1 }, (m) => (b.push(m), m.settle())).ready;
    const pub = await opened.publisher(5);
    await publishMany(pub, `${topic}/x`, 100);
    await waitFor(() => a.length + b.length === 100, '100 messages in total');
    assert.ok(a.length > 0 && b.length > 0, `both members received some (${a.length} / ${b.length})`);
    assert.equal(new Set([...texts(a), ...texts(b)]).size, 100, 'each message went to exactly one member');
    assert.equal(a[0]!.subscription, `$share/${group}/${topic}/+`);
  });

  it('delivers a message to every matching subscription and acknowledges it when all settled', async () => {
    const topic = uniqueTopic();
    const session = opened.session({ protocolVersion: 5, clientId: uniqueClientId() });
    const wide: ReceivedMessage[] = [];
    const narrow: ReceivedMessage[] = [];
    await session.subscribe(`${topic}/#`, { qos: 1 }, (m) => wide.push(m)).ready;
    await session.subscribe(`${topic}/+/temp`, { qos: 1 }, (m) => narrow.push(m)).ready;
    const pub = await opened.publisher(5);
    await pub.publishAsync(`${topic}/a/temp`, '21', { qos: 1 });
    await waitFor(() => wide.length >= 1 && narrow.length >= 1, 'both subscriptions');
    // mosquitto may send one copy per matching subscription or one in total; either way the
    // acknowledgement waits for every consumer of a copy.
    const copies = session.counts().delivered;
    assert.equal(session.counts().inFlight, copies);
    wide.forEach((m) => m.settle());
    if (copies === 1) assert.equal(session.counts().inFlight, 1, 'one consumer still holds it');
    narrow.forEach((m) => m.settle());
    await waitFor(() => session.counts().inFlight === 0, 'the acknowledgement');
  });

  it('publish() resolves once the broker acknowledged (QoS 1 and 2) and rejects bad topics', async () => {
    const topic = uniqueTopic();
    const listener = opened.session({ protocolVersion: 4, clientId: uniqueClientId() });
    const got: ReceivedMessage[] = [];
    await listener.subscribe(`${topic}/#`, { qos: 2 }, (m) => (got.push(m), m.settle())).ready;
    const session = opened.session({ protocolVersion: 5, clientId: uniqueClientId() });
    await session.publish(`${topic}/one`, 'a', { qos: 1 });
    await session.publish(`${topic}/two`, Buffer.from('b'), { qos: 2, retain: false });
    assert.equal(session.counts().pendingPublishes, 0);
    assert.equal(session.counts().published, 2);
    await waitFor(() => got.length === 2, 'both publishes');
    await assert.rejects(session.publish(`${topic}/+`, 'x'), { code: 'MQTT_BAD_TOPIC' });
    await assert.rejects(session.publish(`${topic}/q`, 'x', { qos: 3 as 1 }), { code: 'MQTT_BAD_SETTINGS' });
  });

  it('bounds the offline publish queue, reconnects with growing backoff and redelivers what was unsettled', async () => {
    const proxy = new CuttableProxy();
    await proxy.start();
    try {
      const topic = uniqueTopic();
      const clientId = uniqueClientId();
      const session = opened.session({
        host: '127.0.0.1',
        port: proxy.port,
        protocolVersion: 5,
        clientId,
        reconnectInitialMs: 50,
        reconnectMaxMs: 400,
        maxPendingPublishes: 3,
      });
      const got: ReceivedMessage[] = [];
      await session.subscribe(topic, { qos: 1 }, (m) => got.push(m)).ready;
      const pub = await opened.publisher(5);
      await pub.publishAsync(topic, 'held', { qos: 1 });
      await waitFor(() => got.length === 1, 'the first message');

      const attempts: number[] = [];
      const periods: number[] = [];
      session.on('reconnecting', (n: number) => {
        attempts.push(n);
        periods.push(session.client.options.reconnectPeriod ?? 0);
      });
      await proxy.cut();
      await waitFor(() => !session.connected, 'the disconnect');
      got[0]!.settle(); // too late: its connection is gone, the broker will redeliver it
      assert.equal(session.counts().inFlight, 0);

      const queued = [
        session.publish(`${topic}/out`, '1', { qos: 1 }),
        session.publish(`${topic}/out`, '2', { qos: 1 }),
        session.publish(`${topic}/out`, '3', { qos: 0 }),
      ];
      await assert.rejects(session.publish(`${topic}/out`, '4', { qos: 1 }), { code: 'MQTT_PUBLISH_QUEUE_FULL' });

      await waitFor(() => attempts.length >= 4, 'four reconnect attempts');
      assert.deepEqual(attempts.slice(0, 4), [1, 2, 3, 4]);
      assert.ok(periods[3]! > periods[0]!, `the delay grows (${periods.join(', ')} ms)`);
      assert.ok(
        periods.every((p) => p <= 400),
        'and stays under the maximum',
      );

      await proxy.start();
      await waitFor(() => session.connected, 'the reconnect');
      await Promise.all(queued);
      await waitFor(() => got.length === 2, 'the redelivery');
      assert.equal(got[1]!.payload.toString(), 'held');
      assert.equal(got[1]!.dup, true);
      got[1]!.settle();
      await waitFor(() => session.counts().acked === 1, 'the acknowledgement');
      assert.equal(session.client.options.reconnectPeriod, 50, 'backoff reset after connecting');
    } finally {
      await opened.closeAll();
      await proxy.cut();
    }
  });

  it('close() does not hang on publishes the unreachable broker never acknowledges', async () => {
    const proxy = new CuttableProxy();
    await proxy.start();
    try {
      const session = opened.session({
        host: '127.0.0.1',
        port: proxy.port,
        protocolVersion: 4,
        clientId: uniqueClientId(),
        cleanSession: true,
      });
      await waitFor(() => session.connected, 'the connection');
      await proxy.cut();
      await waitFor(() => !session.connected, 'the disconnect');
      const pending = session.publish(`${uniqueTopic()}/x`, 'never acknowledged', { qos: 1 });
      assert.equal(session.counts().pendingPublishes, 1);
      await session.close();
      await assert.rejects(pending, { code: 'MQTT_SESSION_CLOSED' });
      assert.equal(session.counts().pendingPublishes, 0);
    } finally {
      await proxy.cut();
    }
  });

  it('never puts the password into error events', async () => {
    const proxy = new CuttableProxy();
    await proxy.start();
    const port = proxy.port;
    await proxy.cut(); // nothing listens there now
    const session = opened.session({ url: `mqtt://alice:s3cret-pw@127.0.0.1:${port}`, reconnectInitialMs: 50 });
    const errors: Error[] = [];
    session.on('error', (err: Error) => errors.push(err));
    await waitFor(() => errors.length >= 1, 'a connection error');
    assert.ok(errors.every((e) => !e.message.includes('s3cret-pw') && !String(e.stack).includes('s3cret-pw')));
    assert.equal(session.description, `mqtt://alice@127.0.0.1:${port}`);
  });
});
