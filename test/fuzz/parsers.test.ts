/**
 * Fuzzing every other parser of the package with hostile input, 10,000 generated cases per input
 * kind: ISEMS log lines and logs, sensor readings, MQTT payloads/topics/filters, window timestamps
 * and values, the connector's request window, API key check, request bodies and row mapping, the
 * sensors read API's query parameters, database URLs and named SQL parameters. Each either accepts
 * with a well-formed result or throws only its module's typed error; the "never throws" functions
 * never throw at all.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConnectorError } from '../../lib/connector/errors';
import { checkApiKey, handleRaiseRequest } from '../../lib/connector/auth';
import { normalizeRows } from '../../lib/connector/batches';
import { DEFAULT_MAX_REQUEST_SPAN_MS, parseRequestWindow } from '../../lib/connector/windows';
import { DatabaseConfigError, SqlParameterError, compileNamed, parseDatabaseUrl, toPositional } from '../../lib/db';
import { IsemsError } from '../../lib/isems/errors';
import { MAX_NODE_ID_LENGTH, parseLine, parseLog, parseLogBytes, parseMqttMessage, tryParseLine } from '../../lib/isems/parse';
import { MqttError } from '../../lib/mqtt/errors';
import { decodePayload } from '../../lib/mqtt/payload';
import { assertTopicName, parseFilter, topicMatches } from '../../lib/mqtt/topics';
import { MAX_LIMIT, MAX_SKIP, ReadApiError, parseReadQuery, readSql } from '../../lib/sensors/read-api';
import { MAX_SENSOR_ID, ReadingError, checkReading, parseReading, type SensorRow } from '../../lib/sensors/reading';
import { WindowError, parseTimestamp, toReading } from '../../lib/window';
import {
  NUMBER_TRICKS,
  PATH_TRICKS,
  RUNS,
  SQL_FRAGMENTS,
  TIME_TRICKS,
  anyValue,
  hostileString,
  jsonishText,
  payloadBytes,
  typedOrValue,
  type TypedErrorShape,
} from './hostile';

const ISEMS: TypedErrorShape = { errorClass: IsemsError };
const READING: TypedErrorShape = { errorClass: ReadingError };
const MQTT: TypedErrorShape = { errorClass: MqttError };
const WINDOW: TypedErrorShape = { errorClass: WindowError };
const CONNECTOR: TypedErrorShape = { errorClass: ConnectorError };
const READ_API: TypedErrorShape = { errorClass: ReadApiError, codes: ['BAD_PARAMETER'] };
const DB_CONFIG: TypedErrorShape = { errorClass: DatabaseConfigError };
const SQL_PARAM: TypedErrorShape = { errorClass: SqlParameterError };

// ---- ISEMS ---------------------------------------------------------------------------------

const GOOD_FIELDS = [
  'Roof-North',
  '1',
  '1700000000',
  'ESP_2.0',
  '3592',
  '0',
  '19.21',
  '17.9',
  '13.1',
  '87',
  '95',
  '21.5',
  '11.6',
  '14.1',
  '9',
  '30',
  '52.52',
  '13.40',
  '500',
];

const hostileField = fc.oneof(
  fc.constantFrom(...NUMBER_TRICKS),
  fc.double().map(String),
  hostileString(30),
  fc.constantFrom('1e308', '-0', '0xFFF', 'fff', '1000', 'abc'),
);

/** A field: the good value of its position (most of the time) or a hostile one. */
const isemsField = (i: number): fc.Arbitrary<string> =>
  fc.oneof({ weight: 6, arbitrary: fc.constant(GOOD_FIELDS[i % GOOD_FIELDS.length]) }, { weight: 3, arbitrary: hostileField });

/** A good line with 0..3 fields replaced by hostile ones. */
const mutatedLine = fc.array(fc.tuple(fc.nat(18), hostileField), { maxLength: 3 }).map((edits) => {
  const fields = [...GOOD_FIELDS];
  for (const [i, f] of edits) fields[i] = f;
  return fields.join(';');
});

