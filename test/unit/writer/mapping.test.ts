import assert from 'node:assert/strict';
import { compileMapping, estimateBytes } from '../../../lib/writer/mapping';
import { WriterError } from '../../../lib/writer/errors';

describe('writer mapping: rows to column values', () => {
  it('reads same-named properties, nested paths and array indexes; missing values are NULL', () => {
    const mapper = compileMapping({ topic: '', qos: 'meta.qos', first: 'list.0', absent: 'nope.deeper' });
    assert.deepEqual(mapper.columns, ['topic', 'qos', 'first', 'absent']);
    assert.deepEqual(mapper.map({ topic: 't', meta: { qos: 1 }, list: ['a', 'b'] }), ['t', 1, 'a', null]);
    assert.deepEqual(compileMapping(['a', 'b']).map({ a: 1 }), [1, null]);
  });

  it('keeps SQL-bindable values, turns objects into JSON text', () => {
    const date = new Date(0);
    const buf = Buffer.from('x');
    const values = compileMapping(['d', 'b', 'n', 'o', 'f', 'z']).map({ d: date, b: buf, n: 10n, o: { a: [1] }, f: false, z: null });
    assert.deepEqual(values, [date, buf, 10n, '{"a":[1]}', false, null]);
  });

  it('never follows inherited properties (hostile paths read nothing)', () => {
    const mapper = compileMapping({ p: '__proto__', c: 'constructor.name', t: 'toString' });
    assert.deepEqual(mapper.map({}), [null, null, null]);
    // JSON.parse makes "__proto__" an own data property: read as data, no prototype involved.
    const parsed = JSON.parse('{"__proto__": {"x": 1}}') as object;
    assert.deepEqual(compileMapping({ x: '__proto__.x' }).map(parsed), [1]);
  });

  it('rejects rows no column can take, with a typed error naming the column', () => {
    const mapper = compileMapping(['v']);
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    for (const [row, pattern] of [
      [null, /must be an object/],
      [42, /must be an object/],
      ['text', /must be an object/],
      [[1], /an array/],
      [{ v: NaN }, /column v: NaN/],
      [{ v: Infinity }, /Infinity/],
      [{ v: () => 1 }, /function/],
      [{ v: circular }, /JSON/],
      [{ v: new Date('nope') }, /invalid Date/],
      [{ v: Symbol('s') }, /symbol/],
    ] as [unknown, RegExp][]) {
      const result = mapper.map(row);
      assert.ok(result instanceof WriterError, String(row));
      assert.equal(result.code, 'WRITER_BAD_ROW');
      assert.match(result.message, pattern);
    }
  });

  it('rejects an object nested deeper than 64 levels (the same on every Node), stores one at the limit', () => {
    const mapper = compileMapping(['v']);
    const nested = (levels: number): unknown => JSON.parse('['.repeat(levels) + ']'.repeat(levels));
    assert.deepEqual(mapper.map({ v: nested(64) }), ['['.repeat(64) + ']'.repeat(64)]);
    for (const levels of [65, 100_000]) {
      const result = mapper.map({ v: nested(levels) });
      assert.ok(result instanceof WriterError, `${levels} levels`);
      assert.equal(result.code, 'WRITER_BAD_ROW');
      assert.equal(result.message, 'column v: object nests deeper than 64 levels');
    }
  });

  it('refuses an empty or duplicated mapping', () => {
    assert.throws(() => compileMapping([]), { code: 'WRITER_CONFIG' });
    assert.throws(() => compileMapping(['a', 'a']), { code: 'WRITER_CONFIG' });
  });

  it('estimates size from the values, growing with string length', () => {
    assert.ok(estimateBytes(['x'.repeat(1000)]) > estimateBytes(['x']) + 1900);
  });
});
