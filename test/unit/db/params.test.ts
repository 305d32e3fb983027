import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SqlParameterError } from '../../../lib/db/errors';
import { compilePositional, findPlaceholders, toPositional } from '../../../lib/db/params';
import type { Dialect } from '../../../lib/db/types';

const both: Dialect[] = ['mysql', 'sqlite'];

describe('db/params: toPositional', () => {
  it('turns :name into ? with values in placeholder order, repeating reused names', () => {
    for (const dialect of both) {
      assert.deepEqual(toPositional('SELECT * FROM t WHERE a = :a AND b > :b_2 OR a = :a', { a: 1, b_2: 'x' }, dialect), {
        sql: 'SELECT * FROM t WHERE a = ? AND b > ? OR a = ?',
        values: [1, 'x', 1],
      });
    }
  });

  it('passes positional arrays and no-params through untouched', () => {
    const values = [1, 'two', null];
    const out = toPositional('INSERT INTO t VALUES (?, ?, ?)', values, 'mysql');
    assert.equal(out.sql, 'INSERT INTO t VALUES (?, ?, ?)');
    assert.equal(out.values, values);
    assert.deepEqual(toPositional('SELECT :x', undefined, 'sqlite'), { sql: 'SELECT :x', values: [] });
  });

  it('binds NULL for a present-but-undefined property, and ignores extra properties', () => {
    assert.deepEqual(toPositional('SELECT :a, :b', { a: undefined, b: 2, extra: 3 }, 'mysql').values, [null, 2]);
  });

  it('names a missing parameter', () => {
    for (const dialect of both) {
      assert.throws(
        () => toPositional('UPDATE t SET a = :a WHERE id = :id', { a: 1 }, dialect),
        (err: unknown) => err instanceof SqlParameterError && err.code === 'DB_PARAM_MISSING' && /:id/.test(err.message),
      );
    }
  });

  it('does not read inherited properties as parameters', () => {
    assert.throws(() => toPositional('SELECT :toString', {}, 'mysql'), /:toString has no value/);
  });

  it('refuses ? mixed with named parameters, and non-object params', () => {
    assert.throws(
      () => toPositional('SELECT ?, :a', { a: 1 }, 'mysql'),
      (err: unknown) => err instanceof SqlParameterError && err.code === 'DB_PARAM_MIXED',
    );
    assert.throws(() => toPositional('SELECT 1', 'x' as never, 'mysql'), /array .* or an object/);
  });

  it('skips string literals, including escaped and doubled quotes', () => {
    const sql = "SELECT ':a', 'it''s :b', :c";
    assert.deepEqual(toPositional(sql, { c: 1 }, 'mysql'), { sql: "SELECT ':a', 'it''s :b', ?", values: [1] });
    // MySQL: backslash escapes the quote, so the literal continues past \'
    assert.deepEqual(toPositional("SELECT 'a\\' :x', :y", { y: 2 }, 'mysql').values, [2]);
    // SQLite: no backslash escapes, so 'a\' ends the literal and :x is a parameter
    assert.deepEqual(toPositional("SELECT 'a\\', :x", { x: 2 }, 'sqlite').values, [2]);
  });

  it('treats double quotes as strings (MySQL) or identifiers (SQLite), backticks and [..] as identifiers', () => {
    assert.deepEqual(toPositional('SELECT ":a", `:b`, :c', { c: 3 }, 'mysql').values, [3]);
    assert.deepEqual(toPositional('SELECT "col:a", `x:b`, [y:c], :d', { d: 4 }, 'sqlite').values, [4]);
    assert.deepEqual(toPositional('SELECT "a""b:c", :d', { d: 4 }, 'sqlite').values, [4]);
  });

  it('skips comments: -- (MySQL only when followed by a space), # (MySQL), /* */', () => {
    const sql = 'SELECT :a -- :b\n, :c # :d\n, /* :e */ :f';
    assert.deepEqual(
      findPlaceholders(sql, 'mysql').map((p) => p.name),
      ['a', 'c', 'f'],
    );
    assert.deepEqual(
      findPlaceholders(sql, 'sqlite').map((p) => p.name),
      ['a', 'c', 'd', 'f'],
    );
    // MySQL: `--:x` is minus minus, not a comment
    assert.deepEqual(
      findPlaceholders('SELECT 5--:x', 'mysql').map((p) => p.name),
      ['x'],
    );
    assert.deepEqual(
      findPlaceholders('SELECT 5--:x', 'sqlite').map((p) => p.name),
      [],
    );
    assert.deepEqual(findPlaceholders('SELECT 1 /* unterminated :x', 'mysql'), []);
  });

  it('skips :: and := and a lone colon', () => {
    assert.deepEqual(
      findPlaceholders("SELECT a::text, @v := 1, ':' , x : y, :ok", 'mysql').map((p) => p.name),
      ['ok'],
    );
  });

  it('keeps ? inside literals out of the positional split', () => {
    assert.deepEqual(compilePositional('SELECT \'?\', "?", ? /* ? */', 'mysql').pieces, ['SELECT \'?\', "?", ', ' /* ? */']);
  });

  it('property: text without quotes, comments or colons is unchanged and values follow names', () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[a-z_][a-z0-9_]{0,6}$/), { minLength: 1, maxLength: 8 }), (names) => {
        const sql = `SELECT ${names.map((n) => `:${n}`).join(', ')}`;
        const params = Object.fromEntries(names.map((n) => [n, n.length]));
        for (const dialect of both) {
          const out = toPositional(sql, params, dialect);
          assert.equal(out.sql, `SELECT ${names.map(() => '?').join(', ')}`);
          assert.deepEqual(
            out.values,
            names.map((n) => n.length),
          );
        }
      }),
    );
  });

  it('property: never throws anything but SqlParameterError on arbitrary SQL', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (sql) => {
        for (const dialect of both) {
          try {
            toPositional(sql, {}, dialect);
          } catch (err) {
            assert.ok(err instanceof SqlParameterError);
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
