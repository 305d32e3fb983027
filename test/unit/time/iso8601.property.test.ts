/**
 * Properties of the shared ISO 8601 scanner and parser, under any options and under each area's.
 * The oracles here are independent of the parser: Date (setUTCFullYear, which keeps years 0..99 as
 * written) for the calendar and the instant, and one regular expression per caller (or per set of
 * options) for the shape it accepts.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseIsoTime } from '../../../lib/connector/time';
import { ConnectorError } from '../../../lib/connector/errors';
import { parseTimestampUs } from '../../../lib/sensors/time';
import { parseIsoInstant } from '../../../lib/statestream/timestamp';
import {
  FULL_ISO_GRAMMAR,
  isoFormat,
  newIsoDateTime,
  newIsoDateTimeFields,
  parseIsoDateTime,
  scanIsoDateTime,
  type IsoDateTimeOptions,
} from '../../../lib/time/iso8601';
import { TimeParseError, parseTimestamp } from '../../../lib/window';

const fields = newIsoDateTimeFields();

/** The full grammar as a regular expression: groups year, month, day, hour, minute, second, fraction, zone. */
const FULL = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?([Zz]|[+-]\d{2}(?::?\d{2})?)?$/;
/** What each caller accepts, as documented in its module. */
const WINDOW_SHAPE = FULL;
const CONNECTOR_SHAPE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?)?$/;
const SENSORS_SHAPE = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:[Zz]|[+-]\d{2}:?\d{2})?$/;
const SENSORS_BOUND_SHAPE = /^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:[Zz]|[+-]\d{2}:?\d{2})?)?$/;
const STATESTREAM_SHAPE = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:[Zz]|[+-]\d{2}:?\d{2})$/;

interface Oracle {
  /** The wall-clock time as UTC epoch ms, whole seconds; undefined when a field is out of range. */
  wallMs: number | undefined;
  offsetMinutes: number;
  fraction: string;
}

/** Reads `text` by the FULL expression and Date alone. */
function oracle(text: string): Oracle | undefined {
  const m = FULL.exec(text);
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4] ?? '0', m[5] ?? '0', m[6] ?? '0'].map(Number);
  const zone = m[8] ?? 'Z';
  const zoneDigits = zone.replace(':', '');
  const offsetHours = zone.length > 1 ? Number(zoneDigits.slice(1, 3)) : 0;
  const offsetMins = zoneDigits.length > 3 ? Number(zoneDigits.slice(3)) : 0;
  const offsetMinutes = (zone[0] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMins) || 0;
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  // Date rolls impossible fields over; reading them back unchanged proves they exist.
  const exists =
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day &&
    date.getUTCHours() === hour &&
    date.getUTCMinutes() === minute &&
    date.getUTCSeconds() === second &&
    offsetHours <= 23 &&
    offsetMins <= 59;
  return { wallMs: exists ? date.getTime() : undefined, offsetMinutes, fraction: m[7] ?? '' };
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/** Well-formed date-times over the whole grammar (fields in range or a little beyond), as text. */
const isoText = fc
  .record({
    year: fc.oneof(fc.integer({ min: 0, max: 9999 }), fc.constantFrom(0, 1, 1899, 1900, 1970, 2024, 2199, 2200, 9999)),
    month: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 1, max: 12 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 99 }) }),
    day: fc.oneof(
      { weight: 5, arbitrary: fc.integer({ min: 1, max: 28 }) },
      { weight: 2, arbitrary: fc.integer({ min: 28, max: 31 }) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 99 }) },
    ),
    time: fc.option(
      fc.record({
        sep: fc.constantFrom('T', 't', ' '),
        hour: fc.oneof(
          { weight: 5, arbitrary: fc.integer({ min: 0, max: 23 }) },
          { weight: 1, arbitrary: fc.integer({ min: 0, max: 99 }) },
        ),
        minute: fc.oneof(
          { weight: 5, arbitrary: fc.integer({ min: 0, max: 59 }) },
          { weight: 1, arbitrary: fc.integer({ min: 0, max: 99 }) },
        ),
        second: fc.option(
          fc.record({
            value: fc.oneof(
              { weight: 5, arbitrary: fc.integer({ min: 0, max: 59 }) },
              { weight: 1, arbitrary: fc.integer({ min: 0, max: 99 }) },
            ),
            fraction: fc.option(fc.tuple(fc.constantFrom('.', ','), fc.stringMatching(/^\d{1,9}$/))),
          }),
        ),
      }),
      { freq: 4 },
    ),
    zone: fc.option(
      fc.oneof(
        fc.constantFrom('Z', 'z'),
        fc
          .tuple(
            fc.constantFrom('+', '-'),
            fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 0, max: 23 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 99 }) }),
            fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 0, max: 59 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 99 }) }),
            fc.constantFrom('colon', 'plain', 'hours'),
          )
          .map(([sign, h, m, form]) => `${sign}${pad(h, 2)}${form === 'hours' ? '' : form === 'colon' ? `:${pad(m, 2)}` : pad(m, 2)}`),
      ),
    ),
  })
  .map(({ year, month, day, time, zone }) => {
    let text = `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}`;
    if (time !== null) {
      text += `${time.sep}${pad(time.hour, 2)}:${pad(time.minute, 2)}`;
      if (time.second !== null) {
        text += `:${pad(time.second.value, 2)}`;
        if (time.second.fraction !== null) text += time.second.fraction.join('');
      }
    }
    return text + (zone ?? '');
  });

