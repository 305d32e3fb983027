/**
 * A guard in front of the flows' HTTP endpoints (http-in nodes), installed by settings.js.
 *
 * Why it sits where it sits: settings.js mounts the editor (httpAdminRoot) and the flows
 * (httpNodeRoot) both at `/`, so every request to a flow endpoint first passes the editor's
 * express app, which (Node-RED 4, @node-red/editor-api) sets `Access-Control-Allow-Origin: *` and
 * parses JSON and urlencoded bodies with body-parser. Its errors (malformed JSON, an unsupported
 * charset or content encoding, a body over apiMaxLength) and express's own (a path parameter that
 * is not valid percent-encoding) would end in express's default handler, which answers an HTML page
 * with the stack trace and prints it to stderr. `httpNodeMiddleware` runs inside each http-in
 * route, after all that, so it cannot help; `httpNodeAuth`, given functions, is mounted on the root
 * app between the editor and the flows: there the guard
 * - answers the editor's parser errors as JSON (`{"error": ..., "reason": ...}`, never a stack);
 * - refuses what would fail later, before any flow route runs: a path with broken percent-encoding
 *   (400), a Content-Type http-in's raw body parser cannot parse (415, it would answer 500), a
 *   declared Content-Length over the limit (413; lib/body-limit.ts holds every body, streamed or
 *   declared, to the limit before this runs: this is the fallback without it);
 * - drops the editor's wildcard CORS header, so a flow endpoint sends CORS headers only when
 *   settings.httpNodeCors (HTTP_NODE_CORS_ORIGIN) configures them (http-in adds those later).
 * Node-RED's own parsers stay in charge of parsing: flows see exactly the bodies they always saw.
 *
 * Pure express-compatible middleware (no express or Node-RED import); cheap on the normal path: a
 * header removal, and string checks only where a `%` or a Content-Type is present.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export type Next = (err?: unknown) => void;
export type Middleware = (req: IncomingMessage, res: ServerResponse, next: Next) => void;
export type ErrorMiddleware = (err: unknown, req: IncomingMessage, res: ServerResponse, next: Next) => void;

export interface HttpGuardOptions {
  /** The largest request body accepted, in bytes (settings.apiMaxLength). */
  maxBodyBytes: number;
}

/** The body of every refusal the guard gives. */
export interface GuardAnswer {
  error: string;
  reason: string;
}

// RFC 6838 type/subtype names, as media-typer (http-in's raw body parser) accepts them.
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;
// RFC 7231 `; name=value` parameters, as the content-type package parses them.
const PARAMETER =
  /; *([!#$%&'*+.^_`|~0-9A-Za-z-]+) *= *("(?:[\u000b\u0020\u0021\u0023-\u005b\u005d-\u007e\u0080-\u00ff]|\\[\u000b\u0020-\u00ff])*"|[!#$%&'*+.^_`|~0-9A-Za-z-]+) */gy;

/** True when a Content-Type header parses the way Node-RED's body parsers need it to. */
export function isValidContentType(header: string): boolean {
  const semicolon = header.indexOf(';');
  const type = (semicolon === -1 ? header : header.slice(0, semicolon)).trim();
  if (!MEDIA_TYPE.test(type)) return false;
  if (semicolon === -1) return true;
  PARAMETER.lastIndex = semicolon;
  while (PARAMETER.lastIndex < header.length) {
    if (PARAMETER.exec(header) === null) return false;
  }
  return true;
}

/** True when the path of a request URL (the part before `?`) is valid percent-encoded UTF-8. */
export function isDecodablePath(url: string): boolean {
  const query = url.indexOf('?');
  const path = query === -1 ? url : url.slice(0, query);
  if (!path.includes('%')) return true;
  try {
    decodeURIComponent(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Sends a JSON refusal. A request whose body was not read to the end gets `Connection: close`, so
 * Node closes the socket instead of reading (possibly megabytes of) body to keep it alive.
 */
export function answer(req: IncomingMessage, res: ServerResponse, status: number, body: GuardAnswer): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  // A refusal is no flow's answer: it carries no CORS header (the editor app may have set one).
  res.removeHeader('Access-Control-Allow-Origin');
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.setHeader('Cache-Control', 'no-store');
  if (!req.complete) res.setHeader('Connection', 'close');
  res.end(text);
}

interface HttpErrorLike {
  status?: unknown;
  statusCode?: unknown;
  type?: unknown;
  expose?: unknown;
  message?: unknown;
  name?: unknown;
}

/** body-parser's error types (http-errors `type`), as the short `error` of an answer. */
const BODY_ERRORS: Readonly<Record<string, string>> = {
  'entity.parse.failed': 'malformed request body',
  'entity.verify.failed': 'malformed request body',
  'entity.too.large': 'request body too large',
  'parameters.too.many': 'too many form parameters',
  'charset.unsupported': 'unsupported charset',
  'encoding.unsupported': 'unsupported content encoding',
  'request.size.invalid': 'request size does not match Content-Length',
};

/** The answer for an error that reached the guard: a client error keeps its message, nothing else does. */
export function answerFor(err: unknown): { status: number; body: GuardAnswer } {
  const e = (typeof err === 'object' && err !== null ? err : {}) as HttpErrorLike;
  const status = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : 500;
  if (status < 400 || status > 499) return { status: 500, body: { error: 'internal error', reason: 'the request could not be processed' } };
  const message = typeof e.message === 'string' && e.message !== '' ? e.message : 'the request was refused';
  // express marks a path parameter it cannot percent-decode with a URIError carrying status 400.
  if (e.name === 'URIError') return { status, body: { error: 'malformed path', reason: message } };
  const error = (typeof e.type === 'string' && BODY_ERRORS[e.type]) || 'bad request';
  return { status, body: { error, reason: e.expose === false ? error : message } };
}

/**
 * The guard, as the list of middleware for settings.js `httpNodeAuth` (express mounts each in
 * order on the root app, between the editor and the flows).
 */
export function createHttpGuard(options: HttpGuardOptions): [Middleware, ErrorMiddleware] {
  const maxBodyBytes = options.maxBodyBytes;

  const guardRequest: Middleware = (req, res, next) => {
    // Set by the editor app for its own API; flow endpoints get CORS only from httpNodeCors.
    res.removeHeader('Access-Control-Allow-Origin');
    const url = req.url ?? '';
    if (!isDecodablePath(url)) {
      answer(req, res, 400, { error: 'malformed path', reason: 'the path is not valid percent-encoded UTF-8' });
      return;
    }
    const type = req.headers['content-type'];
    if (type !== undefined && type !== '' && !isValidContentType(type)) {
      answer(req, res, 415, { error: 'unsupported media type', reason: 'the Content-Type header is not a valid media type' });
      return;
    }
    const length = req.headers['content-length'];
    if (length !== undefined && Number(length) > maxBodyBytes) {
      answer(req, res, 413, { error: 'request body too large', reason: `the request body exceeds ${maxBodyBytes} bytes` });
      return;
    }
    next();
  };

  const answerError: ErrorMiddleware = (err, req, res, _next) => {
    const { status, body } = answerFor(err);
    if (status === 500) {
      // Not a client's fault: one line for the operator (no stack, no request data).
      const e = err as HttpErrorLike;
      console.error(`[iot-pipelines] HTTP ${req.method ?? ''} failed: ${String(e?.name ?? 'Error')}: ${String(e?.message ?? err)}`);
    }
    answer(req, res, status, body);
  };

  return [guardRequest, answerError];
}
