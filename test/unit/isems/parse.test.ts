import assert from 'node:assert/strict';
import fc from 'fast-check';
import { IsemsError } from '../../../lib/isems/errors';
import {
  decodeStatus,
  excerpt,
  formatStatusHex,
  isoFromEpochSeconds,
  nodeIdFromCsvlogTopic,
  parseLine,
  parseLog,
  parseLogBytes,
  parseMqttMessage,
  peekTimestamp,
  statusBitMask,
  statusFromFlags,
  tryParseLine,
  type IsemsStatusFlags,
} from '../../../lib/isems/parse';

const EXAMPLE = 'Roof-North;1;1700000000;ESP_2.0;3592;0;19.21;17.9;13.1;87;95;21.5;11.6;14.1;9;30;52.52;13.40;500';
const ORIGINAL_V1 = 'Elektra-Dach;1;1530364575;ATmega8_A_1;711;0;18.614;18.614;14.073;100;100;28;11.67;14.086;7;20;52.507309;13.458635';

function withField(index: number, value: string, line = EXAMPLE): string {
  const fields = line.split(';');
  fields[index] = value;
  return fields.join(';');
}

function lineAt(seconds: number, nodeId = 'n1', status = '500'): string {
  return `${nodeId};1;${seconds};ESP_2.0;100;0;19.2;17.9;13.1;87;95;21.5;11.6;14.1;9;30;52.52;13.40;${status}`;
}

function expectLineError(line: string, code: string): void {
  const result = tryParseLine(line);
  assert.equal(result.ok, false, `expected ${code} for ${JSON.stringify(line.slice(0, 80))}`);
  if (!result.ok) assert.equal(result.code, code, result.reason);
  assert.throws(
    () => parseLine(line),
    (error: unknown) => error instanceof IsemsError && error.code === code,
  );
}

