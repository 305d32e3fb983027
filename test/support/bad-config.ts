/**
 * One unusable value per variable the runtime reads: each must stop start-up with one line naming
 * the variable (settings.js and `npm start` alike), and never print the value of a secret.
 * `hunter` marks the secrets; `extra` is what else the case needs set.
 */
export interface BadValue {
  variable: string;
  value: string;
  extra?: Record<string, string>;
  /** Needs the file system (a path that is a file): checked by settings.js/start.js, not resolveRuntimeEnv. */
  path?: true;
}

export const BAD_VALUES: readonly BadValue[] = [
  { variable: 'PORT', value: 'abc' },
  { variable: 'PORT', value: '70000' },
  { variable: 'HOST', value: 'http://0.0.0.0' },
  { variable: 'NODE_RED_USER_DIR', value: '<a file>', path: true },
  { variable: 'NODE_RED_ADMIN_PASSWORD_HASH', value: 'hunter2' },
  { variable: 'NODE_RED_ADMIN_USER', value: 'ad\nmin' },
  { variable: 'NODE_RED_CREDENTIAL_SECRET', value: 'hunter\n2' },
  { variable: 'NODE_RED_LOG_LEVEL', value: 'loud' },
  { variable: 'IOTP_JOURNAL_DIR', value: '<a file>', path: true },
  { variable: 'IOTP_INSTANCE_ID', value: 'node\nred' },
  { variable: 'IOTP_RESET_FLOWS', value: 'maybe' },
  { variable: 'SIMULATE', value: 'maybe' },
  { variable: 'STATESTREAM_BASE_TOPIC', value: 'homeassistant/#' },
  { variable: 'TOPIC', value: 'DATA/+' },
  { variable: 'STATS_TOPIC', value: '#' },
  { variable: 'MQTT_TOPIC', value: 'sensors/#' },
  { variable: 'MQTT_SHARE_GROUP', value: 'a/b' },
  { variable: 'DB_FILE', value: 'x\u0001.db' },
  { variable: 'ROLLING_AVERAGES_DATABASE_URL', value: 'oracle://admin:hunter2@db/x' },
  { variable: 'ISEMS_ROUTER_IPS', value: '10.0.0.5, ftp://10.0.0.6' },
  { variable: 'ISEMS_POLL_INTERVAL', value: 'soon' },
  { variable: 'HIDE_INACTIVE_AFTER_DAYS', value: '-1' },
  { variable: 'ISEMS_RETENTION_ROWS', value: '0' },
  { variable: 'INTERVAL_MS', value: '1.5' },
  { variable: 'FETCH_DATA_INTERVAL', value: 'hourly' },
  { variable: 'BATCH_SIZE', value: 'lots' },
  { variable: 'API_KEY', value: 'hunter2 hunter2' },
  { variable: 'POST_DATA_ENDPOINT', value: 'ftp://receiver/in' },
  { variable: 'POST_DATA_API_KEY', value: 'hunter2\r\nX-Injected: 1' },
  { variable: 'HTTP_NODE_CORS_ORIGIN', value: '*' },
  { variable: 'DATABASE_URL', value: 'oracle://admin:hunter2@db/x' },
  // sslmode=prefer falls back to plain text without a word: refused, as allow is.
  { variable: 'DATABASE_URL', value: 'postgres://admin:hunter2@db/x?sslmode=prefer' },
  { variable: 'MYSQL_PORT', value: 'x', extra: { MYSQL_HOST: 'db', MYSQL_USER: 'u', MYSQL_DATABASE: 'd' } },
  { variable: 'MQTT_URL', value: 'http://broker:1883' },
  { variable: 'MQTT_HOST', value: 'mqtt://broker' },
  { variable: 'BROKER', value: 'my broker' },
  { variable: 'MQTT_PORT', value: '99999' },
  { variable: 'MQTT_USE_TLS', value: 'maybe' },
  { variable: 'MQTT_PASSWORD', value: 'hunter2' },
];
