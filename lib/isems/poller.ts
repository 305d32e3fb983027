/**
 * Polls ISEMS solar nodes over HTTP (`http://<node>/ISEMS/ffopenmppt.log`) and returns only the
 * records not emitted before.
 *
 * - Isolation: every node has its own deadline (connect + whole response), size cap and error
 *   handling; a dead, slow or 404-answering node is reported once per poll and never holds up
 *   the others (a bounded number of requests run at once, each finishing or failing on its own).
 * - Incremental: a per-node watermark (highest timestamp emitted) lets lines already emitted be
 *   skipped after a look at their timestamp field only; watermarks export to plain JSON so they
 *   survive restarts.
 * - One cycle at a time: a poll requested while one runs is skipped and counted, never stacked.
 *   The caller owns the interval timer; during a cycle one ticker enforces all deadlines.
 */
import http from 'node:http';
import https from 'node:https';
import { IsemsError, type IsemsNodeFailureCode } from './errors';
import { parseLogBytes, type IsemsLineError, type IsemsMeasurement } from './parse';

export const ISEMS_LOG_PATH = '/ISEMS/ffopenmppt.log';
export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_CONCURRENCY = 16;
/** A 3,600-line log is about 400 KB; 8 MiB leaves room for long node ids without letting a runaway response exhaust memory. */
export const DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024;
export const DEFAULT_MAX_ERRORS_PER_NODE = 20;
/** Records stamped further ahead of this machine's clock are rejected: one would freeze the watermark in the future. */
export const DEFAULT_MAX_CLOCK_SKEW_SECONDS = 24 * 3600;
export const DEFAULT_POLL_INTERVAL_SECONDS = 60;

/** A node to poll: the entry as configured (for messages) and the URL it stands for (the watermark key). */
export interface PollTarget {
  node: string;
  url: string;
}

/** A node that could not be read in this poll. */
export interface NodeFailure {
  node: string;
  url: string;
  code: IsemsNodeFailureCode;
  /** E.g. `HTTP 404`, `timeout after 5000 ms`, `ECONNREFUSED`. */
  reason: string;
}

/** A malformed line, with the node it came from. */
export interface PollLineError extends IsemsLineError {
  node: string;
  url: string;
}

/** What one node yielded in one poll (given to `onNode` as soon as the node is done). */
export interface NodePollResult {
  node: string;
  url: string;
  /** New records in timestamp order (empty on failure). */
  records: IsemsMeasurement[];
  errors: PollLineError[];
  failure: NodeFailure | null;
  bytes: number;
  /** Non-blank lines in the log. */
  lines: number;
  /** Lines skipped by the watermark without parsing. */
  skipped: number;
  /** Lines rejected (more than `errors` lists when the per-node cap was reached). */
  rejected: number;
  ms: number;
}

export interface PollStats {
  nodes: number;
  nodesOk: number;
  nodesFailed: number;
  linesRead: number;
  linesSkipped: number;
  linesRejected: number;
  records: number;
  bytes: number;
  ms: number;
  /** Polls skipped since this poller was created because a cycle was still running. */
  skippedCycles: number;
}

export interface PollResult {
  /** New records of every node (node after node, each in timestamp order); empty when `onNode` consumes them. */
  records: IsemsMeasurement[];
  errors: PollLineError[];
  failures: NodeFailure[];
  stats: PollStats;
}

/** Plain-JSON form of the watermarks, for persisting across restarts. */
export interface WatermarkSnapshot {
  version: 1;
  /** URL -> highest timestamp emitted (epoch seconds). */
  watermarks: Record<string, number>;
}

export interface PollerOptions {
  /** IPs, `host:port` or full URLs (see `resolveNodeUrl`). */
  nodes: readonly string[];
  /** Per request: connect plus the whole response. Default 10 s. */
  timeoutMs?: number;
  /** Requests in flight at once. Default 16. */
  concurrency?: number;
  maxResponseBytes?: number;
  /** Line errors listed per node and poll (the rest are counted in stats). Default 20. */
  maxErrorsPerNode?: number;
  maxClockSkewSeconds?: number;
  /** Watermarks from a previous run (`exportWatermarks()`). */
  watermarks?: unknown;
  /**
   * Receives each node's result as soon as it is done, instead of collecting every record in the
   * poll result (a first poll of 500 full logs is 1.8 M records). If it throws or rejects, that
   * node's watermark stays where it was, so the same records are offered again next poll.
   */
  onNode?: (result: NodePollResult) => void | Promise<void>;
  /** Milliseconds clock (tests). Default Date.now. */
  now?: () => number;
}

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * The log URL of a configured entry: an IP (`10.36.158.33`, `fd00::1`), `host:port`, or a full
 * `http(s)://` URL used as is. Throws `IsemsError` ISEMS_BAD_CONFIG for anything else.
 */
