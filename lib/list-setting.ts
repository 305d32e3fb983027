/** Entries of a node's text property, one per line or separated by commas, trimmed, empty ones left out. */
export function listSetting(text: unknown): string[] {
  return String(text ?? '')
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean);
}
