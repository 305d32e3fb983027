/**
 * iotp-database: the connection config node shared by writers and queries. Opens the database
 * lazily (so a flow deploys even while the database is down), applies each migration set once per
 * deploy, logs reachability changes once (not once per failed statement) and closes on redeploy.
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { isAbsolute, join } from 'node:path';
import { databaseIdentity, describeConfig, parseDatabaseUrl, parseSqliteDriver } from '../../lib/db/url';
import { DatabaseConfigError } from '../../lib/db/errors';
import { openDatabase } from '../../lib/db';
import { runMigrations } from '../../lib/db/migrate';
import { applyHypertables, requireTimescale } from '../../lib/db/timescale';
import type { Database, DatabaseConfig, MigrationSet, PostgresSslMode } from '../../lib/db/types';
import { migrateNodeConfig } from '../shared/config-version';
import { referencedVariable, resolveEnvDefault, unsetVariableProblem, type EnvLookup } from '../../lib/env-reference';
import { flowEnv } from '../shared/flow-env';

interface DatabaseNodeDef extends NodeDef {
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

interface DatabaseCredentials {
  user?: string;
  password?: string;
  /** PEM CA certificate(s) to verify a MySQL or PostgreSQL server's TLS certificate (a private CA). */
  ca?: string;
}

export interface DatabaseConfigNode extends Node<DatabaseCredentials> {
  /**
   * The shared Database; throws a DatabaseConfigError for unusable settings. A node that passes
   * itself is counted as a user until it calls release(): on redeploy the connection closes only
   * after its users have finished closing (Node-RED closes all nodes at once).
   */
  acquire(user?: { id: string }): Database;
  release(user: { id: string }): void;
  /** Applies a migration set once per deploy (concurrent callers share one run). */
  migrate(set: MigrationSet): Promise<void>;
  /** Consumers report outcomes so reachability changes are logged once. */
  reportReachable(reachable: boolean, reason?: string): void;
  /** Secret-free description, e.g. `mysql://iot@db:3306/iot`. */
  readonly description: string;
  /** Which database this is, the same for config nodes in other flows that point at it (lib/db/url.ts databaseIdentity). */
  readonly identity: string;
}

/** Settings of the node as stored in flows, per version: see nodes/shared/config-version.ts. */
const CONFIG_MIGRATIONS = [
  {
    version: 1,
    up: (config: Record<string, unknown>) => ({ connection: 'url', url: '${DATABASE_URL}', ...config }),
  },
];