/** Lines with 0..25 fields, mostly plausible, sometimes binary/HTML/huge. */
const isemsLine = fc.oneof(
  { weight: 4, arbitrary: mutatedLine },
  {
    weight: 4,
    arbitrary: fc
      .integer({ min: 0, max: 25 })
      .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => isemsField(i))).map((f) => f.join(';'))),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '<html><body><h1>404 Not Found</h1></body></html>',
      '<!DOCTYPE html>',
      '\u0000\u0001\u0002',
      'x'.repeat(5000),
      ';'.repeat(2000),
      GOOD_FIELDS.join(';') + ';extra',
    ),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')) },
  { weight: 1, arbitrary: hostileString(200) },
);

function assertMeasurement(rec: ReturnType<typeof parseLine>): void {
  assert.ok(rec.nodeId.length > 0 && rec.nodeId.length <= MAX_NODE_ID_LENGTH);
  assert.ok(!/[\u0000-\u001f]/.test(rec.nodeId + rec.isemsRevision + rec.openMPPTFirmwareVersion), 'no control characters in texts');
  assert.ok(Number.isInteger(rec.epochSeconds));
  assert.match(rec.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(new Date(rec.timestamp).getTime(), rec.epochSeconds * 1000);
  for (const key of [
    'timeToShutdown',
    'openCircuitVoltage',
    'mppVoltage',
    'batteryVoltage',
    'batteryChargeEstimate',
    'latitude',
    'longitude',
  ] as const) {
    assert.ok(Number.isFinite(rec[key]), `${key} is finite`);
  }
  assert.equal(typeof rec.isPowerSaveMode, 'boolean');
  if (rec.status !== null) assert.ok(Number.isInteger(rec.status) && rec.status >= 0 && rec.status <= 0xfff);
  assert.match(rec.statusHex, /^0x[0-9a-f]{3}$/);
}

describe('fuzz: ISEMS log parser', function () {
  this.timeout(120_000);

  it(`parseLine throws only IsemsError; tryParseLine never throws (${RUNS} runs)`, () => {
    let accepted = 0;
    fc.assert(
      fc.property(isemsLine, (line) => {
        const rec = typedOrValue(() => parseLine(line), ISEMS, line);
        const tried = tryParseLine(line);
        assert.equal(tried.ok, rec !== undefined);
        if (rec) {
          accepted++;
          assertMeasurement(rec);
        }
      }),
      { numRuns: RUNS },
    );
    assert.ok(accepted > 100, `only ${accepted} lines accepted: the generator misses the happy path`);
  });

  it('parseLine with non-string input throws only IsemsError', () => {
    fc.assert(
      fc.property(anyValue(), (v) => void typedOrValue(() => parseLine(v as string), ISEMS, v)),
      { numRuns: RUNS },
    );
  });

  it(`parseLog never throws, counts every line, bounds its error list, and equals parseLogBytes (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(
        fc.array(isemsLine, { maxLength: 12 }),
        fc.constantFrom('\n', '\r\n'),
        fc.option(fc.integer({ min: 0, max: 2_000_000_000 }), { nil: undefined }),
        fc.integer({ min: 0, max: 5 }),
        (lines, eol, newerThan, maxErrors) => {
          // Through UTF-8 and back: lone surrogates become U+FFFD, as they would on the wire.
          const bytes = Buffer.from(lines.join(eol), 'utf8');
          const result = parseLog(bytes.toString('utf8'), { newerThan, maxErrors });
          assert.equal(result.records.length + result.rejected + result.skipped, result.lines);
          assert.ok(result.errors.length <= maxErrors && result.errors.length <= result.rejected);
          for (const e of result.errors) assert.ok(e.text.length <= 121 && e.line >= 1 && e.reason.length > 0);
          for (const r of result.records) assertMeasurement(r);
          assert.deepEqual(parseLogBytes(bytes, { newerThan, maxErrors }), result);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('parseLogBytes never throws on arbitrary bytes; parseMqttMessage throws only IsemsError', () => {
    fc.assert(
      fc.property(payloadBytes(), fc.oneof(fc.constant('/isems/node1/csvlog'), hostileString(40)), anyValue(), (bytes, topic, other) => {
        const result = parseLogBytes(bytes, { newerThan: 5 });
        assert.equal(result.records.length + result.rejected + result.skipped, result.lines);
        typedOrValue(() => parseMqttMessage(topic as string, bytes), ISEMS, topic);
        typedOrValue(() => parseMqttMessage(topic as string, other), ISEMS, other);
      }),
      { numRuns: RUNS },
    );
  });

  it('a 10 MB log of one line, of HTML, and of binary is parsed with bounded errors', () => {
    const tenMb = 10 * 1024 * 1024;
    for (const text of [
      'x'.repeat(tenMb),
      '<p>'.repeat(tenMb / 3) + '\n'.repeat(1000),
      (GOOD_FIELDS.join(';') + '\n').repeat(tenMb / 80),
    ]) {
      const result = parseLog(text, { maxErrors: 20 });
      assert.ok(result.errors.length <= 20);
      assert.equal(result.records.length + result.rejected, result.lines);
    }
    const binary = Buffer.alloc(tenMb);
    for (let i = 0; i < binary.length; i++) binary[i] = (i * 7919) & 0xff;
    const result = parseLogBytes(binary, { maxErrors: 20 });
    assert.ok(result.errors.length <= 20);
    assert.throws(
      () => parseMqttMessage('/isems/n/csvlog', binary),
      (err: unknown) => err instanceof IsemsError && err.code === 'ISEMS_TOO_LARGE',
    );
  });
});

// ---- Sensor readings -----------------------------------------------------------------------

const readingObject = fc.record(
  {
    sensor_id: fc.oneof(fc.constantFrom('1', 1, '2147483647', 2147483648, '-1', '01', '1.0', 1.5, ''), hostileString(12), anyValue()),
    timestamp: fc.oneof(fc.constantFrom(...TIME_TRICKS), hostileString(40), anyValue()),
    value: fc.oneof(fc.double(), fc.integer(), fc.constantFrom('23', null, NaN, Infinity), anyValue()),
    metadata: fc.oneof(
      fc.record(
        {
          location: fc.oneof(
            fc.record({ lat: fc.oneof(fc.double(), anyValue()), lng: fc.oneof(fc.double(), anyValue()) }, { requiredKeys: [] }),
            anyValue(),
          ),
          unit: fc.oneof(fc.constantFrom('C', '%', 'x'.repeat(33)), hostileString(40), anyValue()),
          type: fc.oneof(fc.constantFrom('temperature'), hostileString(70), anyValue()),
          description: fc.oneof(hostileString(100), fc.constant('d'.repeat(5000)), anyValue()),
        },
        { requiredKeys: [] },
      ),
      anyValue(),
    ),
  },
  { requiredKeys: [] },
);

const readingInput = fc.oneof(
  { weight: 4, arbitrary: readingObject },
  { weight: 2, arbitrary: readingObject.map((o) => safeStringify(o)) },
  { weight: 1, arbitrary: readingObject.map((o) => Buffer.from(safeStringify(o))) },
  { weight: 1, arbitrary: jsonishText() },
  { weight: 1, arbitrary: payloadBytes() },
  { weight: 1, arbitrary: anyValue() },
);

function safeStringify(value: unknown): string {
  try {
    return JSON.stringify(value) ?? 'null';
  } catch {
    return '{}';
  }
}

function assertSensorRow(row: SensorRow): void {
  assert.ok(Number.isInteger(row.sensor_id) && row.sensor_id >= 0 && row.sensor_id <= MAX_SENSOR_ID);
  assert.match(row.timestamp, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/);
  assert.ok(Number.isFinite(row.value));
  if (row.lat !== null) assert.ok(Number.isFinite(row.lat) && Math.abs(row.lat) <= 90);
  if (row.lng !== null) assert.ok(Number.isFinite(row.lng) && Math.abs(row.lng) <= 180);
  if (row.unit !== null) assert.ok(typeof row.unit === 'string' && row.unit.length <= 32);
  if (row.type !== null) assert.ok(typeof row.type === 'string' && row.type.length <= 64);
  if (row.description !== null) assert.ok(typeof row.description === 'string' && row.description.length <= 4096);
}

describe('fuzz: sensor readings', function () {
  this.timeout(120_000);

  it(`checkReading never throws; parseReading throws only ReadingError and returns storable rows (${RUNS} runs)`, () => {
    let stored = 0;
    fc.assert(
      fc.property(readingInput, fc.boolean(), (input, requireMetadata) => {
        const check = checkReading(input, { requireMetadata });
        assert.ok(check.presentFields >= 0 && check.presentFields <= 8);
        for (const issue of check.issues) assert.ok(issue.code.length > 0 && issue.message.length > 0);
        const row = typedOrValue(() => parseReading(input, { requireMetadata }), READING, input);
        assert.equal(row !== undefined, check.row !== null);
        if (row) {
          stored++;
          assertSensorRow(row);
        }
      }),
      { numRuns: RUNS },
    );
    assert.ok(stored > 0, 'no reading was ever storable');
  });

  it('a 10 MB reading and a 100,000-level one are refused without blowing the stack', () => {
    const huge = JSON.stringify({
      sensor_id: 1,
      timestamp: '2024-06-14T16:00:00',
      value: 1,
      metadata: { description: 'd'.repeat(10 * 1024 * 1024) },
    });
    for (const input of [
      huge,
      Buffer.from(huge),
      '['.repeat(100_000) + ']'.repeat(100_000),
      '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000),
    ]) {
      assert.equal(checkReading(input).row, null);
      assert.throws(() => parseReading(input), ReadingError);
    }
    // A pre-parsed 60,000-level metadata object is read two levels deep only: the row stores NULLs.
    const deep = JSON.parse('{"location":'.repeat(60_000) + '1' + '}'.repeat(60_000)) as unknown;
    const row = parseReading({ sensor_id: 1, timestamp: '2024-06-14T16:00:00', value: 1, metadata: deep });
    assert.equal(row.lat, null);
    assert.equal(row.unit, null);
  });
});

// ---- MQTT ----------------------------------------------------------------------------------

const filterLevel = fc.oneof(fc.constantFrom('+', '#', 'a', '', '$SYS', 'x#', 'x+', '$share', 'group'), hostileString(8));
const filterText = fc.oneof(
  { weight: 3, arbitrary: fc.array(filterLevel, { maxLength: 6 }).map((l) => l.join('/')) },
  { weight: 1, arbitrary: fc.array(filterLevel, { maxLength: 5 }).map((l) => `$share/${l.join('/')}`) },
  { weight: 1, arbitrary: fc.constant('a/'.repeat(40_000)) },
);

describe('fuzz: MQTT payloads, topics and filters', function () {
  this.timeout(120_000);

  it(`decodePayload throws only MqttError for any bytes, text and format (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(
        fc.oneof(
          payloadBytes(),
          jsonishText(),
          payloadBytes().map((b) => new Uint8Array(b)),
        ),
        fc.constantFrom('buffer', 'string', 'json', 'auto', 'xml', ''),
        fc.boolean(),
        fc.integer({ min: 0, max: 300 }),
        (payload, format, strictUtf8, maxBytes) => {
          const out = typedOrValue(() => decodePayload(payload, { format: format as 'auto', strictUtf8, maxBytes }), MQTT, payload);
          if (out !== undefined && format === 'buffer') assert.ok(Buffer.isBuffer(out));
          if (out !== undefined && format === 'string') assert.equal(typeof out, 'string');
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('decodePayload: 10 MB is refused by default; 100,000-level JSON is refused by depth without a stack overflow', () => {
    assert.throws(
      () => decodePayload(Buffer.alloc(10 * 1024 * 1024), { format: 'auto' }),
      (e: unknown) => e instanceof MqttError && e.code === 'MQTT_PAYLOAD_TOO_LARGE',
    );
    for (const deep of ['['.repeat(100_000) + ']'.repeat(100_000), '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000)]) {
      for (const format of ['json', 'auto'] as const) {
        assert.throws(
          () => decodePayload(Buffer.from(deep), { format }),
          (e: unknown) => e instanceof MqttError && e.code === 'MQTT_PAYLOAD_TOO_DEEP',
        );
      }
    }
  });

  it(`parseFilter/assertTopicName throw only MqttError; accepted filters are well-formed and match without throwing (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(fc.oneof(filterText, anyValue()), fc.oneof(filterText, hostileString(60)), (rawFilter, topic) => {
        const parsed = typedOrValue(() => parseFilter(rawFilter), MQTT, rawFilter);
        if (parsed) {
          parsed.levels.forEach((level, i) => {
            if (level.includes('#')) assert.ok(level === '#' && i === parsed.levels.length - 1);
            if (level.includes('+')) assert.equal(level, '+');
          });
          if (typeof topic === 'string') assert.equal(typeof topicMatches(parsed, topic), 'boolean');
        }
        typedOrValue(() => assertTopicName(topic), MQTT, topic);
        typedOrValue(() => assertTopicName(rawFilter), MQTT, rawFilter);
      }),
      { numRuns: RUNS },
    );
  });
});

// ---- Window time and values ----------------------------------------------------------------

describe('fuzz: window timestamps and values', function () {
  this.timeout(120_000);

  it(`parseTimestamp throws only WindowError and returns epoch ms within Date's range (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.constantFrom(...TIME_TRICKS, ...NUMBER_TRICKS),
          fc.date({ noInvalidDate: false }),
          fc.double(),
          fc.integer(),
          hostileString(50),
          anyValue(),
        ),
        fc.constantFrom('auto', 's', 'ms', undefined),
        (input, unit) => {
          const ms = typedOrValue(() => parseTimestamp(input, { unit: unit as 'auto' | undefined }), WINDOW, input);
          if (ms !== undefined) assert.ok(Number.isFinite(ms) && Math.abs(ms) <= 8.64e15, `ms ${ms} out of range`);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it(`toReading throws only WindowError and returns finite numbers (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(fc.oneof(fc.double(), fc.constantFrom(...NUMBER_TRICKS), hostileString(70), anyValue()), (v) => {
        const n = typedOrValue(() => toReading(v), WINDOW, v);
        if (n !== undefined) assert.ok(Number.isFinite(n));
      }),
      { numRuns: RUNS },
    );
  });
});

// ---- Connector -----------------------------------------------------------------------------

const timeText = fc.oneof(
  fc.constantFrom(...TIME_TRICKS),
  fc.date({ min: new Date(-62135596800000), max: new Date(253402300799999), noInvalidDate: true }).map((d) => d.toISOString()),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString().replace('Z', '')),
  hostileString(40),
  anyValue(),
);

describe('fuzz: data connector', function () {
  this.timeout(120_000);

  it(`parseRequestWindow throws only ConnectorError; windows are ordered and bounded (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(timeText, timeText, fc.option(fc.integer({ min: 0, max: 4e12 }), { nil: undefined }), (start, end, now) => {
        const w = typedOrValue(() => parseRequestWindow(start, end, { now }), CONNECTOR, [start, end]);
        if (w) {
          assert.ok(Number.isSafeInteger(w.start) && Number.isSafeInteger(w.end));
          assert.ok(w.start < w.end && w.end - w.start <= DEFAULT_MAX_REQUEST_SPAN_MS);
          if (now !== undefined) assert.ok(w.end <= now);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it(`checkApiKey never throws and lets through only "Bearer <key>" (${RUNS} runs)`, () => {
    const key = 'k3y-\u00e9-secret';
    fc.assert(
      fc.property(
        fc.oneof(
          hostileString(60),
          hostileString(30).map((s) => `Bearer ${s}`),
          fc.constantFrom(`Bearer ${key}`, `bearer ${key}`, `Bearer  ${key} `, `Bearer ${key}x`, `Basic ${key}`, key, 'Bearer', 'Bearer '),
          fc.array(hostileString(20), { maxLength: 3 }),
          fc.constant(undefined),
        ),
        fc.constantFrom(key, '', undefined),
        (header, apiKey) => {
          const answer = checkApiKey(header as string, apiKey);
          if (answer === undefined) {
            assert.equal(apiKey, key);
            const h = Array.isArray(header) ? header[0] : header;
            assert.match(h as string, /^Bearer[ \t]+/i);
            assert.equal((h as string).replace(/^Bearer[ \t]+/i, '').replace(/[ \t]+$/, ''), key);
          } else {
            assert.ok([401, 403, 503].includes(answer.status));
            assert.equal(typeof answer.body.detail, 'string');
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it(`handleRaiseRequest answers every body an HTTP parser yields with 200 or 422 and a reason; exotic values never throw (${RUNS} runs)`, () => {
    const engine = {
      submit: (s: unknown, e: unknown): string => {
        parseRequestWindow(s, e, { now: Date.now() });
        return 'task-1';
      },
      getTask: () => undefined,
    };
    // What express's JSON/text/raw body parsers can hand over.
    const body = fc.oneof(
      fc.jsonValue(),
      jsonishText(),
      payloadBytes(),
      fc.record({ start_time: timeText, end_time: timeText }, { requiredKeys: [] }),
      fc.record({ start_time: timeText, end_time: timeText }).map((o) => safeStringify(o)),
      fc.constant('x'.repeat(5000)),
    );
    fc.assert(
      fc.property(body, anyValue(), (b, exotic) => {
        const answer = handleRaiseRequest({ authorization: 'Bearer k', body: b }, 'k', engine);
        assert.ok([200, 422].includes(answer.status), `status ${answer.status}`);
        if (answer.status === 422) assert.equal(typeof answer.body.detail, 'string');
        // Values no HTTP parser produces (proxies with throwing traps) may end in the 500 branch, but never in a throw.
        const other = handleRaiseRequest({ authorization: 'Bearer k', body: exotic }, 'k', engine);
        assert.ok([200, 422, 500].includes(other.status));
        assert.equal(typeof (other.body.detail ?? other.body.task_id), 'string');
      }),
      { numRuns: RUNS },
    );
  });

  it(`normalizeRows never throws and accounts for every row (${RUNS} runs)`, () => {
    const row = fc.oneof(
      fc.record(
        {
          sensor: fc.oneof(hostileString(20), fc.double(), fc.constant('s'.repeat(300)), anyValue()),
          timestamp: fc.oneof(timeText, fc.integer(), fc.bigInt(), fc.date({ noInvalidDate: false })),
          value: fc.oneof(fc.double(), fc.bigInt(), hostileString(20), anyValue()),
        },
        { requiredKeys: [] },
      ),
      anyValue(),
    );
    fc.assert(
      fc.property(fc.array(row, { maxLength: 8 }), fc.boolean(), (rows, windowed) => {
        const out = normalizeRows(rows as Record<string, unknown>[], undefined, windowed ? { start: 0, end: 4e12 } : undefined);
        assert.equal(out.readings.length + out.rejected.length, rows.length);
        for (const r of out.readings) {
          assert.ok(typeof r.sensor === 'string' && r.sensor.length > 0 && r.sensor.length <= 255);
          assert.ok(Number.isSafeInteger(r.ms));
          assert.match(r.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?$/);
          if (typeof r.value === 'number') assert.ok(Number.isFinite(r.value));
        }
        for (const r of out.rejected) assert.ok(typeof r.reason === 'string' && r.reason.length > 0);
      }),
      { numRuns: RUNS },
    );
  });
});

// ---- Sensors read API ----------------------------------------------------------------------

const PARAMS = ['sensor_id', 'start_time', 'end_time', 'skip', 'limit', 'other', 'sensor_id[]', 'SENSOR_ID'];
const paramValue = fc.oneof(
  fc.constantFrom(...NUMBER_TRICKS, ...TIME_TRICKS, ...SQL_FRAGMENTS, ...PATH_TRICKS),
  hostileString(30),
  fc.nat().map(String),
);
/** Raw query strings: repeated, empty, percent-encoded and broken parameters. */
const queryString = fc
  .array(fc.tuple(fc.constantFrom(...PARAMS), paramValue, fc.boolean()), { maxLength: 7 })
  .map((pairs) => pairs.map(([k, v, encode]) => `${k}=${encode ? encodeURIComponent(v.replace(/[\uD800-\uDFFF]/g, '')) : v}`).join('&'));

describe('fuzz: sensors read API query parameters', function () {
  this.timeout(120_000);

  it(`parseReadQuery throws only ReadApiError (400); accepted queries build parameterised SQL (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(
        fc.oneof(
          queryString.map((q) => new URLSearchParams(q)),
          fc.dictionary(fc.constantFrom(...PARAMS), fc.oneof(paramValue, fc.array(paramValue, { maxLength: 3 }), anyValue()), {
            maxKeys: 6,
          }),
        ),
        (query) => {
          const q = typedOrValue(() => parseReadQuery(query), READ_API, query);
          if (!q) return;
          assert.ok(Number.isInteger(q.limit) && q.limit >= 1 && q.limit <= MAX_LIMIT);
          assert.ok(Number.isInteger(q.skip) && q.skip >= 0 && q.skip <= MAX_SKIP);
          if (q.sensorId !== null) assert.ok(Number.isInteger(q.sensorId) && q.sensorId >= 0 && q.sensorId <= MAX_SENSOR_ID);
          if (q.startUs !== null && q.endUs !== null) assert.ok(q.startUs <= q.endUs);
          for (const dialect of ['mysql', 'sqlite'] as const) {
            const { sql, params } = readSql(dialect, 'data', q);
            assert.equal(sql.split('?').length - 1, params.length);
            for (const fragment of SQL_FRAGMENTS)
              if (fragment.length > 3) assert.ok(!sql.includes(fragment), 'user text never reaches the SQL');
          }
        },
      ),
      { numRuns: RUNS },
    );
  });
});

// ---- Database URLs and named parameters ----------------------------------------------------

const urlText = fc.oneof(
  fc
    .tuple(
      fc.constantFrom('mysql', 'mariadb', 'MySQL+pymysql', 'sqlite', 'sqlite3', 'postgres', 'http', ''),
      fc.constantFrom('://', ':', ':///', '://@', ':////'),
      fc.oneof(
        hostileString(20),
        fc.constantFrom(
          'root:p%40ss@localhost:3306/db',
          'u:secret@[::1]:99999/x',
          'u@h/db?poolSize=0',
          'u@h/db?ssl=maybe',
          'u@h/a.b',
          'u:%zz@h/db',
          ':memory:',
          '~/x.db',
          '../../etc/passwd',
        ),
      ),
      fc.oneof(
        fc.constant(''),
        fc.constantFrom('?poolSize=8', '?connectTimeout=99999999999', '?ssl=true&ssl=false', '#frag', '?%', '?a=%zz'),
      ),
    )
    .map((parts) => parts.join('')),
  hostileString(100),
  fc.constant('mysql://u:p@h/' + 'd'.repeat(9000)),
  anyValue(),
);

describe('fuzz: database URLs and SQL parameters', function () {
  this.timeout(120_000);

  it(`parseDatabaseUrl throws only DatabaseConfigError and never echoes the password (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(urlText, (url) => {
        let config;
        try {
          config = parseDatabaseUrl(url, { baseDir: '/tmp' });
        } catch (err) {
          typedOrValue(
            () => {
              throw err;
            },
            DB_CONFIG,
            url,
          );
          if (typeof url === 'string' && /:\/\/[^:@/]+:([^@]{4,})@/.test(url)) {
            const password = /:\/\/[^:@/]+:([^@]{4,})@/.exec(url)![1];
            assert.ok(!(err as Error).message.includes(password), 'the password appears in the error');
          }
          return;
        }
        if (config.dialect === 'mysql' || config.dialect === 'postgres') {
          assert.ok(config.host.length > 0 && config.user.length > 0 && config.database.length > 0 && config.database.length <= 64);
          assert.ok(Number.isInteger(config.port) && config.port >= 1 && config.port <= 65535);
        } else {
          assert.ok(config.file.length > 0);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it(`toPositional/compileNamed throw only SqlParameterError; every :name becomes one ? (${RUNS} runs)`, () => {
    const sqlText = fc
      .array(
        fc.oneof(
          fc.constantFrom(':a', ':b', ':a_1', '::', ':', ':1', "'", '"', '`', '--', '\n', '/*', '*/', '?', ' ', 'x', '\\', "':a'", '#'),
          hostileString(6),
        ),
        { maxLength: 12 },
      )
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(
        sqlText,
        fc.constantFrom('mysql', 'sqlite'),
        fc.oneof(
          fc.constant(undefined),
          fc.array(fc.oneof(fc.string(), fc.integer())),
          fc.dictionary(
            fc.constantFrom('a', 'b', 'a_1', '__proto__', 'constructor'),
            fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
          ),
          anyValue({ throwing: false }),
        ),
        (sql, dialect, params) => {
          const compiled = typedOrValue(() => compileNamed(sql, dialect as 'mysql'), SQL_PARAM, sql);
          const out = typedOrValue(() => toPositional(sql, params as never, dialect as 'mysql'), SQL_PARAM, [sql, params]);
          if (out && compiled && params !== undefined && !Array.isArray(params)) {
            assert.equal(out.values.length, compiled.names.length);
            assert.equal(out.sql, compiled.sql);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });
});
