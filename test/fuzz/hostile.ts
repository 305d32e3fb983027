/**
 * Shared generators of hostile input for the fuzz stage, and the one assertion every parser fuzz
 * test makes: a call either returns, or throws the module's own typed error (an Error subclass with
 * a machine-readable string `code` and a message), never anything else (TypeError, RangeError from
 * a blown stack, a driver error...).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';

/** Runs per property for the pure parsers (the issue asks for at least 10,000 per input kind). */
export const RUNS = 10_000;

/** SQL fragments, escapes and quoting tricks that must be stored verbatim and never executed. */
export const SQL_FRAGMENTS: readonly string[] = [
  "'); DROP TABLE x; --",
  "' OR '1'='1",
  '" OR ""="',
  '1; DELETE FROM sensor_data',
  "\\'",
  '\\',
  '\\\\',
  '%',
  '_',
  '%_%',
  '\u0000',
  'a\u0000b',
  '0x41',
  '0x',
  "x' UNION SELECT password FROM mysql.user --",
  '/* comment */',
  '-- ',
  '#',
  '`',
  '``; DROP TABLE `t`',
  ':name',
  '?',
  '??',
  '$1',
  'NULL',
  'null',
  '\u{1F600}',
  '\u{1F4A9}\u{10FFFF}',
  '\uFEFF',
  '\u202E',
  "'; SELECT SLEEP(10); --",
  "1' AND SLEEP(5)#",
  'SELECT * FROM sqlite_master',
];

/** Path and URL tricks for query parameters and topics. */
export const PATH_TRICKS: readonly string[] = [
  '../',
  '../../etc/passwd',
  '..%2f..%2f',
  '%2e%2e%2f',
  '%00',
  '%',
  '%zz',
  '%C0%AF',
  '%FF',
  '%E2%82',
  '//',
  '/./',
  '\\..\\',
  '?',
  '&',
  '=',
  '#',
  '+',
  ' ',
  '%20',
  '%2B',
  '%26',
  '%3D',
  '%23',
  '~',
  ';',
  '|',
  '<script>alert(1)</script>',
  '${DATABASE_URL}',
  '$(id)',
  '`id`',
  '\r\nX-Injected: 1',
  '\u00e9',
  '\u{1F600}',
];

/** Numbers text-encoded in ways a strict parser must not accept by accident. */
export const NUMBER_TRICKS: readonly string[] = [
  '',
  ' ',
  '0',
  '-0',
  '+1',
  '-1',
  '1e3',
  '1E+400',
  '1e-400',
  '0x10',
  '0b1',
  '0o7',
  '1_000',
  '1,5',
  '1.5',
  'NaN',
  'Infinity',
  '-Infinity',
  '9007199254740993',
  '99999999999999999999',
  '2147483647',
  '2147483648',
  '4294967296',
  '00001',
  ' 1',
  '1 ',
  '\t1',
  '１',
  '٣',
  'true',
  'false',
  'null',
  '[]',
  '{}',
  '[1]',
  'undefined',
];

/** Timestamp-looking texts near every edge. */
export const TIME_TRICKS: readonly string[] = [
  '2024-06-14T16:00:00',
  '2024-06-14T16:00:00Z',
  '2024-06-14T16:00:00.123456',
  '2024-06-14T16:00:00.1234567891',
  '2024-06-14',
  '2024-02-30T00:00:00',
  '2023-02-29',
  '2024-13-01',
  '2024-00-10',
  '2024-06-14T24:00:00',
  '2024-06-14T23:60:00',
  '2024-06-14T23:59:60',
  '2024-06-14T16:00:00+14:00',
  '2024-06-14T16:00:00-12:00',
  '2024-06-14T16:00:00+25:00',
  '2024-06-14T16:00:00+05',
  '0000-01-01',
  '9999-12-31T23:59:59.999999',
  '10000-01-01',
  '-000001-01-01',
  '+275760-09-13T00:00:00Z',
  '1970-01-01T00:00:00Z',
  '1969-12-31T23:59:59Z',
  '2024-06-14 16:00:00',
  '2024-06-14T16:00:00ZZ',
  '2024-06-14T16:00',
  '2024-06-14T16',
  'T16:00:00',
  '1718380800',
  '1718380800000',
  '1718380800.5',
  '-1',
  '0',
  '2024-06-14T16:00:00.',
  '２０２４-06-14',
];

/** Strings of every kind: arbitrary unicode (incl. lone surrogates), ASCII, and the named tricks. */
export function hostileString(maxLength = 80): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength }) },
    { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength }) },
    { weight: 2, arbitrary: fc.string({ maxLength }) },
    { weight: 2, arbitrary: fc.constantFrom(...SQL_FRAGMENTS, ...PATH_TRICKS, ...NUMBER_TRICKS, ...TIME_TRICKS) },
    {
      weight: 1,
      arbitrary: fc.string({
        unit: fc.constantFrom('\u0000', '\uD800', '\uDFFF', '/', '+', '#', ';', '\n', '\r', '"', "'", '\\', '{', '['),
        maxLength,
      }),
    },
  );
}

