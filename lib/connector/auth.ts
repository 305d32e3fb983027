/**
 * The request API's HTTP semantics as pure functions returning `{status, body, headers}`, so the
 * Node-RED http-in/http-response glue stays trivial and every branch is unit-tested.
 *
 * Authentication: `Authorization: Bearer <API_KEY>`. Missing → 401 with `WWW-Authenticate: Bearer`;
 * wrong → 403; API_KEY not configured → 503 for everything (the original fell back to a default
 * key, so an unconfigured install was open to anyone who read its source). Keys are compared in
 * constant time over SHA-256 digests, so neither content nor length leaks through timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { ConnectorError, isConnectorError } from './errors';
import type { TaskView } from './task-registry';

export interface HttpAnswer {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, string>;
}

const JSON_HEADERS = { 'Content-Type': 'application/json' };

function answer(status: number, body: Record<string, unknown>, extra: Record<string, string> = {}): HttpAnswer {
  return { status, body, headers: { ...JSON_HEADERS, ...extra } };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Constant-time string equality: both sides are hashed first, so lengths never differ. */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/**
 * Checks the Authorization header against API_KEY. Undefined means "let it through"; otherwise the
 * refusal to send. `compare` is replaceable only so tests can observe that the constant-time path runs.
 */
export function checkApiKey(
  authorization: string | string[] | undefined,
  apiKey: string | undefined,
  compare: (a: string, b: string) => boolean = safeEqual,
): HttpAnswer | undefined {
  if (typeof apiKey !== 'string' || apiKey.length === 0) {
    return answer(503, { detail: 'API_KEY is not configured; the request API refuses all requests until it is set' });
  }
  const header = Array.isArray(authorization) ? authorization[0] : authorization;
  const match = typeof header === 'string' ? /^Bearer[ \t]+(\S.*?)[ \t]*$/i.exec(header) : null;
  if (!match) {
    return answer(401, { detail: 'missing bearer token' }, { 'WWW-Authenticate': 'Bearer' });
  }
  if (!compare(match[1], apiKey)) {
    return answer(403, { detail: 'invalid API key' });
  }
  return undefined;
}

/** The parts of the engine the request API uses. */
export interface RequestApiEngine {
  submit(startTime: unknown, endTime: unknown): string;
  getTask(id: string): TaskView | undefined;
}

const MAX_BODY_CHARS = 4096;

function parseBody(body: unknown): Record<string, unknown> {
  let value = body;
  if (Buffer.isBuffer(value)) value = value.toString('utf8');
  if (typeof value === 'string') {
    if (value.length > MAX_BODY_CHARS) throw new ConnectorError('INVALID_BODY', 'the body is too large');
    try {
      value = JSON.parse(value);
    } catch {
      throw new ConnectorError('INVALID_BODY', 'the body is not valid JSON');
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConnectorError('INVALID_BODY', 'the body must be a JSON object {"start_time": ..., "end_time": ...}');
  }
  const object = value as Record<string, unknown>;
  for (const field of ['start_time', 'end_time']) {
    if (!(field in object)) throw new ConnectorError('INVALID_BODY', `${field} is required`);
  }
  return object;
}

/** `POST /raise-request` (and `/api/v1/raise-request`). */
export function handleRaiseRequest(
  request: { authorization?: string | string[]; body: unknown },
  apiKey: string | undefined,
  engine: RequestApiEngine,
): HttpAnswer {
  const refused = checkApiKey(request.authorization, apiKey);
  if (refused) return refused;
  try {
    const body = parseBody(request.body);
    const taskId = engine.submit(body.start_time, body.end_time);
    return answer(200, { task_id: taskId, status: 'task submitted' });
  } catch (err) {
    if (isConnectorError(err)) {
      if (err.code === 'TASKS_FULL') return answer(503, { detail: err.reason }, { 'Retry-After': '60' });
      if (err.code === 'NOT_READY') return answer(503, { detail: err.reason }, { 'Retry-After': '10' });
      return answer(422, { detail: err.reason, code: err.code });
    }
    return answer(500, { detail: 'internal error' });
  }
}

/** `GET /tasks/<id>` (and `/api/v1/tasks/<id>`). */
export function handleGetTask(
  request: { authorization?: string | string[]; taskId: unknown },
  apiKey: string | undefined,
  engine: RequestApiEngine,
): HttpAnswer {
  const refused = checkApiKey(request.authorization, apiKey);
  if (refused) return refused;
  let task: TaskView | undefined;
  try {
    task = typeof request.taskId === 'string' && request.taskId.length <= 64 ? engine.getTask(request.taskId) : undefined;
  } catch (err) {
    if (isConnectorError(err) && err.code === 'NOT_READY') return answer(503, { detail: err.reason }, { 'Retry-After': '10' });
    return answer(500, { detail: 'internal error' });
  }
  if (!task) return answer(404, { detail: 'no such task (unknown or expired)' });
  return answer(200, { state: task.state, current: task.current, total: task.total, status: task.status });
}