/** Well-formed text, sometimes with one character inserted, deleted or replaced. */
const isoishText = fc.oneof(
  { weight: 3, arbitrary: isoText },
  {
    weight: 2,
    arbitrary: fc
      .tuple(isoText, fc.nat(40), fc.constantFrom('insert', 'delete', 'replace'), fc.constantFrom(...'0123456789-:Tt .,Zz+x\u00a0'))
      .map(([text, at, edit, c]) => {
        const i = at % (text.length + 1);
        if (edit === 'insert') return text.slice(0, i) + c + text.slice(i);
        return text.slice(0, i) + (edit === 'replace' ? c : '') + text.slice(i + 1);
      }),
  },
);

const RUNS = 3000;

/** Any consistent set of parseIsoDateTime options. */
const isoOptions: fc.Arbitrary<IsoDateTimeOptions> = fc
  .record({
    offset: fc.constantFrom('required', 'optional', 'forbidden'),
    offsetHoursOnly: fc.boolean(),
    dateOnly: fc.boolean(),
    offsetOnDate: fc.boolean(),
    lowercaseT: fc.boolean(),
    maxFractionDigits: fc.integer({ min: 1, max: 9 }),
    maxLength: fc.option(fc.integer({ min: 10, max: 40 })),
    trim: fc.boolean(),
    minYear: fc.option(fc.integer({ min: 0, max: 2100 })),
    utcYears: fc.option(
      fc
        .tuple(fc.integer({ min: 0, max: 9999 }), fc.integer({ min: 0, max: 9999 }))
        .map(([a, b]) => ({ min: Math.min(a, b), max: Math.max(a, b) })),
    ),
  })
  .map((o) => ({
    ...o,
    offsetOnDate: o.offsetOnDate && o.dateOnly && o.offset !== 'forbidden',
    maxLength: o.maxLength ?? undefined,
    minYear: o.minYear ?? undefined,
    utcYears: o.utcYears ?? undefined,
  }));

/** The regular expression of what `o` accepts, written from its documentation. */
function shapeOf(o: IsoDateTimeOptions): RegExp {
  const zone = o.offsetHoursOnly ? '(?:[Zz]|[+-]\\d{2}(?::?\\d{2})?)' : '(?:[Zz]|[+-]\\d{2}:?\\d{2})';
  const z = o.offset === 'required' ? zone : o.offset === 'optional' ? `${zone}?` : '';
  const timed = `[T${o.lowercaseT ? 't' : ''} ]\\d{2}:\\d{2}(?::\\d{2}(?:[.,]\\d{1,${o.maxFractionDigits ?? 9}})?)?${z}`;
  const bare = !o.dateOnly ? undefined : o.offsetOnDate ? z : o.offset === 'required' ? undefined : '';
  return new RegExp(`^\\d{4}-\\d{2}-\\d{2}(?:${timed}${bare === undefined ? '' : `|${bare}`})$`);
}

