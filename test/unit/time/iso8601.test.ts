import assert from 'node:assert/strict';
import {
  FULL_ISO_GRAMMAR,
  newIsoDateTimeFields,
  scanIsoDateTime,
  type IsoDateTimeFields,
  type IsoDefect,
  type IsoGrammar,
} from '../../../lib/time/iso8601';

const fields = newIsoDateTimeFields();

/** Scans with the full grammar (or `grammar`) and returns the defect, or a copy of the fields. */
function scan(text: string, grammar: IsoGrammar = FULL_ISO_GRAMMAR): IsoDefect | IsoDateTimeFields {
  const defect = scanIsoDateTime(text, grammar, fields);
  return defect ?? { ...fields };
}

function accepted(text: string, grammar: IsoGrammar = FULL_ISO_GRAMMAR): IsoDateTimeFields {
  const result = scan(text, grammar);
  assert.equal(typeof result, 'object', `${text} should be accepted, got ${String(result)}`);
  return result as IsoDateTimeFields;
}

const NARROW: IsoGrammar = { dateOnly: false, offsetOnDate: false, offsetRequired: false, offsetHoursOnly: false, lowercaseT: false };

describe('time/iso8601: field shapes', () => {
  it('reads a bare date as midnight with no time, fraction or offset', () => {
    assert.deepEqual(accepted('2024-06-14'), {
      year: 2024,
      month: 6,
      day: 14,
      hasTime: false,
      hour: 0,
      minute: 0,
      second: 0,
      fractionStart: 10,
      fractionEnd: 10,
      fractionNanos: 0,
      hasOffset: false,
      offsetMinutes: 0,
      offsetStart: 10,
    });
  });

  it('reads hours and minutes, then seconds, each separator', () => {
    for (const sep of ['T', 't', ' ']) {
      assert.deepEqual(accepted(`2024-06-14${sep}16:05`), {
        year: 2024,
        month: 6,
        day: 14,
        hasTime: true,
        hour: 16,
        minute: 5,
        second: 0,
        fractionStart: 16,
        fractionEnd: 16,
        fractionNanos: 0,
        hasOffset: false,
        offsetMinutes: 0,
        offsetStart: 16,
      });
      const withSeconds = accepted(`2024-06-14${sep}16:05:09`);
      assert.deepEqual(
        [withSeconds.hour, withSeconds.minute, withSeconds.second, withSeconds.fractionStart, withSeconds.offsetStart],
        [16, 5, 9, 19, 19],
      );
    }
  });

  it('keeps the position of the fraction digits as written, 1 to 9 of them, after . or ,', () => {
    for (let digits = 1; digits <= 9; digits++) {
      const written = '123456789'.slice(0, digits);
      for (const mark of ['.', ',']) {
        const text = `2024-06-14T16:00:00${mark}${written}`;
        const f = accepted(text);
        assert.equal(text.slice(f.fractionStart, f.fractionEnd), written);
        assert.equal(f.fractionNanos, Number(written.padEnd(9, '0')), text);
        assert.equal(f.offsetStart, text.length);
      }
    }
    assert.equal(accepted('2024-06-14T16:00:00.000000001').fractionNanos, 1);
    assert.equal(accepted('2024-06-14T16:00:00.5').fractionNanos, 500_000_000);
  });

  it('reads every offset form as minutes east of UTC, and where it starts', () => {
    const cases: Array<[string, number]> = [
      ['Z', 0],
      ['z', 0],
      ['+02:00', 120],
      ['+0200', 120],
      ['+02', 120],
      ['-04:30', -270],
      ['-0430', -270],
      ['-04', -240],
      ['+23:59', 1439],
      ['-23:59', -1439],
      ['+00:00', 0],
    ];
    for (const [offset, minutes] of cases) {
      const text = `2024-06-14T16:00:00.25${offset}`;
      const f = accepted(text);
      assert.equal(f.hasOffset, true, text);
      assert.equal(f.offsetMinutes, minutes, text);
      assert.equal(text.slice(f.offsetStart), offset);
      assert.equal(text.slice(f.fractionStart, f.fractionEnd), '25');
    }
  });

  it('reads -00:00 as offset 0, not -0', () => {
    assert.ok(Object.is(accepted('2024-06-14T16:00-00:00').offsetMinutes, 0));
    assert.ok(Object.is(accepted('2024-06-14T16:00-00').offsetMinutes, 0));
  });

  it('reads an offset after a bare date when the grammar allows it', () => {
    const f = accepted('2024-06-14+02:00');
    assert.deepEqual([f.hasTime, f.hasOffset, f.offsetMinutes, f.offsetStart], [false, true, 120, 10]);
    assert.equal(accepted('2024-06-14Z').offsetMinutes, 0);
  });
});

