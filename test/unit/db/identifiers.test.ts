import assert from 'node:assert/strict';
import fc from 'fast-check';
import { IdentifierError } from '../../../lib/db/errors';
import { quoteIdentifier, quoteIdentifierList, validateIdentifier } from '../../../lib/db/identifiers';

describe('db/identifiers', () => {
  it('quotes with backticks (MySQL) and double quotes (SQLite)', () => {
    assert.equal(quoteIdentifier('facts', 'mysql'), '`facts`');
    assert.equal(quoteIdentifier('facts', 'sqlite'), '"facts"');
    assert.equal(quoteIdentifier('base topics', 'mysql'), '`base topics`');
    assert.equal(quoteIdentifier('ünïcødé', 'sqlite'), '"ünïcødé"');
  });

  it('escapes quote characters by doubling', () => {
    assert.equal(quoteIdentifier('a`b', 'mysql'), '`a``b`');
    assert.equal(quoteIdentifier('a"b', 'mysql'), '`a"b`');
    assert.equal(quoteIdentifier('a"b', 'sqlite'), '"a""b"');
    assert.equal(quoteIdentifier('x`; DROP TABLE t; --', 'mysql'), '`x``; DROP TABLE t; --`');
  });

  it('rejects empty, NUL, over-long, non-text, lone surrogates, astral characters and (MySQL) trailing spaces', () => {
    const bad: unknown[] = ['', 'a\u0000b', 'x'.repeat(65), 42, null, undefined, 'bad\uD800', 'emoji😀'];
    for (const name of bad) {
      for (const dialect of ['mysql', 'sqlite'] as const) {
        assert.throws(
          () => validateIdentifier(name, dialect),
          (err: unknown) => err instanceof IdentifierError && err.code === 'DB_IDENTIFIER_INVALID',
          String(name),
        );
      }
    }
    assert.throws(() => quoteIdentifier('name ', 'mysql'), IdentifierError);
    assert.equal(quoteIdentifier('name ', 'sqlite'), '"name "');
    assert.equal(quoteIdentifier('x'.repeat(64), 'mysql').length, 66);
  });

  it('lists columns, refusing duplicates (case-insensitively) and an empty list', () => {
    assert.equal(quoteIdentifierList(['a', 'b'], 'mysql'), '`a`, `b`');
    assert.throws(() => quoteIdentifierList(['a', 'A'], 'sqlite'), /listed twice/);
    assert.throws(() => quoteIdentifierList([], 'sqlite'), /At least one column/);
  });

  it('property: a quoted identifier is one token (strip outer quotes, undouble -> the name)', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 64 }), (name) => {
        for (const [dialect, q] of [
          ['mysql', '`'],
          ['sqlite', '"'],
        ] as const) {
          let quoted: string;
          try {
            quoted = quoteIdentifier(name, dialect);
          } catch (err) {
            assert.ok(err instanceof IdentifierError);
            continue;
          }
          assert.ok(quoted.startsWith(q) && quoted.endsWith(q));
          const inner = quoted.slice(1, -1);
          assert.ok(!inner.replaceAll(q + q, '').includes(q), 'no lone quote inside');
          assert.equal(inner.replaceAll(q + q, q), name);
        }
      }),
      { numRuns: 500 },
    );
  });
});
