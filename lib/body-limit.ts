/**
 * The request body limit of the runtime: no request body, on any path (flow endpoints, editor,
 * admin API), streamed (chunked) or not, of any Content-Type or none, is read past its limit.
 *
 * Why at the stream and not in a parser: Node-RED's body parsers disagree on limits. body-parser
 * (JSON, urlencoded) honours apiMaxLength, but http-in's raw body parser (text/plain, no type,
 * anything else) and the raw capture of "do not parse body" routes read the whole body into one
 * string or buffer, and multer (the palette upload) keeps a file in memory without a limit. A
 * client streaming gigabytes made the runtime run out of memory before any node or key check ran.
 * So the limit counts the bytes the HTTP parser hands to the request stream (IncomingMessage#push)
 * before any consumer sees them:
 * - a declared Content-Length over the limit is refused before a byte of the body is read;
 * - a body that grows past the limit is refused at that byte: the rest is never read (the socket
 *   stays paused) and the connection is closed once the client had the time to read the refusal;
 * - a refusal is the guard's JSON (`413 {"error": "request body too large", "reason": ...}`);
 *   consumers waiting for the body (body parsers) get a 413 error once the connection is gone;
 * - a request answered before its body was read (a 401, a 404, a GET route) has the rest read
 *   through the same limit (Node would read and discard all of it to keep the connection alive).
 *
 * `limitRequestBody` is installed once per request where the request enters the runtime (settings.js:
 * the HTTP server's `http.server.request.start` diagnostics channel, so even a raw capture at the
 * top of express is covered) and again, idempotently, by `createBodyLimit` as the editor app's
 * first middleware. Pure Node (no express or Node-RED import); on the normal path the cost is one
 * addition and one comparison per body chunk.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { answer, type Middleware } from './http-guard';

/** The largest body accepted for a request, in bytes. */
export type BodyLimitFor = (req: IncomingMessage) => number;

/** How long a refused connection stays half-open for the client to read its answer. */
const LINGER_MS = 2000;

/** Each limited request's refusal (the first limit installed on a request holds). */
const refusals = new WeakMap<IncomingMessage, () => void>();

/** The declared Content-Length, or undefined for a chunked or bodiless request. */
function declaredLength(req: IncomingMessage): number | undefined {
  const header = req.headers['content-length'];
  if (header === undefined) return undefined;
  const length = Number(header);
  return Number.isFinite(length) ? length : undefined;
}

function tooLarge(maxBytes: number): { error: string; reason: string } {
  return { error: 'request body too large', reason: `the request body exceeds ${maxBytes} bytes` };
}

/** The error body parsers get, shaped like theirs (http-errors): a route that logs it says why. */
function payloadTooLarge(maxBytes: number): Error {
  const err = Object.assign(new Error(tooLarge(maxBytes).reason), {
    status: 413,
    statusCode: 413,
    expose: true,
    type: 'entity.too.large',
    limit: maxBytes,
  });
  err.name = 'PayloadTooLargeError';
  return err;
}

/**
 * Closes our side of a connection (FIN after what was written) and destroys it once the client
 * closed too, or after LINGER_MS. Destroying a socket with unread data in it resets the connection
 * (RST), and a client still sending may then lose the answer it was sent; Node does exactly that
 * when it closes a connection whose request body was not read. The socket is not read meanwhile.
 */
function closeLingering(socket: Socket | null): void {
  if (!socket || socket.destroyed) return;
  socket.end();
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref?.();
  socket.once('close', () => clearTimeout(timer));
}

/** Node's own close after a response (destroySoon) made lingering, for a request not read to its end. */
function lingerWhenNodeCloses(socket: Socket | null): void {
  const closable = socket as (Socket & { destroySoon?: () => void }) | null;
  if (closable && typeof closable.destroySoon === 'function') closable.destroySoon = () => closeLingering(closable);
}

/** Response methods that would throw (headers already sent) or emit 'error' (write after end). */
const ANSWERING_METHODS = [
  'writeHead',
  'setHeader',
  'setHeaders',
  'appendHeader',
  'removeHeader',
  'flushHeaders',
  'addTrailers',
  'writeContinue',
  'write',
  'end',
] as const;

/**
 * After a refusal nothing else answers the request: express's final handler still answers once the
 * body "ends" (the connection closing), and a route's error handler answers 500. Their attempts
 * would throw ERR_HTTP_HEADERS_SENT from an event callback (an uncaught exception: the runtime
 * exits), so they are ignored.
 */
