import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  describeBroker,
  mqttDebugRequested,
  mqttSettingsFromEnv,
  reconnectDelay,
  redactUrl,
  resolveBrokerSettings,
  stableClientId,
  toClientOptions,
} from '../../../lib/mqtt/options';
import { MqttError } from '../../../lib/mqtt/errors';

const throwsSettings = (fn: () => unknown, pattern: RegExp, secret?: string): void => {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof MqttError);
    assert.equal(err.code, 'MQTT_BAD_SETTINGS');
    assert.match(err.message, pattern);
    if (secret) assert.ok(!err.message.includes(secret), `message leaks the password: ${err.message}`);
    return true;
  });
};

describe('mqtt options: resolveBrokerSettings', () => {
  it('parses mqtt, mqtts, ws and wss URLs with credentials and default ports', () => {
    const a = resolveBrokerSettings({ url: 'mqtt://user:p%40ss@broker.local:1884' }, 'n1');
    assert.equal(a.protocol, 'mqtt');
    assert.equal(a.host, 'broker.local');
    assert.equal(a.port, 1884);
    assert.equal(a.username, 'user');
    assert.equal(a.password, 'p@ss');
    assert.equal(resolveBrokerSettings({ url: 'mqtts://h' }, 'n').port, 8883);
    assert.deepEqual(resolveBrokerSettings({ url: 'mqtts://h' }, 'n').tls, {});
    const ws = resolveBrokerSettings({ url: 'ws://h:9001/socket' }, 'n');
    assert.equal(ws.protocol, 'ws');
    assert.equal(ws.port, 9001);
    assert.equal(ws.path, '/socket');
    assert.equal(resolveBrokerSettings({ url: 'wss://h' }, 'n').port, 443);
    assert.equal(resolveBrokerSettings({ url: 'ws://h' }, 'n').path, '/mqtt');
    assert.equal(resolveBrokerSettings({ url: 'tcp://h' }, 'n').protocol, 'mqtt');
    assert.equal(resolveBrokerSettings({ url: 'mqtt://[::1]:1883' }, 'n').host, '::1');
  });

  it('lets fields override the URL and switches to TLS when TLS options are given', () => {
    const b = resolveBrokerSettings({ url: 'mqtt://a:1883', host: 'b', port: 2000, tls: { rejectUnauthorized: false, ca: 'CA' } }, 'n');
    assert.equal(b.host, 'b');
    assert.equal(b.port, 2000);
    assert.equal(b.protocol, 'mqtts');
    const options = toClientOptions(b);
    assert.equal(options.rejectUnauthorized, false);
    assert.equal(options.ca, 'CA');
    assert.equal(resolveBrokerSettings({ host: 'h', tls: true }, 'n').port, 8883);
    assert.equal(toClientOptions(resolveBrokerSettings({ host: 'h', tls: true }, 'n')).rejectUnauthorized, true);
  });

  it('defaults to a persistent session with a stable client id', () => {
    const r = resolveBrokerSettings({ host: 'h' }, 'a1b2c3d4e5f60718');
    assert.equal(r.clientId, 'iotpa1b2c3d4e5f60718');
    assert.equal(resolveBrokerSettings({ host: 'h' }, 'a1b2c3d4e5f60718').clientId, r.clientId, 'same id every time');
    assert.equal(r.protocolVersion, 'auto', 'negotiated by default');
    const auto = toClientOptions(r);
    assert.equal(auto.protocolVersion, 5, 'auto tries MQTT 5 first');
    assert.deepEqual(auto.properties, { sessionExpiryInterval: 86_400, receiveMaximum: 100 });
    const v4 = toClientOptions(resolveBrokerSettings({ host: 'h', protocolVersion: 4 }, 'a1b2c3d4e5f60718'));
    assert.equal(v4.clean, false);
    assert.equal(v4.protocolVersion, 4);
    assert.equal(v4.properties, undefined);
    assert.equal(v4.resubscribe, false);
    assert.equal(v4.manualConnect, true);
    assert.equal(toClientOptions(r, 4).properties, undefined, 'an auto session that fell back sends no MQTT 5 properties');
    const v5 = toClientOptions(
      resolveBrokerSettings({ host: 'h', protocolVersion: 5, receiveMaximum: 50, sessionExpirySeconds: 3600 }, 'x'),
    );
    assert.deepEqual(v5.properties, { sessionExpiryInterval: 3600, receiveMaximum: 50 });
    assert.equal(
      toClientOptions(resolveBrokerSettings({ host: 'h', protocolVersion: 5, cleanSession: true }, 'x')).properties?.sessionExpiryInterval,
      0,
    );
    assert.equal(resolveBrokerSettings({ host: 'h', clientId: 'mine' }, 'x').clientId, 'mine');
    const capped = toClientOptions(resolveBrokerSettings({ host: 'h', protocolVersion: 5, maximumPacketSize: 65_536 }, 'x'));
    assert.equal(capped.properties?.maximumPacketSize, 65_536);
    throwsSettings(() => resolveBrokerSettings({ host: 'h', maximumPacketSize: 10 }, 'n'), /maximumPacketSize/);
  });

  it('rejects bad settings with clear errors that never contain the password', () => {
    throwsSettings(() => resolveBrokerSettings({ url: 'mqtt://u:hunter2@' }, 'n'), /not a valid URL/, 'hunter2');
    throwsSettings(() => resolveBrokerSettings({ url: 'http://u:hunter2@h' }, 'n'), /scheme "http:" is not supported/, 'hunter2');
    throwsSettings(() => resolveBrokerSettings({ url: 'mqtt://u:hun%zzter2@h' }, 'n'), /percent-encoded/, 'hunter2');
    throwsSettings(() => resolveBrokerSettings({}, 'n'), /host is missing/);
    throwsSettings(() => resolveBrokerSettings({ host: 'a b' }, 'n'), /not a host name/);
    throwsSettings(() => resolveBrokerSettings({ host: 'h', port: 70000 }, 'n'), /port must be an integer from 1 to 65535/);
    throwsSettings(() => resolveBrokerSettings({ host: 'h', port: 1.5 }, 'n'), /port/);
    throwsSettings(() => resolveBrokerSettings({ host: 'h', protocolVersion: 3 as 4 }, 'n'), /protocolVersion must be 'auto', 4/);
    throwsSettings(() => resolveBrokerSettings({ host: 'h', password: 'hunter2' }, 'n'), /password is set but no user name/, 'hunter2');
    throwsSettings(() => resolveBrokerSettings({ host: 'h', receiveMaximum: 0 }, 'n'), /receiveMaximum/);
    throwsSettings(() => resolveBrokerSettings({ host: 'h', clientId: 'a\nb' }, 'n'), /client id/);
    throwsSettings(() => resolveBrokerSettings({ host: 'h', reconnectInitialMs: 5000, reconnectMaxMs: 100 }, 'n'), /reconnectMaxMs/);
    throwsSettings(() => resolveBrokerSettings(null as never, 'n'), /must be an object/);
  });

  it('describes the broker without the password', () => {
    const r = resolveBrokerSettings({ url: 'mqtt://user:hunter2@host:1883' }, 'n');
    assert.equal(describeBroker(r), 'mqtt://user@host:1883');
    assert.equal(describeBroker(resolveBrokerSettings({ url: 'wss://[::1]/ws' }, 'n')), 'wss://[::1]:443/ws');
    assert.equal(redactUrl('mqtt://user:hunter2@host'), 'mqtt://user:***@host');
  });
});

