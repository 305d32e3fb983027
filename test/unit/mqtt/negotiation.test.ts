import assert from 'node:assert/strict';
import { mqtt5Losses, protocolName, ProtocolNegotiation } from '../../../lib/mqtt/negotiation';

describe('mqtt protocol negotiation', () => {
  it('auto tries MQTT 5 and keeps it once a broker accepted it', () => {
    const n = new ProtocolNegotiation('auto');
    assert.equal(n.version, 5);
    assert.equal(n.negotiated, undefined);
    n.accepted();
    assert.equal(n.negotiated, 5);
    // Later trouble is network trouble: no renegotiation.
    assert.deepEqual(n.closedWithoutAnswer(), { fallBack: false });
    assert.deepEqual(n.closedWithoutAnswer(), { fallBack: false });
    assert.deepEqual(n.refused(1), { fallBack: false });
    assert.equal(n.version, 5);
  });

  for (const code of [1, 132]) {
    it(`auto falls back to 3.1.1 at once on CONNACK code ${code}`, () => {
      const n = new ProtocolNegotiation('auto');
      const step = n.refused(code);
      assert.equal(step.fallBack, true);
      assert.equal(n.fellBackBecause, `it refused MQTT 5 (CONNACK code ${code})`);
      assert.equal(n.version, 4);
      n.accepted();
      assert.equal(n.negotiated, 4);
    });
  }

  it('auto falls back after two silent closes of the MQTT 5 CONNECT in a row, not after one', () => {
    const n = new ProtocolNegotiation('auto');
    assert.deepEqual(n.closedWithoutAnswer(), { fallBack: false });
    assert.equal(n.version, 5);
    assert.equal(n.closedWithoutAnswer().fallBack, true);
    assert.equal(n.version, 4);
    assert.match(n.fellBackBecause ?? '', /closed the connection on the MQTT 5 CONNECT/);
  });

  it('a network error or another refusal between two silent closes starts the count again', () => {
    const n = new ProtocolNegotiation('auto');
    n.closedWithoutAnswer();
    n.networkError();
    assert.equal(n.closedWithoutAnswer().fallBack, false);
    n.refused(5); // bad credentials: not about the version
    assert.equal(n.closedWithoutAnswer().fallBack, false);
    assert.equal(n.version, 5);
  });

  it('other refusals (credentials, server unavailable) never switch the version', () => {
    const n = new ProtocolNegotiation('auto');
    for (const code of [2, 3, 4, 5, 128, 134, 135, 136]) assert.equal(n.refused(code).fallBack, false, String(code));
    assert.equal(n.version, 5);
  });

  it('an explicit 5 or 4 never switches', () => {
    const five = new ProtocolNegotiation(5);
    assert.equal(five.refused(1).fallBack, false);
    five.closedWithoutAnswer();
    assert.equal(five.closedWithoutAnswer().fallBack, false);
    assert.equal(five.version, 5);
    const four = new ProtocolNegotiation(4);
    assert.equal(four.version, 4);
    assert.equal(four.refused(132).fallBack, false);
    four.accepted();
    assert.equal(four.negotiated, 4);
  });

  it('names versions as users know them', () => {
    assert.equal(protocolName(5), 'MQTT 5');
    assert.equal(protocolName(4), 'MQTT 3.1.1');
  });

  it('says what a 3.1.1 session goes without: expiry, in-flight limit, shared subscriptions only when used', () => {
    const base = {
      cleanSession: false,
      sessionExpirySeconds: 86_400,
      receiveMaximum: 1000,
      maximumPacketSize: undefined,
      filters: ['sensors'],
    };
    const losses = mqtt5Losses(base);
    assert.equal(losses.length, 2);
    assert.match(losses[0]!, /keeps the session by its own rules, not for 86400 s/);
    assert.match(losses[1]!, /in-flight window applies, not 1000/);
    assert.equal(mqtt5Losses({ ...base, cleanSession: true }).length, 1, 'a clean session has no expiry to lose');
    const shared = mqtt5Losses({ ...base, filters: ['$share/g/sensors', 'DATA'] });
    assert.equal(shared.length, 3);
    assert.match(shared[2]!, /\$share\/g\/sensors/);
    assert.match(mqtt5Losses({ ...base, maximumPacketSize: 4096 }).join(' '), /larger than 4096 bytes/);
  });
});