function seal(res: ServerResponse): void {
  const sealed = res as unknown as Record<string, unknown>;
  for (const method of ANSWERING_METHODS) sealed[method] = method === 'write' ? () => false : () => res;
}

/**
 * Installs the byte limit on one request (idempotent: the first limit installed holds). Must run
 * before anything reads the body: from the server's request start, or the first middleware.
 */
export function limitRequestBody(req: IncomingMessage, res: ServerResponse, maxBytes: number): void {
  if (refusals.has(req)) return;
  let received = 0;
  let refused = false;

  const refuse = (): void => {
    if (refused) return;
    refused = true;
    // Nothing reads the socket again (Node would even read on while discarding, after an answer),
    // and a consumer asking for more (req._read) would resume it.
    req.socket?.pause();
    req._read = () => undefined;
    if (res.writableEnded) {
      // Answered before the body was read: that answer stands, the connection closes.
      closeLingering(req.socket);
    } else if (res.headersSent) {
      // An answer under way cannot become a 413: it is cut.
      res.destroy();
    } else {
      // `Connection: close` (the body is incomplete); Node's close after it lingers.
      lingerWhenNodeCloses(req.socket);
      answer(req, res, 413, tooLarge(maxBytes));
    }
    seal(res);
    // Once the connection is gone, whatever waits for the body (a parser holding up to maxBytes)
    // gets the reason and lets go: Node would leave the request open, its body never ending.
    const release = (): void => {
      if (req.listenerCount('error') > 0) req.emit('error', payloadTooLarge(maxBytes));
      req.destroy();
    };
    if (!req.socket || req.socket.destroyed) release();
    else req.socket.once('close', release);
  };
  refusals.set(req, refuse);

  const push = req.push;
  req.push = function pushWithinLimit(this: IncomingMessage, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (refused) return false;
    if (chunk !== null && chunk !== undefined) {
      received += (chunk as Buffer).length;
      if (received > maxBytes) {
        refuse();
        return false;
      }
    }
    return push.call(this, chunk, encoding);
  };

  // Answered before the body was read to its end: Node now either reads and discards the rest
  // without handing it to push() (unlimited) to keep the connection, or closes it with a reset
  // that may lose the answer. Instead the rest is read through the limit, and a close lingers.
  // (Prepended: Node's own 'finish' listener decides between the two.)
  res.prependListener('finish', () => {
    if (req.complete || refused) return;
    lingerWhenNodeCloses(req.socket);
    req.resume();
  });
}

/**
 * True when a declared Content-Length is over the limit: answers 413 at once, before a byte of the
 * body is read, and nothing reads it afterwards.
 */
export function refuseDeclaredLength(req: IncomingMessage, res: ServerResponse, maxBytes: number): boolean {
  const length = declaredLength(req);
  if (length === undefined || length <= maxBytes) return false;
  limitRequestBody(req, res, maxBytes);
  refusals.get(req)?.();
  return true;
}

/**
 * The limit as the first middleware of the editor app (settings.js httpAdminMiddleware): every
 * request passes it before the editor's body parsers, the admin API and the flows' routes.
 */
export function createBodyLimit(limitFor: BodyLimitFor): Middleware {
  return (req, res, next) => {
    const maxBytes = limitFor(req);
    if (refuseDeclaredLength(req, res, maxBytes)) return;
    limitRequestBody(req, res, maxBytes);
    next();
  };
}

/** What the server's `http.server.request.start` diagnostics channel publishes for each request. */
interface RequestStart {
  request: IncomingMessage;
  response: ServerResponse;
  server: unknown;
}

const REQUEST_START = 'http.server.request.start';

/**
 * Installs the limit on every request of the servers `servesRuntime` picks, as the server receives
 * it: before its 'request' listeners (express) run, so before any middleware, route or raw capture
 * can read a byte. Returns the function that removes it.
 */
export function limitServerRequests(limitFor: BodyLimitFor, servesRuntime: (server: unknown) => boolean): () => void {
  const onRequest = (message: unknown): void => {
    const { request, response, server } = message as RequestStart;
    if (servesRuntime(server)) limitRequestBody(request, response, limitFor(request));
  };
  subscribe(REQUEST_START, onRequest);
  return () => void unsubscribe(REQUEST_START, onRequest);
}
