/**
 * The iotp-isems and iotp-isems-query nodes' settings, read once at deploy after `${ENV}`
 * substitution. The ranges are the editor's too (test/package/editor-limits.test.ts compares them).
 */
import { IsemsError } from './errors';
import { DEFAULT_POLL_INTERVAL_SECONDS } from './poller';
import { DEFAULT_HIDE_INACTIVE_AFTER_DAYS, DEFAULT_KEEP_PER_NODE, NODE_HISTORY_LIMIT } from './schema';

export interface IsemsQuerySettings {
  /** `latest` hides nodes silent for longer than this many days. */
  days: number;
  /** Rows of `history`. */
  limit: number;
  /** Rows kept per node by `retention`. */
  keep: number;
}

export const ISEMS_QUERY_LIMITS = {
  hideInactiveAfterDays: { min: 0, default: DEFAULT_HIDE_INACTIVE_AFTER_DAYS, integer: false },
  limit: { min: 1, max: 100_000, default: NODE_HISTORY_LIMIT, integer: true },
  keepPerNode: { min: 1, default: DEFAULT_KEEP_PER_NODE, integer: true },
} as const;

interface Limit {
  min: number;
  max?: number;
  default: number;
  integer: boolean;
}

/** A number property after `${ENV}` substitution; empty (an unset variable) means the default. */
function numberSetting(value: unknown, limit: Limit, name: string): number {
  const text = String(value ?? '').trim();
  if (text === '') return limit.default;
  const number = Number(text);
  const range = limit.max === undefined ? `>= ${limit.min}` : `from ${limit.min} to ${limit.max}`;
  if (
    !(limit.integer ? /^\d+$/ : /^\d+(\.\d+)?$/).test(text) ||
    !Number.isFinite(number) ||
    number < limit.min ||
    (limit.max !== undefined && number > limit.max)
  ) {
    throw new IsemsError(
      'ISEMS_BAD_CONFIG',
      `${name} must be a ${limit.integer ? 'whole ' : ''}number ${range}, not ${JSON.stringify(text.slice(0, 40))}`,
    );
  }
  return number;
}

export function isemsQuerySettings(def: { hideInactiveAfterDays?: unknown; limit?: unknown; keepPerNode?: unknown }): IsemsQuerySettings {
  return {
    days: numberSetting(def.hideInactiveAfterDays, ISEMS_QUERY_LIMITS.hideInactiveAfterDays, 'HIDE_INACTIVE_AFTER_DAYS'),
    limit: numberSetting(def.limit, ISEMS_QUERY_LIMITS.limit, 'limit'),
    keep: numberSetting(def.keepPerNode, ISEMS_QUERY_LIMITS.keepPerNode, 'ISEMS_RETENTION_ROWS'),
  };
}

/** iotp-isems: whole numbers, clamped to these ranges; anything else (an unset `${VAR}`) is the default. */
export const ISEMS_LIMITS = {
  interval: { min: 1, max: 86_400, default: DEFAULT_POLL_INTERVAL_SECONDS, integer: true },
  simulatedNodes: { min: 1, max: 500, default: 5, integer: true },
  timeout: { min: 1, max: 600, default: 10, integer: true },
  concurrency: { min: 1, max: 256, default: 16, integer: true },
  maxLineErrors: { min: 1, max: 1000, default: 20, integer: true },
} as const;

export interface IsemsSettings {
  intervalSeconds: number;
  simulatedNodes: number;
  timeoutSeconds: number;
  concurrency: number;
  maxLineErrors: number;
}

/** A whole number from a property (a string after `${ENV}` substitution) within `limit`, else its default. */
function wholeNumber(value: unknown, limit: Limit & { max: number }): number {
  const text = String(value ?? '').trim();
  if (!/^\d+$/.test(text)) return limit.default;
  return Math.min(limit.max, Math.max(limit.min, Number(text)));
}

export function isemsSettings(def: {
  interval?: unknown;
  simulatedNodes?: unknown;
  timeout?: unknown;
  concurrency?: unknown;
  maxLineErrors?: unknown;
}): IsemsSettings {
  return {
    intervalSeconds: wholeNumber(def.interval, ISEMS_LIMITS.interval),
    simulatedNodes: wholeNumber(def.simulatedNodes, ISEMS_LIMITS.simulatedNodes),
    timeoutSeconds: wholeNumber(def.timeout, ISEMS_LIMITS.timeout),
    concurrency: wholeNumber(def.concurrency, ISEMS_LIMITS.concurrency),
    maxLineErrors: wholeNumber(def.maxLineErrors, ISEMS_LIMITS.maxLineErrors),
  };
}
