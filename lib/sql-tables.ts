/**
 * The tables a SELECT reads, by name, for matching a query with the writers that fill those
 * tables (lib/arrivals.ts). A reader's view, not a parser: comments and quoted strings are blanked
 * out, then every name after FROM or JOIN (and after the commas of a FROM list) is taken.
 * `schema.table` and quoted names (`x`, "x", [x]) count by their table name, compared without
 * case. Undefined when no table can be found (the caller then assumes "any table").
 */

/** A table name as tables are compared: the last dotted part, unquoted, lower case. */
export function normalizeTableName(name: string): string {
  const parts = name.split('.');
  return parts[parts.length - 1]!.trim()
    .replace(/^[`"[]|[`"\]]$/g, '')
    .toLowerCase();
}

const IDENT = String.raw`(?:\`[^\`]+\`|"[^"]+"|\[[^\]]+\]|[A-Za-z_][\w$]*)`;
const QUALIFIED = String.raw`${IDENT}(?:\s*\.\s*${IDENT}){0,2}`;
const AFTER_FROM = new RegExp(
  String.raw`\b(?:from|join)\s+(${QUALIFIED}(?:\s+(?:as\s+)?${IDENT})?(?:\s*,\s*${QUALIFIED}(?:\s+(?:as\s+)?${IDENT})?)*)`,
  'gi',
);
const FIRST_NAME = new RegExp(String.raw`^\s*(${QUALIFIED})`);
/** Words that may follow a table name in a FROM list without being an alias. */
const KEYWORDS = new Set([
  'where',
  'join',
  'inner',
  'left',
  'right',
  'full',
  'cross',
  'natural',
  'on',
  'using',
  'group',
  'order',
  'limit',
  'union',
  'having',
  'window',
  'as',
  'straight_join',
  'outer',
  'lateral',
  'for',
  'lock',
]);

/** Blanks out comments and string literals, which may contain "from x". */
function code(sql: string): string {
  return sql.replace(/--[^\n]*|\/\*[\s\S]*?\*\/|'(?:[^'\\]|\\.|'')*'/g, (match) => ' '.repeat(match.length));
}

export function tablesRead(sql: string): string[] | undefined {
  const found = new Set<string>();
  for (const match of code(sql).matchAll(AFTER_FROM)) {
    for (const item of match[1]!.split(',')) {
      const name = FIRST_NAME.exec(item)?.[1];
      if (!name || KEYWORDS.has(name.toLowerCase())) continue;
      found.add(normalizeTableName(name.replace(/\s+/g, '')));
    }
  }
  // "from" followed by "(": a subquery, whose own FROM was matched above.
  return found.size > 0 ? [...found] : undefined;
}

const TRIGGER_ON = new RegExp(String.raw`\bcreate\s+trigger\b[\s\S]*?\b(?:insert|update|delete)\s+on\s+(${QUALIFIED})`, 'i');
const WRITES = new RegExp(
  String.raw`\binsert\s+(?:or\s+\w+\s+)?(?:ignore\s+)?into\s+(${QUALIFIED})|\breplace\s+into\s+(${QUALIFIED})|\bupdate\s+(${QUALIFIED})\s+set\b|\bdelete\s+from\s+(${QUALIFIED})`,
  'gi',
);

/**
 * Tables that triggers fill from other tables, read from a migration set's statements: for each
 * CREATE TRIGGER, the table it is on and the tables its body writes. A writer into `messages`
 * thereby also feeds `facts` (statestream), one into `aggregated_sensor_parts` also
 * `aggregated_sensor_data` (sensors).
 */
export function triggerLineage(statements: readonly string[]): Map<string, Set<string>> {
  const lineage = new Map<string, Set<string>>();
  for (const statement of statements) {
    const text = code(statement);
    const on = TRIGGER_ON.exec(text)?.[1];
    if (!on) continue;
    const source = normalizeTableName(on.replace(/\s+/g, ''));
    const targets = lineage.get(source) ?? new Set<string>();
    for (const match of text.matchAll(WRITES)) {
      const name = match[1] ?? match[2] ?? match[3] ?? match[4];
      if (name) targets.add(normalizeTableName(name.replace(/\s+/g, '')));
    }
    targets.delete(source);
    lineage.set(source, targets);
  }
  return lineage;
}

/** `table` and every table triggers fill from it, directly or through other triggers. */
export function tablesFedBy(table: string, lineage: ReadonlyMap<string, ReadonlySet<string>>): string[] {
  const fed = new Set([normalizeTableName(table)]);
  const queue = [...fed];
  while (queue.length > 0) {
    for (const next of lineage.get(queue.pop()!) ?? []) {
      if (!fed.has(next)) {
        fed.add(next);
        queue.push(next);
      }
    }
  }
  return [...fed];
}
