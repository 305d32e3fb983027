/**
 * The editor's range checks and the runtime's come from one place: every `IOTP.integer(...)` /
 * `IOTP.number(...)` validator in a node's editor HTML names the same range as the node's table
 * in lib (and its default value the same default), every range in those tables has its editor
 * check, and the shared script (resources/iotp-editor.js) accepts exactly that range.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import vm from 'node:vm';
import type * as acorn from 'acorn';
import { BATCH_POST_LIMITS } from '../../lib/connector/settings';
import { DATABASE_LIMITS, DB_QUERY_LIMITS } from '../../lib/db/settings';
import { ISEMS_LIMITS, ISEMS_QUERY_LIMITS } from '../../lib/isems/settings';
import { BROKER_LIMITS } from '../../lib/mqtt/broker-settings';
import { QUALITY_LIMITS } from '../../lib/sensors/quality-settings';
import { SIMULATOR_LIMITS } from '../../lib/simulator/node-config';
import { HASS_SIMULATOR_LIMITS, STATESTREAM_LIMITS } from '../../lib/statestream/settings';
import { WINDOW_LIMITS } from '../../lib/window/settings';
import { WRITER_LIMITS } from '../../lib/writer/settings';
import { packageRoot } from '../support/node-red';
import { readNodeDefinitions, readPackageJson } from '../support/package-info';

interface Limit {
  min: number;
  max?: number;
  default?: number;
  integer: boolean;
  above?: boolean;
}

const RUNTIME: Record<string, Record<string, Limit>> = {
  'iotp-batch-post': BATCH_POST_LIMITS,
  'iotp-database': DATABASE_LIMITS,
  'iotp-db-query': DB_QUERY_LIMITS,
  'iotp-db-write': WRITER_LIMITS,
  'iotp-hass-simulator': HASS_SIMULATOR_LIMITS,
  'iotp-isems': ISEMS_LIMITS,
  'iotp-isems-query': ISEMS_QUERY_LIMITS,
  'iotp-mqtt-broker': BROKER_LIMITS,
  'iotp-quality': QUALITY_LIMITS,
  'iotp-simulator': SIMULATOR_LIMITS,
  'iotp-statestream': STATESTREAM_LIMITS,
  'iotp-window': WINDOW_LIMITS,
};

type AnyNode = acorn.Node & Record<string, unknown>;

interface EditorCheck {
  integer: boolean;
  min: number;
  max: number | null;
  options: { blank?: boolean; env?: boolean; above?: boolean };
  /** The property's default in the editor. */
  value: unknown;
}

/** A constant argument: a number, `null`, `1 / 60`, a negative number, or an object of booleans. */
function constant(node: AnyNode): unknown {
  if (node.type === 'Literal') return node.value;
  if (node.type === 'UnaryExpression' && node.operator === '-') return -(constant(node.argument as AnyNode) as number);
  if (node.type === 'BinaryExpression' && node.operator === '/')
    return (constant(node.left as AnyNode) as number) / (constant(node.right as AnyNode) as number);
  if (node.type === 'ObjectExpression') {
    const object: Record<string, unknown> = {};
    for (const prop of node.properties as AnyNode[])
      object[String((prop.key as AnyNode).name ?? (prop.key as AnyNode).value)] = constant(prop.value as AnyNode);
    return object;
  }
  throw new Error(`not a constant: ${node.type}`);
}

/** The shared script's validators that check something other than a number range (not compared with lib). */
const OTHER_VALIDATORS = new Set(['duration', 'msgProperty', 'json', 'oneOf']);

/**
 * The IOTP range check inside a property's validator: `IOTP.integer(...)` / `IOTP.number(...)`,
 * also when `IOTP.onlyWhen(when, ...)` wraps it. Undefined for no range check. Any other IOTP call
 * fails here, so a new kind of range check cannot slip past the comparison with lib.
 */
function rangeCall(validate: AnyNode | undefined, label: string): AnyNode | undefined {
  if (validate?.type !== 'CallExpression') return undefined;
  const callee = validate.callee as AnyNode;
  if (callee.type !== 'MemberExpression' || (callee.object as AnyNode).name !== 'IOTP') return undefined;
  const kind = String((callee.property as AnyNode).name);
  if (kind === 'integer' || kind === 'number') return validate;
  if (kind === 'onlyWhen') return rangeCall((validate.arguments as AnyNode[])[1], label);
  assert.ok(OTHER_VALIDATORS.has(kind), `${label}: IOTP.${kind} is not a validator this test knows`);
  return undefined;
}

