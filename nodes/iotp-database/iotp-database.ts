/**
 * iotp-database: the connection config node shared by writers and queries. Opens the database
 * lazily (so a flow deploys even while the database is down), applies each migration set once per
 * deploy, logs reachability changes once (not once per failed statement) and closes on redeploy.
 */
import type { NodeAPI, NodeDef } from 'node-red';
import { databaseIdentity, describeConfig } from '../../lib/db/url';
import { openDatabase } from '../../lib/db';
import { runMigrations } from '../../lib/db/migrate';
import { applyHypertables, requireTimescale } from '../../lib/db/timescale';
import type { Database, DatabaseConfig, MigrationSet } from '../../lib/db/types';
import { resolveDatabaseConfig, type DatabaseNodeSettings } from '../../lib/db/settings';
import type { DatabaseConfigNode } from '../shared/config-nodes';
import { asError, defineNode } from '../shared/define-node';
import { flowEnv } from '../shared/flow-env';
import { closeBudget, waitWithin } from '../shared/close-budget';

type DatabaseNodeDef = NodeDef & DatabaseNodeSettings;

// Consumers import the interface from nodes/shared/config-nodes.ts.
export type { DatabaseConfigNode } from '../shared/config-nodes';

/** Settings of the node as stored in flows, per version: see nodes/shared/config-version.ts. */
const CONFIG_MIGRATIONS = [
  {
    version: 1,
    up: (config: Record<string, unknown>) => ({ connection: 'url', url: '${DATABASE_URL}', ...config }),
  },
];

export default function register(RED: NodeAPI): void {
  defineNode<DatabaseNodeDef, DatabaseConfigNode>(RED, {
    type: 'iotp-database',
    migrations: CONFIG_MIGRATIONS,
    credentials: {
      user: { type: 'text' },
      password: { type: 'password' },
      ca: { type: 'text' },
    },
    setup(kit) {
      const { node, config: settings, userDir } = kit;
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
        kit.startupFailed(asError(err), { log: RED._('iotp-database.errors.config', { message: asError(err).message }) });
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
        const usersClosed = waitWithin(closeBudget(RED, 1000, 500), users.size > 0, (resolve) => (usersGone = resolve));
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
    },
  });
}