describe('isems parse: one line', () => {
  it('parses the contract example (19 fields) with every field typed and in its unit', () => {
    const m = parseLine(EXAMPLE);
    assert.deepEqual(
      { ...m, statusFlags: undefined },
      {
        nodeId: 'Roof-North',
        isemsRevision: '1',
        timestamp: '2023-11-14T22:13:20Z',
        epochSeconds: 1_700_000_000,
        openMPPTFirmwareVersion: 'ESP_2.0',
        timeToShutdown: 3592,
        isPowerSaveMode: false,
        openCircuitVoltage: 19.21,
        mppVoltage: 17.9,
        batteryVoltage: 13.1,
        batteryChargeEstimate: 87,
        batteryHealthEstimate: 95,
        batteryTemperature: 21.5,
        lowVoltageDisconnectVoltage: 11.6,
        temperatureCorrectedVoltage: 14.1,
        rateBatteryCapacity: 9,
        ratedSolarModuleCapacity: 30,
        latitude: 52.52,
        longitude: 13.4,
        status: 0x500,
        statusHex: '0x500',
        statusFlags: undefined,
      },
    );
    assert.equal(typeof m.isemsRevision, 'string');
    assert.equal(new Date(m.timestamp).getTime(), m.epochSeconds * 1000);
  });

  it('parses the original project line without status (18 fields): status null, rendered 0x000, flags null', () => {
    const m = parseLine(ORIGINAL_V1);
    assert.equal(m.nodeId, 'Elektra-Dach');
    assert.equal(m.timestamp, '2018-06-30T13:16:15Z'); // the original read this as 15:16:15 Berlin time
    assert.equal(m.openMPPTFirmwareVersion, 'ATmega8_A_1');
    assert.equal(m.timeToShutdown, 711);
    assert.equal(m.latitude, 52.507309);
    assert.equal(m.longitude, 13.458635);
    assert.equal(m.status, null);
    assert.equal(m.statusHex, '0x000');
    assert.equal(m.statusFlags, null);
  });

  it('reads isPowerSaveMode 1 as true and a trailing empty status as no status', () => {
    assert.equal(parseLine(withField(5, '1')).isPowerSaveMode, true);
    const noStatus = parseLine(`${ORIGINAL_V1};`);
    assert.equal(noStatus.status, null);
    assert.equal(noStatus.statusHex, '0x000');
  });

  it('accepts \\r at the end of a line only through parseLog (CRLF logs)', () => {
    const { records, errors } = parseLog(`${EXAMPLE}\r\n${ORIGINAL_V1}\r\n`);
    assert.equal(errors.length, 0);
    assert.equal(records.length, 2);
    assert.equal(records[0].statusHex, '0x500');
  });

  it('reads decimal numbers exactly as Number() does (signs, fractions, exponents, long mantissas)', () => {
    for (const text of [
      '-12.5',
      '+3',
      '.5',
      '7.',
      '0',
      '-0',
      '1e3',
      '2.5E-2',
      '123456789012345678',
      '0.1',
      '52.507309',
      '13.458635',
      '1234567.891011',
    ]) {
      const value = parseLine(withField(11, text)).batteryTemperature;
      assert.ok(Object.is(value, Number(text)), `${text} -> ${value}`);
    }
    fc.assert(
      fc.property(
        fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }),
        fc.integer({ min: 0, max: 9 }),
        (value, digits) => {
          const text = value.toFixed(digits);
          assert.ok(Object.is(parseLine(withField(6, text)).openCircuitVoltage, Number(text)), text);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('renders instants in UTC with an offset designator, whatever the local zone', () => {
    assert.equal(isoFromEpochSeconds(0), '1970-01-01T00:00:00Z');
    assert.equal(isoFromEpochSeconds(1_711_846_799), '2024-03-31T00:59:59Z'); // just before the Berlin DST change
    assert.equal(isoFromEpochSeconds(1_711_846_800), '2024-03-31T01:00:00Z');
    fc.assert(
      fc.property(fc.integer({ min: 946_684_800, max: 4_102_444_800 }), (seconds) => {
        assert.equal(isoFromEpochSeconds(seconds), new Date(seconds * 1000).toISOString().replace('.000Z', 'Z'));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('isems parse: status bits', () => {
  const none: IsemsStatusFlags = {
    charging: false,
    discharging: false,
    fullyCharged: false,
    healthy: false,
    batteryLevelLow: false,
    storageCapacityTooSmall: false,
    temperatureSensorNotConnected: false,
    noCommunicationWithSolarController: false,
    batteryOverheating: false,
    lowBatteryTemperature: false,
    firmwareUpgradeNotAllowed: false,
  };

  it('bit 0 is the most significant bit of the first hex digit', () => {
    assert.equal(statusBitMask(0), 0x800);
    assert.equal(statusBitMask(3), 0x100);
    assert.equal(statusBitMask(11), 0x001);
  });

  it('decodes 500 as discharging + healthy (0101 0000 0000: bits 1 and 3)', () => {
    assert.deepEqual(decodeStatus(0x500), { ...none, discharging: true, healthy: true });
    assert.deepEqual(parseLine(EXAMPLE).statusFlags, { ...none, discharging: true, healthy: true });
  });

  it('decodes further codes', () => {
    assert.deepEqual(decodeStatus(0x900), { ...none, charging: true, healthy: true });
    assert.deepEqual(decodeStatus(0x300), { ...none, fullyCharged: true, healthy: true });
    assert.deepEqual(decodeStatus(0x580), { ...none, discharging: true, healthy: true, batteryLevelLow: true });
    assert.deepEqual(decodeStatus(0x040), { ...none, storageCapacityTooSmall: true });
    assert.deepEqual(decodeStatus(0x020), { ...none, temperatureSensorNotConnected: true });
    assert.deepEqual(decodeStatus(0x010), { ...none, noCommunicationWithSolarController: true });
    assert.deepEqual(decodeStatus(0x008), { ...none, batteryOverheating: true });
    assert.deepEqual(decodeStatus(0x004), { ...none, lowBatteryTemperature: true });
    assert.deepEqual(decodeStatus(0x002), { ...none, firmwareUpgradeNotAllowed: true });
    assert.deepEqual(decodeStatus(0x001), none, 'bit 11 is unused');
    assert.deepEqual(decodeStatus(0x000), none);
    assert.equal(Object.values(decodeStatus(0xfff)).filter(Boolean).length, 11);
  });

  it('round-trips flags and values; parses upper- and lower-case hex', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffe }), (value) => {
        const even = value & ~1;
        const flags = decodeStatus(even);
        const names = (Object.keys(flags) as (keyof IsemsStatusFlags)[]).filter((name) => flags[name]);
        assert.equal(statusFromFlags(names), even);
      }),
    );
    assert.equal(parseLine(withField(18, 'A0c')).status, 0xa0c);
    assert.equal(parseLine(withField(18, 'a0C')).statusHex, '0xa0c');
  });

  it('formats status as lowercase hex with 0x and three digits', () => {
    assert.equal(formatStatusHex(0x500), '0x500');
    assert.equal(formatStatusHex(0xabc), '0xabc');
    assert.equal(formatStatusHex(5), '0x005');
    assert.equal(formatStatusHex(null), '0x000');
    assert.equal(formatStatusHex(undefined), '0x000');
  });

  it('refuses values outside 12 bits and unknown flag names', () => {
    assert.throws(() => decodeStatus(0x1000), { code: 'ISEMS_BAD_STATUS' });
    assert.throws(() => decodeStatus(-1), { code: 'ISEMS_BAD_STATUS' });
    assert.throws(() => statusFromFlags(['sunny' as keyof IsemsStatusFlags]), { code: 'ISEMS_BAD_STATUS' });
  });
});

describe('isems parse: malformed lines', () => {
  it('wrong field counts (17, 20, 1)', () => {
    const fields = EXAMPLE.split(';');
    expectLineError(fields.slice(0, 17).join(';'), 'ISEMS_FIELD_COUNT');
    expectLineError(`${EXAMPLE};1`, 'ISEMS_FIELD_COUNT');
    expectLineError('hello', 'ISEMS_FIELD_COUNT');
    expectLineError('', 'ISEMS_FIELD_COUNT');
  });

  it('non-numeric, empty, hex, infinite and spaced numbers', () => {
    for (const bad of ['abc', '', '0x1f', 'Infinity', 'NaN', ' 1', '1 ', '1,5', '1.2.3', '-', '.', '1e', '1e999', '--1']) {
      expectLineError(withField(8, bad), 'ISEMS_BAD_NUMBER');
    }
    const result = tryParseLine(withField(15, 'x'));
    assert.ok(!result.ok && result.reason.includes('ratedSolarModuleCapacity (field 16)'), JSON.stringify(result));
  });

  it('bad status: 0xZZ, 4 digits, 2 digits, non-hex', () => {
    for (const bad of ['0xZZ', '5000', '50', 'zzz', '0x5', ' 500', '-50']) expectLineError(withField(18, bad), 'ISEMS_BAD_STATUS');
  });

  it('bad timestamps: negative, fractional, huge, before 2000, text, empty', () => {
    for (const bad of ['-1700000000', '1700000000.5', '99999999999999', '4102444801', '0', '12345', 'now', '', '1.7e9']) {
      expectLineError(withField(2, bad), 'ISEMS_BAD_TIMESTAMP');
    }
    assert.equal(parseLine(withField(2, '4102444800')).timestamp, '2100-01-01T00:00:00Z');
    assert.equal(tryParseLine(withField(2, '1700000001'), { maxEpochSeconds: 1_700_000_000 }).ok, false);
  });

  it('bad power-save flag, empty node id, overlong or control-character texts', () => {
    for (const bad of ['2', 'true', '', '01']) expectLineError(withField(5, bad), 'ISEMS_BAD_BOOLEAN');
    expectLineError(withField(0, ''), 'ISEMS_EMPTY_NODE_ID');
    expectLineError(withField(0, 'x'.repeat(101)), 'ISEMS_BAD_TEXT');
    expectLineError(withField(0, 'node\u0000id'), 'ISEMS_BAD_TEXT');
    expectLineError(withField(3, 'f'.repeat(65)), 'ISEMS_BAD_TEXT');
    expectLineError(withField(1, '1'.repeat(17)), 'ISEMS_BAD_TEXT');
    assert.equal(parseLine(withField(0, 'x'.repeat(100))).nodeId.length, 100);
    assert.equal(parseLine(withField(0, 'Dach-Süd ☀')).nodeId, 'Dach-Süd ☀');
  });

  it('overlong lines are refused on their length', () => {
    expectLineError(`${EXAMPLE}${'9'.repeat(2000)}`, 'ISEMS_LINE_TOO_LONG');
  });
});

describe('isems parse: whole logs', () => {
  it('numbers lines from 1 (blank lines included), ignores blank lines, imports the rest', () => {
    const text = [EXAMPLE, '', 'garbage', '   ', withField(2, '-5'), ORIGINAL_V1, '\t'].join('\n');
    const result = parseLog(text);
    assert.equal(result.records.length, 2);
    assert.deepEqual(
      result.errors.map(({ line, code }) => ({ line, code })),
      [
        { line: 3, code: 'ISEMS_FIELD_COUNT' },
        { line: 5, code: 'ISEMS_BAD_TIMESTAMP' },
      ],
    );
    assert.equal(result.errors[0].text, 'garbage');
    assert.equal(result.lines, 4);
    assert.equal(result.rejected, 2);
  });

  it('an HTML 404 page yields errors, never an exception, and no records', () => {
    const html = '<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n<body><h1>Not Found</h1></body></html>\n';
    const result = parseLog(html);
    assert.equal(result.records.length, 0);
    assert.equal(result.errors.length, 3);
    assert.ok(result.errors.every((error) => error.code === 'ISEMS_FIELD_COUNT'));
  });

  it('huge lines and binary are reported with truncated, printable text; the good lines still import', () => {
    const huge = 'A;'.repeat(3_000_000);
    const binary = String.fromCharCode(...Array.from({ length: 300 }, (_, i) => (i * 37) % 256));
    const result = parseLog([huge, EXAMPLE, binary, ORIGINAL_V1].join('\n'));
    assert.equal(result.records.length, 2);
    assert.equal(result.errors[0].code, 'ISEMS_LINE_TOO_LONG');
    assert.ok(result.errors.every((error) => error.text.length <= 121));
    // eslint-disable-next-line no-control-regex
    assert.ok(result.errors.every((error) => !/[\u0000-\u001f]/.test(error.text)));
  });

  it('ignores a leading byte-order mark', () => {
    assert.equal(parseLog(`\ufeff${EXAMPLE}`).records[0].nodeId, 'Roof-North');
  });

  it('caps the listed errors but counts them all', () => {
    const text = Array.from({ length: 500 }, () => 'junk').join('\n');
    const result = parseLog(text, { maxErrors: 10 });
    assert.equal(result.errors.length, 10);
    assert.equal(result.rejected, 500);
  });

  it('never throws for arbitrary text, and every non-blank line is accounted for', () => {
    const anyLine = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.constantFrom(EXAMPLE, ORIGINAL_V1, '', '\r', ';;;;;;;;;;;;;;;;;;'),
      fc
        .array(fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('1', '1700000000', '0', '500', '')), { minLength: 17, maxLength: 20 })
        .map((fields) => fields.join(';')),
    );
    fc.assert(
      fc.property(fc.array(anyLine, { maxLength: 30 }), fc.constantFrom('\n', '\r\n'), (lines, separator) => {
        const result = parseLog(lines.join(separator), { maxErrors: 1000 });
        assert.equal(result.records.length + result.rejected, result.lines);
        for (const error of result.errors) assert.ok(error.line >= 1 && error.line <= lines.length + 1);
      }),
      { numRuns: 500 },
    );
  });

  it('fields reused from the previous line are the same values (text interning is invisible)', () => {
    const result = parseLog(
      [lineAt(1_700_000_000, 'a'), lineAt(1_700_000_060, 'ab'), lineAt(1_700_000_120, 'a'), lineAt(1_700_000_180, 'b')].join('\n'),
    );
    assert.deepEqual(
      result.records.map((r) => r.nodeId),
      ['a', 'ab', 'a', 'b'],
    );
  });
});

describe('isems parse: watermark pre-check', () => {
  it('peeks the timestamp field without parsing the line', () => {
    assert.equal(peekTimestamp(EXAMPLE), 1_700_000_000);
    assert.equal(peekTimestamp('a;1;170'), 170);
    assert.equal(peekTimestamp('a;1;x;y'), -1);
    assert.equal(peekTimestamp('a;1'), -1);
    assert.equal(peekTimestamp('a;1;;'), -1);
  });

  it('skips lines at or below the watermark, parses only newer ones', () => {
    const text = [1_700_000_000, 1_700_000_060, 1_700_000_120, 1_700_000_180].map((s) => lineAt(s)).join('\n');
    const result = parseLog(text, { newerThan: 1_700_000_060 });
    assert.deepEqual(
      result.records.map((r) => r.epochSeconds),
      [1_700_000_120, 1_700_000_180],
    );
    assert.equal(result.skipped, 2);
    assert.equal(result.lines, 4);
  });

  it('still reports malformed lines whose timestamp cannot be read, but not old malformed ones', () => {
    const oldBroken = withField(6, 'x', lineAt(1_700_000_000));
    const text = [oldBroken, lineAt(1_700_000_060), 'junk', lineAt(1_700_000_120)].join('\n');
    const result = parseLog(text, { newerThan: 1_700_000_060 });
    assert.deepEqual(
      result.records.map((r) => r.epochSeconds),
      [1_700_000_120],
    );
    assert.deepEqual(
      result.errors.map((e) => e.line),
      [3],
    );
  });

  it('gives the same records as filtering a full parse (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1_700_000_000, max: 1_700_010_000 }), { maxLength: 40 }),
        fc.integer({ min: 1_699_999_000, max: 1_700_011_000 }),
        (stamps, watermark) => {
          const text = stamps.map((s) => lineAt(s)).join('\n');
          const expected = parseLog(text).records.filter((r) => r.epochSeconds > watermark);
          assert.deepEqual(parseLog(text, { newerThan: watermark }).records, expected);
        },
      ),
    );
  });
});