describe('mqtt options: MQTT.js debug logging', () => {
  it('is a no-op unless DEBUG enables an mqttjs namespace', () => {
    for (const debug of [undefined, '', 'express:*', 'node-red', '-mqttjs*', 'mqtt', 'mqttjs:publish']) {
      assert.equal(mqttDebugRequested(debug), false, String(debug));
    }
    for (const debug of ['*', 'mqttjs*', 'mqttjs:*', 'mqttjs:client', 'express:*,mqttjs*', 'foo mqtt*', 'm*:client']) {
      assert.equal(mqttDebugRequested(debug), true, debug);
    }
  });

  it('hands MQTT.js a no-op logger when debugging is off, and its own when on', () => {
    const saved = process.env.DEBUG;
    try {
      delete process.env.DEBUG;
      assert.equal(typeof toClientOptions(resolveBrokerSettings({ host: 'h' }, 'n')).log, 'function');
      process.env.DEBUG = 'mqttjs*';
      assert.equal(toClientOptions(resolveBrokerSettings({ host: 'h' }, 'n')).log, undefined);
    } finally {
      if (saved === undefined) delete process.env.DEBUG;
      else process.env.DEBUG = saved;
    }
  });
});

describe('mqtt options: stableClientId', () => {
  it('is deterministic, alphanumeric and at most 23 characters for any id', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 200 }), (id) => {
        const a = stableClientId(id);
        assert.equal(stableClientId(id), a);
        assert.match(a, /^[A-Za-z0-9]{1,23}$/);
      }),
    );
  });
  it('keeps distinct ids distinct when it has to hash them', () => {
    assert.notEqual(stableClientId('node.with.dots.1'), stableClientId('node.with.dots.2'));
    assert.notEqual(stableClientId('ab'), stableClientId('a.b'));
    assert.throws(() => stableClientId(''), /stable id/);
  });
});

