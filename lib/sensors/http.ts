/**
 * HTTP answers of the sensors endpoints (/quality, /catalog, /data, /aggregated_data), shaped
 * for Node-RED's core `http response` node: `payload`, `statusCode`, `headers`.
 *
 * JSON by default; HTML (renderHtml) when the client prefers it: `?format=html|json` wins, else
 * the Accept header's quality values decide (a browser's `text/html,...,*\/*;q=0.8` gets HTML,
 * curl's `*\/*` and API clients' `application/json` get JSON).
 */
import { databaseFailure } from '../database-failure';
import { renderHtml } from './read-api';

export interface HttpAnswer {
  statusCode: number;
  headers: Record<string, string>;
  /** An object for JSON (the http response node serialises it), a string for HTML. */
  payload: unknown;
}

/** The quality value `accept` gives `type` (most specific matching range wins); 0 when none matches. */
export function acceptQuality(accept: string, type: string): number {
  const [major] = type.split('/');
  let best = -1;
  let quality = 0;
  for (const part of accept.slice(0, 2000).split(',')) {
    const [range, ...params] = part.trim().toLowerCase().split(';');
    const specificity = range === type ? 2 : range === `${major}/*` ? 1 : range === '*/*' ? 0 : -1;
    if (specificity < 0 || specificity < best) continue;
    let q = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*$/.exec(p);
      if (m) q = Number(m[1]);
    }
    if (specificity > best || q > quality) quality = q;
    best = specificity;
  }
  return quality;
}

/** True when the request asks for HTML: `format=html`, or Accept ranks text/html above JSON. */
export function prefersHtml(accept: unknown, format?: unknown): boolean {
  if (format === 'html') return true;
  if (format === 'json') return false;
  if (typeof accept !== 'string' || accept === '') return false;
  return acceptQuality(accept, 'text/html') > acceptQuality(accept, 'application/json');
}

/** The parts of an incoming request the answers depend on (Express's req, as http-in gives it). */
export interface RequestLike {
  headers?: Record<string, unknown>;
  query?: Record<string, unknown>;
}

/** A 200 (or `statusCode`) answer in the representation the request prefers. */
export function answer(req: RequestLike | undefined, title: string, body: unknown, statusCode = 200): HttpAnswer {
  const html = prefersHtml(req?.headers?.accept, req?.query?.format);
  const headers: Record<string, string> = { 'cache-control': 'no-store', vary: 'Accept' };
  if (html) {
    headers['content-type'] = 'text/html; charset=utf-8';
    return { statusCode, headers, payload: renderHtml(title, body) };
  }
  headers['content-type'] = 'application/json; charset=utf-8';
  return { statusCode, headers, payload: body };
}

/** An error answer: always JSON (a machine reads the reason), `{error, code, ...details}`. */
export function errorAnswer(statusCode: number, body: Record<string, unknown>): HttpAnswer {
  return { statusCode, headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }, payload: body };
}

/** The answer when the database failed the request: words and our code, never the driver's text. */
export function databaseErrorAnswer(err: unknown): HttpAnswer {
  const failure = databaseFailure(err);
  const reply = errorAnswer(failure.status, { error: failure.error, code: failure.code });
  if (failure.retryAfterSeconds !== undefined) reply.headers['retry-after'] = String(failure.retryAfterSeconds);
  return reply;
}
