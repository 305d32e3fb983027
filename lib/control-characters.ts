/**
 * Whether user-given text (a client id, a URL, a user name, a secret) holds C0 control characters
 * or DEL: in a log line or a header they break the line, and in a name they are almost always a
 * pasted line break rather than intended.
 */
export function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}
