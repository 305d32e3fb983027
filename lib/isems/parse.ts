/**
 * Parsing of ISEMS solar-node logs (`ffopenmppt.log`, or the same text on MQTT
 * `/isems/<nodeid>/csvlog`): one record per line, 18 `;`-separated fields, or 19 with the status.
 *
 * The whole-log parser never throws: every rejected line is reported with its 1-based line number,
 * a reason and a code, and the remaining lines still import. Hostile input (binary, HTML pages,
 * megabyte-long lines) only produces bounded error lists.
 */
import { IsemsError, type IsemsLineErrorCode } from './errors';

/** The eleven meaningful status bits; bit 0 is the most significant bit of the first hex digit. */
export interface IsemsStatusFlags {
  charging: boolean;
  discharging: boolean;
  fullyCharged: boolean;
  healthy: boolean;
  batteryLevelLow: boolean;
  storageCapacityTooSmall: boolean;
  temperatureSensorNotConnected: boolean;
  noCommunicationWithSolarController: boolean;
  batteryOverheating: boolean;
  lowBatteryTemperature: boolean;
  firmwareUpgradeNotAllowed: boolean;
}

/** One measurement, keyed as in the API contract, plus `epochSeconds`, `statusHex` and `statusFlags`. */
export interface IsemsMeasurement {
  nodeId: string;
  /** Always `1` so far; kept as text. */
  isemsRevision: string;
  /** The instant as ISO 8601 in UTC, e.g. `2023-11-14T22:13:20Z`. */
  timestamp: string;
  /** The same instant as Unix epoch seconds (what the node wrote, what the database stores). */
  epochSeconds: number;
  openMPPTFirmwareVersion: string;
  /** Minutes. */
  timeToShutdown: number;
  isPowerSaveMode: boolean;
  /** Volts. */
  openCircuitVoltage: number;
  /** Volts. */
  mppVoltage: number;
  /** Volts. */
  batteryVoltage: number;
  /** Percent. */
  batteryChargeEstimate: number;
  /** Percent. */
  batteryHealthEstimate: number;
  /** Degrees Celsius. */
  batteryTemperature: number;
  /** Volts. */
  lowVoltageDisconnectVoltage: number;
  /** Volts. */
  temperatureCorrectedVoltage: number;
  /** Ampere-hours (the contract keeps the original's spelling). */
  rateBatteryCapacity: number;
  /** Watts. */
  ratedSolarModuleCapacity: number;
  /** Degrees. */
  latitude: number;
  /** Degrees. */
  longitude: number;
  /** The 12 status bits as a number (`500` in the log is 0x500 = 1280); null when the line has no status. */
  status: number | null;
  /** `"0x500"`: lowercase, three digits; `"0x000"` when the line has no status (as the API renders it). */
  statusHex: string;
  /** Decoded bits; null when the line has no status (unknown is not the same as "all false"). */
  statusFlags: Readonly<IsemsStatusFlags> | null;
}

/** A rejected line. `text` is the start of the line, with control characters made visible. */
export interface IsemsLineError {
  line: number;
  reason: string;
  code: IsemsLineErrorCode;
  text: string;
}

export interface ParseOptions {
  /** Earliest accepted timestamp (epoch seconds). Default 2000-01-01: an unset RTC reports 1970. */
  minEpochSeconds?: number;
  /** Latest accepted timestamp (epoch seconds). Default 2100-01-01. */
  maxEpochSeconds?: number;
}

export interface ParseLogOptions extends ParseOptions {
  /**
   * Watermark: lines whose timestamp is not greater are skipped. The timestamp field is checked
   * before anything else is parsed, so re-reading an already imported log costs little.
   */
  newerThan?: number;
  /** At most this many line errors are listed (the rest are only counted). Default 100. */
  maxErrors?: number;
}

export interface ParseLogResult {
  /** Accepted records, in the order of the log. */
  records: IsemsMeasurement[];
  /** Rejected lines (at most `maxErrors`). */
  errors: IsemsLineError[];
  /** Non-blank lines seen. */
  lines: number;
  /** Lines skipped by the `newerThan` watermark without being parsed. */
  skipped: number;
  /** Lines rejected, including those beyond `maxErrors`. */
  rejected: number;
}

