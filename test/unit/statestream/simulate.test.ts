import assert from 'node:assert/strict';
import {
  EntityMerger,
  HassSimulator,
  pythonIsoformat,
  SIMULATED_DOMAINS,
  StatestreamParser,
  type StatestreamPublish,
} from '../../../lib/statestream';

const T0 = Date.UTC(2024, 4, 1, 12, 0, 0, 123);

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'float';
  return typeof value;
}

/** Splits a flat publish list into per-entity bursts (a burst starts with `.../state`). */
function bursts(messages: StatestreamPublish[]): StatestreamPublish[][] {
  const out: StatestreamPublish[][] = [];
  for (const m of messages) {
    if (m.topic.endsWith('/state')) out.push([m]);
    else out[out.length - 1].push(m);
  }
  return out;
}

describe('HassSimulator (simulated Home Assistant statestream)', () => {
  it('publishes QoS 1 retained messages for every domain that the parser reads without error', () => {
    const sim = new HassSimulator({ seed: 1 });
    const parser = new StatestreamParser({ baseTopic: 'homeassistant', strings: 'raw' });
    const messages = [...sim.startup(T0), ...sim.updates(50, T0 + 1000)];
    assert.ok(messages.length > 100);
    const domains = new Set<string>();
    const kinds = new Set<string>();
    for (const m of messages) {
      assert.equal(m.qos, 1);
      assert.equal(m.retain, true);
      const record = parser.parse(m.topic, Buffer.from(m.payload), true, 0);
      assert.ok(record);
      domains.add(record.domain);
      kinds.add(record.keyKind);
    }
    assert.deepEqual([...domains].sort(), [...SIMULATED_DOMAINS].sort());
    assert.deepEqual([...kinds].sort(), ['attribute', 'state', 'timestamp']);
  });

  it('covers every JSON type in attributes, including non-ASCII text', () => {
    const sim = new HassSimulator({ seed: 2 });
    const parser = new StatestreamParser({ strings: 'raw' });
    const types = new Set<string>();
    let nonAscii = false;
    for (const m of sim.startup(T0)) {
      const record = parser.parse(m.topic, m.payload, true, 0)!;
      if (record.keyKind !== 'attribute') continue;
      types.add(jsonType(record.value));
      if (typeof record.value === 'string' && /[^\x00-\x7f]/.test(record.value)) nonAscii = true;
      assert.equal(m.payload, JSON.stringify(record.value), 'attributes are published as JSON text');
    }
    assert.deepEqual([...types].sort(), ['array', 'boolean', 'float', 'integer', 'null', 'object', 'string']);
    assert.ok(nonAscii);
  });

  it('keeps Home Assistant order per update: state, last_updated, last_changed, then every attribute', () => {
    const sim = new HassSimulator({ seed: 3 });
    const all = sim.startup(T0);
    const groups = bursts(all);
    assert.equal(groups.length, sim.entityCount);
    for (const [i, group] of groups.entries()) {
      const keys = group.map((m) => m.topic.split('/').pop());
      assert.deepEqual(keys.slice(0, 3), ['state', 'last_updated', 'last_changed']);
      assert.equal(new Set(group.map((m) => m.topic.split('/').slice(0, -1).join('/'))).size, 1, 'one entity per burst');
      assert.equal(group.length, sim.messagesPerUpdate(i));
    }
  });

  it('writes timestamps as Python isoformat() with offset, last_changed moving only with the state', () => {
    assert.equal(pythonIsoformat(Date.UTC(2024, 0, 2, 3, 4, 5, 0)), '2024-01-02T03:04:05+00:00');
    assert.equal(pythonIsoformat(Date.UTC(2024, 0, 2, 3, 4, 5, 120), 7), '2024-01-02T03:04:05.120007+00:00');
    const sim = new HassSimulator({ seed: 4, entitiesPerDomain: 1 });
    sim.startup(T0);
    let previous = new Map<string, { state: string; changed: string }>();
    for (let round = 1; round <= 40; round++) {
      const now = T0 + round * 1000;
      const next = new Map<string, { state: string; changed: string }>();
      for (const group of bursts(sim.updates(sim.entityCount, now))) {
        const prefix = group[0].topic.slice(0, -'state'.length);
        const state = group[0].payload;
        const updated = group[1].payload;
        const changed = group[2].payload;
        assert.match(updated, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$/);
        assert.equal(Date.parse(updated), now, 'last_updated is the update time');
        const before = previous.get(prefix);
        if (before && before.state === state) assert.equal(changed, before.changed, 'unchanged state keeps last_changed');
        if (before && before.state !== state) assert.equal(Date.parse(changed), Date.parse(updated));
        next.set(prefix, { state, changed });
      }
      previous = next;
    }
  });

  it('is deterministic for a seed and differs between seeds', () => {
    const run = (seed: number) => {
      const sim = new HassSimulator({ seed });
      return [...sim.startup(T0), ...sim.updates(30, T0 + 5000)];
    };
    assert.deepEqual(run(7), run(7));
    assert.notDeepEqual(run(7), run(8));
  });

  it('supports a multi-level base topic and the publish_timestamps / publish_attributes switches', () => {
    const sim = new HassSimulator({ baseTopic: 'home/statestream/', seed: 5, publishTimestamps: false, publishAttributes: false });
    assert.equal(sim.baseTopic, 'home/statestream');
    const messages = sim.startup(T0);
    assert.equal(messages.length, sim.entityCount);
    const parser = new StatestreamParser({ baseTopic: 'home/statestream', strings: 'raw' });
    for (const m of messages) {
      assert.match(m.topic, /^home\/statestream\/[a-z_]+\/[a-z0-9_]+\/state$/);
      assert.equal(parser.parse(m.topic, m.payload, true)!.baseTopic, 'home/statestream');
    }
  });

  it('merges into one entity update per burst with the published state and attributes', () => {
    const sim = new HassSimulator({ seed: 6 });
    const parser = new StatestreamParser({ strings: 'raw' });
    const merger = new EntityMerger({ quietMs: 50 });
    const messages = sim.startup(T0);
    for (const m of messages) assert.equal(merger.push(parser.parse(m.topic, m.payload, true, T0)!, T0).length, 0);
    const merged = merger.tick(T0 + 50);
    assert.equal(merged.length, sim.entityCount);
    assert.equal(
      merged.reduce((n, e) => n + e.messages, 0),
      messages.length,
    );
    const light = merged.find((e) => e.domain === 'light')!;
    assert.equal(light.state, 'on');
    assert.deepEqual(light.attributes.supported_color_modes, ['brightness', 'color_temp', 'hs']);
    assert.ok(light.lastUpdated?.endsWith('Z'));
  });

  it('visits every entity in turn and counts what it published', () => {
    const sim = new HassSimulator({ seed: 9, entitiesPerDomain: 3 });
    assert.equal(sim.entityCount, 15);
    assert.equal(new Set(sim.entityIds()).size, 15);
    const start = sim.startup(T0).length;
    const groups = bursts(sim.updates(15, T0 + 1));
    assert.equal(new Set(groups.map((g) => g[0].topic)).size, 15);
    assert.equal(sim.messagesPublished, start + groups.flat().length);
    assert.deepEqual(sim.updates(0, T0 + 2), []);
  });

  it('names entities beyond the room list uniquely (up to 1000 per domain)', () => {
    const sim = new HassSimulator({ seed: 10, entitiesPerDomain: 1000 });
    assert.equal(new Set(sim.entityIds()).size, 5000);
    for (const id of sim.entityIds()) assert.match(id, /^[a-z_]+\.[a-z0-9_]+$/);
  });

  it('refuses invalid options with a RangeError', () => {
    for (const baseTopic of ['', '/', 'a/+/b', 'a/#', 'a//b', 'a\u0000']) {
      assert.throws(() => new HassSimulator({ baseTopic }), RangeError, JSON.stringify(baseTopic));
    }
    for (const entitiesPerDomain of [0, -1, 1001, Number.NaN]) {
      assert.throws(() => new HassSimulator({ entitiesPerDomain }), RangeError);
    }
  });
});