describe('time/iso8601: grammar variants', () => {
  it('dateOnly: a bare date is refused without it', () => {
    assert.equal(scan('2024-06-14', NARROW), 'shape');
    assert.equal(accepted('2024-06-14', { ...NARROW, dateOnly: true }).hasTime, false);
  });

  it('offsetOnDate: a zone on a bare date needs it on top of dateOnly', () => {
    assert.equal(scan('2024-06-14Z', { ...NARROW, dateOnly: true }), 'shape');
    assert.equal(scan('2024-06-14+02:00', { ...NARROW, dateOnly: true }), 'shape');
    assert.equal(scan('2024-06-14Z', { ...NARROW, offsetOnDate: true }), 'shape', 'no date-only, no zone on one');
    assert.equal(accepted('2024-06-14Z', { ...NARROW, dateOnly: true, offsetOnDate: true }).hasOffset, true);
  });

  it('offsetRequired: text without a zone is refused, a bare date included', () => {
    const required: IsoGrammar = { ...FULL_ISO_GRAMMAR, offsetRequired: true };
    assert.equal(scan('2024-06-14T16:00:00', required), 'shape');
    assert.equal(scan('2024-06-14', required), 'shape');
    assert.equal(accepted('2024-06-14T16:00:00Z', required).hasOffset, true);
    assert.equal(accepted('2024-06-14Z', required).hasOffset, true);
  });

  it('offsetHoursOnly: ±HH alone needs it; ±HHMM and ±HH:MM never do', () => {
    assert.equal(scan('2024-06-14T16:00+02', NARROW), 'shape');
    assert.equal(accepted('2024-06-14T16:00+02', { ...NARROW, offsetHoursOnly: true }).offsetMinutes, 120);
    assert.equal(accepted('2024-06-14T16:00+0230', NARROW).offsetMinutes, 150);
    assert.equal(accepted('2024-06-14T16:00+02:30', NARROW).offsetMinutes, 150);
  });

  it('lowercaseT: t separates date and time only with it', () => {
    assert.equal(scan('2024-06-14t16:00', NARROW), 'shape');
    assert.equal(scan('2024-06-14t16:00', { ...NARROW, dateOnly: true, offsetOnDate: true }), 'shape', 'nor is it read as a zone');
    assert.equal(accepted('2024-06-14t16:00', { ...NARROW, lowercaseT: true }).hour, 16);
  });
});

