import assert from 'node:assert/strict';
import { EntityMerger, StatestreamParser, type MergedEntity, type StatestreamRecord } from '../../../lib/statestream';

const parser = new StatestreamParser();
let clock = 0;
function rec(topic: string, payload: unknown, retain = false): StatestreamRecord {
  const record = parser.parse(topic, payload, retain, (clock += 1000));
  assert.ok(record);
  return record;
}

function hallUpdate(state: string, retain = false): StatestreamRecord[] {
  return [
    rec('homeassistant/climate/hall/state', state, retain),
    rec('homeassistant/climate/hall/last_updated', '2024-01-01T10:00:00.5+00:00', retain),
    rec('homeassistant/climate/hall/last_changed', '2024-01-01T09:00:00+00:00', retain),
    rec('homeassistant/climate/hall/friendly_name', '"Hall"', retain),
    rec('homeassistant/climate/hall/current_temperature', '21.5', retain),
    rec('homeassistant/climate/hall/hvac_modes', '["off","heat"]', retain),
  ];
}

describe('statestream EntityMerger', () => {
  it('merges one update into one object after the quiet time', () => {
    const merger = new EntityMerger({ quietMs: 100 });
    for (const [i, record] of hallUpdate('heat').entries()) assert.equal(merger.push(record, 1000 + i).length, 0);
    assert.deepEqual(merger.tick(1104), [], 'not yet quiet');
    assert.equal(merger.nextDueAt(), 1105);
    const [hall, ...rest] = merger.tick(1105);
    assert.equal(rest.length, 0);
    assert.deepEqual(hall, {
      entityId: 'climate.hall',
      domain: 'climate',
      objectId: 'hall',
      baseTopic: 'homeassistant',
      state: 'heat',
      numeric: null,
      attributes: { friendly_name: 'Hall', current_temperature: 21.5, hvac_modes: ['off', 'heat'] },
      lastUpdated: '2024-01-01T10:00:00.5Z',
      lastChanged: '2024-01-01T09:00:00Z',
      retain: false,
      messages: 6,
    } satisfies MergedEntity);
    assert.equal(merger.size, 0);
    assert.equal(merger.nextDueAt(), undefined);
  });

  it('emits the open update first when the next update of the entity begins', () => {
    const merger = new EntityMerger({ quietMs: 100 });
    for (const record of hallUpdate('heat')) merger.push(record, 0);
    const [first, second] = hallUpdate('off');
    const emitted = merger.push(first, 10);
    assert.equal(emitted.length, 1);
    assert.equal(emitted[0].state, 'heat');
    merger.push(second, 11);
    const [next] = merger.tick(200);
    assert.equal(next.state, 'off');
    assert.equal(next.messages, 2);
  });

  it('puts an attribute named `state` into attributes without touching the state', () => {
    const merger = new EntityMerger();
    const p = new StatestreamParser();
    for (const [i, [key, payload]] of (
      [
        ['state', 3],
        ['friendly_name', 'Robot'],
        ['state', 'docked'],
      ] as Array<[string, unknown]>
    ).entries()) {
      const record = p.parse(`h/vacuum/robot/${key}`, payload, false, i);
      assert.ok(record);
      merger.push(record, i);
    }
    const [robot] = merger.flush();
    assert.equal(robot.state, '3');
    assert.equal(robot.numeric, 3);
    assert.deepEqual(robot.attributes, { friendly_name: 'Robot', state: 'docked' });
  });

  it('keeps entities apart and emits them in order of quietness', () => {
    const merger = new EntityMerger({ quietMs: 100 });
    merger.push(rec('h/sensor/x/state', '1'), 0);
    merger.push(rec('h/binary_sensor/x/state', 'on'), 50);
    merger.push(rec('other/sensor/x/state', '2'), 60);
    assert.deepEqual(
      merger.tick(100).map((e) => `${e.baseTopic}/${e.entityId}`),
      ['h/sensor.x'],
    );
    assert.deepEqual(
      merger.tick(200).map((e) => `${e.baseTopic}/${e.entityId}`),
      ['h/binary_sensor.x', 'other/sensor.x'],
    );
  });

  it('marks a merged update retained only when every part was a replay', () => {
    const merger = new EntityMerger();
    for (const record of hallUpdate('heat', true)) merger.push(record, 0);
    assert.equal(merger.flush()[0].retain, true);
    const parts = hallUpdate('heat', true);
    parts[3] = rec('homeassistant/climate/hall/friendly_name', '"Hall"', false);
    for (const record of parts) merger.push(record, 0);
    assert.equal(merger.flush()[0].retain, false);
  });

  it('bounds open entities: the least recently active is emitted early', () => {
    const merger = new EntityMerger({ quietMs: 1000, maxOpenEntities: 3 });
    const emitted: MergedEntity[] = [];
    for (let i = 0; i < 5; i++) emitted.push(...merger.push(rec(`h/sensor/e${i}/state`, String(i)), i));
    assert.equal(merger.size, 3);
    assert.deepEqual(
      emitted.map((e) => e.entityId),
      ['sensor.e0', 'sensor.e1'],
    );
  });

  it('emits an entity kept busy beyond maxHoldMs, and one with too many keys', () => {
    const merger = new EntityMerger({ quietMs: 100, maxHoldMs: 500, maxKeysPerEntity: 1000 });
    const emitted: MergedEntity[] = [];
    for (let t = 0; t <= 600; t += 50) emitted.push(...merger.push(rec('h/sensor/busy/attr', String(t)), t));
    assert.equal(emitted.length, 1, 'held at most 500 ms');
    const small = new EntityMerger({ maxKeysPerEntity: 3 });
    const out: MergedEntity[] = [];
    for (let i = 0; i < 7; i++) out.push(...small.push(rec(`h/sensor/wide/a${i}`, '1'), 0));
    assert.deepEqual(
      out.map((e) => e.messages),
      [3, 3],
    );
  });

  it('flushes everything on close, losing nothing', () => {
    const merger = new EntityMerger();
    merger.push(rec('h/sensor/a/state', '1'), 0);
    merger.push(rec('h/sensor/b/state', '2'), 0);
    assert.deepEqual(
      merger.flush().map((e) => e.state),
      ['1', '2'],
    );
    assert.equal(merger.size, 0);
  });

  it('does O(1) work per tick when nothing is due', () => {
    const merger = new EntityMerger({ quietMs: 100 });
    for (let i = 0; i < 10_000; i++) merger.push(rec(`h/sensor/e${i}/state`, '1'), 1000);
    assert.equal(merger.tick(1050).length, 0);
    assert.equal(merger.tick(1100).length, 10_000);
  });
});
