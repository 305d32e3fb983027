/**
 * Access to the real services the integration tests use (MariaDB/MySQL, PostgreSQL, mosquitto).
 *
 * Under CI=true a missing service fails the test run: CI promises them, so their absence is a
 * broken environment, not a reason to pass quietly. Elsewhere the dependent tests are skipped
 * with one clear line saying what to start.
 */
import { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { MysqlConfig, PostgresConfig, ServerConnectionConfig } from '../../lib/db/types';

export const MYSQL_HOST = process.env.TEST_MYSQL_HOST ?? '127.0.0.1';
export const MYSQL_PORT = Number(process.env.TEST_MYSQL_PORT ?? 3306);
export const MYSQL_USER = process.env.TEST_MYSQL_USER ?? 'root';
export const MYSQL_PASSWORD = process.env.TEST_MYSQL_PASSWORD ?? '';
export const POSTGRES_HOST = process.env.TEST_POSTGRES_HOST ?? '127.0.0.1';
export const POSTGRES_PORT = Number(process.env.TEST_POSTGRES_PORT ?? 5432);
export const POSTGRES_USER = process.env.TEST_POSTGRES_USER ?? 'postgres';
export const POSTGRES_PASSWORD = process.env.TEST_POSTGRES_PASSWORD ?? '';
export const MQTT_HOST = process.env.TEST_MQTT_HOST ?? '127.0.0.1';
export const MQTT_PORT = Number(process.env.TEST_MQTT_PORT ?? 1883);

export const inCi = (): boolean => /^(1|true|yes)$/i.test(process.env.CI ?? '');

const START_HINTS: Record<ServiceName, string> = {
  mysql: 'start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd',
  postgres: 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start',
  mqtt: 'mosquitto -d -c /etc/mosquitto/mosquitto.conf',
};

const SERVICE_NAMES: Record<ServiceName, string> = { mysql: 'MariaDB/MySQL', postgres: 'PostgreSQL', mqtt: 'mosquitto' };

export type ServiceName = 'mysql' | 'postgres' | 'mqtt';

function serviceAddress(name: ServiceName): { host: string; port: number } {
  if (name === 'mysql') return { host: MYSQL_HOST, port: MYSQL_PORT };
  if (name === 'postgres') return { host: POSTGRES_HOST, port: POSTGRES_PORT };
  return { host: MQTT_HOST, port: MQTT_PORT };
}

/** Resolves true when something accepts TCP connections on host:port within timeoutMs. */
export function portOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const finish = (open: boolean): void => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('error', () => finish(false));
    socket.connect(port, host, () => finish(true));
  });
}

const availability = new Map<ServiceName, Promise<boolean>>();

function serviceUp(name: ServiceName): Promise<boolean> {
  let known = availability.get(name);
  if (!known) {
    const { host, port } = serviceAddress(name);
    known = portOpen(host, port);
    availability.set(name, known);
  }
  return known;
}

/**
 * Call from a mocha `before` hook: `before(async function () { await requireService(this, 'mysql'); })`.
 * Skips the suite (outside CI) or fails it (in CI) when the service is not reachable.
 */
export async function requireService(context: Mocha.Context, name: ServiceName): Promise<void> {
  if (await serviceUp(name)) return;
  const { host, port } = serviceAddress(name);
  const message = `${SERVICE_NAMES[name]} is not reachable at ${host}:${port}; start it with: ${START_HINTS[name]}`;
  if (inCi()) throw new Error(`${message} (CI=true requires it)`);
  console.log(`      [skip] ${message}`);
  context.skip();
}

/** A throwaway MariaDB database for one test suite; `drop()` removes it. */
export interface TestMysqlDatabase {
  config: MysqlConfig;
  url: string;
  drop(): Promise<void>;
}