export function resolveNodeUrl(entry: string): string {
  const trimmed = typeof entry === 'string' ? entry.trim() : '';
  if (trimmed.length === 0) throw new IsemsError('ISEMS_BAD_CONFIG', 'empty node address');
  let url: URL;
  try {
    if (SCHEME.test(trimmed)) {
      url = new URL(trimmed);
    } else {
      if (/[\s/\\@?#]/.test(trimmed)) throw new Error('not a host');
      // A bare IPv6 address has several colons; it needs brackets inside a URL.
      const host = (trimmed.match(/:/g)?.length ?? 0) > 1 && !trimmed.startsWith('[') ? `[${trimmed}]` : trimmed;
      url = new URL(`http://${host}${ISEMS_LOG_PATH}`);
    }
  } catch {
    throw new IsemsError(
      'ISEMS_BAD_CONFIG',
      `node address ${JSON.stringify(trimmed.slice(0, 200))} is not an IP, host:port or http(s) URL`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new IsemsError('ISEMS_BAD_CONFIG', `node address ${JSON.stringify(trimmed.slice(0, 200))}: only http and https are supported`);
  }
  return url.href;
}

/** Splits a list such as ISEMS_ROUTER_IPS (commas, optional spaces) into entries; empty items and repeats dropped. */
export function parseNodeList(text: string | undefined): string[] {
  if (!text) return [];
  return [
    ...new Set(
      text
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item.length > 0),
    ),
  ];
}

export interface PollerEnvConfig {
  nodes: string[];
  intervalSeconds: number;
}

/** Reads ISEMS_ROUTER_IPS and ISEMS_POLL_INTERVAL (seconds, default 60). Throws ISEMS_BAD_CONFIG on a bad interval or address. */
export function pollerConfigFromEnv(env: NodeJS.ProcessEnv = process.env): PollerEnvConfig {
  const nodes = parseNodeList(env.ISEMS_ROUTER_IPS);
  nodes.forEach(resolveNodeUrl);
  const rawInterval = env.ISEMS_POLL_INTERVAL?.trim();
  let intervalSeconds = DEFAULT_POLL_INTERVAL_SECONDS;
  if (rawInterval) {
    intervalSeconds = Number(rawInterval);
    if (!/^\d+(\.\d+)?$/.test(rawInterval) || !(intervalSeconds >= 1)) {
      throw new IsemsError(
        'ISEMS_BAD_CONFIG',
        `ISEMS_POLL_INTERVAL must be a number of seconds >= 1, not ${JSON.stringify(rawInterval.slice(0, 50))}`,
      );
    }
  }
  return { nodes, intervalSeconds };
}

/** Validates a watermark snapshot (from JSON); throws ISEMS_BAD_WATERMARKS when it is not one. */
export function readWatermarkSnapshot(value: unknown): Map<string, number> {
  const snapshot = value as Partial<WatermarkSnapshot> | null;
  if (
    typeof snapshot !== 'object' ||
    snapshot === null ||
    snapshot.version !== 1 ||
    typeof snapshot.watermarks !== 'object' ||
    snapshot.watermarks === null
  ) {
    throw new IsemsError('ISEMS_BAD_WATERMARKS', 'watermarks must be {"version":1,"watermarks":{"<url>":<epoch seconds>}}');
  }
  const result = new Map<string, number>();
  for (const [url, seconds] of Object.entries(snapshot.watermarks)) {
    if (typeof seconds !== 'number' || !Number.isSafeInteger(seconds) || seconds < 0) {
      throw new IsemsError('ISEMS_BAD_WATERMARKS', `watermark of ${JSON.stringify(url.slice(0, 200))} is not whole epoch seconds`);
    }
    result.set(url, seconds);
  }
  return result;
}

/** Records of one log, ordered by timestamp, with repeats of the same node and second dropped. */
function orderAndDeduplicate(records: IsemsMeasurement[]): IsemsMeasurement[] {
  let sorted = true;
  for (let i = 1; i < records.length; i++) {
    if (records[i].epochSeconds <= records[i - 1].epochSeconds) {
      sorted = false;
      break;
    }
  }
  if (sorted) return records;
  // Stable sort keeps the first of equal timestamps, which is the one kept below.
  const ordered = [...records].sort((a, b) => a.epochSeconds - b.epochSeconds);
  const seen = new Set<string>();
  return ordered.filter((record) => {
    const key = `${record.epochSeconds};${record.nodeId}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

class NodeFailureError extends IsemsError {
  constructor(
    readonly failureCode: IsemsNodeFailureCode,
    reason: string,
  ) {
    super(failureCode, reason);
  }
}

function networkReason(error: unknown): string {
  const err = error as NodeJS.ErrnoException;
  return err?.code ?? err?.message ?? String(error);
}

/** What a poll cycle keeps of one node's result. */
interface NodeOutcome extends NodePollResult {
  /** Records delivered (and committed) for this node. */
  recordCount: number;
}

/** A request in flight, the moment it must be finished by, and how to end it early. */
interface InFlight {
  deadline: number;
  abort(error: Error): void;
}

export class IsemsPoller {
  private targets: PollTarget[] = [];
  private readonly watermarks = new Map<string, number>();
  private readonly timeoutMs: number;
  private readonly concurrency: number;
  private readonly maxResponseBytes: number;
  private readonly maxErrorsPerNode: number;
  private readonly maxClockSkewSeconds: number;
  private readonly onNode?: PollerOptions['onNode'];
  private readonly now: () => number;
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;
  private readonly inFlight = new Set<InFlight>();
  private running = false;
  private closed = false;
  private skipped = 0;

  constructor(options: PollerOptions) {
    this.timeoutMs = positiveInteger(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, 'timeoutMs');
    this.concurrency = positiveInteger(options.concurrency ?? DEFAULT_CONCURRENCY, 'concurrency');
    this.maxResponseBytes = positiveInteger(options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES, 'maxResponseBytes');
    this.maxErrorsPerNode = positiveInteger(options.maxErrorsPerNode ?? DEFAULT_MAX_ERRORS_PER_NODE, 'maxErrorsPerNode');
    this.maxClockSkewSeconds = positiveInteger(options.maxClockSkewSeconds ?? DEFAULT_MAX_CLOCK_SKEW_SECONDS, 'maxClockSkewSeconds');
    this.onNode = options.onNode;
    this.now = options.now ?? Date.now;
    // Keep-alive: the same nodes are read every minute, so their connections are reused.
    // maxSockets is per host; simulated or proxied nodes may share one host.
    const agentOptions = {
      keepAlive: true,
      maxSockets: this.concurrency,
      maxTotalSockets: this.concurrency,
      maxFreeSockets: this.concurrency,
      scheduling: 'lifo' as const,
    };
    this.httpAgent = new http.Agent(agentOptions);
    this.httpsAgent = new https.Agent(agentOptions);
    this.setNodes(options.nodes);
    if (options.watermarks !== undefined) this.importWatermarks(options.watermarks);
  }

  /** Replaces the node list (validated first: on a bad entry nothing changes). Watermarks of removed nodes are kept. */
  setNodes(nodes: readonly string[]): void {
    const targets: PollTarget[] = [];
    const seen = new Set<string>();
    for (const node of nodes) {
      const url = resolveNodeUrl(node);
      if (seen.has(url)) continue;
      seen.add(url);
      targets.push({ node: node.trim(), url });
    }
    this.targets = targets;
  }

  get nodes(): readonly PollTarget[] {
    return this.targets;
  }

  /** True while a poll cycle runs. */
  get busy(): boolean {
    return this.running;
  }

  /** Polls requested while a cycle was running (and therefore skipped). */
  get skippedCycles(): number {
    return this.skipped;
  }

  exportWatermarks(): WatermarkSnapshot {
    return { version: 1, watermarks: Object.fromEntries(this.watermarks) };
  }

  /** Merges a snapshot: a node's watermark only ever moves forward. Throws ISEMS_BAD_WATERMARKS. */
  importWatermarks(snapshot: unknown): void {
    for (const [url, seconds] of readWatermarkSnapshot(snapshot)) {
      if (seconds > (this.watermarks.get(url) ?? -1)) this.watermarks.set(url, seconds);
    }
  }

  /** Highest timestamp emitted for a node (entry or URL), or undefined. */
  watermarkOf(node: string): number | undefined {
    return this.watermarks.get(resolveNodeUrl(node));
  }

  /**
   * Runs one poll cycle over all nodes. Resolves null (and counts a skipped cycle) when a cycle
   * is still running. Never rejects for node or data problems: those are in the result.
   */
  async poll(): Promise<PollResult | null> {
    if (this.closed) throw new IsemsError('ISEMS_BAD_CONFIG', 'poller is closed');
    if (this.running) {
      this.skipped++;
      return null;
    }
    this.running = true;
    const started = this.now();
    const ticker = setInterval(() => this.expireOverdue(), Math.max(5, Math.min(250, Math.floor(this.timeoutMs / 20))));
    try {
      const targets = this.targets;
      const perNode: NodeOutcome[] = new Array(targets.length);
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < targets.length) {
          const index = next++;
          perNode[index] = await this.pollNode(targets[index]);
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.concurrency, targets.length) }, worker));
      return this.summarise(perNode, this.now() - started);
    } finally {
      clearInterval(ticker);
      this.running = false;
    }
  }

  /** Destroys idle keep-alive connections; the poller cannot poll afterwards. */
  close(): void {
    this.closed = true;
    for (const flight of this.inFlight) flight.abort(new NodeFailureError('ISEMS_NETWORK', 'poller closed'));
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  private summarise(perNode: NodeOutcome[], ms: number): PollResult {
    const records: IsemsMeasurement[] = [];
    const errors: PollLineError[] = [];
    const failures: NodeFailure[] = [];
    const stats: PollStats = {
      nodes: perNode.length,
      nodesOk: 0,
      nodesFailed: 0,
      linesRead: 0,
      linesSkipped: 0,
      linesRejected: 0,
      records: 0,
      bytes: 0,
      ms,
      skippedCycles: this.skipped,
    };
    for (const result of perNode) {
      if (result.failure) {
        stats.nodesFailed++;
        failures.push(result.failure);
      } else {
        stats.nodesOk++;
      }
      stats.linesRead += result.lines;
      stats.linesSkipped += result.skipped;
      stats.linesRejected += result.rejected;
      stats.records += result.recordCount;
      stats.bytes += result.bytes;
      for (const error of result.errors) errors.push(error);
      for (const record of result.records) records.push(record);
    }
    return { records, errors, failures, stats };
  }

  private async pollNode(target: PollTarget): Promise<NodeOutcome> {
    const started = this.now();
    const result: NodePollResult = {
      node: target.node,
      url: target.url,
      records: [],
      errors: [],
      failure: null,
      bytes: 0,
      lines: 0,
      skipped: 0,
      rejected: 0,
      ms: 0,
    };
    try {
      if (this.closed) throw new NodeFailureError('ISEMS_NETWORK', 'poller closed');
      const body = await this.fetchWithRetry(target.url);
      result.bytes = body.length;
      // A captive portal or web UI answering 200 with a page is not a log: one failure, not 100 line errors.
      if (/^\s*</.test(body.toString('latin1', 0, 512))) throw new NodeFailureError('ISEMS_NOT_A_LOG', 'not a log (HTML page)');
      const watermark = this.watermarks.get(target.url);
      const parsed = parseLogBytes(body, {
        newerThan: watermark,
        maxErrors: this.maxErrorsPerNode,
        maxEpochSeconds: Math.floor(this.now() / 1000) + this.maxClockSkewSeconds,
      });
      result.lines = parsed.lines;
      result.skipped = parsed.skipped;
      result.rejected = parsed.rejected;
      result.errors = parsed.errors.map((error) => ({ node: target.node, url: target.url, ...error }));
      const fresh = watermark === undefined ? parsed.records : parsed.records.filter((record) => record.epochSeconds > watermark);
      result.records = orderAndDeduplicate(fresh);
    } catch (error) {
      result.failure = this.failureOf(target, error);
    }
    result.ms = this.now() - started;
    const recordCount = result.records.length;
    // What the cycle keeps of this node: with a consumer, not the records (a first poll of 500
    // nodes would otherwise hold 1.8 M of them until the end of the cycle).
    const outcome: NodeOutcome = { ...result, records: this.onNode ? [] : result.records, recordCount };
    if (this.onNode) {
      try {
        await this.onNode(result);
      } catch (error) {
        // Not committed: the records come again next poll.
        outcome.failure ??= {
          node: target.node,
          url: target.url,
          code: 'ISEMS_CONSUMER',
          reason: `consumer failed: ${(error as Error)?.message ?? String(error)}`,
        };
        outcome.recordCount = 0;
        return outcome;
      }
    }
    const newest = recordCount > 0 ? result.records[recordCount - 1].epochSeconds : -1;
    if (newest > (this.watermarks.get(target.url) ?? -1)) this.watermarks.set(target.url, newest);
    return outcome;
  }

  private failureOf(target: PollTarget, error: unknown): NodeFailure {
    if (error instanceof NodeFailureError) return { node: target.node, url: target.url, code: error.failureCode, reason: error.message };
    return { node: target.node, url: target.url, code: 'ISEMS_NETWORK', reason: networkReason(error) };
  }

  /**
   * A reused keep-alive socket may have been closed by the node just before we wrote to it (its
   * idle timeout): retry that once, on a new connection, since the other idle ones may be stale too.
   */
  private async fetchWithRetry(url: string): Promise<Buffer> {
    const deadline = this.now() + this.timeoutMs;
    try {
      return await this.fetch(url, deadline);
    } catch (error) {
      const failed = error as (NodeJS.ErrnoException & { reusedSocket?: boolean }) | null;
      if (failed?.reusedSocket && (failed.code === 'ECONNRESET' || failed.code === 'EPIPE') && this.now() < deadline) {
        return this.fetch(url, deadline, true);
      }
      throw error;
    }
  }

  private fetch(url: string, deadline: number, newConnection = false): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const isHttps = url.startsWith('https:');
      const client = isHttps ? https : http;
      let settled = false;
      const finish = (error: unknown, body?: Buffer): void => {
        if (settled) return;
        settled = true;
        this.inFlight.delete(flight);
        if (error) {
          if (request.reusedSocket && typeof error === 'object' && error !== null)
            (error as { reusedSocket?: boolean }).reusedSocket = true;
          reject(error);
        } else {
          resolve(body as Buffer);
        }
      };
      const agent = newConnection ? false : isHttps ? this.httpsAgent : this.httpAgent;
      const request = client.get(url, { agent, headers: { accept: 'text/plain, */*' } }, (response) => {
        if (response.statusCode !== 200) {
          // Not reading a possibly large or endless error body: drop the connection instead.
          response.destroy();
          finish(new NodeFailureError('ISEMS_HTTP_STATUS', `HTTP ${response.statusCode}`));
          return;
        }
        const declared = Number(response.headers['content-length']);
        if (declared > this.maxResponseBytes) {
          response.destroy();
          finish(new NodeFailureError('ISEMS_TOO_LARGE', `response larger than ${this.maxResponseBytes} bytes`));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > this.maxResponseBytes) {
            response.destroy();
            finish(new NodeFailureError('ISEMS_TOO_LARGE', `response larger than ${this.maxResponseBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        response.on('end', () => finish(null, Buffer.concat(chunks, size)));
        response.on('error', (error) => finish(error));
        response.on('close', () => {
          if (!response.complete) finish(new NodeFailureError('ISEMS_NETWORK', 'connection closed before the end of the response'));
        });
      });
      // Settle first, then destroy: the destruction's own errors ('aborted', ECONNRESET) must not
      // replace the real reason (e.g. the timeout).
      const flight: InFlight = {
        deadline,
        abort: (error) => {
          finish(error);
          request.destroy();
        },
      };
      request.on('error', (error) => finish(error));
      this.inFlight.add(flight);
    });
  }

  /** The cycle's one ticker: aborts every request past its deadline. */
  private expireOverdue(): void {
    const now = this.now();
    for (const flight of this.inFlight) {
      if (now >= flight.deadline) {
        flight.abort(new NodeFailureError('ISEMS_TIMEOUT', `timeout after ${this.timeoutMs} ms`));
      }
    }
  }
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0)
    throw new IsemsError('ISEMS_BAD_CONFIG', `${name} must be a positive integer, not ${String(value)}`);
  return value;
}
