/**
 * Message templates: a JSON-like value whose strings may hold `{{placeholders}}`.
 *
 * - A string that is exactly one placeholder takes the variable's own type:
 *   `"{{value}}"` -> 42 (a number), `"{{fields.location}}"` -> the object.
 * - A type suffix converts: `"{{epochSeconds:string}}"` -> "1669940235" (text),
 *   `"{{fields.lat:number}}"` -> 10.
 * - Placeholders inside longer text are interpolated as text: `"sensor-{{series}}"`.
 * - Everything else is copied as is; each call builds fresh objects (no shared mutable state).
 *   Text cannot contain a literal `{{` (it is always read as the start of a placeholder).
 *
 * Variables: `value`, `series`, `topic`, `seq`, `epochMs`, `epochSeconds` (integer),
 * `isoTime` (`2024-06-14T16:00:00.123Z`), `utcTimestamp` (`2024-06-14T16:00:00.123456`, UTC
 * without offset), and `fields.<path>` from the series' own fields. Unknown variables and
 * suffixes are refused when the template is compiled (SimulatorError INVALID_TEMPLATE).
 */
import { SimulatorError } from './errors';

export interface TemplateVariables {
  value: number;
  series: string;
  topic: string;
  seq: number;
  epochMs: number;
  epochSeconds: number;
  isoTime: string;
  utcTimestamp: string;
  fields: Readonly<Record<string, unknown>>;
}

export type CompiledTemplate = (vars: TemplateVariables) => unknown;

const ROOTS = new Set(['value', 'series', 'topic', 'seq', 'epochMs', 'epochSeconds', 'isoTime', 'utcTimestamp', 'fields']);
const PLACEHOLDER = /\{\{\s*([A-Za-z_$][\w$]*(?:\.[\w$-]+)*)\s*(?::\s*(string|number|json)\s*)?\}\}/g;
const WHOLE = /^\{\{\s*([A-Za-z_$][\w$]*(?:\.[\w$-]+)*)\s*(?::\s*(string|number|json)\s*)?\}\}$/;
const MAX_DEPTH = 32;

type Conversion = 'string' | 'number' | 'json' | undefined;

export function compileTemplate(template: unknown): CompiledTemplate {
  return compile(template, 0, '$');
}

function compile(node: unknown, depth: number, where: string): CompiledTemplate {
  if (depth > MAX_DEPTH) throw new SimulatorError('INVALID_TEMPLATE', `template nested deeper than ${MAX_DEPTH} levels`);
  if (typeof node === 'string') return compileString(node, where);
  if (Array.isArray(node)) {
    const items = node.map((item, i) => compile(item, depth + 1, `${where}[${i}]`));
    return (vars) => items.map((item) => item(vars));
  }
  if (node !== null && typeof node === 'object') {
    const entries = Object.entries(node).map(([key, value]) => [key, compile(value, depth + 1, `${where}.${key}`)] as const);
    return (vars) => {
      const out: Record<string, unknown> = {};
      for (const [key, build] of entries) out[key] = build(vars);
      return out;
    };
  }
  if (node === undefined || typeof node === 'function' || typeof node === 'symbol' || typeof node === 'bigint') {
    throw new SimulatorError('INVALID_TEMPLATE', `template value at ${where} is not JSON`);
  }
  if (typeof node === 'number' && !Number.isFinite(node))
    throw new SimulatorError('INVALID_TEMPLATE', `template value at ${where} is not finite`);
  return () => node;
}

function compileString(text: string, where: string): CompiledTemplate {
  const whole = WHOLE.exec(text);
  if (whole !== null) {
    const read = variable(whole[1], where);
    const conversion = whole[2] as Conversion;
    return (vars) => convert(read(vars), conversion, where);
  }
  if (text.replace(PLACEHOLDER, '').includes('{{')) {
    throw new SimulatorError('INVALID_TEMPLATE', `malformed placeholder in ${JSON.stringify(text.slice(0, 80))} at ${where}`);
  }
  const parts: Array<string | CompiledTemplate> = [];
  let last = 0;
  for (const m of text.matchAll(PLACEHOLDER)) {
    if (m.index! > last) parts.push(text.slice(last, m.index));
    const read = variable(m[1], where);
    const conversion = (m[2] as Conversion) ?? 'string';
    parts.push((vars) => asText(convert(read(vars), conversion, where)));
    last = m.index! + m[0].length;
  }
  if (parts.length === 0) return () => text;
  if (last < text.length) parts.push(text.slice(last));
  return (vars) => {
    let out = '';
    for (const part of parts) out += typeof part === 'string' ? part : (part(vars) as string);
    return out;
  };
}

function variable(path: string, where: string): (vars: TemplateVariables) => unknown {
  const [root, ...rest] = path.split('.');
  if (!ROOTS.has(root)) {
    throw new SimulatorError('INVALID_TEMPLATE', `unknown variable {{${path}}} at ${where}; known: ${[...ROOTS].join(', ')}`);
  }
  if (root !== 'fields' && rest.length > 0)
    throw new SimulatorError('INVALID_TEMPLATE', `{{${path}}} at ${where}: ${root} has no properties`);
  return (vars) => {
    let current: unknown = vars[root as keyof TemplateVariables];
    for (const key of rest) {
      current =
        current !== null && typeof current === 'object' && Object.prototype.hasOwnProperty.call(current, key)
          ? (current as Record<string, unknown>)[key]
          : undefined;
    }
    return current;
  };
}

function convert(value: unknown, conversion: Conversion, where: string): unknown {
  switch (conversion) {
    case 'string':
      return asText(value);
    case 'number': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
      if (!Number.isFinite(n))
        throw new SimulatorError('INVALID_TEMPLATE', `placeholder at ${where} is not a number: ${asText(value).slice(0, 40)}`);
      return n;
    }
    case 'json':
      return JSON.stringify(value ?? null);
    default:
      // A structured field value is copied so a consumer mutating one message cannot change the next.
      return value !== null && typeof value === 'object' ? structuredClone(value) : (value ?? null);
  }
}

function asText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined || value === null) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}
