import assert from 'node:assert/strict';
import { buildInsert, quoteIdentifier } from '../../../lib/writer/sql';
import { WriterError } from '../../../lib/writer/errors';

describe('writer sql: buildInsert', () => {
  it('builds a multi-row INSERT with positional parameters for each dialect', () => {
    assert.equal(buildInsert('mysql', 'messages', ['topic', 'qos'], 2, { mode: 'error' }),
      'INSERT INTO `messages` (`topic`, `qos`) VALUES (?, ?), (?, ?)');
    assert.equal(buildInsert('sqlite', 'main.messages', ['number'], 3, { mode: 'error' }),
      'INSERT INTO "main"."messages" ("number") VALUES (?), (?), (?)');
  });

  it('ignores duplicates without INSERT IGNORE / OR IGNORE (which would hide data errors)', () => {
    const mysql = buildInsert('mysql', 't', ['a', 'b'], 1, { mode: 'ignore' });
    assert.equal(mysql, 'INSERT INTO `t` (`a`, `b`) VALUES (?, ?) ON DUPLICATE KEY UPDATE `a` = `a`');
    assert.equal(buildInsert('sqlite', 't', ['a', 'b'], 1, { mode: 'ignore' }), 'INSERT INTO "t" ("a", "b") VALUES (?, ?) ON CONFLICT DO NOTHING');
    assert.equal(buildInsert('sqlite', 't', ['a', 'b'], 1, { mode: 'ignore', key: ['a'] }), 'INSERT INTO "t" ("a", "b") VALUES (?, ?) ON CONFLICT ("a") DO NOTHING');
    assert.doesNotMatch(mysql, /IGNORE/);
  });

  it('upserts the non-key columns by default, or the listed ones', () => {
    assert.equal(buildInsert('mysql', 't', ['k', 'v', 'w'], 1, { mode: 'upsert', key: ['k'] }),
      'INSERT INTO `t` (`k`, `v`, `w`) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE `v` = VALUES(`v`), `w` = VALUES(`w`)');
    assert.equal(buildInsert('sqlite', 't', ['k', 'v', 'w'], 1, { mode: 'upsert', key: ['k'], update: ['w'] }),
      'INSERT INTO "t" ("k", "v", "w") VALUES (?, ?, ?) ON CONFLICT ("k") DO UPDATE SET "w" = excluded."w"');
    assert.throws(() => buildInsert('sqlite', 't', ['k'], 1, { mode: 'upsert', key: [] }), { code: 'WRITER_CONFIG' });
  });

  it('refuses hostile or malformed identifiers with a typed error', () => {
    for (const bad of ['', 'a b', 'x`; DROP TABLE y; --', '"q"', 'a.b.c', '1abc', 'x'.repeat(65), 'ta\u0000ble']) {
      assert.throws(() => quoteIdentifier('mysql', bad), (err: unknown) => err instanceof WriterError && err.code === 'WRITER_CONFIG', bad);
    }
    assert.throws(() => buildInsert('mysql', 't', ['ok', 'bad col'], 1, { mode: 'error' }), { code: 'WRITER_CONFIG' });
    assert.throws(() => buildInsert('mysql', 't', [], 1, { mode: 'error' }), { code: 'WRITER_CONFIG' });
    assert.throws(() => buildInsert('mysql', 't', ['a'], 0, { mode: 'error' }), { code: 'WRITER_CONFIG' });
  });
});