describe('time/iso8601: rejection reasons', () => {
  it('shape: anything off the grammar', () => {
    const malformed = [
      '',
      '2024',
      '2024-06',
      '2024-6-14',
      '24-06-14',
      '2024/06/14',
      '20240614',
      '2024-06-14T',
      '2024-06-14T16',
      '2024-06-14T1600',
      '2024-06-14T16:0',
      '2024-06-14T16:00:0',
      '2024-06-14T16:00:00.',
      '2024-06-14T16:00:00,',
      '2024-06-14T16:00.5',
      '2024-06-14T16:00:00.1234567891',
      '2024-06-14T16:00:00ZZ',
      '2024-06-14T16:00:00Zjunk',
      '2024-06-14T16:00:00+',
      '2024-06-14T16:00:00+2',
      '2024-06-14T16:00:00+02:',
      '2024-06-14T16:00:00+02:0',
      '2024-06-14T16:00:00+020',
      '2024-06-14T16:00:00+02:000',
      '2024-06-14T16:00:00 Z',
      '2024-06-14T16:00:00UTC',
      ' 2024-06-14',
      '2024-06-14 ',
      '2024-06-14_16:00',
      '+2024-06-14',
      '-0001-06-14',
      '10000-01-01',
      '２０２４-06-14',
      '2024-06-14T16:00:00\u00a0',
      'T16:00:00',
      'now',
      '2024-06-14T16:00:00.12a',
    ];
    for (const text of malformed) assert.equal(scan(text), 'shape', JSON.stringify(text));
  });

  it('month, day, hour, minute, second, offset: each field out of range', () => {
    const cases: Array<[string, IsoDefect]> = [
      ['2024-00-10', 'month'],
      ['2024-13-01', 'month'],
      ['2024-99-01T00:00Z', 'month'],
      ['2024-06-00', 'day'],
      ['2024-01-32', 'day'],
      ['2024-04-31', 'day'],
      ['2023-02-29', 'day'],
      ['2024-02-30', 'day'],
      ['2024-06-14T24:00', 'hour'],
      ['2024-06-14T24:00:00Z', 'hour'],
      ['2024-06-14T16:60', 'minute'],
      ['2024-06-14T16:00:60', 'second'],
      ['2024-06-14T16:00:00+24:00', 'offset'],
      ['2024-06-14T16:00:00-00:60', 'offset'],
      ['2024-06-14T16:00:00+99', 'offset'],
      ['2024-06-14+2400', 'offset'],
    ];
    for (const [text, defect] of cases) assert.equal(scan(text), defect, text);
  });

  it('reports the first defect left to right, and shape before any range', () => {
    assert.equal(scan('2024-13-32T24:60:60+24:60'), 'month');
    assert.equal(scan('2024-12-32T24:60:60+24:60'), 'day');
    assert.equal(scan('2024-12-31T24:60:60+24:60'), 'hour');
    assert.equal(scan('2024-12-31T23:60:60+24:60'), 'minute');
    assert.equal(scan('2024-12-31T23:59:60+24:60'), 'second');
    assert.equal(scan('2024-12-31T23:59:59+24:60'), 'offset');
    assert.equal(scan('2024-13-01T00:00:00+25:00x'), 'shape');
  });

  it('fills every field before reporting a range defect (callers add their own checks first)', () => {
    assert.equal(scanIsoDateTime('0000-13-01T25:00:00.5+25:00', FULL_ISO_GRAMMAR, fields), 'month');
    assert.deepEqual(
      { ...fields },
      {
        year: 0,
        month: 13,
        day: 1,
        hasTime: true,
        hour: 25,
        minute: 0,
        second: 0,
        fractionStart: 20,
        fractionEnd: 21,
        fractionNanos: 500_000_000,
        hasOffset: true,
        offsetMinutes: 1500,
        offsetStart: 21,
      },
    );
  });

  it('never throws and reads only a bounded prefix of hostile text', () => {
    for (const text of [
      'x'.repeat(100_000),
      `2024-06-14T16:00:00.${'1'.repeat(100_000)}`,
      '\uD800\uDFFF',
      '2024-06-14T16:00:00\u0000',
      '9'.repeat(50),
    ]) {
      assert.equal(scan(text), 'shape');
    }
  });
});

describe('time/iso8601: calendar edge cases', () => {
  it('knows the leap years: every 4th, not every 100th, yet every 400th (year 0000 included)', () => {
    for (const year of ['2024', '2000', '1600', '0400', '0004', '0000']) assert.equal(accepted(`${year}-02-29`).day, 29, year);
    for (const year of ['2023', '1900', '2100', '0100', '0001']) assert.equal(scan(`${year}-02-29`), 'day', year);
    for (const year of ['2024', '2023', '1900']) assert.equal(scan(`${year}-02-30`), 'day');
  });

  it('has 30 days in April, June, September, November, and 31 in the others', () => {
    for (let month = 1; month <= 12; month++) {
      const mm = String(month).padStart(2, '0');
      const long = [1, 3, 5, 7, 8, 10, 12].includes(month);
      if (month !== 2) assert.equal(accepted(`2023-${mm}-30`).day, 30);
      assert.equal(scan(`2023-${mm}-31`) === 'day', !long, mm);
    }
  });

  it('refuses 24:00 (the ISO end-of-day form) and leap seconds, accepts the last instant of a day', () => {
    assert.equal(scan('2024-06-14T24:00:00'), 'hour');
    assert.equal(scan('2016-12-31T23:59:60Z'), 'second');
    const last = accepted('2024-12-31T23:59:59.999999999');
    assert.deepEqual([last.hour, last.minute, last.second, last.fractionNanos], [23, 59, 59, 999_999_999]);
  });

  it('takes offsets up to ±23:59', () => {
    assert.equal(accepted('2024-06-14T00:00+23:59').offsetMinutes, 1439);
    assert.equal(accepted('2024-06-14T00:00-23:59').offsetMinutes, -1439);
    assert.equal(scan('2024-06-14T00:00+24:00'), 'offset');
    assert.equal(scan('2024-06-14T00:00-23:60'), 'offset');
  });

  it('reads the years 0000 to 9999 (callers narrow them)', () => {
    assert.equal(accepted('0001-01-01T00:00:00Z').year, 1);
    assert.equal(accepted('9999-12-31T23:59:59.999999999Z').year, 9999);
    assert.equal(accepted('0000-01-01').year, 0);
  });
});