describe('mqtt options: reconnectDelay', () => {
  it('doubles from the initial delay up to the maximum, with bounded jitter', () => {
    const mid = (): number => 0.5;
    assert.deepEqual(
      [0, 1, 2, 3, 4, 10, 100].map((n) => reconnectDelay(n, 100, 1000, mid)),
      [100, 200, 400, 800, 1000, 1000, 1000],
    );
    fc.assert(
      fc.property(fc.nat(1000), fc.double({ min: 0, max: 0.999999, noNaN: true }), (attempt, r) => {
        const d = reconnectDelay(attempt, 50, 60_000, () => r);
        assert.ok(d >= 40 && d <= 60_000);
      }),
    );
  });
});

describe('mqtt options: mqttSettingsFromEnv', () => {
  it('prefers MQTT_URL', () => {
    const s = mqttSettingsFromEnv({ MQTT_URL: 'mqtts://u:p@h:8884', MQTT_HOST: 'ignored' });
    assert.deepEqual(s, { url: 'mqtts://u:p@h:8884' });
    const r = resolveBrokerSettings(s, 'n');
    assert.equal(r.host, 'h');
    assert.equal(r.password, 'p');
  });

  it('reads the original pipelines\u2019 variables', () => {
    assert.deepEqual(
      mqttSettingsFromEnv({ MQTT_HOST: 'mq', MQTT_PORT: '1884', MQTT_USER: 'u', MQTT_PASSWORD: 'p w', MQTT_USE_TLS: 'true' }),
      {
        host: 'mq',
        port: 1884,
        tls: true,
        username: 'u',
        password: 'p w',
      },
    );
    assert.deepEqual(mqttSettingsFromEnv({ BROKER: 'mosquitto' }), { host: 'mosquitto' });
    assert.deepEqual(mqttSettingsFromEnv({}), { host: 'localhost' });
    assert.deepEqual(mqttSettingsFromEnv({ MQTT_HOST: 'a', BROKER: 'b', MQTT_USE_TLS: 'false' }), { host: 'a' });
    assert.deepEqual(mqttSettingsFromEnv({ MQTT_URL: 'mqtt://u@h', MQTT_PASSWORD: 'p' }), { url: 'mqtt://u@h', password: 'p' });
  });

  it('names the variable in errors and never includes the password', () => {
    throwsSettings(() => mqttSettingsFromEnv({ MQTT_URL: 'mqtt://u:topsecret@', MQTT_PASSWORD: 'x' }), /^MQTT_URL: /, 'topsecret');
    throwsSettings(() => mqttSettingsFromEnv({ MQTT_PORT: 'abc' }), /MQTT_PORT must be a port number/);
    throwsSettings(() => mqttSettingsFromEnv({ MQTT_PORT: '0' }), /MQTT_PORT/);
    throwsSettings(() => mqttSettingsFromEnv({ MQTT_USE_TLS: 'maybe' }), /MQTT_USE_TLS must be true or false/);
    throwsSettings(() => mqttSettingsFromEnv({ MQTT_HOST: 'mqtt://u:topsecret@h' }), /MQTT_HOST must be a host name/, 'topsecret');
    throwsSettings(() => mqttSettingsFromEnv({ BROKER: 'a b' }), /^BROKER must be a host name/);
    throwsSettings(() => mqttSettingsFromEnv({ MQTT_PASSWORD: 'topsecret' }), /MQTT_PASSWORD is set but MQTT_USER is not/, 'topsecret');
  });
});
