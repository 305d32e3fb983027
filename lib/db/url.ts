/**
 * Database URLs and environment variables -> DatabaseConfig, and back to a secret-free description.
 *
 * Accepted forms (scheme case-insensitive; `+driver` suffixes from SQLAlchemy URLs such as
 * `mysql+pymysql://` are accepted so the original pipelines' .env files keep working):
 *   mysql://user:password@host:3306/database?ssl=true&poolSize=8&connectTimeout=10000
 *   mariadb://user@host/database
 *   postgresql://user:password@host:5432/database?sslmode=verify-full&poolSize=8
 *   postgres://...  postgresql+psycopg2://...  postgresql+asyncpg://...  postgresql+pg8000://...
 *   sqlite:/abs/path.db  sqlite:///abs/path.db  sqlite:////abs/path.db  sqlite:relative.db
 *   sqlite://relative.db  sqlite:~/file.db  sqlite::memory:  sqlite:/abs/path.db?driver=better-sqlite3
 * Relative SQLite paths resolve against `baseDir` (the Node-RED user directory).
 *
 * No error message ever contains the URL itself or the password: the URL is where the password is.
 */
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { hasControlCharacter } from '../control-characters';
import { DatabaseConfigError } from './errors';
import type { DatabaseConfig, MysqlConfig, PostgresConfig, PostgresSslMode, ServerConnectionConfig, SqliteConfig } from './types';

export const DEFAULT_MYSQL_PORT = 3306;
export const DEFAULT_POSTGRES_PORT = 5432;
/** PostgreSQL's NAMEDATALEN - 1, in bytes. */
const MAX_POSTGRES_DATABASE_BYTES = 63;
export const DEFAULT_POOL_SIZE = 4;
export const MAX_POOL_SIZE = 1000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const MAX_CONNECT_TIMEOUT_MS = 600_000;
export const DEFAULT_BUSY_TIMEOUT_MS = 5_000;
export const DEFAULT_SQLITE_FILENAME = 'iot-pipelines.db';
/** MySQL limits database names to 64 characters. */
const MAX_MYSQL_DATABASE_LENGTH = 64;
/** A URL longer than this is garbage, not configuration; refuse before doing any work on it. */
const MAX_URL_LENGTH = 8192;

export interface ParseDatabaseUrlOptions {
  /** The variable or field the URL came from, named in every error (default `DATABASE_URL`). */
  variable?: string;
  /** Directory relative SQLite paths resolve against (default: the process's working directory). */
  baseDir?: string;
}

const EXPECTED =
  'expected mysql://user:password@host:3306/database, postgresql://user:password@host:5432/database or sqlite:/path/to/file.db';

function fail(variable: string, reason: string): never {
  throw new DatabaseConfigError(variable, `${variable} is not a usable database URL: ${reason} (${EXPECTED})`);
}

/** Parses a database URL. Throws DatabaseConfigError (code `DB_CONFIG_INVALID`) naming `options.variable`. */
export function parseDatabaseUrl(url: unknown, options: ParseDatabaseUrlOptions = {}): DatabaseConfig {
  const variable = options.variable ?? 'DATABASE_URL';
  if (typeof url !== 'string') fail(variable, `it is ${url === null ? 'null' : typeof url}, not text`);
  const text = url.trim();
  if (text === '') fail(variable, 'it is empty');
  if (text.length > MAX_URL_LENGTH) fail(variable, `it is ${text.length} characters long`);
  if (hasControlCharacter(text)) fail(variable, 'it contains control characters');
  const schemeMatch = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(text);
  if (!schemeMatch) fail(variable, 'it has no scheme such as mysql:// or sqlite:');
  const scheme = schemeMatch[1].toLowerCase();
  const base = scheme.split('+')[0];
  const rest = text.slice(schemeMatch[0].length);
  if (base === 'mysql' || base === 'mariadb') return parseMysql(rest, variable);
  if (base === 'sqlite' || base === 'sqlite3') return parseSqlite(rest, variable, options.baseDir);
  if (base === 'postgres' || base === 'postgresql') return parsePostgres(rest, variable);
  // The scheme is not echoed: in a mangled URL the text before ':' may be anything, even a secret.
  fail(variable, 'unsupported scheme (use mysql://, mariadb://, postgresql:// or sqlite:)');
}

