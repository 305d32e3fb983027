/**
 * A guard against cross-origin writes to the editor, the admin API and the flows, installed by
 * settings.js as `httpAdminMiddleware`.
 *
 * Why it is needed: @node-red/editor-api 4 puts `cors({origin: "*"})` in front of its express app,
 * so every preflight succeeds and every answer carries `Access-Control-Allow-Origin: *` (version 5
 * dropped that handler; the rest holds for both), and it
 * parses urlencoded bodies, so a plain HTML form can post to it without any preflight. Without
 * NODE_RED_ADMIN_PASSWORD_HASH the admin API takes anyone's requests: any web page the user visits
 * could deploy a function node (`fetch('http://127.0.0.1:1880/flows', {method: 'POST', ...})`) or
 * install a module from a form. The admin password only helps because the editor's token is a
 * header a foreign page cannot send; this guard works with or without it.
 *
 * Why it sits where it sits: editor-api runs `httpAdminMiddleware` after its cors handler and
 * before the editor, its body parsers and the admin API, and settings.js mounts the editor
 * (httpAdminRoot) and the flows (httpNodeRoot) both at `/`, so every request, flow endpoints
 * included, passes it before anything acts on it. On Node-RED 4 the cors handler answers preflight
 * `OPTIONS` requests itself before any settings hook runs; that is harmless, because the real
 * request the browser sends next carries the same Origin and is refused here. On Node-RED 5 the
 * preflight reaches the guard and is refused already, so the browser sends nothing more.
 *
 * The policy, from the `Origin` header (browsers send it on every cross-origin request and on
 * same-origin writes; they do not let a page change it):
 * - no Origin (curl, other servers, a navigation): passes untouched;
 * - the server's own origin (the Origin's host and port equal the `Host` header; the scheme is
 *   not compared, so a TLS-terminating proxy that forwards Host works): passes untouched;
 * - an allowed origin (HTTP_NODE_CORS_ORIGIN, the origins allowed to call the flows' APIs):
 *   passes, without the editor's wildcard header (flow endpoints send their own, configured by
 *   httpNodeCors; the editor's answers stay unreadable to it);
 * - any other origin, `null` included: the wildcard header is removed, so the page cannot read the
 *   answer; a GET or HEAD then passes on (reads have no effect it could see), anything else is
 *   refused with 403 and a JSON reason before it reaches the editor, the admin API or a flow.
 *
 * Not covered: the editor's websocket (/comms) is upgraded by the HTTP server directly, never
 * through express; and a DNS-rebinding page (its own name resolved to this server) is same-origin
 * by this test, since its Origin and Host agree.
 *
 * Pure express-compatible middleware (no express or Node-RED import). Cheap where it matters: a
 * request without an Origin (most of them) costs one header lookup and allocates nothing; one with
 * an Origin, two anchored regular expressions over headers Node bounds in length.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { answer, type Middleware } from './http-guard';

export interface OriginGuardOptions {
  /** Origins allowed besides the server's own (`https://app.example.com`), as parseAllowedOrigins returns them. */
  allowedOrigins?: readonly string[];
}

/** An origin or a Host header taken apart: lower-case host (IPv6 in brackets, no trailing dot), numeric port. */
export interface Authority {
  host: string;
  /** The port given, or undefined when the Host header names none. */
  port: number | undefined;
}

export interface ParsedOrigin extends Authority {
  scheme: 'http' | 'https';
  /** The port given, else the scheme's default: always set for an origin. */
  port: number;
}

const DEFAULT_PORTS = { http: 80, https: 443 } as const;

// What browsers serialise: a DNS name or IPv4 address (ASCII; IDNs arrive as punycode), or an
// IPv6 address in brackets, then an optional port. Anything else is no origin this server can have.
const ORIGIN = /^(https?):\/\/(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::(\d{1,5}))?$/i;
const HOST = /^(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::(\d{1,5}))?$/i;
// A configured origin may end in one `/`, as origins copied from a browser's address bar do.
const CONFIGURED_ORIGIN = /^(https?):\/\/(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::(\d{1,5}))?\/?$/i;

/** `example.com.` and `example.com` name the same host; case never matters. */
function normaliseHost(host: string): string | undefined {
  const lower = host.toLowerCase();
  const name = lower.endsWith('.') && !lower.startsWith('[') ? lower.slice(0, -1) : lower;
  return name === '' || name === '.' ? undefined : name;
}

function toPort(text: string | undefined): number | undefined | null {
  if (text === undefined) return undefined;
  const port = Number(text);
  return port <= 65535 ? port : null;
}

