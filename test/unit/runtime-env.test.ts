import assert from 'node:assert/strict';
import { databaseUrl, resolveRuntimeEnv, RuntimeConfigError } from '../../lib/runtime-env';
import { BAD_VALUES } from '../support/bad-config';

const userDir = '/srv/node-red';

describe('runtime environment for the shipped flows', () => {
  it("fills the contracts' defaults and an embedded SQLite database when nothing is set", () => {
    const { set, notes } = resolveRuntimeEnv({}, { userDir });
    assert.equal(set.TOPIC, 'DATA');
    assert.equal(set.STATS_TOPIC, 'STATS');
    assert.equal(set.STATESTREAM_BASE_TOPIC, 'homeassistant');
    assert.equal(set.HIDE_INACTIVE_AFTER_DAYS, '30');
    assert.equal(set.ISEMS_POLL_INTERVAL, '60');
    assert.equal(set.MQTT_TOPIC, 'sensors');
    assert.equal(set.INTERVAL_MS, '1000');
    assert.equal(set.FETCH_DATA_INTERVAL, '1');
    assert.equal(set.BATCH_SIZE, '30');
    assert.equal(set.SIMULATE, 'true');
    assert.equal(set.DATABASE_URL, 'sqlite:/srv/node-red/iot-pipelines.db');
    assert.equal(set.ROLLING_AVERAGES_DATABASE_URL, 'sqlite:/srv/node-red/rolling-averages.db');
    // The connector example's tab defaults it (its own receiver, on whatever port and root this Node-RED has).
    assert.equal(set.POST_DATA_ENDPOINT, undefined);
    assert.ok(notes.some((n) => n.startsWith('database: sqlite:')));
  });

  it("keeps what is set and honours the original pipelines' names", () => {
    const { set, notes } = resolveRuntimeEnv(
      {
        TOPIC: 'numbers',
        MQTT_HOST: 'broker',
        MQTT_PORT: '1884',
        MQTT_USER: 'u',
        MQTT_PASSWORD: 'p@ss word',
        MYSQL_HOST: 'db',
        MYSQL_USER: 'iot',
        MYSQL_PASSWORD: 's3cr@t',
        MYSQL_DATABASE: 'iot',
        DB_FILE: '/data/x.db',
        SIMULATE: 'false',
      },
      { userDir },
    );
    assert.equal(set.TOPIC, undefined, 'an explicit value is not overwritten');
    assert.equal(set.MQTT_URL, 'mqtt://u:p%40ss%20word@broker:1884');
    assert.equal(set.DATABASE_URL, 'mysql://iot:s3cr%40t@db:3306/iot?poolSize=4');
    assert.equal(set.ROLLING_AVERAGES_DATABASE_URL, 'sqlite:/data/x.db');
    assert.ok(
      notes.every((n) => !n.includes('s3cr') && !n.includes('p@ss')),
      notes.join('\n'),
    );
  });

  it('merges MQTT_USER/MQTT_PASSWORD into an MQTT_URL without credentials (the compose stack sets both)', () => {
    const { set } = resolveRuntimeEnv({ MQTT_URL: 'mqtt://mosquitto:1883', MQTT_USER: 'nr', MQTT_PASSWORD: 'pw' }, { userDir });
    assert.equal(set.MQTT_URL, 'mqtt://nr:pw@mosquitto:1883');
    const untouched = resolveRuntimeEnv({ MQTT_URL: 'mqtt://a:b@mosquitto:1883', MQTT_USER: 'nr', MQTT_PASSWORD: 'pw' }, { userDir });
    assert.equal(untouched.set.MQTT_URL, undefined);
  });

  for (const [variable, value] of [
    ['DATABASE_URL', 'postgres://u:hunter2@h:99999/d'],
    ['MQTT_URL', 'http://h'],
    ['MYSQL_PORT', 'x'],
    ['BATCH_SIZE', '0'],
    ['INTERVAL_MS', '1.5'],
    ['SIMULATE', 'perhaps'],
    ['HTTP_NODE_CORS_ORIGIN', '*'],
    ['HTTP_NODE_CORS_ORIGIN', 'https://app.example.com/api'],
  ] as const) {
    it(`rejects ${variable}=${value} with an error naming it and no secret`, () => {
      const env: Record<string, string> = { [variable]: value };
      if (variable === 'MYSQL_PORT') Object.assign(env, { MYSQL_HOST: 'db', MYSQL_USER: 'u', MYSQL_DATABASE: 'd' });
      assert.throws(
        () => resolveRuntimeEnv(env, { userDir }),
        (err: unknown) =>
          err instanceof RuntimeConfigError &&
          err.variable === variable &&
          err.message.includes(variable) &&
          !err.message.includes('hunter2'),
      );
    });
  }

  for (const { variable, value, extra } of BAD_VALUES.filter((bad) => !bad.path)) {
    it(`refuses ${variable}=${JSON.stringify(value)} naming ${variable}, without the secret`, () => {
      assert.throws(
        () => resolveRuntimeEnv({ ...extra, [variable]: value }, { userDir }),
        (err: unknown) =>
          err instanceof RuntimeConfigError &&
          err.variable === variable &&
          err.message.startsWith(variable) &&
          !err.message.includes('hunter'),
      );
    });
  }

  it('accepts what users set: ports, hosts, log levels, bcrypt hashes, topics with levels, keys, router lists', () => {
    const env = {
      PORT: '8080',
      HOST: '0.0.0.0',
      NODE_RED_LOG_LEVEL: 'debug',
      NODE_RED_ADMIN_PASSWORD_HASH: '$2b$08$wuAqPiKJlVN27eF5qJp.RuQYuy6ZYONW7a/UWYxDTtwKFCdB8F19y',
      NODE_RED_ADMIN_USER: 'admin',
      STATESTREAM_BASE_TOPIC: 'home/assistant',
      TOPIC: 'numbers/in',
      MQTT_SHARE_GROUP: 'iot-pipelines',
      ISEMS_ROUTER_IPS: '10.0.0.5, solar.lan:8080, https://node.example/ISEMS/ffopenmppt.log',
      API_KEY: 'k3y-with.symbols_~',
      POST_DATA_ENDPOINT: 'https://receiver.example/in',
      POST_DATA_API_KEY: 'Zm9vYmFy==',
      IOTP_INSTANCE_ID: 'instance a',
    };
    assert.doesNotThrow(() => resolveRuntimeEnv(env, { userDir }));
    // The connector example's own receiver is a path (its tab's default), posted to on whatever
    // port and httpNodeRoot Node-RED runs with: nothing to derive from PORT here.
    assert.doesNotThrow(() => resolveRuntimeEnv({ POST_DATA_ENDPOINT: '/simulated-receiver' }, { userDir }));
    assert.equal(resolveRuntimeEnv({ PORT: '8080' }, { userDir }).set.POST_DATA_ENDPOINT, undefined);
  });

  it("takes a PostgreSQL DATABASE_URL (SQLAlchemy's form too) as given, and notes it without the password", () => {
    const { set, notes } = resolveRuntimeEnv({ DATABASE_URL: 'postgresql+psycopg2://iot:hunter2@db:5432/plant' }, { userDir });
    assert.equal(set.DATABASE_URL, undefined, 'the given URL stays as it is');
    assert.ok(
      notes.some((n) => n.includes('postgresql://iot@db:5432/plant')),
      notes.join('\n'),
    );
    assert.ok(notes.every((n) => !n.includes('hunter2')));
  });

  it('reads HTTP_NODE_CORS_ORIGIN as a list of origins in the form browsers send', () => {
    const { set, notes } = resolveRuntimeEnv({ HTTP_NODE_CORS_ORIGIN: ' https://App.example.com/, http://10.0.0.5:8080 ' }, { userDir });
    assert.equal(set.HTTP_NODE_CORS_ORIGIN, 'https://app.example.com,http://10.0.0.5:8080');
    assert.ok(
      notes.some((n) => n.includes('https://app.example.com, http://10.0.0.5:8080')),
      notes.join('\n'),
    );
    assert.equal(
      resolveRuntimeEnv({ HTTP_NODE_CORS_ORIGIN: 'https://app.example.com' }, { userDir }).set.HTTP_NODE_CORS_ORIGIN,
      undefined,
      'already in that form',
    );
    assert.equal(resolveRuntimeEnv({}, { userDir }).set.HTTP_NODE_CORS_ORIGIN, undefined);
  });

  it('renders MySQL configs as URLs the database layer parses back', () => {
    assert.equal(
      databaseUrl({
        dialect: 'mysql',
        host: '::1',
        port: 3307,
        user: 'a b',
        password: 'p:w',
        database: 'd',
        poolSize: 2,
        connectTimeoutMs: 1000,
        tls: { rejectUnauthorized: false },
      }),
      'mysql://a%20b:p%3Aw@[::1]:3307/d?poolSize=2&ssl=true&sslRejectUnauthorized=false',
    );
  });
});
