/**
 * The environment the shipped flows read (`${DATABASE_URL}`, `${MQTT_URL}`, `${TOPIC}`...),
 * resolved once at start-up by settings.js, for `npm start` and the compose container alike:
 * canonical names first, then the original pipelines' names (MYSQL_*, MQTT_HOST, BROKER...), then
 * the defaults of the contracts. Invalid values raise a RuntimeConfigError naming the variable, so
 * start-up can print one clear line instead of a stack trace.
 */
import { isIP } from 'node:net';
import { isAbsolute, resolve } from 'node:path';
import { adminPasswordHashProblem } from './admin-password';
import { hasControlCharacter } from './control-characters';
import { databaseConfigFromEnv, describeConfig, parseDatabaseUrl } from './db/url';
import type { DatabaseConfig } from './db/types';
import { IotpError } from './errors';
import { parseEndpoint } from './connector/poster';
import { isOwnEndpoint, ownEndpointUrl } from './connector/own-endpoint';
import { parseNodeList, resolveNodeUrl } from './isems/poller';
import { describeBroker, mqttSettingsFromEnv, resolveBrokerSettings } from './mqtt/options';
import { assertTopicName } from './mqtt/topics';
import { parseAllowedOrigins } from './origin-guard';

export type Env = Readonly<Record<string, string | undefined>>;

export class RuntimeConfigError extends IotpError<'RUNTIME_CONFIG_INVALID'> {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super('RUNTIME_CONFIG_INVALID', message);
  }
}

export interface ResolvedRuntimeEnv {
  /** Variables to set in process.env (only those that were unset or needed normalising). */
  set: Record<string, string>;
  /** One line each, for the start-up log (no secrets). */
  notes: string[];
}

/** Defaults of the original pipelines' variables (contracts 1-5). */
const PLAIN_DEFAULTS: Record<string, string> = {
  SIMULATE: 'true',
  STATESTREAM_BASE_TOPIC: 'homeassistant',
  TOPIC: 'DATA',
  STATS_TOPIC: 'STATS',
  ISEMS_ROUTER_IPS: '',
  ISEMS_POLL_INTERVAL: '60',
  HIDE_INACTIVE_AFTER_DAYS: '30',
  MQTT_TOPIC: 'sensors',
  INTERVAL_MS: '1000',
  FETCH_DATA_INTERVAL: '1',
  BATCH_SIZE: '30',
  ISEMS_RETENTION_ROWS: '20000',
  // Several instances splitting one stream: their ingest nodes subscribe $share/<group>/<topic>.
  MQTT_SHARE_GROUP: '',
};

/** Variables that must be positive integers, with the largest sensible value. */
const POSITIVE_INTEGERS: Record<string, number> = {
  ISEMS_POLL_INTERVAL: 86_400,
  HIDE_INACTIVE_AFTER_DAYS: 36_500,
  INTERVAL_MS: 86_400_000,
  FETCH_DATA_INTERVAL: 10_080,
  BATCH_SIZE: 100_000,
  ISEMS_RETENTION_ROWS: 100_000_000,
};

const given = (env: Env, name: string): string | undefined => {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
};

/** A connection URL (with credentials, for the process environment only; never logged). */
export function databaseUrl(config: DatabaseConfig): string {
  if (config.dialect === 'sqlite') return `sqlite:${config.file}`;
  const auth = config.user ? `${encodeURIComponent(config.user)}${config.password ? `:${encodeURIComponent(config.password)}` : ''}@` : '';
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const params = new URLSearchParams({ poolSize: String(config.poolSize) });
  if (config.dialect === 'postgres') {
    if (config.tls) params.set('sslmode', config.tls.mode);
    return `postgresql://${auth}${host}:${config.port}/${encodeURIComponent(config.database)}?${params}`;
  }
  if (config.tls) {
    params.set('ssl', 'true');
    if (!config.tls.rejectUnauthorized) params.set('sslRejectUnauthorized', 'false');
  }
  return `mysql://${auth}${host}:${config.port}/${encodeURIComponent(config.database)}?${params}`;
}

function withUserInfo(url: string, user: string | undefined, password: string | undefined): string {
  if (!user || /^[a-z]+:\/\/[^/]*@/i.test(url)) return url;
  const auth = `${encodeURIComponent(user)}${password ? `:${encodeURIComponent(password)}` : ''}@`;
  return url.replace(/^([a-z]+:\/\/)/i, `$1${auth}`);
}

const TRUE_FALSE = /^(true|false|1|0|yes|no)$/i;
/** Node-RED's log levels (settings.js logging.console.level). */
const LOG_LEVELS = ['off', 'fatal', 'error', 'warn', 'info', 'debug', 'trace'];
/** bcrypt as Node-RED's adminAuth checks it (`npx node-red admin hash-pw` prints `$2b$08$` + 53 characters). */
/** What an HTTP header value may hold as a bearer token: visible ASCII, no spaces. */
const HEADER_TOKEN = /^[\x21-\x7e]+$/;