function parseWith(pattern: RegExp, origin: string): ParsedOrigin | undefined {
  const match = pattern.exec(origin);
  if (match === null) return undefined;
  const scheme = match[1].toLowerCase() as 'http' | 'https';
  const host = normaliseHost(match[2]);
  const port = toPort(match[3]);
  if (host === undefined || port === null) return undefined;
  return { scheme, host, port: port ?? DEFAULT_PORTS[scheme] };
}

/** An `Origin` header taken apart; undefined for `null`, other schemes and anything malformed. */
export function parseOrigin(origin: string): ParsedOrigin | undefined {
  return parseWith(ORIGIN, origin);
}

/** A `Host` header taken apart; undefined when it is malformed. */
export function parseHost(host: string): Authority | undefined {
  const match = HOST.exec(host);
  if (match === null) return undefined;
  const name = normaliseHost(match[1]);
  const port = toPort(match[2]);
  if (name === undefined || port === null) return undefined;
  return { host: name, port };
}

/** An origin in the form browsers send it: lower case, no default port, no trailing dot or slash. */
export function serialiseOrigin(origin: ParsedOrigin): string {
  return origin.port === DEFAULT_PORTS[origin.scheme]
    ? `${origin.scheme}://${origin.host}`
    : `${origin.scheme}://${origin.host}:${origin.port}`;
}

/**
 * True when an Origin header names the server the request was sent to (its Host header): same
 * host, same port, where a Host without a port means the default port of the Origin's scheme.
 * The scheme itself is not compared: behind a TLS-terminating proxy the server speaks http while
 * the browser's origin is https. Never throws; anything malformed is not the same origin.
 */
export function isSameOrigin(origin: string | undefined, host: string | undefined): boolean {
  if (origin === undefined || host === undefined) return false;
  const from = parseOrigin(origin);
  if (from === undefined) return false;
  const to = parseHost(host);
  if (to === undefined || to.host !== from.host) return false;
  return to.port === undefined ? from.port === DEFAULT_PORTS[from.scheme] : to.port === from.port;
}

/**
 * HTTP_NODE_CORS_ORIGIN as a list of origins in browser form: comma-separated, blanks ignored,
 * duplicates dropped. Throws a TypeError naming the first entry that is not an http(s) origin;
 * `*` is refused, because the editor and admin API share the flows' root: allowing every origin
 * for the flows would let every page write to them.
 */
export function parseAllowedOrigins(list: string): string[] {
  const origins: string[] = [];
  for (const entry of list.split(',')) {
    const text = entry.trim();
    if (text === '') continue;
    if (text === '*')
      throw new TypeError(
        "* is not accepted: the editor and admin API share the flows' root, so name the origins (https://app.example.com)",
      );
    const parsed = parseWith(CONFIGURED_ORIGIN, text);
    if (parsed === undefined)
      throw new TypeError(
        `${JSON.stringify(text)} is not an origin like https://app.example.com or http://10.0.0.5:8080 (scheme, host and port only)`,
      );
    const origin = serialiseOrigin(parsed);
    if (!origins.includes(origin)) origins.push(origin);
  }
  return origins;
}

const REFUSAL = {
  error: 'cross-origin request refused',
  reason:
    "a page from another origin may not write here: only this server's own pages and the origins allowed for its HTTP APIs (HTTP_NODE_CORS_ORIGIN) may",
};

/** The guard, as middleware for settings.js `httpAdminMiddleware`. */
export function createOriginGuard(options: OriginGuardOptions = {}): Middleware {
  const allowed = new Set<string>();
  for (const origin of options.allowedOrigins ?? []) {
    for (const parsed of parseAllowedOrigins(origin)) allowed.add(parsed);
  }

  const isAllowed = (origin: string): boolean => {
    if (allowed.size === 0) return false;
    if (allowed.has(origin)) return true;
    const parsed = parseOrigin(origin);
    return parsed !== undefined && allowed.has(serialiseOrigin(parsed));
  };

  return (req: IncomingMessage, res: ServerResponse, next) => {
    const origin = req.headers.origin;
    if (origin === undefined || isSameOrigin(origin, req.headers.host)) {
      next();
      return;
    }
    // Set by editor-api's cors handler for every origin: a foreign page reads nothing from here.
    res.removeHeader('Access-Control-Allow-Origin');
    if (isAllowed(origin) || req.method === 'GET' || req.method === 'HEAD') {
      next();
      return;
    }
    answer(req, res, 403, REFUSAL);
  };
}
