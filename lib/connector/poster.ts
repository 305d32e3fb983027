/**
 * POSTs one batch body to POST_DATA_ENDPOINT and says what happened, as a value (never a throw).
 *
 * One keep-alive agent per poster, so batches reuse TCP/TLS connections instead of paying a
 * handshake per request; a timeout covers the whole request (connect, upload, answer: the original
 * had none and could hang forever); the answer body is read only up to a cap, so a misbehaving
 * receiver cannot fill memory. The API key goes only into the Authorization header: it is never
 * logged, never part of an outcome, never in an error message or `description`.
 */
import http from 'node:http';
import https from 'node:https';
import { ConnectorError, positiveNumber } from './errors';

export type PostOutcome =
  | { kind: 'response'; status: number; retryAfter?: string; body: string; truncated: boolean }
  | { kind: 'timeout'; timeoutMs: number }
  | { kind: 'network'; code: string; message: string };

export interface PosterOptions {
  /** POST_DATA_ENDPOINT: an http:// or https:// URL without credentials. */
  endpoint: string;
  /** POST_DATA_API_KEY, sent as `Authorization: Bearer <key>`; none for this Node-RED's own receiver (no header then). */
  apiKey: string | undefined;
  /** Whole-request limit; default 30 s. */
  timeoutMs?: number;
  /** Concurrent connections to the receiver; default 8. */
  maxSockets?: number;
  /** Answer bytes kept (the rest is drained and dropped); default 64 KiB. */
  maxResponseBytes?: number;
  /** Extra TLS settings for https endpoints (e.g. a private CA). */
  tls?: { ca?: string; rejectUnauthorized?: boolean };
}

/** What the engine needs from a poster; tests and other transports can provide their own. */
export interface BatchPoster {
  post(body: string, idempotencyKey: string): Promise<PostOutcome>;
  close(): void;
}

const SAFE_HEADER_VALUE = /^[\x21-\x7e]{1,255}$/;

export function parseEndpoint(endpoint: string): URL {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new ConnectorError('INVALID_ENDPOINT', 'POST_DATA_ENDPOINT is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConnectorError('INVALID_ENDPOINT', 'POST_DATA_ENDPOINT must be an http:// or https:// URL');
  }
  if (url.username || url.password) {
    throw new ConnectorError('INVALID_ENDPOINT', 'POST_DATA_ENDPOINT must not contain credentials; the key goes in POST_DATA_API_KEY');
  }
  return url;
}

export class HttpPoster implements BatchPoster {
  private readonly url: URL;
  private readonly agent: http.Agent;
  private readonly transport: typeof http | typeof https;
  private readonly authorization: string | undefined;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  /** The endpoint without query string, for logs and status. */
  readonly description: string;

  constructor(options: PosterOptions) {
    this.url = parseEndpoint(options.endpoint);
    if (options.apiKey !== undefined && (typeof options.apiKey !== 'string' || !SAFE_HEADER_VALUE.test(options.apiKey))) {
      throw new ConnectorError('INVALID_OPTION', 'POST_DATA_API_KEY must be 1-255 printable ASCII characters without spaces');
    }
    this.authorization = options.apiKey === undefined ? undefined : `Bearer ${options.apiKey}`;
    this.timeoutMs = positiveNumber('timeoutMs', options.timeoutMs ?? 30_000, { min: 1 });
    this.maxResponseBytes = positiveNumber('maxResponseBytes', options.maxResponseBytes ?? 65_536, { integer: true, min: 0 });
    const maxSockets = positiveNumber('maxSockets', options.maxSockets ?? 8, { integer: true, min: 1 });
    const secure = this.url.protocol === 'https:';
    this.transport = secure ? https : http;
    this.agent = secure
      ? new https.Agent({ keepAlive: true, maxSockets, ca: options.tls?.ca, rejectUnauthorized: options.tls?.rejectUnauthorized ?? true })
      : new http.Agent({ keepAlive: true, maxSockets });
    this.description = `${this.url.origin}${this.url.pathname}`;
  }

  post(body: string, idempotencyKey: string): Promise<PostOutcome> {
    if (!SAFE_HEADER_VALUE.test(idempotencyKey)) {
      return Promise.resolve({ kind: 'network', code: 'EINVALIDKEY', message: 'Idempotency-Key must be printable ASCII' });
    }
    return new Promise<PostOutcome>((resolve) => {
      let settled = false;
      const finish = (outcome: PostOutcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(outcome);
      };
      const payload = Buffer.from(body, 'utf8');
      const request = this.transport.request(this.url, {
        method: 'POST',
        agent: this.agent,
        headers: {
          'Content-Type': 'application/json',
          'Content-Length': payload.length,
          ...(this.authorization !== undefined ? { Authorization: this.authorization } : {}),
          'Idempotency-Key': idempotencyKey,
        },
      });
      const timer = setTimeout(() => {
        finish({ kind: 'timeout', timeoutMs: this.timeoutMs });
        request.destroy();
      }, this.timeoutMs);
      request.on('error', (err: NodeJS.ErrnoException) => {
        // Node's socket errors name host and port, never headers; still, build our own message.
        finish({ kind: 'network', code: err.code ?? 'ERROR', message: `${err.code ?? 'error'} posting to ${this.description}` });
      });
      request.on('response', (response) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        let truncated = false;
        response.on('data', (chunk: Buffer) => {
          if (kept >= this.maxResponseBytes) {
            truncated = true;
            return;
          }
          const room = this.maxResponseBytes - kept;
          if (chunk.length > room) truncated = true;
          const piece = chunk.length > room ? chunk.subarray(0, room) : chunk;
          chunks.push(piece);
          kept += piece.length;
        });
        response.on('error', (err: NodeJS.ErrnoException) => {
          finish({ kind: 'network', code: err.code ?? 'ERROR', message: `answer from ${this.description} broke off` });
        });
        response.on('end', () => {
          const retryAfter = response.headers['retry-after'];
          finish({
            kind: 'response',
            status: response.statusCode ?? 0,
            ...(typeof retryAfter === 'string' ? { retryAfter } : {}),
            body: Buffer.concat(chunks).toString('utf8'),
            truncated,
          });
        });
      });
      request.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
