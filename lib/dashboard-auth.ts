/**
 * The editor's user and password in front of the Dashboard 2.0 pages, installed by settings.js
 * (`dashboard.middleware`, `dashboard.ioMiddleware`) when NODE_RED_ADMIN_PASSWORD_HASH is set.
 *
 * Why: Dashboard 2.0 has no login of its own, and the connector page's re-send button calls the
 * request API with the key in its credentials. Where the editor is protected (the compose stack
 * requires it), whoever reaches the port must not get the data or that button without the password.
 *
 * How: HTTP basic authentication of the page and its assets (browsers send the credentials again on
 * the page's own requests, socket.io's included), checked once per distinct header against the
 * bcrypt hash (a small cache keyed by a digest, so a page load of ~20 requests costs one bcrypt
 * comparison); the socket.io connection is checked the same way. Dashboard 2.0 replaces its own
 * socket.io guard by the one given here, so this one keeps its two rules: a websocket opened without
 * the polling handshake is closed, and a cross-origin handshake is disconnected.
 *
 * Pure (no express, socket.io or Node-RED import); the bcrypt comparison is passed in.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface DashboardAuthOptions {
  user: string;
  /** The bcrypt hash of the password (NODE_RED_ADMIN_PASSWORD_HASH). */
  passwordHash: string;
  /** bcrypt's comparison (Node-RED's bcryptjs `compareSync`). */
  verify: (password: string, hash: string) => boolean;
  realm?: string;
}

/** What Dashboard 2.0 hands its socket.io middleware (socket.io's Socket, reduced to what is read). */
export interface DashboardSocket {
  request: { headers: IncomingMessage['headers'] };
  handshake: { xdomain: boolean };
  client: { conn: { request: { url?: string }; close(): void } };
  disconnect(close: boolean): void;
}

type Next = (err?: Error) => void;

/** Verified Authorization headers remembered at most (each a 32-byte digest). */
const CACHE_LIMIT = 64;

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/** `Basic base64(user:password)` → its parts, or null. */
export function parseBasic(header: string | undefined): { user: string; password: string } | null {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!match) return null;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export function createDashboardAuth(options: DashboardAuthOptions): {
  middleware: (req: IncomingMessage, res: ServerResponse, next: Next) => void;
  ioMiddleware: (socket: DashboardSocket, next: Next) => void;
  /** True when the Authorization header names the user with the right password. */
  accepts: (authorization: string | undefined) => boolean;
} {
  const realm = (options.realm ?? 'IoT pipelines dashboard').replace(/"/g, '');
  const userDigest = digest(options.user);
  const verified = new Set<string>();

  function accepts(authorization: string | undefined): boolean {
    const credentials = parseBasic(authorization);
    if (!credentials) return false;
    const key = digest(authorization as string).toString('base64');
    if (verified.has(key)) return true;
    // The user name compared in constant time; the password by bcrypt.
    const userOk = timingSafeEqual(digest(credentials.user), userDigest);
    let passwordOk = false;
    try {
      passwordOk = options.verify(credentials.password, options.passwordHash);
    } catch {
      passwordOk = false;
    }
    if (!userOk || !passwordOk) return false;
    if (verified.size >= CACHE_LIMIT) verified.clear();
    verified.add(key);
    return true;
  }

  function middleware(req: IncomingMessage, res: ServerResponse, next: Next): void {
    if (accepts(req.headers.authorization)) return next();
    res.statusCode = 401;
    res.setHeader('WWW-Authenticate', `Basic realm="${realm}", charset="UTF-8"`);
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.end('The dashboard needs the editor user and password.\n');
  }

  function ioMiddleware(socket: DashboardSocket, next: Next): void {
    // Dashboard 2.0's own rules, which a configured ioMiddleware replaces.
    if ((socket.client.conn.request.url ?? '').includes('transport=websocket')) {
      socket.client.conn.close();
      return;
    }
    if (socket.handshake.xdomain !== false) {
      socket.disconnect(true);
      return;
    }
    if (!accepts(socket.request.headers.authorization)) return next(new Error('authentication required'));
    next();
  }

  return { middleware, ioMiddleware, accepts };
}
