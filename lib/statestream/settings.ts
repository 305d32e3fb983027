/**
 * The numeric settings of the iotp-statestream and iotp-hass-simulator nodes. The ranges are the
 * editor's too (test/package/editor-limits.test.ts compares them).
 */
import { DEFAULT_MAX_PAYLOAD_BYTES } from './payload';

export const STATESTREAM_LIMITS = {
  /** Entity mode: a merged entity is sent after this long without a new part (ms). */
  quietMs: { min: 0, max: 60_000, default: 100, integer: true },
  /** One payload limit everywhere (the ingest's): this setting can only lower it. */
  maxPayload: { min: 1, max: DEFAULT_MAX_PAYLOAD_BYTES, default: DEFAULT_MAX_PAYLOAD_BYTES, integer: true },
} as const;

/** The quiet time: empty, negative or not a number is the default; above the range, its maximum. */
export function quietMsSetting(value: unknown): number {
  const n = Number(value);
  if (value === '' || value === null || value === undefined || !Number.isFinite(n) || n < 0) return STATESTREAM_LIMITS.quietMs.default;
  return Math.min(n, STATESTREAM_LIMITS.quietMs.max);
}

/** The payload limit, or undefined (the ingest's) when unset or not positive. */
export function maxPayloadSetting(value: unknown): number | undefined {
  const n = Number(value);
  return n > 0 ? Math.min(n, STATESTREAM_LIMITS.maxPayload.max) : undefined;
}

/** The iotp-hass-simulator node (HassSimulator checks the entity count itself). */
export const HASS_SIMULATOR_LIMITS = {
  /** Entity updates per second, above 0. */
  rate: { min: 0, max: 100_000, default: 1, integer: false, above: true },
  entitiesPerDomain: { min: 1, max: 1000, default: 2, integer: true },
} as const;

/** The update rate, or undefined when it is not a number in its range. */
export function hassRateSetting(value: unknown): number | undefined {
  const rate = Number(value);
  return rate > HASS_SIMULATOR_LIMITS.rate.min && rate <= HASS_SIMULATOR_LIMITS.rate.max ? rate : undefined;
}
