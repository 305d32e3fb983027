/**
 * Checks NODE_RED_ADMIN_PASSWORD_HASH before Node-RED uses it. Node-RED accepts any text as the
 * admin user's password hash and compares logins against it with bcrypt: a plain password, a hash
 * cut short or with its `$` signs eaten by a shell or a compose file, or a stray newline, leaves an
 * editor nobody can log in to, without a word. lib/runtime-env.ts refuses such a hash at start-up,
 * naming the problem.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { answer } from './http-guard';

/** bcrypt's modular crypt format: `$2a$`/`$2b$`/`$2y$`, a cost of 04..31, 22 salt + 31 hash characters. */
const BCRYPT = /^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;

/** Why `hash` is not a bcrypt hash Node-RED can verify, or undefined when it is one. */
export function adminPasswordHashProblem(hash: string): string | undefined {
  if (BCRYPT.test(hash)) return undefined;
  if (hash.trim() !== hash && BCRYPT.test(hash.trim())) return 'it has spaces or a line break around it';
  if (/^\$2[aby]\$\d\d\$/.test(hash)) {
    return hash.length === 60
      ? 'its cost (the number after the second `$`) is outside 04..31, or it holds characters bcrypt does not use'
      : `it is ${hash.length} characters long; a bcrypt hash has 60`;
  }
  if (/^2[aby]\d\d/.test(hash) || (/^\$?2[aby]/.test(hash) && !hash.includes('$', 1))) {
    return 'its `$` signs are missing: a shell or a compose file replaced them (write each `$` as `$$` in docker-compose files, quote it in a shell)';
  }
  return 'it is not a bcrypt hash (it must start with $2a$, $2b$ or $2y$ and be 60 characters long)';
}

/**
 * Without an editor login (no NODE_RED_ADMIN_PASSWORD_HASH) there is nothing to log in to, yet
 * Node-RED 5 still routes `/auth/token` and `/auth/revoke`: its handler then fails on the missing
 * session store and answers the TypeError's text (and logs it as an error) for every request, from
 * anyone. This middleware answers those paths itself, as Node-RED 4.1 does, with a plain 404, once
 * the request's body was read (within the body limit, which refuses a larger one with 413 first).
 */
export function createNoLoginGuard(): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  return (req, res, next) => {
    const path = (req.url ?? '').split('?')[0];
    if (!/^\/auth\/(token|revoke)\/?$/.test(path)) return next();
    const respond = (): void => {
      if (res.headersSent || res.destroyed) return;
      answer(req, res, 404, { error: 'not found', reason: 'the editor has no login (NODE_RED_ADMIN_PASSWORD_HASH is not set)' });
    };
    if (req.complete) return respond();
    req.once('end', respond);
    req.resume();
  };
}