/** type → property → the editor's IOTP range check. */
function editorChecks(): Map<string, Map<string, EditorCheck>> {
  const checks = new Map<string, Map<string, EditorCheck>>();
  const entries = Object.values(readPackageJson()['node-red']?.nodes ?? {});
  for (const definition of entries.flatMap((entry) => readNodeDefinitions(entry))) {
    const defaults = definition.properties.get('defaults') as AnyNode | undefined;
    if (!defaults || defaults.type !== 'ObjectExpression') continue;
    for (const prop of defaults.properties as AnyNode[]) {
      const name = String((prop.key as AnyNode).name ?? (prop.key as AnyNode).value);
      const fields = new Map(
        ((prop.value as AnyNode).properties as AnyNode[] | undefined)?.map((f) => [String((f.key as AnyNode).name), f.value as AnyNode]) ??
          [],
      );
      const validate = rangeCall(fields.get('validate'), `${definition.type}.${name}`);
      if (!validate) continue;
      const kind = ((validate.callee as AnyNode).property as AnyNode).name;
      const [min, max, options] = (validate.arguments as AnyNode[]).map(constant);
      const value = fields.get('value');
      if (!checks.has(definition.type)) checks.set(definition.type, new Map());
      checks.get(definition.type)!.set(name, {
        integer: kind === 'integer',
        min: min as number,
        max: (max as number | null | undefined) ?? null,
        options: (options as EditorCheck['options'] | undefined) ?? {},
        value: value ? constant(value) : undefined,
      });
    }
  }
  return checks;
}

/** resources/iotp-editor.js, run as the browser would (only `window` is needed to define it). */
type RangeValidator = (min: number, max: number | null, options: EditorCheck['options']) => (v: unknown) => boolean;
type Validator = (this: unknown, v: unknown) => boolean;

interface EditorScript {
  integer: RangeValidator;
  number: RangeValidator;
  duration: (options?: { blank?: boolean; env?: boolean; zero?: boolean }) => Validator;
  msgProperty: () => Validator;
  oneOf: (values: unknown[]) => Validator;
  json: (accept?: (value: unknown) => boolean) => Validator;
  onlyWhen: (when: Record<string, unknown> | ((this: Record<string, unknown>) => boolean), validate: Validator) => Validator;
  listItems: (text: unknown, separator: RegExp | string) => string[];
}

function editorScript(): EditorScript {
  const window: Record<string, unknown> = {};
  vm.runInNewContext(readFileSync(join(packageRoot, 'resources', 'iotp-editor.js'), 'utf8'), { window });
  return window.IOTP as EditorScript;
}

/** Every `IOTP.<name>` the editor HTML files use (node files and their scripts). */
function helpersUsed(): Map<string, string> {
  const used = new Map<string, string>();
  for (const entry of Object.values(readPackageJson()['node-red']?.nodes ?? {})) {
    const html = readFileSync(join(packageRoot, entry.replace(/\.js$/, '.html')), 'utf8');
    for (const match of html.matchAll(/\bIOTP\.(\w+)/g)) used.set(match[1], entry);
  }
  return used;
}

describe('editor limits', () => {
  const checks = editorChecks();
  const IOTP = editorScript();

  it('finds the IOTP range checks in the built editor HTML', () => {
    const count = [...checks.values()].reduce((sum, props) => sum + props.size, 0);
    assert.ok(count >= 30, `${count} checks`);
  });

  for (const [type, limits] of Object.entries(RUNTIME)) {
    it(`${type}: every range in lib has the same check in the editor, and the same default`, () => {
      for (const [property, limit] of Object.entries(limits)) {
        const check = checks.get(type)?.get(property);
        assert.ok(check, `${type}.${property} has no IOTP check in the editor`);
        assert.equal(check.min, limit.min, `${type}.${property} min`);
        assert.equal(check.max, limit.max ?? null, `${type}.${property} max`);
        assert.equal(check.integer, limit.integer, `${type}.${property} whole numbers`);
        assert.equal(check.options.above === true, limit.above === true, `${type}.${property} min exclusive`);
        const editorDefault = typeof check.value === 'string' && /^\$\{\w+\}$/.test(check.value) ? undefined : check.value;
        if (editorDefault !== undefined && limit.default !== undefined)
          assert.equal(Number(editorDefault), limit.default, `${type}.${property} default`);
      }
    });
  }

  it('has no editor range check without its range in lib', () => {
    const unmatched = [...checks].flatMap(([type, props]) =>
      [...props.keys()].filter((p) => RUNTIME[type]?.[p] === undefined).map((p) => `${type}.${p}`),
    );
    assert.deepEqual(unmatched, []);
  });

  it('the shared script accepts exactly each range: its ends, not a step beyond', () => {
    for (const [type, limits] of Object.entries(RUNTIME)) {
      for (const [property, limit] of Object.entries(limits)) {
        const check = checks.get(type)!.get(property)!;
        const validate = (check.integer ? IOTP.integer : IOTP.number)(check.min, check.max, check.options);
        const step = limit.integer ? 1 : 0.001;
        const label = `${type}.${property}`;
        if (limit.above) assert.equal(validate(String(limit.min)), false, `${label}: ${limit.min} excluded`);
        else assert.equal(validate(String(limit.min)), true, `${label}: ${limit.min}`);
        assert.equal(validate(String(limit.min - step)), false, `${label}: below ${limit.min}`);
        if (limit.max !== undefined) {
          assert.equal(validate(String(limit.max)), true, `${label}: ${limit.max}`);
          assert.equal(validate(String(limit.max + step)), false, `${label}: above ${limit.max}`);
        }
        if (limit.integer) assert.equal(validate(String(limit.min + 1.5)), false, `${label}: a fraction`);
        assert.equal(validate('soon'), false, `${label}: text`);
        assert.equal(validate(''), check.options.blank === true, `${label}: empty`);
        assert.equal(validate('${SOME_VAR}'), check.options.env === true, `${label}: \${VAR}`);
      }
    }
  });

  it('every IOTP helper a node file calls exists in the shared script', () => {
    const used = helpersUsed();
    assert.ok(used.size >= 8, `${used.size} helpers used`);
    for (const [name, entry] of used)
      assert.equal(typeof (IOTP as unknown as Record<string, unknown>)[name], 'function', `IOTP.${name} (${entry})`);
  });
});

