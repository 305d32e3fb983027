/**
 * The areas read ISO 8601 through one parser (lib/time/iso8601.ts), each with its own format and
 * wording; these pin the wording per defect and the deliberate differences between them.
 */
import assert from 'node:assert/strict';
import { parseIsoTime } from '../../../lib/connector/time';
import { parseLocal } from '../../../lib/isems/adopt';
import { parseTimestampUs } from '../../../lib/sensors/time';
import { parseIsoInstant } from '../../../lib/statestream/timestamp';
import { parseTimestamp } from '../../../lib/window';

function windowMessage(text: string): string {
  try {
    parseTimestamp(text);
  } catch (err) {
    return (err as Error).message;
  }
  return 'accepted';
}

function connectorMessage(text: string): string {
  try {
    parseIsoTime(text, 'start_time');
  } catch (err) {
    return (err as Error).message;
  }
  return 'accepted';
}

describe('ISO 8601 readers of each area over the shared parser', () => {
  it('sensors: one reason per defect, naming the field as written', () => {
    const cases: Array<[string, string]> = [
      ['2024-06-14T16:00:00.1234567891', 'not an ISO 8601 date-time (expected e.g. 2024-06-14T16:00:00.123456)'],
      ['2024-06-14T16:00:00+02', 'not an ISO 8601 date-time (expected e.g. 2024-06-14T16:00:00.123456)'],
      ['2024-06-14', 'not an ISO 8601 date-time (expected e.g. 2024-06-14T16:00:00.123456)'],
      [`2024-06-14T16:00:00.${'1'.repeat(30)}`, 'longer than 40 characters'],
      ['2024-13-01T00:00:00', 'month 13 is out of range'],
      ['2024-02-30T00:00:00', 'day 30 does not exist in 2024-02'],
      ['2024-06-14T24:00:00', 'hour 24 is out of range'],
      ['2024-06-14T16:60:00', 'minute 60 is out of range'],
      ['2024-06-14T16:00:60', 'second 60 is out of range'],
      ['2024-06-14T16:00:00+25:00', 'offset +25:00 is out of range'],
      ['2024-06-14T16:00:00-2460', 'offset -2460 is out of range'],
      ['1899-12-31T23:59:59.999999', 'outside the accepted range (years 1900 to 2199 UTC)'],
      ['1900-01-01T00:30:00+01:00', 'outside the accepted range (years 1900 to 2199 UTC)'],
    ];
    for (const [text, reason] of cases) assert.equal(parseTimestampUs(text), reason, text);
    assert.equal(parseTimestampUs('2024-06-14', { allowDateOnly: true }), Date.UTC(2024, 5, 14) * 1000);
    assert.equal(typeof parseTimestampUs('2024-06-14Z', { allowDateOnly: true }), 'string', 'no zone on a bare date');
    assert.equal(parseTimestampUs('2199-12-31T23:59:59.999999'), Date.UTC(2200, 0, 1) * 1000 - 1);
  });

  it('window: its reasons, the widest grammar, and the proleptic calendar down to year 0000', () => {
    assert.equal(windowMessage('2024-6-14'), 'invalid timestamp "2024-6-14": expected epoch seconds/milliseconds or ISO 8601 text');
    assert.equal(windowMessage('2024-13-01'), 'invalid timestamp "2024-13-01": month out of range');
    assert.equal(windowMessage('2023-02-29'), 'invalid timestamp "2023-02-29": day out of range');
    for (const text of ['2024-06-14T24:00', '2024-06-14T16:60', '2024-06-14T16:00:60'])
      assert.equal(windowMessage(text), `invalid timestamp "${text}": time of day out of range`);
    assert.equal(windowMessage('2024-06-14T16:00+24'), 'invalid timestamp "2024-06-14T16:00+24": offset out of range');
    assert.equal(parseTimestamp(' 2024-06-14+02 '), Date.UTC(2024, 5, 13, 22), 'a zone on a bare date, hours only, trimmed');
    assert.equal(parseTimestamp('2024-06-14t16:00:00,5Z'), Date.UTC(2024, 5, 14, 16, 0, 0, 500));
    // Date.UTC reads years 0..99 as 1900..1999, and 1900 has no 29 February: year 0000 has.
    assert.equal(parseTimestamp('0000-02-29'), Date.parse('0000-02-29T00:00:00Z'));
    assert.equal(parseTimestamp('0099-12-31T23:59:59Z'), Date.parse('0099-12-31T23:59:59Z'));
  });

  it('connector: its reasons, T or space only, trimmed, no year 0000', () => {
    assert.equal(connectorMessage('2021-07-01t12:00:00'), 'start_time is not an ISO 8601 time (expected e.g. 2021-07-01T12:00:00)');
    assert.equal(connectorMessage('2021-07-01Z'), 'start_time is not an ISO 8601 time (expected e.g. 2021-07-01T12:00:00)');
    assert.equal(connectorMessage('0000-01-01'), 'start_time has no such calendar date');
    assert.equal(connectorMessage('0000-01-01T25:00:00'), 'start_time has no such calendar date', 'the year is checked before the time');
    assert.equal(connectorMessage('2021-02-29'), 'start_time has no such calendar date');
    assert.equal(connectorMessage('2021-07-01T12:00:60'), 'start_time has an out-of-range time of day');
    assert.equal(connectorMessage('2021-07-01T12:00:00-24'), 'start_time has an out-of-range UTC offset');
    assert.equal(
      connectorMessage(`${' '.repeat(60)}2021-07-01 `),
      'start_time is too long to be an ISO 8601 time',
      'the length counts before trimming',
    );
    assert.deepEqual(parseIsoTime(' 2021-07-01 12:00:00,250+02 '), { ms: Date.UTC(2021, 6, 1, 10, 0, 0, 250), fraction: '250' });
    assert.deepEqual(parseIsoTime('0001-01-01'), { ms: Date.parse('0001-01-01T00:00:00Z'), fraction: '' });
  });

  it('statestream: an offset required and complete, the UTC instant within years 0001..9999', () => {
    assert.deepEqual(parseIsoInstant('2024-06-14t16:00:00,123456789z'), {
      iso: '2024-06-14T16:00:00.123456789Z',
      date: new Date(Date.UTC(2024, 5, 14, 16, 0, 0, 123)),
    });
    for (const text of [
      '2024-06-14T16:00:00',
      '2024-06-14T16:00:00+02',
      '2024-06-14Z',
      '0001-01-01T00:30:00+01:00',
      '9999-12-31T23:30:00-01:00',
      `2024-06-14T16:00:00.123456789+02:00${' '.repeat(10)}`,
    ]) {
      assert.equal(parseIsoInstant(text), undefined, text);
    }
    assert.equal(parseIsoInstant('0001-01-01T00:30:00+00:30')?.iso, '0001-01-01T00:00:00Z');
    assert.equal(
      parseIsoInstant('0000-12-31T23:30:00-00:30')?.iso,
      '0001-01-01T00:00:00Z',
      'year 0000 as written is fine once UTC is year 1',
    );
  });

  it('isems stored local times: no zone, T or space, trimmed, the fraction dropped, every year as written', () => {
    assert.equal(parseLocal(' 2023-10-29 02:30:00.123456 '), Date.UTC(2023, 9, 29, 2, 30));
    assert.equal(parseLocal('2023-10-29T02:30:00'), Date.UTC(2023, 9, 29, 2, 30));
    for (const text of [
      '2023-10-29 02:30:00+01:00',
      '2023-10-29 02:30:00Z',
      '2023-10-29t02:30:00',
      '2023-02-29 00:00:00',
      '2023-10-29 24:00:00',
      '0000-00-00 00:00:00',
      'NULL',
    ]) {
      assert.equal(parseLocal(text), undefined, text);
    }
    const early = new Date(Date.UTC(2000, 0, 1, 12));
    early.setUTCFullYear(99); // Date.UTC would read 0099 as 1999
    assert.equal(parseLocal('0099-01-01 12:00:00'), early.getTime());
  });
});