/** Values that break naive code: throwing getters and toJSON, cycles, proxies, exotic prototypes. */
function makeHostileObjects(): { all: unknown[]; throwing: Set<unknown> } {
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  const throwingGetter = Object.defineProperty({}, 'value', {
    enumerable: true,
    get: () => {
      throw new Error('getter');
    },
  });
  const throwingToJson = {
    toJSON: () => {
      throw new Error('toJSON');
    },
  };
  // Symbol keys answer normally: fast-check itself probes generated values for its clone symbol.
  const throwingProxy = new Proxy(
    {},
    {
      get: (_t, key) => {
        if (typeof key === 'symbol') return undefined;
        throw new Error('proxy get');
      },
      ownKeys: () => {
        throw new Error('proxy keys');
      },
      has: (_t, key) => {
        if (typeof key === 'symbol') return false;
        throw new Error('proxy has');
      },
      getOwnPropertyDescriptor: () => {
        throw new Error('proxy descriptor');
      },
    },
  );
  const deepArray = JSON.parse('['.repeat(20_000) + ']'.repeat(20_000)) as unknown;
  const all = [
    undefined,
    null,
    NaN,
    Infinity,
    -Infinity,
    -0,
    0n,
    2n ** 70n,
    Symbol('s'),
    () => 1,
    new Date(NaN),
    new Date(8.64e15),
    Object.create(null),
    cyclic,
    throwingGetter,
    throwingToJson,
    deepArray,
    [cyclic],
    new Map([[1, 2]]),
    new Set([1]),
    /re/g,
    new Error('e'),
    Buffer.alloc(0),
    new Uint8Array([0xff, 0xfe]),
    new Uint16Array(2),
    new ArrayBuffer(4),
    { __proto__: { value: 1 } },
    JSON.parse('{"__proto__": {"polluted": 1}, "constructor": {"prototype": 1}}'),
    throwingProxy,
    Promise.resolve(1),
  ];
  return { all, throwing: new Set([throwingGetter, throwingToJson, throwingProxy]) };
}

const HOSTILE = makeHostileObjects();
const HOSTILE_OBJECTS = HOSTILE.all;
/** Without the objects that throw when read (a user's own broken object may fail the user's call). */
const QUIET_OBJECTS = HOSTILE.all.filter((o) => !HOSTILE.throwing.has(o));

/**
 * Any JS value a caller or a decoded payload could hand over. `throwing: false` leaves out the
 * objects whose getters, toJSON or proxy traps throw.
 */
export function anyValue({ throwing = true } = {}): fc.Arbitrary<unknown> {
  return fc.oneof(
    {
      weight: 3,
      arbitrary: fc.anything({
        withBigInt: true,
        withDate: true,
        withMap: true,
        withSet: true,
        withTypedArray: true,
        withSparseArray: true,
        withNullPrototype: true,
        withBoxedValues: true,
      }),
    },
    { weight: 2, arbitrary: fc.jsonValue() },
    { weight: 2, arbitrary: hostileString() },
    { weight: 1, arbitrary: fc.constantFrom(...(throwing ? HOSTILE_OBJECTS : QUIET_OBJECTS)) },
    { weight: 1, arbitrary: fc.double() },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)) },
  );
}

/** JSON text: valid JSON, near-JSON, deeply nested, and arbitrary text. */
export function jsonishText(): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.json() },
    { weight: 2, arbitrary: hostileString() },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '{',
        '[',
        '{"a":',
        '"unterminated',
        '1e999',
        '-',
        'NaN',
        'Infinity',
        '-Infinity',
        'tru',
        'nul',
        '{"a":1,}',
        "{'a':1}",
        '\uFEFF{}',
        ' {} ',
      ),
    },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 5000 }).map((n) => '['.repeat(n) + ']'.repeat(n)) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 5000 }).map((n) => '{"a":'.repeat(n) + '1' + '}'.repeat(n)) },
  );
}

/** Raw payload bytes: random, valid UTF-8 text, JSON text, and invalid UTF-8 sequences. */
export function payloadBytes(): fc.Arbitrary<Buffer> {
  return fc.oneof(
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 256 }).map((b) => Buffer.from(b)) },
    { weight: 2, arbitrary: jsonishText().map((t) => Buffer.from(t, 'utf8')) },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom('c0af', 'ed a0 80', 'f4 90 80 80', 'ff', 'e2 82', 'f0 9f 98', 'c3', '80', 'fe ff 00 7b')
        .map((h) => Buffer.from(h.replace(/ /g, ''), 'hex')),
    },
  );
}

export interface TypedErrorShape {
  /** The module's error class. */
  readonly errorClass: new (...args: never[]) => Error;
  /** The codes the module documents; undefined = any non-empty string. */
  readonly codes?: readonly string[];
}

/** Asserts `err` is the module's typed error with a documented code and a message. */
export function assertTyped(err: unknown, shape: TypedErrorShape, input?: unknown): void {
  if (!(err instanceof shape.errorClass)) {
    const shown = err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err);
    assert.fail(`expected a ${shape.errorClass.name}, got ${shown}\n(input: ${describeInput(input)})`);
  }
  const code = (err as { code?: unknown }).code;
  assert.equal(typeof code, 'string', `${shape.errorClass.name} without a string code`);
  if (shape.codes) assert.ok(shape.codes.includes(code as string), `undocumented code ${String(code)}`);
  assert.ok(err.message.length > 0, 'an error without a message');
}

/** Calls `fn`; returns its result, or undefined after checking the throw is the typed error. */
export function typedOrValue<T>(fn: () => T, shape: TypedErrorShape, input?: unknown): T | undefined {
  try {
    return fn();
  } catch (err) {
    assertTyped(err, shape, input);
    return undefined;
  }
}

function describeInput(input: unknown): string {
  try {
    const text = typeof input === 'string' ? JSON.stringify(input) : String(fc.stringify(input));
    return text.length > 300 ? `${text.slice(0, 300)}…` : text;
  } catch {
    return '(not printable)';
  }
}