function decode(component: string, variable: string, what: string): string {
  try {
    return decodeURIComponent(component);
  } catch {
    fail(variable, `the ${what} has an invalid percent-encoding`);
  }
}

interface ServerUrl {
  user: string;
  password: string;
  host: string;
  port: number;
  database: string;
  query: string;
}

/** user:password@host:port/database?query of a server URL (MySQL or PostgreSQL). */
function parseServerUrl(rest: string, variable: string, scheme: string, defaultPort: number): ServerUrl {
  if (!rest.startsWith('//')) fail(variable, `a ${scheme === 'mysql' ? 'MySQL' : 'PostgreSQL'} URL starts with ${scheme}:// (two slashes)`);
  const afterSlashes = rest.slice(2);
  // The last '@' ends the credentials, so an unencoded '@', '/', '?' or '#' in a password still works.
  const at = afterSlashes.lastIndexOf('@');
  const userInfo = at >= 0 ? afterSlashes.slice(0, at) : '';
  const location = at >= 0 ? afterSlashes.slice(at + 1) : afterSlashes;
  const locationMatch = /^([^/?#]*)(?:\/([^?#]*))?(?:\?([^#]*))?(?:#.*)?$/.exec(location);
  if (!locationMatch) fail(variable, 'the host, database and options could not be read');
  const [, hostPort, rawDatabase = '', query = ''] = locationMatch;

  let user = '';
  let password = '';
  if (at >= 0) {
    const colon = userInfo.indexOf(':');
    user = decode(colon >= 0 ? userInfo.slice(0, colon) : userInfo, variable, 'user name');
    password = colon >= 0 ? decode(userInfo.slice(colon + 1), variable, 'password') : '';
  }
  if (user === '') fail(variable, `it names no user (${scheme}://USER:password@host/database)`);

  const { host, port } = parseHostPort(hostPort, variable, defaultPort);
  const database = decode(rawDatabase, variable, 'database name');
  if (database === '') fail(variable, `it names no database (${scheme}://user@host:${defaultPort}/DATABASE)`);
  return { user, password, host, port, database, query };
}

function parseMysql(rest: string, variable: string): MysqlConfig {
  const { user, password, host, port, database, query } = parseServerUrl(rest, variable, 'mysql', DEFAULT_MYSQL_PORT);
  if (database.length > MAX_MYSQL_DATABASE_LENGTH)
    fail(variable, `the database name is longer than ${MAX_MYSQL_DATABASE_LENGTH} characters`);
  if (/[/\\.]/.test(database) || database.includes('\u0000') || database.endsWith(' '))
    fail(variable, 'the database name contains "/", "\\", "." or a trailing space');

  const config: MysqlConfig = { dialect: 'mysql', ...serverDefaults({ host, port, user, password, database }) };
  applyMysqlOptions(config, query, variable, password);
  return config;
}

/** A server connection as the URL names it, with the pool's defaults (options may change them). */
function serverDefaults(named: Omit<ServerConnectionConfig, 'poolSize' | 'connectTimeoutMs'>): ServerConnectionConfig {
  return { ...named, poolSize: DEFAULT_POOL_SIZE, connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS };
}

function parsePostgres(rest: string, variable: string): PostgresConfig {
  const { user, password, host, port, database, query } = parseServerUrl(rest, variable, 'postgresql', DEFAULT_POSTGRES_PORT);
  if (Buffer.byteLength(database) > MAX_POSTGRES_DATABASE_BYTES)
    fail(variable, `the database name is longer than ${MAX_POSTGRES_DATABASE_BYTES} bytes`);
  if (database.includes('/') || database.includes('\u0000')) fail(variable, 'the database name contains "/" or a NUL character');
  const config: PostgresConfig = { dialect: 'postgres', ...serverDefaults({ host, port, user, password, database }) };
  applyPostgresOptions(config, query, variable, password);
  return config;
}

/** The pool options both server dialects take; false when `key` is none of them. */
function applyPoolOption(config: ServerConnectionConfig, key: string, value: string, variable: string): boolean {
  if (key === 'poolSize' || key === 'connectionLimit') config.poolSize = parseInteger(value, variable, key, 1, MAX_POOL_SIZE);
  else if (key === 'connectTimeout') config.connectTimeoutMs = parseInteger(value, variable, key, 1, MAX_CONNECT_TIMEOUT_MS);
  else return false;
  return true;
}

const SSL_MODES: readonly PostgresSslMode[] = ['disable', 'require', 'verify-ca', 'verify-full'];

function applyPostgresOptions(config: PostgresConfig, query: string, variable: string, password: string): void {
  let mode: PostgresSslMode | undefined;
  let ssl: boolean | undefined;
  let rejectUnauthorized: boolean | undefined;
  for (const [key, value] of queryPairs(query, variable)) {
    switch (key) {
      case 'sslmode': {
        const v = value.toLowerCase();
        if (v === 'allow' || v === 'prefer') {
          fail(
            variable,
            `sslmode=${v} falls back to an unencrypted connection without saying so; use sslmode=require (or verify-ca, verify-full) or sslmode=disable`,
          );
        }
        if (!(SSL_MODES as readonly string[]).includes(v))
          fail(variable, 'option sslmode must be disable, require, verify-ca or verify-full');
        mode = v as PostgresSslMode;
        break;
      }
      case 'ssl':
      case 'tls':
        ssl = parseBoolean(value, variable, key);
        break;
      case 'sslRejectUnauthorized':
        rejectUnauthorized = parseBoolean(value, variable, key);
        break;
      case 'connect_timeout':
        // libpq's spelling, in seconds.
        config.connectTimeoutMs = parseInteger(value, variable, key, 1, MAX_CONNECT_TIMEOUT_MS / 1000) * 1000;
        break;
      case 'client_encoding':
        if (!/^utf-?8$/i.test(value)) fail(variable, 'option client_encoding must be UTF8 (the connection always uses UTF8)');
        break;
      default:
        if (!applyPoolOption(config, key, value, variable)) {
          fail(
            variable,
            `unknown option ${describeOption(key, password)} (known: sslmode, ssl, sslRejectUnauthorized, poolSize, connectTimeout, connect_timeout)`,
          );
        }
    }
  }
  // ssl=true (this package's MySQL spelling) verifies like MySQL does: chain and host name.
  if (mode === undefined && (ssl === true || (ssl === undefined && rejectUnauthorized !== undefined))) {
    mode = rejectUnauthorized === false ? 'require' : 'verify-full';
  }
  if (mode !== undefined && mode !== 'disable') config.tls = { mode };
}

function parseHostPort(hostPort: string, variable: string, defaultPort = DEFAULT_MYSQL_PORT): { host: string; port: number } {
  let host: string;
  let portText: string | undefined;
  const ipv6 = /^\[([0-9A-Fa-f:.]+)\](?::(.*))?$/.exec(hostPort);
  if (ipv6) {
    host = ipv6[1];
    portText = ipv6[2];
  } else {
    const colon = hostPort.lastIndexOf(':');
    host = colon >= 0 ? hostPort.slice(0, colon) : hostPort;
    portText = colon >= 0 ? hostPort.slice(colon + 1) : undefined;
    if (host === '') fail(variable, 'it names no host (user@HOST:port/database)');
    if (host.length > 253 || !/^[A-Za-z0-9._-]+$/.test(host)) fail(variable, 'the host name contains characters a host name cannot have');
  }
  const port = portText === undefined || portText === '' ? defaultPort : parsePort(portText, variable);
  return { host, port };
}

function parsePort(text: string, variable: string): number {
  if (!/^\d{1,5}$/.test(text)) fail(variable, 'the port is not a number');
  const port = Number(text);
  if (port < 1 || port > 65535) fail(variable, 'the port is outside 1-65535');
  return port;
}

function parseBoolean(value: string, variable: string, option: string): boolean {
  const v = value.toLowerCase();
  if (['1', 'true', 'yes', 'on', 'required', 'require'].includes(v)) return true;
  if (['0', 'false', 'no', 'off', 'disabled', 'disable'].includes(v)) return false;
  return fail(variable, `option ${option} must be true or false`);
}

function parseInteger(value: string, variable: string, option: string, min: number, max: number): number {
  if (!/^\d{1,9}$/.test(value)) fail(variable, `option ${option} must be a whole number`);
  const n = Number(value);
  if (n < min || n > max) fail(variable, `option ${option} must be between ${min} and ${max}`);
  return n;
}

function queryPairs(query: string, variable: string): Array<[string, string]> {
  if (query === '') return [];
  return query
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const key = decode(eq >= 0 ? pair.slice(0, eq) : pair, variable, 'option name');
      const value = decode(eq >= 0 ? pair.slice(eq + 1) : '', variable, 'option value');
      return [key, value];
    });
}

