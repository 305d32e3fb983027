/**
 * iotp-isems: the ISEMS solar-node collector. Polls the nodes' logs over HTTP on one interval
 * timer (first poll on deploy) and parses logs arriving on its input from MQTT
 * (`/isems/<nodeid>/csvlog`); sends only records not stored before, one message per solar node
 * and poll (or MQTT message) carrying an array of `measurement` rows for iotp-db-write.
 *
 * At-least-once: a source's watermark (highest timestamp emitted) advances only when every node
 * the rows reached has completed them (the writer: committed or journaled), observed through
 * nodes/shared/completion.ts, and is then saved to a file in the user directory. Rows sent but
 * not completed before a crash are sent again after the restart; the table's unique key
 * (nodeId, timestamp) makes the repeat a no-op. Rows a node completes with an error are
 * dead-lettered (nodes/shared/dead-letters.ts) and the watermark moves on; rows that miss a node
 * (a redeploy) are offered again at the next poll, at most REOFFER_POLLS times in a row.
 *
 * With SIMULATE=true and no node addresses, the node starts simulated solar nodes on 127.0.0.1
 * (lib/isems/simulate.ts), one log line per minute, and polls those.
 */
import type { NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from 'node-red';
import { join } from 'node:path';
import { IsemsError } from '../../lib/isems/errors';
import { parseMqttMessage, nodeIdFromCsvlogTopic } from '../../lib/isems/parse';
import { IsemsPoller, parseNodeList, type NodeFailure, type NodePollResult, type PollLineError } from '../../lib/isems/poller';
import { newestEpochSeconds, toMeasurementRow, type MeasurementRow } from '../../lib/isems/rows';
import { startSimulatedSolarServer, type SimulatedSolarServer } from '../../lib/isems/simulate';
import { mqttWatermarkKey, WatermarkFile, WatermarkLedger } from '../../lib/isems/watermarks';
import { checkCompletionSupport, installCompletionHooks, sendTracked, type CompletionOutcome } from '../shared/completion';
import { isemsSettings } from '../../lib/isems/settings';
import { defineNode } from '../shared/define-node';
import { openDeadLetters } from '../shared/dead-letters';
import { compactCount } from '../shared/status';
import { closeBudget } from '../shared/close-budget';

interface IsemsNodeDef extends NodeDef {
  /** Addresses (IP, host:port or URL), separated by commas or lines; default `${ISEMS_ROUTER_IPS}`. */
  nodes: string;
  /** Seconds between polls; default `${ISEMS_POLL_INTERVAL}`. */
  interval: string | number;
  /** 'true' starts simulated nodes when no address is given; default `${SIMULATE}`. */
  simulate: string;
  simulatedNodes: string | number;
  /** Per-node request timeout, seconds. */
  timeout: string | number;
  concurrency: string | number;
  /** Malformed lines listed per solar node and poll (the rest are counted). */
  maxLineErrors: string | number;
  version?: number;
}

type InputMessage = NodeMessageInFlow & { _iotpAck?: unknown };

function isTrue(value: unknown): boolean {
  return /^(true|1|yes)$/i.test(String(value ?? '').trim());
}

/** Entries separated by commas or line breaks. */
export function nodeAddresses(text: string | undefined): string[] {
  return parseNodeList(String(text ?? '').replace(/\r?\n/g, ','));
}

/** Polls in a row whose rows may miss a node (a deploy restarting it) before they are dead-lettered. */
const REOFFER_POLLS = 30;

/** Where a node keeps its watermarks: `<user dir>/iot-pipelines/isems/<node id>.json`. */
export function watermarkPath(userDir: string, nodeId: string): string {
  return join(userDir, 'iot-pipelines', 'isems', `${nodeId.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`);
}

/** The same simulated solar node on another loopback port (a previous start of the simulator). */
export function sameSimulatedNode(key: string, url: string): boolean {
  const loopback = /^http:\/\/127\.0\.0\.1:\d+(\/.*)$/;
  const a = loopback.exec(key);
  const b = loopback.exec(url);
  return a !== null && b !== null && a[1] === b[1];
}

function clock(date: Date): string {
  return date.toTimeString().slice(0, 8);
}

export default function register(RED: NodeAPI): void {
  installCompletionHooks(RED);

  defineNode<IsemsNodeDef>(RED, {
    type: 'iotp-isems',
    setup({ node, config: def, status, onInput, userDir }) {
      checkCompletionSupport(RED, node);
      const addresses = nodeAddresses(def.nodes);
      const settings = isemsSettings(def);
      const { intervalSeconds, maxLineErrors } = settings;
      const simulate = addresses.length === 0 && isTrue(def.simulate);

      const file = new WatermarkFile(watermarkPath(userDir, node.id), (error) =>
        node.warn(RED._('iotp-isems.errors.saveWatermarks', { message: error.message })),
      );
      const ledger = new WatermarkLedger();
      try {
        const saved = file.load();
        if (saved) ledger.merge(saved);
      } catch (error) {
        // A damaged file costs a re-read of the logs (the unique key absorbs it), not the node.
        node.warn(RED._('iotp-isems.errors.badWatermarks', { message: (error as Error).message }));
      }

      let poller: IsemsPoller | undefined;
      let simulator: SimulatedSolarServer | undefined;
      let simulatedMinutes = 0;
      let simulationStart = 0;
      let timer: NodeJS.Timeout | undefined;
      let cycle: Promise<void> | undefined;
      let closing = false;
      let sequence = 0;
      let lastSummary = { ok: 0, failed: 0, at: '' };
      /** Polls in a row whose rows some node did not complete, per solar node (reset when one completes). */
      const missedPolls = new Map<string, number>();
      const { file: deadLetters, name: deadLetterName } = openDeadLetters(RED, node.id);
      let deadLettered = 0;

      /** Sends rows on output 1, tracked; resolves with how the downstream nodes completed them. */
      const deliver = (msg: Record<string, unknown>): Promise<CompletionOutcome> =>
        new Promise((resolve) => {
          const id = `iotp-isems:${node.id}:${++sequence}`;
          sendTracked(
            (m) => node.send([m as NodeMessage, null]),
            msg,
            id,
            (_id, outcome) => resolve(outcome),
          );
        });

      /** Completed downstream (or nobody is wired to take the rows): the watermark may move. */
      const settledOk = (outcome: CompletionOutcome): boolean => outcome === 'completed' || outcome === 'unrouted';

      const advance = (key: string, rows: readonly MeasurementRow[]): void => {
        if (ledger.advance(key, newestEpochSeconds(rows))) file.save(ledger.snapshot());
      };

      const reportLineErrors = (
        source: string,
        errors: readonly Omit<PollLineError, 'url'>[],
        rejected: number,
        extra: Record<string, unknown>,
      ): void => {
        if (rejected === 0) return;
        const first = errors[0];
        const text = RED._('iotp-isems.errors.malformed', {
          node: source,
          count: rejected,
          line: first?.line ?? '?',
          reason: first?.reason ?? '',
        });
        node.error(text, { topic: source, payload: errors, rejected, ...extra } as unknown as NodeMessage);
      };

      /** One solar node's result within a poll: rows out, completion awaited, watermark moved. */
      const onNode = async (result: NodePollResult): Promise<void> => {
        reportLineErrors(result.node, result.errors, result.rejected, { url: result.url });
        if (result.failure || result.records.length === 0) return;
        const rows = result.records.map(toMeasurementRow);
        const outcome = await deliver({
          topic: rows[0].nodeId,
          payload: rows,
          isems: {
            source: 'poll',
            node: result.node,
            url: result.url,
            lines: result.lines,
            skipped: result.skipped,
            rejected: result.rejected,
          },
        });
        if (settledOk(outcome)) {
          missedPolls.delete(result.url);
          advance(result.url, rows);
          return;
        }
        // A node completed the rows with an error: offering them again would make the nodes that
        // did take them do so twice. Rows that keep missing a node (a deploy restarting it) are
        // offered again a bounded number of polls first.
        const tries = (missedPolls.get(result.url) ?? 0) + 1;
        if (outcome === 'failed' || tries > REOFFER_POLLS) {
          missedPolls.delete(result.url);
          if (await deadLetterRows(rows[0].nodeId, rows, outcome, tries)) advance(result.url, rows);
          return;
        }
        missedPolls.set(result.url, tries);
        // Thrown: the poller keeps its own watermark too, so the rows come again next poll.
        throw new IsemsError('ISEMS_CONSUMER', RED._('iotp-isems.errors.notCompleted', { outcome }));
      };

      /**
       * Keeps rows no node could take in the dead-letter file, under their solar node's id (the rows' topic), and reports them on the error path
       * (a node that completed them with an error has reported its own). False when the file could
       * not be written: the watermark then stays, and the solar node's log offers the rows again.
       */
      const deadLetterRows = async (
        nodeId: string,
        rows: readonly MeasurementRow[],
        outcome: CompletionOutcome,
        tries: number,
      ): Promise<boolean> => {
        // The rows' range in words: a record keeps the first 16 KiB of the rows, and the solar
        // node's own log still holds them all.
        const range = { count: rows.length, from: rows[0].timestamp, to: rows[rows.length - 1].timestamp };
        const reason = RED._(outcome === 'failed' ? 'iotp-isems.errors.rowsFailed' : 'iotp-isems.errors.rowsMissed', {
          outcome,
          tries,
          ...range,
        });
        try {
          await deadLetters.append({ topic: nodeId, payload: Buffer.from(JSON.stringify(rows)), reason, tries });
        } catch (error) {
          node.error(RED._('iotp-isems.errors.deadLetterNotKept', { node: nodeId, reason, message: (error as Error).message }), {
            topic: nodeId,
            payload: rows,
          } as unknown as NodeMessage);
          return false;
        }
        deadLettered++;
        if (outcome !== 'failed') {
          node.error(RED._('iotp-isems.errors.deadLetter', { node: nodeId, count: rows.length, reason, file: deadLetterName }), {
            topic: nodeId,
            payload: rows,
            deadLetter: { reason, tries, file: deadLetterName },
          } as unknown as NodeMessage);
        }
        return true;
      };

      const reportPoll = (failures: readonly NodeFailure[], nodes: number): void => {
        for (const failure of failures) node.send([null, { topic: failure.node, payload: failure } as NodeMessage]);
        if (failures.length > 0) {
          const list = failures.map((f) => `${f.node} (${f.reason})`).join(', ');
          node.warn(
            RED._('iotp-isems.errors.nodesFailed', {
              failed: failures.length,
              nodes,
              list: list.length > 1000 ? `${list.slice(0, 1000)}…` : list,
            }),
          );
        }
        lastSummary = { ok: nodes - failures.length, failed: failures.length, at: clock(new Date()) };
        status.set({
          fill: failures.length === 0 ? 'green' : failures.length < nodes ? 'yellow' : 'red',
          shape: 'dot',
          text:
            RED._('iotp-isems.status.polled', { ok: lastSummary.ok, failed: lastSummary.failed, at: lastSummary.at }) +
            (deadLettered > 0 ? RED._('iotp-isems.status.deadLettered', { count: compactCount(deadLettered) }) : ''),
        });
      };

      const pollOnce = async (): Promise<void> => {
        if (!poller || closing) return;
        if (simulator) {
          // The simulated nodes write one line per minute of real time since deploy.
          const due = Math.floor((Date.now() / 1000 - simulationStart) / 60);
          if (due > simulatedMinutes) {
            simulator.simulation.advance(due - simulatedMinutes);
            simulatedMinutes = due;
          }
        }
        if (poller.busy) {
          // One cycle at a time: the poller counts the skip; the status says so.
          await poller.poll();
          status.set({ fill: 'yellow', shape: 'ring', text: RED._('iotp-isems.status.busy', { skipped: poller.skippedCycles }) });
          return;
        }
        status.set({ fill: 'blue', shape: 'ring', text: RED._('iotp-isems.status.polling', { nodes: poller.nodes.length }) });
        const result = await poller.poll();
        if (result && !closing) {
          reportPoll(result.failures, result.stats.nodes);
          if (result.stats.records > 0)
            node.log(
              RED._('iotp-isems.log.polled', {
                records: compactCount(result.stats.records),
                nodes: result.stats.nodesOk,
                ms: result.stats.ms,
              }),
            );
        }
      };

      const tick = (): void => {
        if (cycle) {
          void pollOnce(); // counted as skipped by the poller
          return;
        }
        cycle = pollOnce()
          .catch((error: Error) => node.error(RED._('iotp-isems.errors.poll', { message: error.message })))
          .finally(() => {
            cycle = undefined;
          });
      };

      const startPolling = (urls: readonly string[]): void => {
        poller = new IsemsPoller({
          nodes: urls,
          timeoutMs: settings.timeoutSeconds * 1000,
          concurrency: settings.concurrency,
          maxErrorsPerNode: maxLineErrors,
          watermarks: ledger.snapshot(),
          onNode,
        });
        timer = setInterval(tick, intervalSeconds * 1000);
        tick();
      };

      try {
        if (addresses.length > 0) {
          startPolling(addresses);
        } else if (simulate) {
          const count = settings.simulatedNodes;
          simulationStart = Math.floor(Date.now() / 60_000) * 60;
          status.set({ fill: 'yellow', shape: 'ring', text: RED._('iotp-isems.status.simulating', { nodes: count }) });
          startSimulatedSolarServer({ nodes: count, startEpochSeconds: simulationStart, seed: 1 }).then(
            (server) => {
              if (closing) {
                void server.close();
                return;
              }
              simulator = server;
              node.log(RED._('iotp-isems.log.simulating', { nodes: count, url: server.url(0) }));
              // The simulated nodes keep their data across restarts but get a new port: their
              // watermarks follow them, or every restart would read (and log) all their history as new.
              let moved = false;
              for (const url of server.urls) moved = ledger.adopt(url, (key) => sameSimulatedNode(key, url)) || moved;
              if (moved) file.save(ledger.snapshot());
              startPolling(server.urls);
            },
            (error: Error) => node.error(RED._('iotp-isems.errors.simulator', { message: error.message })),
          );
        } else {
          status.set({ fill: 'grey', shape: 'ring', text: RED._('iotp-isems.status.mqttOnly') });
        }
      } catch (error) {
        // No start-up failure: readings arriving over MQTT are still stored, only polling is off.
        node.error(RED._('iotp-isems.errors.config', { message: (error as Error).message }));
        status.set({ fill: 'red', shape: 'ring', text: RED._('iotp-isems.status.badConfig') });
      }

      onInput<InputMessage>((msg, send, done) => {
        if (msg.topic === 'poll') {
          if (!poller) return done(new IsemsError('ISEMS_BAD_CONFIG', RED._('iotp-isems.errors.noPolling')));
          const running = cycle ?? pollOnce();
          running.then(
            () => done(),
            (error: Error) => done(error),
          );
          return;
        }
        const topic = typeof msg.topic === 'string' ? msg.topic : '';
        let parsed;
        try {
          const topicNode = nodeIdFromCsvlogTopic(topic);
          parsed = parseMqttMessage(topic, msg.payload, {
            newerThan: topicNode === null ? undefined : ledger.get(mqttWatermarkKey(topicNode)),
            maxErrors: maxLineErrors,
            maxEpochSeconds: Math.floor(Date.now() / 1000) + 24 * 3600,
          });
        } catch (error) {
          // Not a log at all (wrong topic, not text): the message goes to the error path.
          return done(error as Error);
        }
        const key = mqttWatermarkKey(parsed.topicNodeId);
        reportLineErrors(
          parsed.topicNodeId,
          parsed.errors.map((e) => ({ node: parsed.topicNodeId, ...e })),
          parsed.rejected,
          { source: 'mqtt', mqttTopic: topic },
        );
        if (parsed.records.length === 0) return done();
        const rows = parsed.records.map(toMeasurementRow);
        const out: Record<string, unknown> = {
          topic: parsed.topicNodeId,
          payload: rows,
          isems: { source: 'mqtt', node: parsed.topicNodeId, lines: parsed.lines, skipped: parsed.skipped, rejected: parsed.rejected },
        };
        // The MQTT message's completion id travels on: the broker is acknowledged once the writer
        // has completed the rows, and so is this node's watermark.
        if (msg._iotpAck !== undefined) out._iotpAck = msg._iotpAck;
        const id = `iotp-isems:${node.id}:${++sequence}`;
        sendTracked(
          (m) => send([m as NodeMessage, null]),
          out,
          id,
          (_id, outcome) => {
            if (settledOk(outcome)) advance(key, rows);
          },
        );
        done();
      });

      node.on('close', (_removed: boolean, done: () => void) => {
        closing = true;
        if (timer) clearInterval(timer);
        // Aborts requests in flight; a running cycle still waits for its deliveries' completions
        // (writers flush or journal on close), within Node-RED's close timeout.
        poller?.close();
        const budget = closeBudget(RED, 3000, 1000);
        let budgetTimer: NodeJS.Timeout | undefined;
        const waited = cycle
          ? Promise.race([cycle, new Promise<void>((resolve) => (budgetTimer = setTimeout(resolve, budget)))])
          : Promise.resolve();
        waited
          .then(() => file.flush())
          .then(() => deadLetters.flush())
          .then(() => simulator?.close())
          .catch((error: Error) => node.warn(error.message))
          .finally(() => {
            if (budgetTimer) clearTimeout(budgetTimer);
            done();
          });
      });
    },
  });
}
