/**
 * The iotp-database node's settings: its properties and credentials to a DatabaseConfig. The
 * ranges of the numbers are the editor's too (test/package/editor-limits.test.ts compares them).
 */
import { isAbsolute, join } from 'node:path';
import type { EnvLookup } from '../env-reference';
import { referencedVariable, resolveEnvDefault, unsetVariableProblem } from '../env-reference';
import { DatabaseConfigError } from './errors';
import type { DatabaseConfig, PostgresSslMode } from './types';
import { parseDatabaseUrl, parseSqliteDriver } from './url';

/** The iotp-database node's properties as stored in flows. */
export interface DatabaseNodeSettings {
  connection: 'url' | 'mysql' | 'postgres' | 'sqlite';
  url: string;
  host: string;
  port: number | string;
  database: string;
  file: string;
  /** SQLite driver: auto (default), node:sqlite or better-sqlite3. */
  sqliteDriver?: string;
  poolSize: number | string;
  connectTimeout: number | string;
  tls: boolean;
  tlsRejectUnauthorized: boolean;
  /** PostgreSQL fields: libpq's sslmode (default disable). */
  sslmode?: PostgresSslMode;
  /** PostgreSQL: keep sensor_data, messages and measurement as TimescaleDB hypertables (default off). */
  timescale?: boolean;
  version?: number;
}

export interface DatabaseSettingsCredentials {
  user?: string;
  password?: string;
  /** PEM CA certificate(s) to verify a MySQL or PostgreSQL server's TLS certificate (a private CA). */
  ca?: string;
}

/** Positive numbers; anything else (empty, an unset `${VAR}`) is the default. */
export const DATABASE_LIMITS = {
  poolSize: { min: 1, default: 5, integer: true },
  /** Seconds. */
  connectTimeout: { min: 1, default: 10, integer: true },
} as const;

/** The iotp-db-query node: rows a statement may return before it fails as too many. */
export const DB_QUERY_LIMITS = {
  maxRows: { min: 1, max: 1_000_000, default: 10_000, integer: true },
} as const;

/** The row limit: a positive number, at most the maximum; anything else is the default. */
export function maxRowsSetting(value: unknown): number {
  const n = Math.floor(Number(value));
  if (!Number.isFinite(n) || n < DB_QUERY_LIMITS.maxRows.min) return DB_QUERY_LIMITS.maxRows.default;
  return Math.min(n, DB_QUERY_LIMITS.maxRows.max);
}

export function resolveDatabaseConfig(
  def: DatabaseNodeSettings,
  credentials: DatabaseSettingsCredentials,
  userDir: string,
  env?: EnvLookup,
): DatabaseConfig {
  const number = (value: unknown, fallback: number): number => {
    const n = Number(value);
    return Number.isFinite(n) && n > 0 ? n : fallback;
  };
  if (def.connection === 'sqlite') {
    const file = def.file || 'iot-pipelines.db';
    const config = parseDatabaseUrl(`sqlite:${isAbsolute(file) ? file : join(userDir, file)}`, { variable: 'File', baseDir: userDir });
    if (config.dialect === 'sqlite' && def.sqliteDriver) config.driver = parseSqliteDriver(def.sqliteDriver, 'Driver');
    return config;
  }
  // What the MySQL and PostgreSQL forms share.
  const server = (defaultPort: number) => ({
    host: def.host || '127.0.0.1',
    port: number(def.port, defaultPort),
    user: '',
    password: '',
    database: def.database,
    poolSize: number(def.poolSize, DATABASE_LIMITS.poolSize.default),
    connectTimeoutMs: number(def.connectTimeout, DATABASE_LIMITS.connectTimeout.default) * 1000,
  });
  let config: DatabaseConfig;
  if (def.connection === 'mysql') {
    config = { dialect: 'mysql', ...server(3306), tls: def.tls ? { rejectUnauthorized: def.tlsRejectUnauthorized !== false } : undefined };
  } else if (def.connection === 'postgres') {
    const sslmode = def.sslmode ?? 'disable';
    if (!['disable', 'require', 'verify-ca', 'verify-full'].includes(sslmode))
      throw new DatabaseConfigError('sslmode', 'sslmode must be disable, require, verify-ca or verify-full');
    config = { dialect: 'postgres', ...server(5432), tls: sslmode === 'disable' ? undefined : { mode: sslmode } };
  } else {
    const variable = referencedVariable(def.url) ?? 'URL';
    // Node-RED has already replaced a whole-value ${VAR} by its value (an unset one stays as text);
    // ${VAR:-default}, the examples' form, is resolved here (lib/env-reference.ts).
    const url = env && typeof def.url === 'string' ? resolveEnvDefault(def.url, env) : def.url;
    const unset = typeof url === 'string' ? unsetVariableProblem(url, 'sqlite:iot-pipelines.db') : undefined;
    if (unset) throw new DatabaseConfigError(variable, unset);
    config = parseDatabaseUrl(url, { variable, baseDir: userDir });
  }
  if (config.dialect === 'mysql' || config.dialect === 'postgres') {
    if (credentials.user) config.user = credentials.user;
    if (credentials.password) config.password = credentials.password;
    // The CA belongs to TLS settings made by the URL (?ssl=true) or the TLS checkbox; it does not turn TLS on.
    if (credentials.ca && config.tls) config.tls = { ...config.tls, ca: credentials.ca };
    if (def.connection !== 'url') {
      config.poolSize = number(def.poolSize, config.poolSize);
      config.connectTimeoutMs = number(def.connectTimeout, config.connectTimeoutMs / 1000) * 1000;
    }
  }
  return config;
}
