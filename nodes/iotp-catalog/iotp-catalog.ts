/**
 * iotp-catalog: the data catalog (`GET /catalog`). Describes, from the live database, every table
 * of the chosen migration sets plus the datasets declared in the dialog: columns and types, row
 * count, first/last time, description and lineage (source topic, flow, derived from, feeds).
 * Requests arriving while a catalog is being built share that build (COUNT(*) on large tables is
 * the expensive part), so a burst of requests costs one set of queries.
 */
import type { NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { isDatabaseError } from '../../lib/db/errors';
import { buildCatalog, type Catalog } from '../../lib/sensors/catalog';
import { catalogPlan } from '../../lib/sensors/catalog-settings';
import { databaseErrorAnswer, type HttpAnswer, type RequestLike } from '../../lib/sensors/http';
import type { DatabaseConfigNode } from '../shared/config-nodes';
import { asError, defineNode } from '../shared/define-node';
import { refuseRequests, replyIfRequest, sendResult } from '../shared/http-reply';

interface CatalogNodeDef extends NodeDef {
  database: string;
  migrationSets: string;
  datasets: string;
  topic: string;
  countMode: 'exact' | 'estimate';
}

type Msg = NodeMessageInFlow & { req?: RequestLike; statusCode?: number; headers?: Record<string, string> };

export default function register(RED: NodeAPI): void {
  defineNode<CatalogNodeDef>(RED, {
    type: 'iotp-catalog',
    setup({ node, config: def, status, startupFailed, onInput }) {
      const config = def.database ? (RED.nodes.getNode(def.database) as DatabaseConfigNode | null) : null;
      let plan: ReturnType<typeof catalogPlan> | undefined;
      try {
        if (!config) throw new Error(RED._('iotp-catalog.errors.noDatabase'));
        plan = catalogPlan(def);
      } catch (err) {
        const failure = asError(err);
        startupFailed(failure, { log: RED._('iotp-catalog.errors.config', { message: failure.message }) });
      }
      let building: Promise<Catalog> | undefined;

      const build = (): Promise<Catalog> => {
        if (building) return building;
        const { sets, declarations } = plan as NonNullable<typeof plan>;
        const db = (config as DatabaseConfigNode).acquire(node);
        building = (async () => {
          for (const set of sets) await (config as DatabaseConfigNode).migrate(set);
          return buildCatalog(db, declarations, { countMode: def.countMode === 'estimate' ? 'estimate' : 'exact' });
        })();
        const clear = (): void => {
          building = undefined;
        };
        building.then(clear, clear);
        return building;
      };

      const refuse = refuseRequests({ error: 'catalog not configured', code: 'CATALOG_NOT_CONFIGURED' });

      onInput<Msg>((msg, send, done) => {
        // The client learns what failed; the error itself (driver text, addresses) goes to the error path.
        const fail = (err: Error, http: HttpAnswer): void => {
          replyIfRequest(msg, send, http);
          done(err);
        };
        let running: Promise<Catalog>;
        try {
          running = build();
        } catch (err) {
          return fail(err as Error, databaseErrorAnswer(err));
        }
        running.then(
          (catalog) => {
            config?.reportReachable(true);
            status.set({ fill: 'green', shape: 'dot', text: RED._('iotp-catalog.status.datasets', { count: catalog.datasets.length }) });
            sendResult(msg, send, 'Data catalog', catalog);
            done();
          },
          (err: Error) => {
            const unreachable = isDatabaseError(err) && err.kind === 'connection';
            if (unreachable) config?.reportReachable(false, err.message);
            status.set({ fill: 'red', shape: 'ring', text: err.message.slice(0, 40) });
            fail(err, databaseErrorAnswer(err));
          },
        );
      }, refuse);

      node.on('close', () => config?.release(node));
    },
  });
}
