/**
 * iotp-stats: on each input, the writers', MQTT ingests' and connectors' live numbers (lib/pipeline-stats.ts) of
 * this Node-RED as `msg.payload`, for dashboards and alerts. Read-only; the nodes keep the numbers
 * anyway, so a snapshot costs one pass over the deployed nodes.
 */
import type { Node, NodeAPI } from 'node-red';
import type { ConnectorSnapshot, IngestSnapshot, PipelineSnapshot, WriterSnapshot } from '../../lib/pipeline-stats';
import { defineNode } from '../shared/define-node';

const SOURCE_TYPES = new Set(['iotp-db-write', 'iotp-mqtt-in', 'iotp-batch-post']);

interface StatsSource extends Node {
  pipelineStats?: () => Omit<PipelineSnapshot, 'tab'>;
}

export default function register(RED: NodeAPI): void {
  defineNode(RED, {
    type: 'iotp-stats',
    setup({ status, onInput }) {
      onInput((msg, send, done) => {
        const tabs = new Map<string, string>();
        const sources: Array<{ id: string; z: string }> = [];
        RED.nodes.eachNode((n: { id: string; type: string; z?: string; label?: string; disabled?: boolean }) => {
          if (n.type === 'tab') tabs.set(n.id, n.label ?? n.id);
          else if (SOURCE_TYPES.has(n.type)) sources.push({ id: n.id, z: n.z ?? '' });
        });
        const writers: WriterSnapshot[] = [];
        const ingests: IngestSnapshot[] = [];
        const connectors: ConnectorSnapshot[] = [];
        for (const source of sources) {
          // Disabled tabs and nodes are not running: getNode gives nothing for them.
          const running = RED.nodes.getNode(source.id) as StatsSource | null;
          const snapshot = running?.pipelineStats?.();
          if (!snapshot) continue;
          const withTab = { ...snapshot, tab: tabs.get(source.z) ?? source.z } as PipelineSnapshot;
          if (withTab.kind === 'writer') writers.push(withTab);
          else if (withTab.kind === 'ingest') ingests.push(withTab);
          else connectors.push(withTab);
        }
        msg.payload = { at: new Date().toISOString(), writers, ingests, connectors };
        status.set({
          fill: 'green',
          shape: 'dot',
          text: RED._('iotp-stats.status.counts', { writers: writers.length, connectors: connectors.length }),
        });
        send(msg);
        done();
      });
    },
  });
}