/** An option's name for an error message; never echoes one that contains the password (mangled URLs happen). */
function describeOption(key: string, password = ''): string {
  if (password !== '' && key.includes(password)) return '(name withheld: it contains the password)';
  return /^[A-Za-z0-9_.-]{1,40}$/.test(key) ? `"${key}"` : '(unprintable name)';
}

function applyMysqlOptions(config: MysqlConfig, query: string, variable: string, password: string): void {
  let ssl: boolean | undefined;
  let rejectUnauthorized: boolean | undefined;
  for (const [key, value] of queryPairs(query, variable)) {
    switch (key) {
      case 'ssl':
      case 'tls':
      case 'sslmode':
      case 'ssl-mode':
      case 'ssl_mode':
        ssl = parseBoolean(value, variable, key);
        break;
      case 'sslRejectUnauthorized':
        rejectUnauthorized = parseBoolean(value, variable, key);
        break;
      case 'charset':
        // Accepted for SQLAlchemy-style URLs; the connection always uses utf8mb4.
        break;
      default:
        if (!applyPoolOption(config, key, value, variable)) {
          fail(variable, `unknown option ${describeOption(key, password)} (known: ssl, sslRejectUnauthorized, poolSize, connectTimeout)`);
        }
    }
  }
  // Asking to skip certificate verification only makes sense with TLS, so it implies TLS.
  if (ssl === true || (ssl === undefined && rejectUnauthorized !== undefined)) {
    config.tls = { rejectUnauthorized: rejectUnauthorized ?? true };
  }
}