/**
 * Checks of the variables that are not resolved into others below (those are checked where they
 * are resolved): each throws a RuntimeConfigError naming the variable, never echoing a secret.
 * Unset or empty means "use the default" everywhere, as the README says.
 */
const CHECKS: ReadonlyArray<[name: string, check: (value: string) => string | undefined]> = [
  [
    'PORT',
    (v) =>
      /^\d{1,5}$/.test(v) && Number(v) >= 1 && Number(v) <= 65_535
        ? undefined
        : `PORT must be a TCP port from 1 to 65535 (got ${JSON.stringify(v)})`,
  ],
  [
    'HOST',
    (v) =>
      isIP(v) !== 0 || /^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$/.test(v)
        ? undefined
        : `HOST must be an IP address or host name to listen on (got ${JSON.stringify(v)})`,
  ],
  [
    'NODE_RED_LOG_LEVEL',
    (v) => (LOG_LEVELS.includes(v) ? undefined : `NODE_RED_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(v)})`),
  ],
  // Accepted silently, a malformed hash locks everybody out of the editor: say so now.
  [
    'NODE_RED_ADMIN_PASSWORD_HASH',
    (v) => {
      const problem = adminPasswordHashProblem(v);
      return (
        problem &&
        `NODE_RED_ADMIN_PASSWORD_HASH cannot be used: ${problem}; nobody could log in with it (\`npx node-red admin hash-pw\` prints a hash)`
      );
    },
  ],
  [
    'NODE_RED_ADMIN_USER',
    (v) =>
      v.length <= 64 && !hasControlCharacter(v) ? undefined : 'NODE_RED_ADMIN_USER must be a user name of at most 64 printable characters',
  ],
  [
    'NODE_RED_CREDENTIAL_SECRET',
    (v) => (!hasControlCharacter(v) ? undefined : 'NODE_RED_CREDENTIAL_SECRET must not contain control characters (a pasted line break?)'),
  ],
  [
    'IOTP_INSTANCE_ID',
    (v) => (v.length <= 256 && !hasControlCharacter(v) ? undefined : 'IOTP_INSTANCE_ID must be a name of at most 256 printable characters'),
  ],
  ['IOTP_RESET_FLOWS', (v) => (TRUE_FALSE.test(v) ? undefined : `IOTP_RESET_FLOWS must be true or false (got ${JSON.stringify(v)})`)],
  ['STATESTREAM_BASE_TOPIC', (v) => topicProblem('STATESTREAM_BASE_TOPIC', v)],
  ['TOPIC', (v) => topicProblem('TOPIC', v)],
  ['STATS_TOPIC', (v) => topicProblem('STATS_TOPIC', v)],
  ['MQTT_TOPIC', (v) => topicProblem('MQTT_TOPIC', v)],
  [
    'MQTT_SHARE_GROUP',
    (v) =>
      /^[^/+#\s\u0000]{1,128}$/.test(v)
        ? undefined
        : `MQTT_SHARE_GROUP must be a name without /, +, # or spaces (got ${JSON.stringify(v.slice(0, 100))})`,
  ],
  ['DB_FILE', (v) => (!hasControlCharacter(v) ? undefined : 'DB_FILE must be a file name or path')],
  [
    'ISEMS_ROUTER_IPS',
    (v) => {
      try {
        for (const node of parseNodeList(v.replace(/\s*\n\s*/g, ','))) resolveNodeUrl(node);
        return undefined;
      } catch (err) {
        return `ISEMS_ROUTER_IPS: ${(err as Error).message} (expected IPs, host:port or http(s) URLs, comma-separated)`;
      }
    },
  ],
  [
    'POST_DATA_ENDPOINT',
    (v) => {
      try {
        // A path is one of this Node-RED's own endpoints (the example's simulated receiver).
        if (isOwnEndpoint(v)) parseEndpoint(ownEndpointUrl(v, 'http://127.0.0.1/'));
        else parseEndpoint(v);
        return undefined;
      } catch (err) {
        return (err as Error).message;
      }
    },
  ],
  // Keys travel in an `Authorization: Bearer` header: one with a space or a line break never matches (API_KEY) or is never sent (POST_DATA_API_KEY).
  [
    'API_KEY',
    (v) =>
      HEADER_TOKEN.test(v)
        ? undefined
        : 'API_KEY must be printable ASCII without spaces (it is compared with the Authorization: Bearer header)',
  ],
  [
    'POST_DATA_API_KEY',
    (v) =>
      HEADER_TOKEN.test(v)
        ? undefined
        : 'POST_DATA_API_KEY must be printable ASCII without spaces (it is sent in an Authorization: Bearer header)',
  ],
];

function topicProblem(name: string, value: string): string | undefined {
  try {
    assertTopicName(value);
    return undefined;
  } catch (err) {
    return `${name} must be an MQTT topic without wildcards: ${(err as Error).message}`;
  }
}

export function resolveRuntimeEnv(env: Env, options: { userDir: string }): ResolvedRuntimeEnv {
  const set: Record<string, string> = {};
  const notes: string[] = [];

  for (const [name, check] of CHECKS) {
    const value = given(env, name);
    if (value === undefined) continue;
    const problem = check(value);
    if (problem !== undefined) throw new RuntimeConfigError(name, problem);
  }
  const rollingDatabase = given(env, 'ROLLING_AVERAGES_DATABASE_URL');
  if (rollingDatabase !== undefined) {
    try {
      parseDatabaseUrl(rollingDatabase, { variable: 'ROLLING_AVERAGES_DATABASE_URL', baseDir: options.userDir });
    } catch (err) {
      throw new RuntimeConfigError('ROLLING_AVERAGES_DATABASE_URL', (err as Error).message);
    }
  }

  for (const [name, value] of Object.entries(PLAIN_DEFAULTS)) {
    if (given(env, name) === undefined && env[name] === undefined) set[name] = value;
  }
  for (const [name, max] of Object.entries(POSITIVE_INTEGERS)) {
    const text = given(env, name) ?? set[name];
    if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > max) {
      throw new RuntimeConfigError(name, `${name} must be a whole number from 1 to ${max} (got ${JSON.stringify(env[name])})`);
    }
  }
  const simulate = given(env, 'SIMULATE') ?? set.SIMULATE;
  if (!TRUE_FALSE.test(simulate))
    throw new RuntimeConfigError('SIMULATE', `SIMULATE must be true or false (got ${JSON.stringify(simulate)})`);
  set.SIMULATE = /^(true|1|yes)$/i.test(simulate) ? 'true' : 'false';

  // POST_DATA_ENDPOINT has no default here: the connector example's tab defaults it to its own
  // simulated receiver (a path, posted to on the real port and httpNodeRoot, without a key).

  // Database: DATABASE_URL, else MYSQL_*, else SQLite in the user directory.
  let database: DatabaseConfig;
  try {
    database = databaseConfigFromEnv(env, { userDir: options.userDir });
  } catch (err) {
    const variable = (err as { variable?: string }).variable ?? 'DATABASE_URL';
    throw new RuntimeConfigError(variable, (err as Error).message);
  }
  if (given(env, 'DATABASE_URL') === undefined || database.dialect === 'sqlite') set.DATABASE_URL = databaseUrl(database);
  notes.push(
    `database: ${describeConfig(database)}${given(env, 'DATABASE_URL') ? '' : given(env, 'MYSQL_HOST') ? ' (from MYSQL_*)' : ' (default)'}`,
  );

  // The rolling-averages pipeline keeps its raw numbers in a SQLite file of its own (DB_FILE).
  if (given(env, 'ROLLING_AVERAGES_DATABASE_URL') === undefined) {
    const dbFile = given(env, 'DB_FILE') ?? 'rolling-averages.db';
    set.ROLLING_AVERAGES_DATABASE_URL = `sqlite:${isAbsolute(dbFile) ? dbFile : resolve(options.userDir, dbFile)}`;
  }

  // MQTT: MQTT_URL (user/password merged in from MQTT_USER/MQTT_PASSWORD), else MQTT_HOST/BROKER...
  let brokerSettings;
  try {
    brokerSettings = mqttSettingsFromEnv(env);
  } catch (err) {
    const message = (err as Error).message;
    throw new RuntimeConfigError(/^[A-Z_]+/.exec(message)?.[0] ?? 'MQTT_URL', message);
  }
  const broker = resolveBrokerSettings(brokerSettings, 'runtime-env');
  const mqttUrl = given(env, 'MQTT_URL')
    ? withUserInfo(given(env, 'MQTT_URL')!, given(env, 'MQTT_USER'), env.MQTT_PASSWORD)
    : withUserInfo(
        `${broker.protocol}://${broker.host.includes(':') ? `[${broker.host}]` : broker.host}:${broker.port}`,
        broker.username,
        broker.password,
      );
  if (mqttUrl !== env.MQTT_URL) set.MQTT_URL = mqttUrl;
  notes.push(`mqtt: ${describeBroker(broker)}`);
  const shareGroup = given(env, 'MQTT_SHARE_GROUP');
  if (shareGroup) notes.push(`mqtt ingest: shared subscription group ${shareGroup}`);

  // Origins allowed to call the flows' HTTP APIs: settings.js hands the list to httpNodeCors and
  // to the origin guard, so both read it in one form (the browser's: lower case, no default port).
  const corsOrigin = given(env, 'HTTP_NODE_CORS_ORIGIN');
  if (corsOrigin !== undefined) {
    let origins: string[];
    try {
      origins = parseAllowedOrigins(corsOrigin);
    } catch (err) {
      throw new RuntimeConfigError('HTTP_NODE_CORS_ORIGIN', `HTTP_NODE_CORS_ORIGIN: ${(err as Error).message}`);
    }
    const list = origins.join(',');
    if (list !== env.HTTP_NODE_CORS_ORIGIN) set.HTTP_NODE_CORS_ORIGIN = list;
    if (origins.length > 0) notes.push(`HTTP APIs: callable from the browser origin(s) ${origins.join(', ')}`);
  }

  return { set, notes };
}
