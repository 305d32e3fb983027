/**
 * Dataset declarations for the catalog as a user writes them in the editor (JSON):
 *
 *   [{"name": "room_climate", "description": "...", "timeColumn": "ts",
 *     "lineage": {"topic": "climate/#", "flow": "climate ingest", "derivedFrom": ["raw_climate"]}}]
 */
import { CatalogError, type DatasetDeclaration } from './catalog';

const IDENTIFIER_RE = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const MAX_DECLARATIONS = 1000;
const MAX_TEXT = 4096;

function bad(where: string, reason: string): never {
  throw new CatalogError('BAD_IDENTIFIER', `datasets ${where}: ${reason}`);
}

function optionalText(v: unknown, where: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.length > MAX_TEXT) bad(where, `must be text of at most ${MAX_TEXT} characters`);
  return v;
}

/** Parses and validates the declarations; empty text means none. Throws CatalogError. */
export function parseDatasetDeclarations(text: string): DatasetDeclaration[] {
  if (typeof text !== 'string' || text.trim() === '') return [];
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    bad('', `not JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(doc)) bad('', 'must be a JSON array of {name, description, timeColumn?, lineage?}');
  if (doc.length > MAX_DECLARATIONS) bad('', `more than ${MAX_DECLARATIONS} datasets`);
  const names = new Set<string>();
  return doc.map((raw, i): DatasetDeclaration => {
    const at = `[${i}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad(at, 'must be an object');
    const d = raw as Record<string, unknown>;
    if (typeof d.name !== 'string' || !IDENTIFIER_RE.test(d.name))
      bad(`${at}.name`, 'must be a table name (letters, digits, _; at most 64)');
    if (names.has(d.name)) bad(`${at}.name`, `${d.name} is declared twice`);
    names.add(d.name);
    const timeColumn = optionalText(d.timeColumn, `${at}.timeColumn`);
    if (timeColumn !== undefined && !IDENTIFIER_RE.test(timeColumn)) bad(`${at}.timeColumn`, 'must be a column name');
    const declaration: DatasetDeclaration = { name: d.name, description: optionalText(d.description, `${at}.description`) ?? '' };
    if (timeColumn !== undefined) declaration.timeColumn = timeColumn;
    if (d.lineage !== undefined && d.lineage !== null) {
      if (typeof d.lineage !== 'object' || Array.isArray(d.lineage))
        bad(`${at}.lineage`, 'must be an object {topic?, flow?, derivedFrom?}');
      const l = d.lineage as Record<string, unknown>;
      const derivedFrom = l.derivedFrom ?? [];
      if (!Array.isArray(derivedFrom) || derivedFrom.some((n) => typeof n !== 'string' || !IDENTIFIER_RE.test(n))) {
        bad(`${at}.lineage.derivedFrom`, 'must be an array of table names');
      }
      declaration.lineage = {
        topic: optionalText(l.topic, `${at}.lineage.topic`),
        flow: optionalText(l.flow, `${at}.lineage.flow`),
        derivedFrom: derivedFrom as string[],
      };
    }
    return declaration;
  });
}