function parseSqlite(rest: string, variable: string, baseDir: string | undefined): SqliteConfig {
  const queryAt = rest.indexOf('?');
  const pathPart = queryAt >= 0 ? rest.slice(0, queryAt) : rest;
  const query = queryAt >= 0 ? rest.slice(queryAt + 1) : '';
  let busyTimeoutMs = DEFAULT_BUSY_TIMEOUT_MS;
  let driver: SqliteConfig['driver'];
  for (const [key, value] of queryPairs(query, variable)) {
    if (key === 'busyTimeout') busyTimeoutMs = parseInteger(value, variable, key, 0, MAX_CONNECT_TIMEOUT_MS);
    else if (key === 'driver') driver = parseSqliteDriver(value, variable);
    else fail(variable, `unknown option ${describeOption(key)} (known: busyTimeout, driver)`);
  }
  const withDriver = (config: SqliteConfig): SqliteConfig => (driver === undefined ? config : { ...config, driver });
  if (pathPart === ':memory:' || pathPart === '//:memory:' || pathPart === '///:memory:') {
    return withDriver({ dialect: 'sqlite', file: ':memory:', busyTimeoutMs });
  }
  // `sqlite://x` -> `x`; `sqlite:///abs` and SQLAlchemy's `sqlite:////abs` -> `/abs`.
  let path = decode(pathPart.startsWith('//') ? pathPart.slice(2) : pathPart, variable, 'file path');
  if (path === '') fail(variable, 'it names no file (sqlite:/path/to/file.db)');
  if (path.includes('\u0000')) fail(variable, 'the file path contains a NUL character');
  if (path === '~' || path.startsWith('~/')) path = join(homedir(), path.slice(1));
  const file = isAbsolute(path) ? resolve(path) : resolve(baseDir ?? process.cwd(), path);
  return withDriver({ dialect: 'sqlite', file, busyTimeoutMs });
}

const SQLITE_DRIVERS = ['auto', 'node:sqlite', 'better-sqlite3'] as const;

/** `?driver=`: auto, node:sqlite (also `node`) or better-sqlite3. */
export function parseSqliteDriver(value: string, variable: string): NonNullable<SqliteConfig['driver']> {
  const v = value.trim().toLowerCase();
  if (v === 'node') return 'node:sqlite';
  const found = SQLITE_DRIVERS.find((name) => name === v);
  if (!found) fail(variable, `option driver must be ${SQLITE_DRIVERS.join(', ')}`);
  return found;
}

export type Env = Readonly<Record<string, string | undefined>>;

function envValue(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value;
}

