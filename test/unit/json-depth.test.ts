/**
 * The nesting limit for untrusted JSON (lib/json-depth.ts): exact at the limit, blind to brackets
 * inside strings, and the same answer whether the text or the engine's stack finds the depth.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_JSON_DEPTH, TOO_DEEP, jsonTextDeeperThan, jsonTextWithinDepth } from '../../lib/json-depth';

const arrays = (levels: number, inner = ''): string => '['.repeat(levels) + inner + ']'.repeat(levels);
const objects = (levels: number): string => '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);

/** Levels of arrays and objects in a value, by recursion (the oracle; shallow values only). */
function depthOf(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  const children = Array.isArray(value) ? value : Object.values(value as object);
  return 1 + children.reduce((max: number, child) => Math.max(max, depthOf(child)), 0);
}

describe('json-depth: the nesting limit of untrusted JSON', () => {
  it('allows exactly MAX_JSON_DEPTH levels, of arrays, objects or both', () => {
    assert.equal(MAX_JSON_DEPTH, 64);
    for (const build of [arrays, objects, (n: number) => arrays(n >> 1, objects(n - (n >> 1)))]) {
      assert.equal(jsonTextDeeperThan(build(MAX_JSON_DEPTH)), false);
      assert.equal(jsonTextDeeperThan(build(MAX_JSON_DEPTH + 1)), true);
      assert.equal(jsonTextDeeperThan(build(100_000)), true);
    }
    assert.equal(jsonTextDeeperThan(arrays(3), 2), true, 'another limit when asked');
    assert.equal(jsonTextDeeperThan(arrays(2), 2), false);
  });

  it('counts depth, not brackets: siblings, and brackets inside strings (escaped quotes too) do not nest', () => {
    assert.equal(jsonTextDeeperThan(`[${'[],'.repeat(10_000)}[]]`), false);
    const inString = JSON.stringify({ text: '['.repeat(1000), quoted: `"${'{'.repeat(1000)}\\"[[[`, list: [[['x']]] });
    assert.equal(jsonTextDeeperThan(inString), false);
    assert.equal(jsonTextDeeperThan(JSON.stringify(['\\', arrays(70)])), false, 'an escaped backslash ends before the quote');
    assert.equal(jsonTextDeeperThan(`["\\\\",${arrays(70)}]`), true);
    assert.equal(
      jsonTextDeeperThan(`["${arrays(70)}`),
      false,
      'an unterminated string holds the rest (text that JSON.parse refuses anyway)',
    );
  });

  it('agrees with the depth of any JSON value, at any limit', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 12 }), fc.integer({ min: 0, max: 12 }), (value, limit) => {
        assert.equal(jsonTextDeeperThan(JSON.stringify(value), limit), depthOf(value) > limit);
      }),
      { numRuns: 2000 },
    );
  });

  it('jsonTextWithinDepth: the JSON text, or TOO_DEEP whether the text or the stack found it (same on every Node)', () => {
    assert.equal(jsonTextWithinDepth({ a: [1, { b: null }] }), '{"a":[1,{"b":null}]}');
    assert.equal(jsonTextWithinDepth(JSON.parse(arrays(MAX_JSON_DEPTH))), arrays(MAX_JSON_DEPTH));
    assert.equal(jsonTextWithinDepth(JSON.parse(arrays(MAX_JSON_DEPTH + 1))), TOO_DEEP);
    // 100,000 levels: Node 20-24 overflow the stack inside JSON.stringify, Node 26 writes the text.
    assert.equal(jsonTextWithinDepth(JSON.parse(objects(100_000))), TOO_DEEP);
    assert.equal(
      jsonTextWithinDepth(() => 1),
      undefined,
    );
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.throws(() => jsonTextWithinDepth(cyclic), TypeError);
    assert.throws(() => jsonTextWithinDepth({ n: 1n }), TypeError);
  });
});