export function resolveDatabaseConfig(def: DatabaseNodeDef, credentials: DatabaseCredentials, userDir: string, env?: EnvLookup): DatabaseConfig {
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
  let config: DatabaseConfig;
  if (def.connection === 'mysql') {
    config = {
      dialect: 'mysql',
      host: def.host || '127.0.0.1',
      port: number(def.port, 3306),
      user: '',
      password: '',
      database: def.database,
      poolSize: number(def.poolSize, 5),
      connectTimeoutMs: number(def.connectTimeout, 10) * 1000,
      tls: def.tls ? { rejectUnauthorized: def.tlsRejectUnauthorized !== false } : undefined,
    };
  } else if (def.connection === 'postgres') {
    const sslmode = def.sslmode ?? 'disable';
    if (!['disable', 'require', 'verify-ca', 'verify-full'].includes(sslmode)) throw new DatabaseConfigError('sslmode', 'sslmode must be disable, require, verify-ca or verify-full');
    config = {
      dialect: 'postgres',
      host: def.host || '127.0.0.1',
      port: number(def.port, 5432),
      user: '',
      password: '',
      database: def.database,
      poolSize: number(def.poolSize, 5),
      connectTimeoutMs: number(def.connectTimeout, 10) * 1000,
      tls: sslmode === 'disable' ? undefined : { mode: sslmode },
    };
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

export default function register(RED: NodeAPI): void {
  function DatabaseNode(this: DatabaseConfigNode, def: DatabaseNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const settings = migrateNodeConfig(def as unknown as Record<string, unknown>, CONFIG_MIGRATIONS) as unknown as DatabaseNodeDef;
    const userDir = (RED.settings.userDir as string | undefined) ?? process.cwd();
    let database: Database | undefined;
    let config: DatabaseConfig | undefined;
    let description = '(not configured)';
    let identity = `(not configured: ${node.id})`;
    const migrations = new Map<string, Promise<void>>();
    /** Messages of adoption refusals already logged (writers report them again as their reason for being down). */
    const refusals = new Set<string>();
    let reachable: boolean | undefined;
    /**
     * The TimescaleDB check, asked once per deploy before any migration runs. A refusal (no
     * extension, not PostgreSQL) is kept and logged once: it does not change until the settings or
     * the server do. A check that could not be made (database down) is asked again next time.
     */
    let timescaleReady: Promise<void> | undefined;
    const prepareTimescale = (): Promise<void> => {
      timescaleReady ??= requireTimescale(node.acquire()).catch((err: unknown) => {
        if ((err as { code?: unknown }).code === 'DB_TIMESCALE_UNAVAILABLE') node.error((err as Error).message);
        else timescaleReady = undefined;
        throw err;
      });
      return timescaleReady;
    };

    try {
      config = resolveDatabaseConfig(settings, node.credentials ?? {}, userDir, flowEnv(RED, node));
      description = describeConfig(config);
      identity = databaseIdentity(config);
    } catch (err) {
      // Reported to every consumer on acquire(); logged once here, without secrets.
      node.error(RED._('iotp-database.errors.config', { message: (err as Error).message }));
    }

    Object.defineProperty(node, 'description', { get: () => description });
    Object.defineProperty(node, 'identity', { get: () => identity });

    const users = new Set<string>();
    let usersGone: (() => void) | undefined;
    node.acquire = (user?: { id: string }): Database => {
      if (!database) {
        if (!config) config = resolveDatabaseConfig(settings, node.credentials ?? {}, userDir, flowEnv(RED, node));
        database = openDatabase(config);
      }
      if (user) users.add(user.id);
      return database;
    };
    node.release = (user: { id: string }): void => {
      users.delete(user.id);
      if (users.size === 0) usersGone?.();
    };

    node.migrate = (set: MigrationSet): Promise<void> => {
      let running = migrations.get(set.name);
      if (!running) {
        // runMigrations logs each migration it applies, once: no summary line repeating them.
        running = (async () => {
          if (settings.timescale === true) await prepareTimescale();
          await runMigrations(node.acquire(), [set], {
            log: { info: (m: string) => node.log(m), warn: (m: string) => node.warn(m) },
          });
          if (settings.timescale === true) {
            const converted = await applyHypertables(node.acquire(), set.name);
            if (converted.length > 0) node.log(`TimescaleDB hypertables: ${converted.join(', ')}`);
          }
        })();
        running.catch((err: unknown) => {
          if ((err as { code?: unknown }).code === 'DB_ADOPTION_REFUSED') {
            // A schema the set does not recognise: said once, kept until the next deploy (the user
            // changes the database, then redeploys or restarts). Until then every caller gets the
            // same refusal at once, and the database is not touched again.
            refusals.add((err as Error).message);
            node.error(RED._('iotp-database.errors.refused', { message: (err as Error).message }));
            return;
          }
          // A failed run (database down) is retried by the next caller, not cached as failed.
          migrations.delete(set.name);
        });
        migrations.set(set.name, running);
      }
      return running;
    };

    node.reportReachable = (isReachable: boolean, reason?: string): void => {
      if (!isReachable && reason !== undefined && refusals.has(reason)) return;
      if (reachable === isReachable) return;
      const wasDown = reachable === false;
      reachable = isReachable;
      // Reachable at the first statement is what is expected: only a recovery is news.
      if (isReachable) {
        if (wasDown) node.log(RED._('iotp-database.errors.recovered', { database: description }));
      } else node.warn(RED._('iotp-database.errors.unreachable', { database: description, reason: reason ?? 'unknown' }));
    };

    node.on('close', (_removed: boolean, done: () => void) => {
      const budget = Math.max(500, (Number((RED.settings as unknown as { nodeCloseTimeout?: number }).nodeCloseTimeout) || 15000) - 1000);
      const usersClosed =
        users.size === 0
          ? Promise.resolve()
          : new Promise<void>((resolve) => {
              usersGone = resolve;
              setTimeout(resolve, budget).unref?.();
            });
      usersClosed.then(() => {
        const closing = database;
        database = undefined;
        migrations.clear();
        refusals.clear();
        timescaleReady = undefined;
        if (!closing) return done();
        closing.close().then(
          () => done(),
          () => done(),
        );
      });
    });
  }

  RED.nodes.registerType('iotp-database', DatabaseNode as unknown as Parameters<NodeAPI['nodes']['registerType']>[1], {
    credentials: {
      user: { type: 'text' },
      password: { type: 'password' },
      ca: { type: 'text' },
    },
  });
}
