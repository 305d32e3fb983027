/**
 * Answers to messages from a core `http in` node (they carry `msg.req`), for the `http response`
 * node after it: the answer's payload, status code and headers move onto the message, which is
 * sent on. Messages without `msg.req` (an inject, a link) get no answer: they only end.
 */
import type { NodeMessageInFlow } from 'node-red';
import { answer, errorAnswer, type HttpAnswer, type RequestLike } from '../../lib/sensors/http';
import type { Send } from './define-node';

export type HttpMessage = NodeMessageInFlow & { req?: unknown; statusCode?: number; headers?: Record<string, string> };

export function isRequest(msg: HttpMessage): boolean {
  return typeof msg.req === 'object' && msg.req !== null;
}

/** Sends `http` as the answer when `msg` is a request; true when it was one. */
export function replyIfRequest(msg: HttpMessage, send: Send, http: HttpAnswer): boolean {
  if (!isRequest(msg)) return false;
  Object.assign(msg, { payload: http.payload, statusCode: http.statusCode, headers: http.headers });
  send(msg);
  return true;
}

/** Sends `body` on: to a request as its answer (in the representation it prefers, titled `title`), otherwise as the payload. */
export function sendResult(msg: HttpMessage, send: Send, title: string, body: unknown): void {
  if (isRequest(msg)) {
    const reply = answer(msg.req as RequestLike, title, body);
    Object.assign(msg, { payload: reply.payload, statusCode: reply.statusCode, headers: reply.headers });
  } else msg.payload = body;
  send(msg);
}

/**
 * The `refuse` hook of a node that answers requests (nodes/shared/define-node.ts): while it
 * cannot start, a request is still answered (500 with `body`), rather than hanging until the
 * client gives up.
 */
export function refuseRequests(body: Record<string, unknown>): (msg: HttpMessage, send: Send) => void {
  return (msg, send) => void replyIfRequest(msg, send, errorAnswer(500, body));
}
