/**
 * `${NAME:-default}` in a configuration node's URL: the environment variable when it is set and not
 * empty, else the default written after `:-` (as in a shell). Node-RED itself replaces only a whole
 * `${NAME}`, and leaves it as literal text when NAME is unset; the shared broker and database nodes
 * of the examples are global (no flow tab whose environment could hold a default), so they carry
 * their default in the field the user edits, and the host's environment still wins.
 */

const WITH_DEFAULT = /^\$\{([A-Za-z_][A-Za-z0-9_]*):-([^}]*)\}$/;
const PLAIN = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}$/;

/** Looks a variable up the way the node's flow sees it (its flow's, the global, then the process environment). */
export type EnvLookup = (name: string) => string | undefined;

/** The value of a `${NAME:-default}` reference; any other text is returned unchanged. */
export function resolveEnvDefault(text: string, lookup: EnvLookup): string {
  const match = WITH_DEFAULT.exec(text.trim());
  if (!match) return text;
  const value = lookup(match[1]);
  return value !== undefined && value.trim() !== '' ? value : match[2];
}

/**
 * Why a field still reads `${NAME}` after Node-RED's substitution: NAME is not set. Undefined for
 * any other text. Says how to give the field a default instead.
 */
export function unsetVariableProblem(text: string, example: string): string | undefined {
  const name = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(text.trim())?.[1];
  return name === undefined ? undefined : `the environment variable ${name} is not set (or write \${${name}:-${example}} for a default)`;
}

/** The variable a whole `${NAME}` or `${NAME:-default}` reference names, for error messages. */
export function referencedVariable(text: string): string | undefined {
  return PLAIN.exec(String(text ?? '').trim())?.[1];
}
