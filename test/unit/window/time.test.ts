import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TimeParseError, WindowError, formatUtcNaive, parseTimestamp } from '../../../lib/window';

const isTimeError = (err: unknown): boolean =>
  err instanceof TimeParseError && err instanceof WindowError && err.code === 'INVALID_TIMESTAMP';

describe('window: parseTimestamp', () => {
  it('reads epoch seconds as a number or as the rolling-averages string', () => {
    assert.equal(parseTimestamp(1669940235), 1669940235000);
    assert.equal(parseTimestamp('1669940235'), 1669940235000);
    assert.equal(parseTimestamp(' 1669940235.25 '), 1669940235250);
  });

  it('reads epoch milliseconds from 1e11 on, and honours an explicit unit', () => {
    assert.equal(parseTimestamp(1669940235123), 1669940235123);
    assert.equal(parseTimestamp('1669940235123'), 1669940235123);
    assert.equal(parseTimestamp(5000, { unit: 'ms' }), 5000);
    assert.equal(parseTimestamp(1669940235123, { unit: 's' }), 1669940235123000);
    assert.equal(parseTimestamp(99_999_999_999), 99_999_999_999_000);
    assert.equal(parseTimestamp(100_000_000_000), 100_000_000_000);
  });

  it('reads naive ISO text as UTC, keeping microseconds as fractional milliseconds', () => {
    const base = Date.UTC(2024, 5, 14, 16, 0, 0);
    assert.equal(parseTimestamp('2024-06-14T16:00:00'), base);
    assert.equal(parseTimestamp('2024-06-14T16:00:00.123456'), base + 123.456);
    assert.equal(parseTimestamp('2024-06-14 16:00:00.5'), base + 500);
    assert.equal(parseTimestamp('2024-06-14T16:00'), base);
    assert.equal(parseTimestamp('2024-06-14'), Date.UTC(2024, 5, 14));
  });

  it('applies offsets', () => {
    const base = Date.UTC(2024, 5, 14, 16, 0, 0);
    assert.equal(parseTimestamp('2024-06-14T16:00:00Z'), base);
    assert.equal(parseTimestamp('2024-06-14T18:00:00+02:00'), base);
    assert.equal(parseTimestamp('2024-06-14T11:30:00.250-0430'), base + 250);
    assert.equal(parseTimestamp('2024-06-14T17:00:00+01'), base);
  });

  it('agrees with Date.parse on every valid instant written with an offset', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date(Date.UTC(1971, 0, 1)), max: new Date(Date.UTC(2200, 0, 1)), noInvalidDate: true }), (d) => {
        assert.equal(parseTimestamp(d.toISOString()), d.getTime());
        assert.equal(parseTimestamp(d.toISOString().replace('Z', '')), d.getTime());
        assert.equal(parseTimestamp(d.getTime(), { unit: 'ms' }), d.getTime());
        assert.equal(parseTimestamp(String(d.getTime() / 1000)), d.getTime());
      }),
      { numRuns: 300, seed: 11 },
    );
  });

  it('accepts a valid Date', () => {
    assert.equal(parseTimestamp(new Date(1234567)), 1234567);
  });

  it('rejects impossible dates instead of rolling them over', () => {
    for (const text of [
      '2023-02-29T00:00:00',
      '2024-13-01',
      '2024-04-31',
      '2024-06-14T24:00:00',
      '2024-06-14T16:60:00',
      '2024-06-14T16:00:60',
      '2024-06-14T16:00:00+25:00',
    ]) {
      assert.throws(() => parseTimestamp(text), isTimeError, text);
    }
    assert.equal(parseTimestamp('2024-02-29T00:00:00'), Date.UTC(2024, 1, 29));
  });

  it('rejects everything else with a typed error', () => {
    const bad: unknown[] = [
      '',
      '   ',
      'yesterday',
      'NaN',
      'Infinity',
      '0x10',
      '2024-06-14T16:00:00.123456Zjunk',
      '14/06/2024',
      '2024-6-14',
      Number.NaN,
      Infinity,
      1e300,
      null,
      undefined,
      true,
      {},
      [],
      new Date(Number.NaN),
      'x'.repeat(100_000),
      10n,
    ];
    for (const input of bad) assert.throws(() => parseTimestamp(input), isTimeError, String(input).slice(0, 40));
    try {
      parseTimestamp('x'.repeat(100_000));
    } catch (err) {
      assert.ok((err as TimeParseError).message.length < 200, 'a hostile input is shortened in the message');
    }
  });
});

describe('window: formatUtcNaive', () => {
  it('writes the sensors timestamp format (UTC, no offset, microseconds)', () => {
    const base = Date.UTC(2024, 5, 14, 16, 0, 0);
    assert.equal(formatUtcNaive(base + 123.456), '2024-06-14T16:00:00.123456');
    assert.equal(formatUtcNaive(base), '2024-06-14T16:00:00.000000');
    assert.equal(formatUtcNaive(base + 999.999), '2024-06-14T16:00:00.999999');
    assert.equal(formatUtcNaive(base + 999.9999), '2024-06-14T16:00:01.000000'); // rounds to the microsecond
    assert.equal(formatUtcNaive(base + 5, 3), '2024-06-14T16:00:00.005');
    assert.equal(formatUtcNaive(base + 5, 0), '2024-06-14T16:00:00');
    assert.equal(formatUtcNaive(Date.UTC(1999, 11, 31, 23, 59, 59) + 999.9996), '2000-01-01T00:00:00.000000');
  });

  it('round-trips through parseTimestamp to the microsecond', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_102_444_800_000_000 }), (micros) => {
        const text = formatUtcNaive(micros / 1000);
        assert.equal(Math.round(parseTimestamp(text) * 1000), micros, text);
      }),
      { numRuns: 300, seed: 12 },
    );
  });
});
