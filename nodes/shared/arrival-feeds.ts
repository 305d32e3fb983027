/**
 * What a connector's schedule waits for (lib/arrivals.ts), in Node-RED terms: the tables a db
 * write node fills, and the tables an MQTT ingest's messages end up in, found by following the
 * flow from the ingest to the db write nodes it reaches (lib/flow-graph.ts).
 */
import type { NodeAPI } from 'node-red';
import type { ArrivalTarget } from '../../lib/arrivals';
import { downstreamOf, type FlowNodeConfig } from '../../lib/flow-graph';
import { findMigrationSet, parseCustomMigrationSet } from '../../lib/migrations';
import { tablesFedBy, triggerLineage } from '../../lib/sql-tables';

interface WriterConfig {
  table?: unknown;
  migrationSet?: unknown;
  customMigrations?: unknown;
}

const UNRESOLVED = /\$\{[^}]*\}/;

/**
 * The tables a db write node fills: its own and those its migration set's triggers fill from it
 * (statestream: `messages` → `facts`...). Undefined when its table is not known here (an
 * unresolved `${VAR}`): it may then be any table.
 */
export function writerTables(def: WriterConfig): string[] | undefined {
  const table = typeof def.table === 'string' ? def.table.trim() : '';
  if (table === '' || UNRESOLVED.test(table)) return undefined;
  let statements: string[] = [];
  try {
    const set =
      def.migrationSet === 'custom' && typeof def.customMigrations === 'string'
        ? parseCustomMigrationSet(def.customMigrations)
        : typeof def.migrationSet === 'string' && def.migrationSet !== ''
          ? findMigrationSet(def.migrationSet)
          : undefined;
    statements = set ? set.migrations.flatMap((m) => [...m.mysql, ...m.sqlite]) : [];
  } catch {
    // The writer reports a bad migration set itself; its own table is still known.
  }
  return tablesFedBy(table, triggerLineage(statements));
}

/**
 * The tables the messages of node `nodeId` end up in: those of every db write node they reach.
 * Undefined when a path cannot be followed (a subflow, a dynamic link call) or a writer's
 * database cannot be named: the caller then assumes any table.
 */
export function tablesReachedFrom(RED: NodeAPI, nodeId: string): ArrivalTarget[] | undefined {
  const configs = new Map<string, FlowNodeConfig & Record<string, unknown>>();
  RED.nodes.eachNode((config) => void configs.set(config.id, config as unknown as FlowNodeConfig & Record<string, unknown>));
  const { nodes, complete } = downstreamOf(nodeId, configs);
  if (!complete) return undefined;
  const targets: ArrivalTarget[] = [];
  for (const config of nodes as Array<FlowNodeConfig & Record<string, unknown>>) {
    if (config.type !== 'iotp-db-write') continue;
    const database = (RED.nodes.getNode(String(config.database)) as unknown as { identity?: unknown } | null)?.identity;
    if (typeof database !== 'string') return undefined;
    const tables = writerTables(config as WriterConfig);
    if (tables === undefined) targets.push({ database });
    else for (const table of tables) targets.push({ database, table });
  }
  return targets;
}
