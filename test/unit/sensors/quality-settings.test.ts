/** The quality node's settings (lib/sensors/quality-settings.ts): positive, at most the editor's maxima. */
import assert from 'node:assert/strict';
import { QUALITY_LIMITS, qualitySettings, QualitySettingsError } from '../../../lib/sensors/quality-settings';

describe('quality settings', () => {
  it('takes the defaults and converts units', () => {
    assert.deepEqual(qualitySettings({}), {
      dataset: 'sensor_data',
      expectedIntervalMs: 1000,
      maxDelayMs: 5000,
      windowMs: 60_000,
      windowCount: 60,
    });
    assert.equal(qualitySettings({ windowSeconds: '0.5' }).windowMs, 500);
  });

  it('refuses zero, text and values above the range, naming the property', () => {
    for (const [property, value] of [
      ['interval', 0],
      ['maxDelay', 'soon'],
      ['windows', QUALITY_LIMITS.windows.max + 1],
      ['windowSeconds', 86_401],
    ] as const) {
      assert.throws(
        () => qualitySettings({ [property]: value }),
        (err: QualitySettingsError) => err.code === 'BAD_QUALITY_SETTING' && err.message.startsWith(property),
      );
    }
    assert.equal(qualitySettings({ windows: QUALITY_LIMITS.windows.max }).windowCount, QUALITY_LIMITS.windows.max);
  });
});