describe('the shared editor script: validators beside the ranges', () => {
  const IOTP = editorScript();

  it('duration: a number with an optional unit, above zero; blank, ${VAR} and zero only when asked', () => {
    const duration = IOTP.duration();
    for (const ok of ['500ms', '5s', '5 sec', ' 1.5m ', '30min', '2H', '1d', '10']) assert.equal(duration(ok), true, ok);
    for (const bad of ['', undefined, '0s', '0', '-1s', '5 parsecs', '1.5.2s', 'soon', '${WINDOW}'])
      assert.equal(duration(bad), false, String(bad));
    assert.equal(IOTP.duration({ blank: true })(''), true);
    assert.equal(IOTP.duration({ zero: true })('0s'), true);
    assert.equal(IOTP.duration({ env: true })('${WINDOW_SIZE}'), true);
    assert.equal(IOTP.duration({ env: true })('${1X}'), false, 'a name starting with a digit');
  });

  it('oneOf: exactly one of the values, nothing converted', () => {
    const mode = IOTP.oneOf(['reading', 'aggregate']);
    assert.equal(mode('reading'), true);
    assert.equal(mode('aggregate'), true);
    for (const bad of ['window', 'Reading', '', undefined]) assert.equal(mode(bad), false, String(bad));
    assert.equal(IOTP.oneOf(['1', '2'])(1), false);
  });

  it('msgProperty: a message property path with dots and indexes', () => {
    const property = IOTP.msgProperty();
    for (const ok of ['payload', 'payload.items[0].id', '$x.y_1']) assert.equal(property(ok), true, ok);
    for (const bad of ['', 'payload.', 'a b', '[0]', 'payload[x]', '1abc']) assert.equal(property(bad), false, bad);
  });

  it('json: text that parses, and that accept allows (an accept that throws rejects)', () => {
    assert.equal(IOTP.json()('{"a": 1}'), true);
    assert.equal(IOTP.json()('{a: 1}'), false);
    assert.equal(IOTP.json()(undefined), false);
    const list = IOTP.json((value) => Array.isArray(value));
    assert.equal(list('[]'), true);
    assert.equal(list('{}'), false);
    const migrations = IOTP.json((value) => Array.isArray((value as { migrations: unknown }).migrations));
    assert.equal(migrations('null'), false);
  });

  it('onlyWhen: checks only while the other settings match (or the function says so), with the node as this', () => {
    const tumbling = IOTP.onlyWhen({ mode: 'tumbling', emit: 'interval' }, IOTP.duration());
    assert.equal(tumbling.call({ mode: 'sliding', emit: 'interval' }, 'soon'), true);
    assert.equal(tumbling.call({ mode: 'tumbling', emit: 'message' }, 'soon'), true);
    assert.equal(tumbling.call({ mode: 'tumbling', emit: 'interval' }, 'soon'), false);
    assert.equal(tumbling.call({ mode: 'tumbling', emit: 'interval' }, '5s'), true);
    const custom = IOTP.onlyWhen(
      function () {
        return this.preset !== 'fixed';
      },
      function (this: unknown, v) {
        return v === (this as { expected: unknown }).expected;
      },
    );
    assert.equal(custom.call({ preset: 'fixed', expected: 'a' }, 'b'), true);
    assert.equal(custom.call({ preset: 'custom', expected: 'a' }, 'b'), false);
    assert.equal(custom.call({ preset: 'custom', expected: 'a' }, 'a'), true);
  });

  it('listItems: the trimmed, non-empty items', () => {
    assert.deepEqual([...IOTP.listItems(' a, ,b\nc ,', /[,\n]/)], ['a', 'b', 'c']);
    assert.deepEqual([...IOTP.listItems(undefined, ',')], []);
  });
});