describe('isems parse: logs as bytes', () => {
  const anyLine = fc.oneof(
    fc.integer({ min: 1_700_000_000, max: 1_700_000_600 }).map((s) => lineAt(s)),
    fc.integer({ min: 1_700_000_000, max: 1_700_000_600 }).map((s) => lineAt(s, 'Dach-Süd ☀', 'a0c')),
    fc.integer({ min: 1_700_000_000, max: 1_700_000_600 }).map((s) => withField(7, 'x', lineAt(s))),
    fc.constantFrom('', ' ', 'junk', 'a;1;;b', `${EXAMPLE};`, ORIGINAL_V1, 'é;1;1700000300'),
    fc.string({ maxLength: 40 }),
  );

  it('gives exactly what parseLog gives for the decoded text, with and without a watermark (property)', () => {
    fc.assert(
      fc.property(
        fc.array(anyLine, { maxLength: 40 }),
        fc.constantFrom('\n', '\r\n'),
        fc.boolean(),
        fc.option(fc.integer({ min: 1_699_999_999, max: 1_700_000_601 }), { nil: undefined }),
        (lines, separator, bom, newerThan) => {
          const text = lines.join(separator);
          const bytes = Buffer.from(`${bom ? '\ufeff' : ''}${text}`, 'utf8');
          assert.deepEqual(
            parseLogBytes(bytes, { newerThan, maxErrors: 1000 }),
            parseLog(`${bom ? '\ufeff' : ''}${text}`, { newerThan, maxErrors: 1000 }),
          );
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('numbers lines across skipped runs', () => {
    const text = [lineAt(1_700_000_000), 'junk', lineAt(1_700_000_060), lineAt(1_700_000_120), 'more junk', lineAt(1_700_000_180)].join(
      '\n',
    );
    const result = parseLogBytes(Buffer.from(text), { newerThan: 1_700_000_120 });
    assert.deepEqual(
      result.errors.map((e) => e.line),
      [2, 5],
    );
    assert.deepEqual(
      result.records.map((r) => r.epochSeconds),
      [1_700_000_180],
    );
    assert.equal(result.skipped, 3);
  });
});

describe('isems parse: MQTT csvlog messages', () => {
  it('takes the node id from /isems/<nodeid>/csvlog (leading slash optional)', () => {
    assert.equal(nodeIdFromCsvlogTopic('/isems/Roof-North/csvlog'), 'Roof-North');
    assert.equal(nodeIdFromCsvlogTopic('isems/Roof-North/csvlog'), 'Roof-North');
    for (const bad of ['/isems//csvlog', '/isems/a/b/csvlog', '/isems/a/status', 'isems/+/csvlog', '/other/a/csvlog', '']) {
      assert.equal(nodeIdFromCsvlogTopic(bad), null, bad);
    }
  });

  it('parses string and Buffer payloads like a log', () => {
    const text = `${EXAMPLE}\nbroken\n`;
    for (const payload of [text, Buffer.from(text), new Uint8Array(Buffer.from(text))]) {
      const result = parseMqttMessage('/isems/Roof-North/csvlog', payload);
      assert.equal(result.topicNodeId, 'Roof-North');
      assert.equal(result.records.length, 1);
      assert.deepEqual(
        result.errors.map((e) => e.line),
        [2],
      );
    }
  });

  it('refuses other topics, non-text payloads and oversized payloads with typed errors', () => {
    assert.throws(() => parseMqttMessage('/isems/a/status', EXAMPLE), { code: 'ISEMS_BAD_TOPIC' });
    assert.throws(() => parseMqttMessage('/isems/a/csvlog', { line: EXAMPLE }), { code: 'ISEMS_BAD_PAYLOAD' });
    assert.throws(() => parseMqttMessage('/isems/a/csvlog', null), { code: 'ISEMS_BAD_PAYLOAD' });
    assert.throws(() => parseMqttMessage('/isems/a/csvlog', 'x'.repeat(101), { maxPayloadBytes: 100 }), { code: 'ISEMS_TOO_LARGE' });
  });
});

describe('isems parse: excerpt', () => {
  it('truncates and replaces control characters', () => {
    assert.equal(excerpt('a\u0000b\tc'), 'a\ufffdb\ufffdc');
    assert.equal(excerpt('x'.repeat(10), 4), 'xxxx…');
  });
});