/**
 * The database the environment asks for, in the original pipelines' vocabulary:
 * 1. `DATABASE_URL` (any form parseDatabaseUrl accepts; relative SQLite paths resolve against userDir);
 * 2. else, when `MYSQL_HOST` is set: MYSQL_HOST, MYSQL_PORT (3306), MYSQL_USER, MYSQL_PASSWORD (''), MYSQL_DATABASE;
 * 3. else the SQLite file `<userDir>/iot-pipelines.db`.
 */
export function databaseConfigFromEnv(env: Env, options: { userDir: string }): DatabaseConfig {
  const url = envValue(env, 'DATABASE_URL');
  if (url !== undefined) return parseDatabaseUrl(url, { variable: 'DATABASE_URL', baseDir: options.userDir });
  const host = envValue(env, 'MYSQL_HOST');
  if (host !== undefined) return mysqlConfigFromEnv(env, host.trim());
  return { dialect: 'sqlite', file: resolve(options.userDir, DEFAULT_SQLITE_FILENAME), busyTimeoutMs: DEFAULT_BUSY_TIMEOUT_MS };
}

function mysqlConfigFromEnv(env: Env, hostText: string): MysqlConfig {
  const host = /^\[([0-9A-Fa-f:.]+)\]$/.exec(hostText)?.[1] ?? hostText;
  if (host.length > 253 || !/^[A-Za-z0-9._:-]+$/.test(host)) {
    throw new DatabaseConfigError('MYSQL_HOST', 'MYSQL_HOST is not a host name or IP address');
  }
  const portText = envValue(env, 'MYSQL_PORT')?.trim();
  let port = DEFAULT_MYSQL_PORT;
  if (portText !== undefined) {
    port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
    if (!(port >= 1 && port <= 65535)) throw new DatabaseConfigError('MYSQL_PORT', 'MYSQL_PORT must be a port number between 1 and 65535');
  }
  const user = envValue(env, 'MYSQL_USER');
  if (user === undefined)
    throw new DatabaseConfigError('MYSQL_USER', 'MYSQL_USER is not set (MYSQL_HOST is, so a MySQL/MariaDB user is needed)');
  const database = envValue(env, 'MYSQL_DATABASE')?.trim();
  if (database === undefined)
    throw new DatabaseConfigError('MYSQL_DATABASE', 'MYSQL_DATABASE is not set (MYSQL_HOST is, so a database name is needed)');
  if (database.length > MAX_MYSQL_DATABASE_LENGTH || /[/\\.]/.test(database) || database.includes('\u0000')) {
    throw new DatabaseConfigError(
      'MYSQL_DATABASE',
      `MYSQL_DATABASE must be at most ${MAX_MYSQL_DATABASE_LENGTH} characters without "/", "\\" or "."`,
    );
  }
  return {
    dialect: 'mysql',
    host,
    port,
    user,
    password: env.MYSQL_PASSWORD ?? '',
    database,
    poolSize: DEFAULT_POOL_SIZE,
    connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS,
  };
}

/**
 * Which database a config points at, whoever connects: the same for two config nodes (in two
 * flows) with the same server and schema, whatever their users, pools or TLS settings. SQLite
 * files are compared by resolved path. Used to match writers with the connector that reads
 * their rows (lib/arrivals.ts).
 */
export function databaseIdentity(config: DatabaseConfig): string {
  if (config.dialect === 'sqlite') return `sqlite:${config.file === ':memory:' ? ':memory:' : resolve(config.file)}`;
  if (config.dialect === 'postgres') return `postgresql://${config.host.toLowerCase()}:${config.port}/${config.database}`;
  return `mysql://${config.host.toLowerCase()}:${config.port}/${config.database}`;
}

/** A description for logs and status: `mysql://user@host:3306/db`, `sqlite:/path/file.db`. Never the password. */
export function describeConfig(config: DatabaseConfig): string {
  if (config.dialect === 'sqlite')
    return `sqlite:${config.file}${config.driver && config.driver !== 'auto' ? `?driver=${config.driver}` : ''}`;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  if (config.dialect === 'postgres') {
    const text = `postgresql://${encodeURIComponent(config.user)}@${host}:${config.port}/${encodeURIComponent(config.database)}`;
    return config.tls ? `${text}?sslmode=${config.tls.mode}` : text;
  }
  let text = `mysql://${encodeURIComponent(config.user)}@${host}:${config.port}/${encodeURIComponent(config.database)}`;
  if (config.tls) text += config.tls.rejectUnauthorized ? '?ssl=true' : '?ssl=true&sslRejectUnauthorized=false';
  return text;
}
