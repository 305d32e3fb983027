import assert from 'node:assert/strict';
import { compileEntityFilter, globMatches, StatestreamParser } from '../../../lib/statestream';

describe('statestream filter: globMatches', () => {
  const cases: Array<[string, string, boolean]> = [
    ['sensor.*', 'sensor.kitchen', true],
    ['sensor.*', 'binary_sensor.kitchen', false],
    ['*_battery', 'sensor.phone_battery', true],
    ['*_battery', 'sensor.phone_battery_level', false],
    ['light.kitchen_?', 'light.kitchen_1', true],
    ['light.kitchen_?', 'light.kitchen_12', false],
    ['*', '', true],
    ['', '', true],
    ['a*b*c', 'axxbyyc', true],
    ['a*b*c', 'axxbyy', false],
    ['*.*', 'sensor.x', true],
  ];
  for (const [pattern, text, expected] of cases) {
    it(`${pattern} ${expected ? 'matches' : 'does not match'} "${text}"`, () => assert.equal(globMatches(pattern, text), expected));
  }

  it('stays linear on hostile patterns (no catastrophic backtracking)', () => {
    const text = 'a'.repeat(5000);
    assert.equal(globMatches('*a*a*a*a*a*a*a*a*b', text), false);
  });
});

describe('statestream filter: include / exclude', () => {
  it('lets everything through without rules', () => {
    const filter = compileEntityFilter();
    assert.equal(filter.passesAll, true);
    assert.equal(filter.accepts('sensor', 'sensor.x'), true);
  });

  it('includes by domain and by entity glob', () => {
    const filter = compileEntityFilter({ includeDomains: ['light'], includeEntities: ['sensor.*_temperature'] });
    assert.equal(filter.accepts('light', 'light.kitchen'), true);
    assert.equal(filter.accepts('sensor', 'sensor.hall_temperature'), true);
    assert.equal(filter.accepts('sensor', 'sensor.hall_humidity'), false);
    assert.equal(filter.accepts('switch', 'switch.pump'), false);
  });

  it('excludes win over includes', () => {
    const filter = compileEntityFilter({ includeDomains: ['sensor'], excludeEntities: ['*_battery', 'sensor.noisy'] });
    assert.equal(filter.accepts('sensor', 'sensor.phone_battery'), false);
    assert.equal(filter.accepts('sensor', 'sensor.noisy'), false);
    assert.equal(filter.accepts('sensor', 'sensor.hall'), true);
    // Decisions are cached: asking again gives the same answer.
    assert.equal(filter.accepts('sensor', 'sensor.phone_battery'), false);
  });

  it('excludes by domain glob alone', () => {
    const filter = compileEntityFilter({ excludeDomains: ['*sensor'] });
    assert.equal(filter.accepts('binary_sensor', 'binary_sensor.door'), false);
    assert.equal(filter.accepts('light', 'light.door'), true);
  });

  it('filters in the parser before the payload is decoded', () => {
    const parser = new StatestreamParser({ excludeDomains: ['sensor'] });
    // An invalid payload of a filtered entity is not even looked at.
    assert.equal(parser.parse('h/sensor/x/attr', Buffer.from([0xff]), false), null);
    assert.equal(parser.parse('h/light/x/state', 'on', false)?.value, 'on');
  });
});