export type LineParseResult = { ok: true; record: IsemsMeasurement } | { ok: false; code: IsemsLineErrorCode; reason: string };

/** Field order of a log line; index = position. */
export const ISEMS_FIELDS = [
  'nodeId',
  'isemsRevision',
  'timestamp',
  'openMPPTFirmwareVersion',
  'timeToShutdown',
  'isPowerSaveMode',
  'openCircuitVoltage',
  'mppVoltage',
  'batteryVoltage',
  'batteryChargeEstimate',
  'batteryHealthEstimate',
  'batteryTemperature',
  'lowVoltageDisconnectVoltage',
  'temperatureCorrectedVoltage',
  'rateBatteryCapacity',
  'ratedSolarModuleCapacity',
  'latitude',
  'longitude',
  'status',
] as const;

/** Longest accepted texts; the database columns have the same sizes. */
export const MAX_NODE_ID_LENGTH = 100;
export const MAX_REVISION_LENGTH = 16;
export const MAX_FIRMWARE_LENGTH = 64;
/** A real line is about 110 characters; anything this long is not a log line. */
export const MAX_LINE_LENGTH = 1024;
/** How much of a rejected line an error repeats. */
export const ERROR_TEXT_LENGTH = 120;

export const DEFAULT_MIN_EPOCH_SECONDS = 946_684_800; // 2000-01-01T00:00:00Z
export const DEFAULT_MAX_EPOCH_SECONDS = 4_102_444_800; // 2100-01-01T00:00:00Z
export const DEFAULT_MAX_ERRORS = 100;

const STATUS_FLAG_NAMES: readonly (keyof IsemsStatusFlags)[] = [
  'charging',
  'discharging',
  'fullyCharged',
  'healthy',
  'batteryLevelLow',
  'storageCapacityTooSmall',
  'temperatureSensorNotConnected',
  'noCommunicationWithSolarController',
  'batteryOverheating',
  'lowBatteryTemperature',
  'firmwareUpgradeNotAllowed',
];

/** Mask of status bit `bit` (0 = most significant of the 12). */
export function statusBitMask(bit: number): number {
  return 1 << (11 - bit);
}

/** The status value with exactly the named flags set, e.g. `statusFromFlags(['discharging', 'healthy'])` = 0x500. */
export function statusFromFlags(flags: Iterable<keyof IsemsStatusFlags>): number {
  let value = 0;
  for (const name of flags) {
    const bit = STATUS_FLAG_NAMES.indexOf(name);
    if (bit < 0) throw new IsemsError('ISEMS_BAD_STATUS', `unknown status flag ${String(name)}`);
    value |= statusBitMask(bit);
  }
  return value;
}

// Decoded flags are shared frozen objects, one per distinct value: no allocation per record.
const decodedStatus: (Readonly<IsemsStatusFlags> | undefined)[] = new Array(4096);

/** Decodes a 12-bit status value (0..0xfff) into flags; bit 11 is unused and ignored. */
export function decodeStatus(status: number): Readonly<IsemsStatusFlags> {
  if (!Number.isInteger(status) || status < 0 || status > 0xfff) {
    throw new IsemsError('ISEMS_BAD_STATUS', `status ${String(status)} is not a 12-bit value`);
  }
  let flags = decodedStatus[status];
  if (!flags) {
    const built = {} as IsemsStatusFlags;
    STATUS_FLAG_NAMES.forEach((name, bit) => {
      built[name] = (status & statusBitMask(bit)) !== 0;
    });
    flags = Object.freeze(built);
    decodedStatus[status] = flags;
  }
  return flags;
}

// Rendered status strings, one per value, built on first use: no allocation per record.
const statusHexCache: (string | undefined)[] = new Array(4096);

/** `"0x500"`: lowercase hex, `0x`, three digits; null/undefined renders as `"0x000"`. */
export function formatStatusHex(status: number | null | undefined): string {
  const value = status ?? 0;
  if (Number.isInteger(value) && value >= 0 && value <= 0xfff) {
    return (statusHexCache[value] ??= `0x${value.toString(16).padStart(3, '0')}`);
  }
  return `0x${value.toString(16).padStart(3, '0')}`;
}

