/**
 * The iotp-quality node's settings: numbers above 0 up to these maxima (the editor's too,
 * test/package/editor-limits.test.ts compares them). A value outside is a QualitySettingsError
 * naming the property, reported once at deploy.
 */
import { IotpError } from '../errors';
import type { QualityOptions } from './quality';

export class QualitySettingsError extends IotpError<'BAD_QUALITY_SETTING'> {}

export const QUALITY_LIMITS = {
  /** Milliseconds between a sensor's readings. */
  interval: { min: 0, max: 86_400_000, default: 1000, integer: false, above: true },
  /** Milliseconds a reading may arrive late. */
  maxDelay: { min: 0, max: 86_400_000, default: 5000, integer: false, above: true },
  /** Seconds per window. */
  windowSeconds: { min: 0, max: 86_400, default: 60, integer: false, above: true },
  /** Windows kept (a week of minutes at most). */
  windows: { min: 1, max: 10_080, default: 60, integer: true },
} as const;

export interface QualityNodeProperties {
  dataset?: string;
  interval?: unknown;
  maxDelay?: unknown;
  windowSeconds?: unknown;
  windows?: unknown;
}

function setting(value: unknown, name: keyof typeof QUALITY_LIMITS): number {
  const limit = QUALITY_LIMITS[name];
  const n = Number(value ?? limit.default);
  if (!Number.isFinite(n) || n <= 0 || n > limit.max) {
    throw new QualitySettingsError(
      'BAD_QUALITY_SETTING',
      `${name} must be a positive number up to ${limit.max}, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

export function qualitySettings(def: QualityNodeProperties): Omit<QualityOptions, 'sensors'> {
  return {
    dataset: def.dataset || 'sensor_data',
    expectedIntervalMs: setting(def.interval, 'interval'),
    maxDelayMs: setting(def.maxDelay, 'maxDelay'),
    windowMs: setting(def.windowSeconds, 'windowSeconds') * 1000,
    windowCount: Math.floor(setting(def.windows, 'windows')),
  };
}
