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
      const validate = fields.get('validate');
      if (validate?.type !== 'CallExpression') continue;
      const callee = validate.callee as AnyNode;
      if (callee.type !== 'MemberExpression' || (callee.object as AnyNode).name !== 'IOTP') continue;
      const kind = (callee.property as AnyNode).name;
      assert.ok(kind === 'integer' || kind === 'number', `${definition.type}.${name}: IOTP.${String(kind)}`);
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

function editorScript(): { integer: RangeValidator; number: RangeValidator } {
  const window: Record<string, unknown> = {};
  vm.runInNewContext(readFileSync(join(packageRoot, 'resources', 'iotp-editor.js'), 'utf8'), { window });
  return window.IOTP as { integer: RangeValidator; number: RangeValidator };
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
});