describe('time/iso8601 properties', () => {
  it('reads back every instant Date.prototype.toISOString writes (years 0001..9999)', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date('0001-01-01T00:00:00.000Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true }),
        (d) => {
          const text = d.toISOString();
          assert.equal(scanIsoDateTime(text, FULL_ISO_GRAMMAR, fields), undefined, text);
          assert.deepEqual(
            [
              fields.year,
              fields.month,
              fields.day,
              fields.hour,
              fields.minute,
              fields.second,
              fields.fractionNanos,
              fields.hasOffset,
              fields.offsetMinutes,
            ],
            [
              d.getUTCFullYear(),
              d.getUTCMonth() + 1,
              d.getUTCDate(),
              d.getUTCHours(),
              d.getUTCMinutes(),
              d.getUTCSeconds(),
              d.getUTCMilliseconds() * 1e6,
              true,
              0,
            ],
          );
          assert.equal(text.slice(fields.fractionStart, fields.fractionEnd), text.slice(20, 23));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('accepts exactly what the full grammar and the calendar allow, with the fields as written', () => {
    fc.assert(
      fc.property(isoishText, (text) => {
        const expected = oracle(text);
        const defect = scanIsoDateTime(text, FULL_ISO_GRAMMAR, fields);
        assert.equal(defect === 'shape', expected === undefined, `${text}: ${String(defect)}`);
        if (expected === undefined) return;
        assert.equal(defect === undefined, expected.wallMs !== undefined, `${text}: ${String(defect)}`);
        if (defect !== undefined) return;
        assert.equal(text.slice(fields.fractionStart, fields.fractionEnd), expected.fraction);
        assert.equal(fields.offsetMinutes, expected.offsetMinutes);
        const wall = new Date(expected.wallMs as number);
        assert.deepEqual(
          [fields.year, fields.month, fields.day, fields.hour, fields.minute, fields.second],
          [
            wall.getUTCFullYear(),
            wall.getUTCMonth() + 1,
            wall.getUTCDate(),
            wall.getUTCHours(),
            wall.getUTCMinutes(),
            wall.getUTCSeconds(),
          ],
        );
      }),
      { numRuns: RUNS },
    );
  });

  it('parseIsoDateTime under any options: length, shape, year, fields, then the UTC years, in that order, and the instant', () => {
    const out = newIsoDateTime();
    fc.assert(
      fc.property(isoOptions, isoishText, fc.constantFrom('', ' ', '\t'), (options, core, space) => {
        const text = space + core + space;
        const defect = parseIsoDateTime(text, isoFormat(options), out);
        if (options.maxLength !== undefined && text.length > options.maxLength) return assert.equal(defect, 'length', text);
        const scanned = options.trim ? text.trim() : text;
        const expected = shapeOf(options).test(scanned) ? oracle(scanned) : undefined;
        if (expected === undefined) return assert.equal(defect, 'shape', `${text} ${JSON.stringify(options)}`);
        if (Number(scanned.slice(0, 4)) < (options.minYear ?? 0)) return assert.equal(defect, 'year', text);
        if (expected.wallMs === undefined)
          return assert.ok(['month', 'day', 'hour', 'minute', 'second', 'offset'].includes(defect as string), `${text}: ${String(defect)}`);
        const ms = expected.wallMs - expected.offsetMinutes * 60_000;
        const utcYear = new Date(ms).getUTCFullYear();
        if (options.utcYears && (utcYear < options.utcYears.min || utcYear > options.utcYears.max))
          return assert.equal(defect, 'range', text);
        assert.equal(defect, undefined, `${text} ${JSON.stringify(options)}`);
        assert.equal(out.epochSeconds, ms / 1000, text);
        assert.equal(out.fractionNanos, Number(expected.fraction.padEnd(9, '0')), text);
        assert.equal(out.text.slice(out.fractionStart, out.fractionEnd), expected.fraction);
      }),
      { numRuns: RUNS * 3 },
    );
  });

  it('window parseTimestamp: the full grammar, no offset is UTC, the fraction kept as fractional ms', () => {
    fc.assert(
      fc.property(isoishText, fc.constantFrom('', ' ', '\t'), (text, space) => {
        const trimmed = text.trim(); // the window trims (Unicode white space too)
        if (/^[+-]?[\d.]+(?:[eE][+-]?\d+)?$/.test(trimmed)) return; // epoch numbers, not ISO text
        const expected = WINDOW_SHAPE.test(trimmed) ? oracle(trimmed) : undefined;
        let ms: number | undefined;
        try {
          ms = parseTimestamp(space + text + space);
        } catch (err) {
          assert.ok(err instanceof TimeParseError, String(err));
        }
        if (expected?.wallMs === undefined) return assert.equal(ms, undefined, text);
        const fraction = expected.fraction === '' ? 0 : Number(`0.${expected.fraction}`) * 1000;
        assert.equal(ms, expected.wallMs - expected.offsetMinutes * 60_000 + fraction, text);
      }),
      { numRuns: RUNS },
    );
  });

  it('connector parseIsoTime: T or space only, no zone on a bare date, years from 0001, the fraction as written', () => {
    fc.assert(
      fc.property(isoishText, (text) => {
        const trimmed = text.trim(); // the connector trims (Unicode white space too)
        const expected = CONNECTOR_SHAPE.test(trimmed) ? oracle(trimmed) : undefined;
        let parsed: ReturnType<typeof parseIsoTime> | undefined;
        try {
          parsed = parseIsoTime(text);
        } catch (err) {
          assert.ok(err instanceof ConnectorError && err.code === 'INVALID_TIME', String(err));
        }
        if (expected?.wallMs === undefined || trimmed.startsWith('0000')) return assert.equal(parsed, undefined, text);
        const millis = expected.fraction === '' ? 0 : Math.floor(Number(`0.${expected.fraction}`) * 1000 + 1e-6);
        assert.deepEqual(parsed, { ms: expected.wallMs - expected.offsetMinutes * 60_000 + millis, fraction: expected.fraction }, text);
      }),
      { numRuns: RUNS },
    );
  });

  it('sensors parseTimestampUs: complete offsets only, a bare date only when asked, years 1900..2199, microseconds truncated', () => {
    const low = Date.UTC(1900, 0, 1) * 1000;
    const high = Date.UTC(2200, 0, 1) * 1000;
    fc.assert(
      fc.property(isoishText, fc.boolean(), (text, allowDateOnly) => {
        const shape = allowDateOnly ? SENSORS_BOUND_SHAPE : SENSORS_SHAPE;
        const expected = shape.test(text) ? oracle(text) : undefined;
        const us = parseTimestampUs(text, { allowDateOnly });
        const value =
          expected?.wallMs === undefined
            ? undefined
            : (expected.wallMs - expected.offsetMinutes * 60_000) * 1000 + Number(expected.fraction.padEnd(9, '0').slice(0, 6));
        if (value === undefined || value < low || value >= high) return assert.equal(typeof us, 'string', text);
        assert.equal(us, value, text);
      }),
      { numRuns: RUNS },
    );
  });

  it('statestream parseIsoInstant: the offset required and complete, UTC years 0001..9999, the fraction digits kept', () => {
    fc.assert(
      fc.property(isoishText, (text) => {
        const expected = STATESTREAM_SHAPE.test(text) ? oracle(text) : undefined;
        const instant = parseIsoInstant(text);
        if (expected?.wallMs === undefined) return assert.equal(instant, undefined, text);
        const ms = expected.wallMs - expected.offsetMinutes * 60_000;
        const utcYear = new Date(ms).getUTCFullYear();
        if (utcYear < 1 || utcYear > 9999) return assert.equal(instant, undefined, text);
        assert.ok(instant !== undefined, text);
        assert.equal(instant.date.getTime(), ms + Number(expected.fraction.slice(0, 3).padEnd(3, '0')));
        assert.equal(instant.iso, `${new Date(ms).toISOString().slice(0, 19)}${expected.fraction === '' ? '' : `.${expected.fraction}`}Z`);
      }),
      { numRuns: RUNS },
    );
  });
});
