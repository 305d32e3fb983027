/**
 * parseIsoDateTime's options, one at a time and in combination: each area states its rules as
 * options of this one function (lib/time/iso8601.ts), so each option must do what it says and
 * nothing else.
 */
import assert from 'node:assert/strict';
import { isoFormat, newIsoDateTime, parseIsoDateTime, type IsoDateTimeOptions, type IsoDefect } from '../../../lib/time/iso8601';

const out = newIsoDateTime();

/** The defect, or the instant as [epochSeconds, fractionNanos]. */
function parse(text: string, options: IsoDateTimeOptions): IsoDefect | [number, number] {
  const defect = parseIsoDateTime(text, isoFormat(options), out);
  return defect ?? [out.epochSeconds, out.fractionNanos];
}

const at = (iso: string, nanos = 0): [number, number] => [Date.parse(iso) / 1000, nanos];
const OPTIONAL: IsoDateTimeOptions = { offset: 'optional' };

describe('time/iso8601: parseIsoDateTime options', () => {
  it('offset: required refuses a naive time, optional reads it as UTC, forbidden refuses a zone and reads the wall clock', () => {
    const texts = ['2024-06-14T16:00:00', '2024-06-14T16:00:00Z', '2024-06-14T18:00:00+02:00', '2024-06-14T11:30:00-0430'];
    const expected: Record<IsoDateTimeOptions['offset'], Array<IsoDefect | [number, number]>> = {
      required: ['shape', at('2024-06-14T16:00:00Z'), at('2024-06-14T16:00:00Z'), at('2024-06-14T16:00:00Z')],
      optional: [at('2024-06-14T16:00:00Z'), at('2024-06-14T16:00:00Z'), at('2024-06-14T16:00:00Z'), at('2024-06-14T16:00:00Z')],
      forbidden: [at('2024-06-14T16:00:00Z'), 'shape', 'shape', 'shape'],
    };
    for (const offset of ['required', 'optional', 'forbidden'] as const) {
      assert.deepEqual(
        texts.map((t) => parse(t, { offset })),
        expected[offset],
        offset,
      );
    }
    assert.equal(
      parse('2024-06-14T16:00:00+25:00', { offset: 'forbidden' }),
      'shape',
      'a forbidden zone is a shape defect before any range',
    );
  });

  it('offsetHoursOnly: ±HH alone only with it', () => {
    assert.equal(parse('2024-06-14T18:00+02', OPTIONAL), 'shape');
    assert.deepEqual(parse('2024-06-14T18:00+02', { ...OPTIONAL, offsetHoursOnly: true }), at('2024-06-14T16:00:00Z'));
    assert.deepEqual(parse('2024-06-14T18:00+0200', OPTIONAL), at('2024-06-14T16:00:00Z'));
  });

  it('dateOnly and offsetOnDate: a bare date is midnight, with a zone only when both are set', () => {
    assert.equal(parse('2024-06-14', OPTIONAL), 'shape');
    assert.deepEqual(parse('2024-06-14', { ...OPTIONAL, dateOnly: true }), at('2024-06-14T00:00:00Z'));
    assert.equal(parse('2024-06-14+02:00', { ...OPTIONAL, dateOnly: true }), 'shape');
    assert.deepEqual(parse('2024-06-14+02:00', { ...OPTIONAL, dateOnly: true, offsetOnDate: true }), at('2024-06-13T22:00:00Z'));
    assert.equal(parse('2024-06-14', { offset: 'required', dateOnly: true }), 'shape', 'a required zone applies to a bare date too');
    assert.deepEqual(parse('2024-06-14Z', { offset: 'required', dateOnly: true, offsetOnDate: true }), at('2024-06-14T00:00:00Z'));
    assert.deepEqual(parse('2024-06-14', { offset: 'forbidden', dateOnly: true }), at('2024-06-14T00:00:00Z'));
  });

  it('lowercaseT: t separates date and time only with it', () => {
    assert.equal(parse('2024-06-14t16:00', OPTIONAL), 'shape');
    assert.deepEqual(parse('2024-06-14t16:00', { ...OPTIONAL, lowercaseT: true }), at('2024-06-14T16:00:00Z'));
    assert.deepEqual(parse('2024-06-14 16:00', OPTIONAL), at('2024-06-14T16:00:00Z'), 'a space always does');
  });

  it('maxFractionDigits: more digits than allowed is a shape defect; the default is nanoseconds', () => {
    const text = '2024-06-14T16:00:00.123456789';
    assert.deepEqual(parse(text, OPTIONAL), at('2024-06-14T16:00:00Z', 123_456_789));
    for (let max = 1; max <= 9; max++) {
      for (let digits = 1; digits <= 9; digits++) {
        const result = parse(text.slice(0, 20 + digits), { ...OPTIONAL, maxFractionDigits: max });
        if (digits > max) assert.equal(result, 'shape', `${digits} digits, at most ${max}`);
        else assert.deepEqual(result, at('2024-06-14T16:00:00Z', Number('123456789'.slice(0, digits).padEnd(9, '0'))));
      }
    }
    for (const bad of [0, 10, 1.5, NaN]) assert.throws(() => isoFormat({ ...OPTIONAL, maxFractionDigits: bad }), RangeError);
  });

  it('maxLength counts the text as given, before trimming; trim ignores white space around it', () => {
    const padded = ' 2024-06-14T16:00:00 ';
    assert.equal(parse(padded, OPTIONAL), 'shape', 'no trimming unless asked');
    assert.deepEqual(parse(padded, { ...OPTIONAL, trim: true }), at('2024-06-14T16:00:00Z'));
    assert.equal(parse(padded, { ...OPTIONAL, trim: true, maxLength: padded.length - 1 }), 'length');
    assert.deepEqual(parse(padded, { ...OPTIONAL, trim: true, maxLength: padded.length }), at('2024-06-14T16:00:00Z'));
    assert.equal(parse('x'.repeat(41), { ...OPTIONAL, maxLength: 40 }), 'length', 'length before shape');
    // The field positions refer to the trimmed text, which the result holds.
    assert.equal(
      parseIsoDateTime('\t2024-06-14T16:00:00.25+02\n', isoFormat({ ...OPTIONAL, trim: true, offsetHoursOnly: true }), out),
      undefined,
    );
    assert.equal(out.text.slice(out.fractionStart, out.fractionEnd), '25');
    assert.equal(out.text.slice(out.offsetStart), '+02');
  });

  it('minYear: a year below it as written is refused before any other field', () => {
    const options: IsoDateTimeOptions = { ...OPTIONAL, minYear: 1 };
    assert.equal(parse('0000-12-31T23:00:00', options), 'year');
    assert.equal(parse('0000-13-45T25:00:00', options), 'year', 'the year first');
    assert.equal(parse('0000-12-31T23:00:00Zjunk', options), 'shape', 'shape before the year');
    assert.deepEqual(parse('0001-01-01T00:00:00', options), at('0001-01-01T00:00:00Z'));
    const yearZero = new Date(Date.UTC(2000, 11, 31, 23));
    yearZero.setUTCFullYear(0); // Date.UTC would read year 0 as 1900
    assert.deepEqual(parse('0000-12-31T23:00:00', OPTIONAL), [yearZero.getTime() / 1000, 0], 'without minYear, year 0000 is read');
  });

  it('utcYears: the instant, after the offset, within the years; a field defect comes first', () => {
    const options: IsoDateTimeOptions = { ...OPTIONAL, utcYears: { min: 1900, max: 2199 } };
    assert.deepEqual(parse('1900-01-01T00:00:00', options), at('1900-01-01T00:00:00Z'));
    assert.deepEqual(parse('2199-12-31T23:59:59.999999999', options), at('2199-12-31T23:59:59Z', 999_999_999));
    assert.equal(parse('1899-12-31T23:59:59.999999999', options), 'range');
    assert.equal(parse('2200-01-01T00:00:00', options), 'range');
    assert.equal(parse('1900-01-01T00:30:00+01:00', options), 'range', 'the offset moves it to 1899');
    assert.deepEqual(parse('1899-12-31T23:30:00-01:00', options), at('1900-01-01T00:30:00Z'), 'and into 1900');
    assert.equal(parse('2200-02-30T00:00:00', options), 'day');
    for (const bad of [
      { min: 2000, max: 1999 },
      { min: 1.5, max: 2000 },
    ])
      assert.throws(() => isoFormat({ ...OPTIONAL, utcYears: bad }), RangeError);
  });

  it('refuses contradictory options when the format is made, not when a text is read', () => {
    assert.throws(() => isoFormat({ ...OPTIONAL, offsetOnDate: true }), /offsetOnDate needs dateOnly/);
    assert.throws(() => isoFormat({ offset: 'forbidden', dateOnly: true, offsetOnDate: true }), /contradicts/);
  });

  it("every area's format, as each states it, on the same texts", () => {
    const formats: Record<string, IsoDateTimeOptions> = {
      statestream: { offset: 'required', lowercaseT: true, maxLength: 40, utcYears: { min: 1, max: 9999 } },
      window: { offset: 'optional', dateOnly: true, offsetOnDate: true, offsetHoursOnly: true, lowercaseT: true },
      sensors: { offset: 'optional', lowercaseT: true, maxLength: 40, utcYears: { min: 1900, max: 2199 } },
      connector: { offset: 'optional', dateOnly: true, offsetHoursOnly: true, maxLength: 64, trim: true, minYear: 1 },
      'isems stored': { offset: 'forbidden', trim: true },
    };
    const texts = [
      '2024-06-14T16:00:00',
      '2024-06-14t16:00:00+02:00',
      '2024-06-14',
      '2024-06-14Z',
      '2024-06-14T16:00+02',
      ' 2024-06-14 16:00:00 ',
      '0000-06-14T16:00:00',
      '1850-06-14T16:00:00Z',
    ];
    const table = Object.fromEntries(
      Object.entries(formats).map(([area, options]) => [
        area,
        texts.map((t) => (Array.isArray(parse(t, options)) ? 'ok' : parse(t, options))),
      ]),
    );
    assert.deepEqual(table, {
      statestream: ['shape', 'ok', 'shape', 'shape', 'shape', 'shape', 'shape', 'ok'],
      window: ['ok', 'ok', 'ok', 'ok', 'ok', 'shape', 'ok', 'ok'],
      sensors: ['ok', 'ok', 'shape', 'shape', 'shape', 'shape', 'range', 'range'],
      connector: ['ok', 'shape', 'ok', 'shape', 'ok', 'ok', 'year', 'ok'],
      'isems stored': ['ok', 'shape', 'shape', 'shape', 'shape', 'ok', 'ok', 'shape'],
    });
  });
});