export async function createTestMysqlDatabase(prefix = 'iotp_t'): Promise<TestMysqlDatabase> {
  // Imported lazily so unit tests that never touch MySQL do not load the driver.
  const mysql = await import('mysql2/promise');
  const name = `${prefix}_${process.pid}_${randomBytes(3).toString('hex')}`;
  const admin = await mysql.createConnection({
    host: MYSQL_HOST,
    port: MYSQL_PORT,
    user: MYSQL_USER,
    password: MYSQL_PASSWORD,
  });
  try {
    await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  } finally {
    await admin.end();
  }
  const config: MysqlConfig = {
    dialect: 'mysql',
    host: MYSQL_HOST,
    port: MYSQL_PORT,
    user: MYSQL_USER,
    password: MYSQL_PASSWORD,
    database: name,
    poolSize: 4,
    connectTimeoutMs: 5000,
  };
  const auth = MYSQL_PASSWORD ? `${encodeURIComponent(MYSQL_USER)}:${encodeURIComponent(MYSQL_PASSWORD)}` : encodeURIComponent(MYSQL_USER);
  return {
    config,
    url: `mysql://${auth}@${MYSQL_HOST}:${MYSQL_PORT}/${name}`,
    async drop() {
      const conn = await mysql.createConnection({ host: MYSQL_HOST, port: MYSQL_PORT, user: MYSQL_USER, password: MYSQL_PASSWORD });
      try {
        await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
      } finally {
        await conn.end();
      }
    },
  };
}

/** A throwaway PostgreSQL database for one test suite; `drop()` removes it. */
export interface TestPostgresDatabase {
  config: PostgresConfig;
  url: string;
  drop(): Promise<void>;
}

async function postgresAdmin<T>(work: (client: import('pg').Client) => Promise<T>): Promise<T> {
  // Imported lazily so unit tests that never touch PostgreSQL do not load the driver.
  const { Client } = await import('pg');
  const client = new Client({
    host: POSTGRES_HOST,
    port: POSTGRES_PORT,
    user: POSTGRES_USER,
    password: POSTGRES_PASSWORD,
    database: 'postgres',
  });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export async function createTestPostgresDatabase(prefix = 'iotp_t'): Promise<TestPostgresDatabase> {
  const name = `${prefix}_${process.pid}_${randomBytes(3).toString('hex')}`.toLowerCase();
  await postgresAdmin((client) => client.query(`CREATE DATABASE "${name}" ENCODING 'UTF8' TEMPLATE template0`));
  const config: PostgresConfig = {
    dialect: 'postgres',
    host: POSTGRES_HOST,
    port: POSTGRES_PORT,
    user: POSTGRES_USER,
    password: POSTGRES_PASSWORD,
    database: name,
    poolSize: 4,
    connectTimeoutMs: 5000,
  };
  const auth = POSTGRES_PASSWORD
    ? `${encodeURIComponent(POSTGRES_USER)}:${encodeURIComponent(POSTGRES_PASSWORD)}`
    : encodeURIComponent(POSTGRES_USER);
  return {
    config,
    url: `postgresql://${auth}@${POSTGRES_HOST}:${POSTGRES_PORT}/${name}`,
    async drop() {
      // WITH (FORCE): a connection a test left open (or a pool still closing) must not keep the database alive.
      await postgresAdmin((client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}

/** Where a test database is, in the words a bare mysql2 or pg pool takes it (for suites that bypass lib/db). */
export function driverConnection(
  config: ServerConnectionConfig,
): Pick<ServerConnectionConfig, 'host' | 'port' | 'user' | 'password' | 'database'> {
  return { host: config.host, port: config.port, user: config.user, password: config.password, database: config.database };
}

/** The server dialects the integration suites run on, with their throwaway databases. */
export type ServerDialect = 'mysql' | 'postgres';

export async function createTestServerDatabase(
  dialect: ServerDialect,
  prefix = 'iotp_t',
): Promise<TestMysqlDatabase | TestPostgresDatabase> {
  return dialect === 'mysql' ? createTestMysqlDatabase(prefix) : createTestPostgresDatabase(prefix);
}