const TWO_DIGITS = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, '0'));
// Consecutive lines fall on the same day: its date part is computed once.
let isoDay = NaN;
let isoDayPrefix = '';

/** ISO 8601 in UTC at second resolution, e.g. `2023-11-14T22:13:20Z`. */
export function isoFromEpochSeconds(epochSeconds: number): string {
  const seconds = Math.floor(epochSeconds);
  const day = Math.floor(seconds / 86_400);
  if (day !== isoDay) {
    // toISOString always yields `YYYY-MM-DDTHH:MM:SS.sssZ` for years 0..9999.
    isoDayPrefix = new Date(day * 86_400_000).toISOString().slice(0, 11);
    isoDay = day;
  }
  const inDay = seconds - day * 86_400;
  const hours = Math.floor(inDay / 3600);
  const minutes = Math.floor((inDay - hours * 3600) / 60);
  return `${isoDayPrefix}${TWO_DIGITS[hours]}:${TWO_DIGITS[minutes]}:${TWO_DIGITS[inDay - hours * 3600 - minutes * 60]}Z`;
}

const NUMBER_PATTERN = /^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS_GLOBAL = /[\u0000-\u001f\u007f]/g;
const POWERS_OF_TEN = Array.from({ length: 23 }, (_, i) => 10 ** i);

const CARRIAGE_RETURN = 13;
const DOT = 46;
const MINUS = 45;
const PLUS = 43;
const ZERO = 48;

/**
 * The decimal number in text[start, end), or NaN. Accepts what a decimal literal looks like
 * (`-12.5`, `+3`, `.5`, `7.`, `1e3`), refuses what `Number()` would also take (`''`, `' 1'`,
 * `0x1f`, `Infinity`). Reads the characters in place; with at most 15 significant digits the
 * value is one exact integer divided by an exact power of ten, so it is correctly rounded,
 * exactly what `Number()` returns. Anything else (exponents, long mantissas) goes through Number().
 */
function decimalAt(text: string, start: number, end: number): number {
  let i = start;
  let negative = false;
  const first = text.charCodeAt(i);
  if (first === MINUS || first === PLUS) {
    negative = first === MINUS;
    i++;
  }
  let mantissa = 0;
  let digits = 0;
  let fraction = -1;
  for (; i < end; i++) {
    const code = text.charCodeAt(i);
    const digit = code - ZERO;
    if (digit >= 0 && digit <= 9) {
      mantissa = mantissa * 10 + digit;
      digits++;
      if (fraction >= 0) fraction++;
    } else if (code === DOT && fraction < 0) {
      fraction = 0;
    } else {
      return slowDecimal(text.slice(start, end));
    }
  }
  if (digits === 0) return NaN;
  if (digits > 15) return slowDecimal(text.slice(start, end));
  const value = fraction > 0 ? mantissa / POWERS_OF_TEN[fraction] : mantissa;
  return negative ? -value : value;
}

function slowDecimal(text: string): number {
  if (!NUMBER_PATTERN.test(text)) return NaN;
  const value = Number(text);
  return Number.isFinite(value) ? value : NaN;
}

