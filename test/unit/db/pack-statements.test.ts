import assert from 'node:assert/strict';
import { packStatements } from '../../../lib/db/mysql';

describe('db/mysql: packing a transaction into multi-statement texts', () => {
  it('joins everything into one text when it fits, in order, a newline after each separator', () => {
    assert.deepEqual(packStatements(['START TRANSACTION', 'INSERT 1', 'INSERT 2', 'COMMIT'], 1000), [
      'START TRANSACTION;\nINSERT 1;\nINSERT 2;\nCOMMIT',
    ]);
  });

  it('starts a new text where the next statement would pass the cap; an oversized statement goes alone', () => {
    const big = 'x'.repeat(50);
    assert.deepEqual(packStatements(['a', 'b', big, 'c', 'd'], 20), ['a;\nb', big, 'c;\nd']);
    for (const script of packStatements(['aaaa', 'bbbb', 'cccc', 'dddd', 'eeee'], 13)) assert.ok(script.length <= 13, script);
  });

  it('measures bytes, not characters', () => {
    assert.deepEqual(packStatements(['ééééé', 'ééééé'], 13), ['ééééé', 'ééééé']);
  });
});
