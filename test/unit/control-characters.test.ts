import assert from 'node:assert/strict';
import { hasControlCharacter } from '../../lib/control-characters';

describe('control characters in user-given text', () => {
  it('finds C0 controls and DEL, and passes printable text of any script', () => {
    for (const text of ['a\nb', 'tab\there', '\r', '\u0000', 'end\u001f', 'del\u007f'])
      assert.equal(hasControlCharacter(text), true, JSON.stringify(text));
    for (const text of ['', 'plain', 'spaces are fine', 'ümlaut · 中文 · emoji 🙂', '\u0080\u00a0', '~!@#$%^&*()'])
      assert.equal(hasControlCharacter(text), false, JSON.stringify(text));
  });
});