/** Whole epoch seconds in text[start, end) (1 to 12 digits), or -1. */
function epochAt(text: string, start: number, end: number): number {
  if (end <= start || end - start > 12) return -1;
  let value = 0;
  for (let i = start; i < end; i++) {
    const digit = text.charCodeAt(i) - ZERO;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/** Three hex digits in text[start, end) as a number, or -1. */
function statusAt(text: string, start: number, end: number): number {
  if (end - start !== 3) return -1;
  let value = 0;
  for (let i = start; i < end; i++) {
    const code = text.charCodeAt(i) | 0x20; // ASCII lower case
    let digit: number;
    if (code >= 48 && code <= 57) digit = code - 48;
    else if (code >= 97 && code <= 102) digit = code - 87;
    else return -1;
    value = value * 16 + digit;
  }
  return value;
}

function describe(text: string): string {
  return JSON.stringify(excerpt(text, 40));
}

/** The start of a line, fit for an error message or a log: truncated, control characters replaced. */
export function excerpt(text: string, length = ERROR_TEXT_LENGTH): string {
  const head = text.length > length ? `${text.slice(0, length)}…` : text;
  return head.replace(CONTROL_CHARACTERS_GLOBAL, '\ufffd');
}

/** A rejected line inside the parser (a record is returned as is, with no wrapper to allocate). */
class LineFailure {
  readonly ok = false;
  constructor(
    readonly code: IsemsLineErrorCode,
    readonly reason: string,
  ) {}
}

function fail(code: IsemsLineErrorCode, reason: string): LineFailure {
  return new LineFailure(code, reason);
}

/**
 * The text fields repeat on every line of a log; a line whose field has the same characters as
 * the previous one reuses that string (validated once, stored once in memory).
 */
class TextField {
  private last = '';

  constructor(
    private readonly name: string,
    private readonly maxLength: number,
  ) {}

  /** The field's string, or an error reason. */
  read(text: string, start: number, end: number): string | { problem: string } {
    const length = end - start;
    if (length === this.last.length && length > 0 && text.startsWith(this.last, start)) return this.last;
    if (length > this.maxLength) return { problem: `${this.name} is longer than ${this.maxLength} characters` };
    const value = text.slice(start, end);
    if (CONTROL_CHARACTERS.test(value)) return { problem: `${this.name} contains control characters` };
    this.last = value;
    return value;
  }
}

const nodeIdField = new TextField('nodeId', MAX_NODE_ID_LENGTH);
const revisionField = new TextField('isemsRevision', MAX_REVISION_LENGTH);
const firmwareField = new TextField('openMPPTFirmwareVersion', MAX_FIRMWARE_LENGTH);

/** Field boundaries of the line being parsed: field i is text[starts[i], ends[i]). Reused: parsing is synchronous. */
const fieldStarts = new Int32Array(19);
const fieldEnds = new Int32Array(19);
/** Fields 4 and 6..17: the numbers. */
const NUMBER_FIELDS = [4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17];
const numbers = new Float64Array(18);

/**
 * Parses the line text[start, end) (no line break inside) without copying it. The hot path of
 * `parseLog`; `tryParseLine` is the same for a separate string.
 */
function parseLineAt(text: string, start: number, end: number, minEpoch: number, maxEpoch: number): IsemsMeasurement | LineFailure {
  if (end - start > MAX_LINE_LENGTH) return fail('ISEMS_LINE_TOO_LONG', `line is longer than ${MAX_LINE_LENGTH} characters`);
  let count = 0;
  let fieldStart = start;
  for (;;) {
    let separator = text.indexOf(';', fieldStart);
    if (separator < 0 || separator > end) separator = end;
    if (count < 19) {
      fieldStarts[count] = fieldStart;
      fieldEnds[count] = separator;
    }
    count++;
    if (separator === end) break;
    fieldStart = separator + 1;
  }
  if (count !== 18 && count !== 19) {
    return fail('ISEMS_FIELD_COUNT', `expected 18 or 19 fields separated by ';', found ${count}`);
  }

  if (fieldEnds[0] === fieldStarts[0]) return fail('ISEMS_EMPTY_NODE_ID', 'nodeId (field 1) is empty');
  const nodeId = nodeIdField.read(text, fieldStarts[0], fieldEnds[0]);
  if (typeof nodeId !== 'string') return fail('ISEMS_BAD_TEXT', nodeId.problem);
  const revision = revisionField.read(text, fieldStarts[1], fieldEnds[1]);
  if (typeof revision !== 'string') return fail('ISEMS_BAD_TEXT', revision.problem);
  const firmware = firmwareField.read(text, fieldStarts[3], fieldEnds[3]);
  if (typeof firmware !== 'string') return fail('ISEMS_BAD_TEXT', firmware.problem);

  const epochSeconds = epochAt(text, fieldStarts[2], fieldEnds[2]);
  if (!(epochSeconds >= minEpoch && epochSeconds <= maxEpoch)) {
    const problem =
      epochSeconds < 0
        ? 'is not whole epoch seconds'
        : epochSeconds < minEpoch
          ? `is before ${isoFromEpochSeconds(minEpoch)} (clock not set?)`
          : `is after ${isoFromEpochSeconds(maxEpoch)} (clock ahead?)`;
    return fail('ISEMS_BAD_TIMESTAMP', `timestamp ${describe(text.slice(fieldStarts[2], fieldEnds[2]))} ${problem}`);
  }

  const powerSaveStart = fieldStarts[5];
  const powerSaveCode = fieldEnds[5] - powerSaveStart === 1 ? text.charCodeAt(powerSaveStart) : -1;
  if (powerSaveCode !== ZERO && powerSaveCode !== ZERO + 1) {
    return fail('ISEMS_BAD_BOOLEAN', `isPowerSaveMode (field 6) is ${describe(text.slice(powerSaveStart, fieldEnds[5]))}, expected 0 or 1`);
  }

  for (let n = 0; n < NUMBER_FIELDS.length; n++) {
    const index = NUMBER_FIELDS[n];
    const value = decimalAt(text, fieldStarts[index], fieldEnds[index]);
    if (Number.isNaN(value)) {
      return fail(
        'ISEMS_BAD_NUMBER',
        `${ISEMS_FIELDS[index]} (field ${index + 1}) is ${describe(text.slice(fieldStarts[index], fieldEnds[index]))}, not a number`,
      );
    }
    numbers[index] = value;
  }

  // An empty 19th field (a trailing ';') is a line without status, not a broken one.
  let status: number | null = null;
  if (count === 19 && fieldEnds[18] > fieldStarts[18]) {
    status = statusAt(text, fieldStarts[18], fieldEnds[18]);
    if (status < 0) {
      return fail(
        'ISEMS_BAD_STATUS',
        `status (field 19) is ${describe(text.slice(fieldStarts[18], fieldEnds[18]))}, expected 3 hex digits such as 500`,
      );
    }
  }

  return {
    nodeId,
    isemsRevision: revision,
    timestamp: isoFromEpochSeconds(epochSeconds),
    epochSeconds,
    openMPPTFirmwareVersion: firmware,
    timeToShutdown: numbers[4],
    isPowerSaveMode: powerSaveCode === ZERO + 1,
    openCircuitVoltage: numbers[6],
    mppVoltage: numbers[7],
    batteryVoltage: numbers[8],
    batteryChargeEstimate: numbers[9],
    batteryHealthEstimate: numbers[10],
    batteryTemperature: numbers[11],
    lowVoltageDisconnectVoltage: numbers[12],
    temperatureCorrectedVoltage: numbers[13],
    rateBatteryCapacity: numbers[14],
    ratedSolarModuleCapacity: numbers[15],
    latitude: numbers[16],
    longitude: numbers[17],
    status,
    statusHex: formatStatusHex(status),
    statusFlags: status === null ? null : decodeStatus(status),
  };
}

/**
 * Parses one line without throwing. The line must not contain its line break. Returns the record,
 * or the code and reason of the first problem found.
 */
export function tryParseLine(line: string, options: ParseOptions = {}): LineParseResult {
  if (typeof line !== 'string') return { ok: false, code: 'ISEMS_FIELD_COUNT', reason: 'a line must be text' };
  const parsed = parseLineAt(
    line,
    0,
    line.length,
    options.minEpochSeconds ?? DEFAULT_MIN_EPOCH_SECONDS,
    options.maxEpochSeconds ?? DEFAULT_MAX_EPOCH_SECONDS,
  );
  return parsed instanceof LineFailure ? { ok: false, code: parsed.code, reason: parsed.reason } : { ok: true, record: parsed };
}

/** Parses one line; throws an `IsemsError` (with the line error's code) when it is malformed. */
export function parseLine(line: string, options: ParseOptions = {}): IsemsMeasurement {
  const result = tryParseLine(line, options);
  // String() throws for a null-prototype object: a non-string is named by its type instead.
  if (!result.ok) throw new IsemsError(result.code, `${result.reason}: ${typeof line === 'string' ? describe(line) : typeof line}`);
  return result.record;
}

/**
 * The timestamp (third field) of the line text[start, end) read in place, or -1 when there is
 * none made of plain digits. Used to skip already imported lines without parsing them.
 */
function peekTimestampAt(text: string, start: number, end: number): number {
  const first = text.indexOf(';', start);
  if (first < 0 || first >= end) return -1;
  const second = text.indexOf(';', first + 1);
  if (second < 0 || second >= end) return -1;
  let third = text.indexOf(';', second + 1);
  if (third < 0 || third > end) third = end;
  return epochAt(text, second + 1, third);
}

/** The timestamp field (third) of a line, or -1 when it is not plain digits. */
export function peekTimestamp(line: string): number {
  return peekTimestampAt(line, 0, line.length);
}

/** True when text[start, end) is only spaces, tabs and the like. */
function blankAt(text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (text.charCodeAt(i) > 32) return false;
  return true;
}

/**
 * Parses a whole log (lines separated by `\n` or `\r\n`; blank lines ignored but counted in line
 * numbers). Never throws for any string input.
 */
export function parseLog(text: string, options: ParseLogOptions = {}): ParseLogResult {
  const result: ParseLogResult = { records: [], errors: [], lines: 0, skipped: 0, rejected: 0 };
  if (typeof text !== 'string') return result;
  // A byte-order mark written by some editors is not part of the first node id.
  const start = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  parseLines(text, start, 1, options, result);
  return result;
}

/**
 * Parses the lines of text from `start` on, the first being line `firstLineNumber`, adding to
 * `result`. Shared by the text and the bytes entry points.
 */
function parseLines(text: string, start: number, firstLineNumber: number, options: ParseLogOptions, result: ParseLogResult): void {
  const { records, errors } = result;
  const newerThan = options.newerThan ?? -1;
  const maxErrors = options.maxErrors ?? DEFAULT_MAX_ERRORS;
  const minEpoch = options.minEpochSeconds ?? DEFAULT_MIN_EPOCH_SECONDS;
  const maxEpoch = options.maxEpochSeconds ?? DEFAULT_MAX_EPOCH_SECONDS;
  const length = text.length;
  let lineNumber = firstLineNumber - 1;
  while (start < length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = length;
    lineNumber++;
    const lineEnd = end > start && text.charCodeAt(end - 1) === CARRIAGE_RETURN ? end - 1 : end;
    const lineStart = start;
    start = end + 1;
    if (lineEnd === lineStart) continue;
    // The watermark check reads only the third field; most lines of a re-read log stop here.
    if (newerThan >= 0) {
      const peeked = peekTimestampAt(text, lineStart, lineEnd);
      if (peeked >= 0 && peeked <= newerThan) {
        result.lines++;
        result.skipped++;
        continue;
      }
    }
    if (text.charCodeAt(lineStart) <= 32 && blankAt(text, lineStart, lineEnd)) continue;
    result.lines++;
    const parsed = parseLineAt(text, lineStart, lineEnd, minEpoch, maxEpoch);
    if (!(parsed instanceof LineFailure)) {
      records.push(parsed);
    } else {
      result.rejected++;
      if (errors.length < maxErrors) {
        // Huge lines are only sliced as far as the error shows them.
        const shown = text.slice(lineStart, Math.min(lineEnd, lineStart + ERROR_TEXT_LENGTH + 1));
        errors.push({ line: lineNumber, code: parsed.code, reason: parsed.reason, text: excerpt(shown) });
      }
    }
  }
}

/** Like peekTimestampAt, on UTF-8 bytes[start, end). */
function peekTimestampInBytes(bytes: Uint8Array, start: number, end: number): number {
  let i = start;
  while (i < end && bytes[i] !== 59) i++;
  i++;
  while (i < end && bytes[i] !== 59) i++;
  i++;
  if (i >= end) return -1;
  let value = 0;
  let digits = 0;
  for (; i < end && bytes[i] !== 59; i++) {
    const digit = bytes[i] - ZERO;
    if (digit < 0 || digit > 9 || ++digits > 12) return -1;
    value = value * 10 + digit;
  }
  return digits === 0 ? -1 : value;
}

/**
 * `parseLog` for a log as received (UTF-8 bytes). With a watermark, lines at or below it are
 * skipped on their bytes, and only the runs of other lines are decoded to text: re-reading a
 * 3,600-line log for one new line decodes one line, not 400 KB. Same results as
 * `parseLog(bytes.toString('utf8'), options)`.
 */
export function parseLogBytes(bytes: Uint8Array, options: ParseLogOptions = {}): ParseLogResult {
  const result: ParseLogResult = { records: [], errors: [], lines: 0, skipped: 0, rejected: 0 };
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = buffer.length;
  const bom = length >= 3 && buffer[0] === 0xef && buffer[1] === 0xbb && buffer[2] === 0xbf ? 3 : 0;
  const newerThan = options.newerThan ?? -1;
  if (newerThan < 0) {
    parseLines(buffer.toString('utf8', bom, length), 0, 1, options, result);
    return result;
  }
  // Lines to parse are gathered in runs [runStart, position) and decoded run by run. '\n' never
  // occurs inside a multi-byte UTF-8 sequence, so runs cut at line ends decode exactly.
  let runStart = -1;
  let runFirstLine = 0;
  let lineNumber = 0;
  let position = bom;
  const flush = (runEnd: number): void => {
    if (runStart >= 0) parseLines(buffer.toString('utf8', runStart, runEnd), 0, runFirstLine, options, result);
    runStart = -1;
  };
  while (position < length) {
    let end = buffer.indexOf(10, position);
    if (end < 0) end = length;
    lineNumber++;
    const lineEnd = end > position && buffer[end - 1] === CARRIAGE_RETURN ? end - 1 : end;
    const peeked = peekTimestampInBytes(buffer, position, lineEnd);
    if (peeked >= 0 && peeked <= newerThan) {
      flush(position);
      result.lines++;
      result.skipped++;
    } else if (runStart < 0) {
      runStart = position;
      runFirstLine = lineNumber;
    }
    position = end + 1;
  }
  flush(length);
  return result;
}

/** The node id in an MQTT topic `/isems/<nodeid>/csvlog` (the leading `/` is optional), or null. */
export function nodeIdFromCsvlogTopic(topic: string): string | null {
  if (typeof topic !== 'string') return null;
  const match = /^\/?isems\/([^/+#]+)\/csvlog$/.exec(topic);
  return match ? match[1] : null;
}

/** Largest accepted MQTT payload (a full 3,600-line log is about 400 KB). */
export const DEFAULT_MAX_PAYLOAD_BYTES = 8 * 1024 * 1024;

export interface MqttParseOptions extends ParseLogOptions {
  maxPayloadBytes?: number;
}

export interface MqttParseResult extends ParseLogResult {
  /** The node id named by the topic. */
  topicNodeId: string;
}

/**
 * Parses the log text a node publishes on `/isems/<nodeid>/csvlog`. Throws an `IsemsError`
 * (ISEMS_BAD_TOPIC, ISEMS_BAD_PAYLOAD, ISEMS_TOO_LARGE) when the message is not such a log;
 * malformed lines inside it are reported in `errors` like any log.
 */
export function parseMqttMessage(topic: string, payload: unknown, options: MqttParseOptions = {}): MqttParseResult {
  const topicNodeId = nodeIdFromCsvlogTopic(topic);
  if (topicNodeId === null) {
    throw new IsemsError(
      'ISEMS_BAD_TOPIC',
      `topic ${typeof topic === 'string' ? describe(topic) : `of type ${typeof topic}`} is not /isems/<nodeid>/csvlog`,
    );
  }
  const maxBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  if (typeof payload === 'string') {
    if (payload.length > maxBytes) throw new IsemsError('ISEMS_TOO_LARGE', `payload is larger than ${maxBytes} bytes`);
    return { topicNodeId, ...parseLog(payload, options) };
  }
  if (payload instanceof Uint8Array) {
    if (payload.byteLength > maxBytes) throw new IsemsError('ISEMS_TOO_LARGE', `payload is larger than ${maxBytes} bytes`);
    return { topicNodeId, ...parseLogBytes(payload, options) };
  }
  throw new IsemsError('ISEMS_BAD_PAYLOAD', `payload must be text or a Buffer, not ${payload === null ? 'null' : typeof payload}`);
}
