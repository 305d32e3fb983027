/**
 * Include/exclude filters by domain and entity id, with glob patterns (`sensor.*`, `*_battery`,
 * `light.kitchen_?`). Compiled once; each entity's decision is then cached, so a message costs one
 * Map lookup. Matching is a linear-time wildcard matcher, not a RegExp, so hostile patterns or
 * entity ids cannot cause catastrophic backtracking.
 *
 * Rule: an entity passes when it matches an include pattern (or no include pattern is given) and
 * matches no exclude pattern. A domain pattern matches the domain, an entity pattern the entity id.
 */

export interface EntityFilterOptions {
  includeDomains?: readonly string[];
  includeEntities?: readonly string[];
  excludeDomains?: readonly string[];
  excludeEntities?: readonly string[];
}

export interface EntityFilter {
  /** True when the entity passes the filter. */
  accepts(domain: string, entityId: string): boolean;
  /** True when the filter lets everything through (callers may skip it). */
  readonly passesAll: boolean;
}

/** Matches `text` against a glob where `*` is any run of characters and `?` exactly one. */
export function globMatches(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let starP = -1;
  let starT = 0;
  while (t < text.length) {
    const pc = p < pattern.length ? pattern.charCodeAt(p) : -1;
    if (pc === 0x2a /* * */) {
      starP = p++;
      starT = t;
    } else if (pc === 0x3f /* ? */ || (pc !== -1 && pc === text.charCodeAt(t))) {
      p++;
      t++;
    } else if (starP >= 0) {
      p = starP + 1;
      t = ++starT;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern.charCodeAt(p) === 0x2a) p++;
  return p === pattern.length;
}

class PatternSet {
  private readonly exact: Set<string>;
  private readonly globs: string[];
  readonly empty: boolean;

  constructor(patterns: readonly string[] | undefined) {
    const cleaned = (patterns ?? []).map((pattern) => String(pattern).trim()).filter((pattern) => pattern !== '');
    this.exact = new Set(cleaned.filter((pattern) => !/[*?]/.test(pattern)));
    // Collapse runs of `*`: same meaning, less work for the matcher.
    this.globs = [...new Set(cleaned.filter((pattern) => /[*?]/.test(pattern)).map((pattern) => pattern.replace(/\*+/g, '*')))];
    this.empty = cleaned.length === 0;
  }

  matches(text: string): boolean {
    if (this.exact.has(text)) return true;
    for (const glob of this.globs) if (globMatches(glob, text)) return true;
    return false;
  }
}

/** Decisions cached per entity id; the cache is cleared when full (bounded memory). */
const DECISION_CACHE_LIMIT = 20_000;

export function compileEntityFilter(options: EntityFilterOptions = {}): EntityFilter {
  const includeDomains = new PatternSet(options.includeDomains);
  const includeEntities = new PatternSet(options.includeEntities);
  const excludeDomains = new PatternSet(options.excludeDomains);
  const excludeEntities = new PatternSet(options.excludeEntities);
  const hasInclude = !includeDomains.empty || !includeEntities.empty;
  const hasExclude = !excludeDomains.empty || !excludeEntities.empty;
  const passesAll = !hasInclude && !hasExclude;
  const decisions = new Map<string, boolean>();

  const decide = (domain: string, entityId: string): boolean => {
    const included = !hasInclude || includeDomains.matches(domain) || includeEntities.matches(entityId);
    return included && !(excludeDomains.matches(domain) || excludeEntities.matches(entityId));
  };

  return {
    passesAll,
    accepts(domain: string, entityId: string): boolean {
      if (passesAll) return true;
      let decision = decisions.get(entityId);
      if (decision === undefined) {
        decision = decide(domain, entityId);
        if (decisions.size >= DECISION_CACHE_LIMIT) decisions.clear();
        decisions.set(entityId, decision);
      }
      return decision;
    },
  };
}
