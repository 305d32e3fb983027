/**
 * The environment the shipped flows read (`${DATABASE_URL}`, `${MQTT_URL}`, `${TOPIC}`...),
 * resolved once at start-up by settings.js, for `npm start` and the compose container alike:
 * canonical names first, then the original pipelines' names (MYSQL_*, MQTT_HOST, BROKER...), then
 * the defaults of the contracts. Invalid values raise a RuntimeConfigError naming the variable, so
 * start-up can print one clear line instead of a stack trace.
 */
import { isAbsolute, resolve } from 'node:path';
import { databaseConfigFromEnv, describeConfig } from './db/url';
import type { DatabaseConfig } from './db/types';
import { describeBroker, mqttSettingsFromEnv, resolveBrokerSettings } from './mqtt/options';
import { parseAllowedOrigins } from './origin-guard';

export type Env = Readonly<Record<string, string | undefined>>;

export class RuntimeConfigError extends Error {
  readonly code = 'RUNTIME_CONFIG_INVALID';
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(message);
    this.name = 'RuntimeConfigError';
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

export function resolveRuntimeEnv(env: Env, options: { userDir: string }): ResolvedRuntimeEnv {
  const set: Record<string, string> = {};
  const notes: string[] = [];

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
  if (!/^(true|false|1|0|yes|no)$/i.test(simulate)) throw new RuntimeConfigError('SIMULATE', `SIMULATE must be true or false (got ${JSON.stringify(simulate)})`);
  set.SIMULATE = /^(true|1|yes)$/i.test(simulate) ? 'true' : 'false';

  // The connector posts to the flow's own simulated receiver unless told otherwise.
  // Its bearer key there is no secret (the simulated receiver checks nothing); a real endpoint
  // needs POST_DATA_API_KEY set, and the node refuses to start without it.
  if (given(env, 'POST_DATA_ENDPOINT') === undefined) {
    const simulated = set.SIMULATE === 'true';
    set.POST_DATA_ENDPOINT = simulated ? `http://127.0.0.1:${given(env, 'PORT') ?? '1880'}/simulated-receiver` : '';
    if (simulated && given(env, 'POST_DATA_API_KEY') === undefined) set.POST_DATA_API_KEY = 'simulated-receiver';
  }

  // Database: DATABASE_URL, else MYSQL_*, else SQLite in the user directory.
  let database: DatabaseConfig;
  try {
    database = databaseConfigFromEnv(env, { userDir: options.userDir });
  } catch (err) {
    const variable = (err as { variable?: string }).variable ?? 'DATABASE_URL';
    throw new RuntimeConfigError(variable, (err as Error).message);
  }
  if (given(env, 'DATABASE_URL') === undefined || database.dialect === 'sqlite') set.DATABASE_URL = databaseUrl(database);
  notes.push(`database: ${describeConfig(database)}${given(env, 'DATABASE_URL') ? '' : given(env, 'MYSQL_HOST') ? ' (from MYSQL_*)' : ' (default)'}`);

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
    : withUserInfo(`${broker.protocol}://${broker.host.includes(':') ? `[${broker.host}]` : broker.host}:${broker.port}`, broker.username, broker.password);
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
