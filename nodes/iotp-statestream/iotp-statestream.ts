/**
 * iotp-statestream: Home Assistant MQTT Statestream messages → parsed records (one per topic,
 * ready for the `messages` table) or merged entity updates. Thin glue around lib/statestream's
 * StatestreamParser and EntityMerger.
 *
 * Completion (at-least-once upstream): a record is sent, then its input completed. A merged
 * entity carries the completion ids of every input it merges (`_iotpAck` array) and those inputs
 * are completed only after the merged message was sent, so the broker acknowledges them once the
 * merged update is stored. One timer per node drives the merger's quiet time.
 */
import { factlessReason } from '../../lib/statestream/limits';
import { maxPayloadSetting, quietMsSetting } from '../../lib/statestream/settings';
import type { NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from 'node-red';
import {
  EntityMerger,
  isStatestreamError,
  StatestreamParser,
  type MergedEntity,
  type StatestreamRecord,
  type StringPayloads,
} from '../../lib/statestream';
import { COMPLETION_PROPERTY } from '../shared/completion';
import { asError, defineNode } from '../shared/define-node';
import { compactCount } from '../shared/status';

interface StatestreamNodeDef extends NodeDef {
  baseTopic: string;
  includeDomains: string;
  includeEntities: string;
  excludeDomains: string;
  excludeEntities: string;
  strings: StringPayloads;
  output: 'record' | 'entity';
  quietMs: number | string;
  maxPayload: number | string;
}

/** Patterns one per line or comma-separated. */
export function patternList(text: unknown): string[] {
  return String(text ?? '')
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The row-shaped record mode sends: the `messages` columns first, then the decoded fields. */
export interface StatestreamRow {
  topic: string;
  qos: number;
  /** The payload text as published. */
  payload: string;
  retained: boolean;
  receivedAt: Date;
  baseTopic: string;
  domain: string;
  objectId: string;
  entityId: string;
  key: string;
  keyKind: StatestreamRecord['keyKind'];
  value: unknown;
  numeric: number | null;
  date: Date | null;
}

export function toRow(record: StatestreamRecord, qos: unknown, receivedAt: Date): StatestreamRow {
  return {
    topic: record.topic,
    qos: qos === 1 || qos === 2 ? qos : 0,
    payload: record.raw,
    retained: record.retain,
    receivedAt,
    baseTopic: record.baseTopic,
    domain: record.domain,
    objectId: record.objectId,
    entityId: record.entityId,
    key: record.key,
    keyKind: record.keyKind,
    value: record.value,
    numeric: record.numeric,
    date: record.date,
  };
}

interface MergedInput {
  ack: string | string[] | undefined;
  done: () => void;
}

export default function register(RED: NodeAPI): void {
  defineNode<StatestreamNodeDef>(RED, {
    type: 'iotp-statestream',
    setup({ node, config: def, status, startupFailed, onInput }) {
      const mode = def.output === 'entity' ? 'entity' : 'record';
      const counts = { parsed: 0, filtered: 0, errors: 0, merged: 0, factless: 0 };
      /** Records stored in `messages` only (lib/statestream/limits.ts): the last one, and how many the log has been told of. */
      let factless: { topic: string; reason: string } | undefined;
      let factlessReported = 0;
      let factlessReportedAt = 0;
      const reportFactless = (now: number): void => {
        if (!factless || counts.factless === factlessReported) return;
        node.warn(
          RED._('iotp-statestream.errors.factless', {
            count: counts.factless - factlessReported,
            topic: factless.topic,
            reason: factless.reason,
          }),
        );
        factlessReported = counts.factless;
        factlessReportedAt = now;
      };
      let shown = '';
      let parser: StatestreamParser | undefined;
      let merger: EntityMerger | undefined;
      /** Inputs of each open merged entity, to complete after it was sent. */
      const inputsOf = new Map<MergedEntity, MergedInput[]>();
      let timer: NodeJS.Timeout | undefined;

      try {
        parser = new StatestreamParser({
          baseTopic: def.baseTopic,
          includeDomains: patternList(def.includeDomains),
          includeEntities: patternList(def.includeEntities),
          excludeDomains: patternList(def.excludeDomains),
          excludeEntities: patternList(def.excludeEntities),
          strings: def.strings === 'raw' || def.strings === 'decoded' ? def.strings : 'auto',
          maxPayloadBytes: maxPayloadSetting(def.maxPayload),
        });
        if (mode === 'entity') merger = new EntityMerger({ quietMs: quietMsSetting(def.quietMs) });
      } catch (err) {
        startupFailed(new Error(RED._('iotp-statestream.errors.notConfigured')), {
          log: RED._('iotp-statestream.errors.config', { message: asError(err).message }),
          status: RED._('iotp-statestream.status.config'),
        });
      }

      // One status ticker per node: counters change per message, the editor sees them once a second.
      const ticker = setInterval(() => {
        // The log hears of records without facts at most once a minute (the first one at once).
        if (Date.now() - factlessReportedAt >= 60_000) reportFactless(Date.now());
        const key = `${counts.parsed}|${counts.filtered}|${counts.errors}|${counts.merged}|${counts.factless}`;
        if (key === shown || !parser) return;
        shown = key;
        let text = RED._(mode === 'entity' ? 'iotp-statestream.status.merged' : 'iotp-statestream.status.counts', {
          parsed: compactCount(counts.parsed),
          merged: compactCount(counts.merged),
          filtered: compactCount(counts.filtered),
          errors: compactCount(counts.errors),
        });
        if (counts.factless > 0) text += RED._('iotp-statestream.status.factless', { count: compactCount(counts.factless) });
        status.set({ fill: counts.errors > 0 || counts.factless > 0 ? 'yellow' : 'green', shape: 'dot', text });
      }, 1000);
      ticker.unref?.();

      /** Sends merged entities, each followed by the completion of the inputs it merged (unless closing). */
      const emit = (entities: readonly MergedEntity[], complete = true): void => {
        for (const entity of entities) {
          const inputs = inputsOf.get(entity) ?? [];
          inputsOf.delete(entity);
          const acks: string[] = [];
          for (const input of inputs) {
            if (typeof input.ack === 'string') acks.push(input.ack);
            else if (Array.isArray(input.ack)) acks.push(...input.ack);
          }
          const msg: Record<string, unknown> = { topic: `${entity.baseTopic}/${entity.domain}/${entity.objectId}`, payload: entity };
          if (acks.length > 0) msg[COMPLETION_PROPERTY] = acks;
          counts.merged++;
          node.send(msg as NodeMessage);
          if (complete) for (const input of inputs) input.done();
        }
      };

      const onTimer = (): void => {
        timer = undefined;
        if (!merger) return;
        emit(merger.tick(Date.now()));
        arm();
      };
      const arm = (): void => {
        if (timer || !merger) return;
        const due = merger.nextDueAt();
        if (due === undefined) return;
        timer = setTimeout(onTimer, Math.max(0, due - Date.now()));
      };

      onInput<NodeMessageInFlow & { retain?: unknown; qos?: unknown }>((msg, send, done) => {
        // Only after a start-up failure, whose messages never reach this handler.
        if (!parser) return done();
        const now = Date.now();
        let record: StatestreamRecord | null;
        try {
          record = parser.parse(msg.topic, msg.payload, msg.retain === true, now);
        } catch (err) {
          counts.errors++;
          if (!isStatestreamError(err)) return done(err as Error);
          // To the error path (a Catch node sees it): completed, so a poison message never blocks the stream.
          const error = new Error(RED._('iotp-statestream.errors.parse', { topic: err.topic ?? String(msg.topic), message: err.message }));
          (error as Error & { code?: string }).code = err.code;
          return done(error);
        }
        if (record === null) {
          counts.filtered++;
          return done();
        }
        counts.parsed++;
        if (!merger) {
          // Stored, but the tables cannot normalise it: said, not silently left out of the facts.
          const reason = factlessReason(record);
          if (reason !== undefined) {
            counts.factless++;
            factless = { topic: record.topic.length > 200 ? `${record.topic.slice(0, 200)}…` : record.topic, reason };
            if (factlessReported === 0) reportFactless(now);
          }
          msg.payload = toRow(record, msg.qos, new Date(now));
          send(msg);
          return done();
        }
        emit(merger.push(record, now));
        const entity = merger.openEntityOf(record);
        if (!entity) {
          // Cannot happen (push always leaves the record's entity open); never leave a message hanging.
          return done();
        }
        let inputs = inputsOf.get(entity);
        if (!inputs) inputsOf.set(entity, (inputs = []));
        inputs.push({ ack: (msg as Record<string, unknown>)[COMPLETION_PROPERTY] as string | string[] | undefined, done: () => done() });
        arm();
      });

      node.on('close', (_removed: boolean, done: () => void) => {
        clearInterval(ticker);
        if (timer) clearTimeout(timer);
        timer = undefined;
        // What is still merging goes out now, but its inputs are NOT completed: while the flow stops,
        // downstream nodes may no longer take it, so an at-least-once source leaves them
        // unacknowledged and the broker redelivers them after the restart (duplicates, never loss).
        if (merger) emit(merger.flush(), false);
        done();
      });
    },
  });
}
