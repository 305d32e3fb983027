import assert from 'node:assert/strict';
import { parseStatestream, StatestreamError, numericReading, type StatestreamErrorCode } from '../../../lib/statestream';

const live = { retain: false };

function expectError(code: StatestreamErrorCode, run: () => unknown): StatestreamError {
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof StatestreamError, `expected a StatestreamError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.ok(err.message.length > 10, 'the reason is spelled out');
    return err;
  }
  assert.fail(`expected ${code}`);
}

describe('statestream parseStatestream: states', () => {
  for (const [text, numeric] of [
    ['on', null],
    ['off', null],
    ['21.5', 21.5],
    ['-3', -3],
    ['unavailable', null],
    ['unknown', null],
    ['heat_cool', null],
  ] as Array<[string, number | null]>) {
    it(`reads the state "${text}" from a Buffer as text, numeric ${numeric}`, () => {
      const record = parseStatestream('homeassistant/sensor/living_room_temperature/state', Buffer.from(text), { retain: true });
      assert.deepEqual(record, {
        topic: 'homeassistant/sensor/living_room_temperature/state',
        baseTopic: 'homeassistant',
        domain: 'sensor',
        objectId: 'living_room_temperature',
        entityId: 'sensor.living_room_temperature',
        key: 'state',
        keyKind: 'state',
        raw: text,
        value: text,
        numeric,
        date: null,
        retain: true,
      });
    });
  }

  it('reads a string payload the same as its Buffer', () => {
    const record = parseStatestream('homeassistant/light/kitchen/state', 'on', live);
    assert.equal(record.entityId, 'light.kitchen');
    assert.equal(record.value, 'on');
    assert.equal(record.retain, false);
  });

  it('turns a pre-parsed state (mqtt-in auto-detect) back into its text', () => {
    const number = parseStatestream('homeassistant/sensor/t/state', 21.5, live);
    assert.equal(number.keyKind, 'state');
    assert.equal(number.value, '21.5');
    assert.equal(number.raw, '21.5');
    assert.equal(number.numeric, 21.5);
    const bool = parseStatestream('homeassistant/input_boolean/guest/state', true, live);
    assert.equal(bool.value, 'true');
    assert.equal(bool.numeric, null);
    assert.equal(parseStatestream('homeassistant/sensor/t/state', 0, live).numeric, 0);
  });

  it('gives a numeric reading only for finite decimal text', () => {
    assert.equal(numericReading('21.5'), 21.5);
    assert.equal(numericReading('1e3'), 1000);
    assert.equal(numericReading('.5'), 0.5);
    for (const text of ['', ' 1', '1 ', '0x10', 'Infinity', 'NaN', '1e999', '1,5', '--1', 'on'])
      assert.equal(numericReading(text), null, text);
  });

  it('keeps emoji and non-ASCII states intact', () => {
    assert.equal(parseStatestream('homeassistant/sensor/mood/state', Buffer.from('😀 grün'), live).value, '😀 grün');
  });
});

describe('statestream parseStatestream: timestamps', () => {
  it('reads last_updated as a UTC ISO instant keeping the microseconds, plus a Date', () => {
    const record = parseStatestream('homeassistant/light/kitchen/last_updated', Buffer.from('2017-10-01T23:20:30.920969+00:00'), {
      retain: true,
    });
    assert.equal(record.keyKind, 'timestamp');
    assert.equal(record.key, 'last_updated');
    assert.equal(record.raw, '2017-10-01T23:20:30.920969+00:00');
    assert.equal(record.value, '2017-10-01T23:20:30.920969Z');
    assert.ok(record.date instanceof Date);
    assert.equal(record.date.toISOString(), '2017-10-01T23:20:30.920Z');
  });

  it('converts an offset to UTC (last_changed)', () => {
    const record = parseStatestream('homeassistant/light/kitchen/last_changed', '2024-03-31T02:30:00+02:00', live);
    assert.equal(record.value, '2024-03-31T00:30:00Z');
    assert.equal(record.date?.getTime(), Date.UTC(2024, 2, 31, 0, 30));
  });

  it('accepts Z and no fraction', () => {
    assert.equal(parseStatestream('h/sensor/x/last_changed', '2020-02-29T12:00:00Z', live).value, '2020-02-29T12:00:00Z');
  });

  for (const bad of [
    'yesterday',
    '2017-10-01',
    '2017-10-01T23:20:30',
    '2017-13-01T00:00:00+00:00',
    '2019-02-29T00:00:00Z',
    '2017-10-01T24:00:00Z',
    '2017-10-01T23:20:30+25:00',
    ' 2017-10-01T23:20:30Z',
  ]) {
    it(`refuses the timestamp "${bad}" with bad-timestamp`, () => {
      expectError('bad-timestamp', () => parseStatestream('homeassistant/light/kitchen/last_updated', Buffer.from(bad), live));
    });
  }
});

describe('statestream parseStatestream: attributes of every JSON type', () => {
  const cases: Array<[string, string, unknown]> = [
    ['friendly_name', '"Living Room"', 'Living Room'],
    ['brightness', '255', 255],
    ['temperature', '21.5', 21.5],
    ['is_volume_muted', 'false', false],
    ['entity_picture', 'null', null],
    ['effect_list', '["a", "b", "c"]', ['a', 'b', 'c']],
    ['hs_color', '[30.0, 80.5]', [30, 80.5]],
    [
      'forecast',
      '{"today": {"high": 21, "conditions": ["sun", "wind"]}, "ok": true}',
      { today: { high: 21, conditions: ['sun', 'wind'] }, ok: true },
    ],
    ['icon', '"😀"', '😀'],
  ];
  for (const [name, wire, value] of cases) {
    it(`decodes ${name} = ${wire} from wire text`, () => {
      const record = parseStatestream(`home/statestream/light/kitchen/${name}`, Buffer.from(wire), live);
      assert.equal(record.keyKind, 'attribute');
      assert.equal(record.key, name);
      assert.equal(record.raw, wire);
      assert.deepEqual(record.value, value);
      assert.equal(record.baseTopic, 'home/statestream');
    });
    it(`takes ${name} pre-parsed by mqtt-in and rebuilds its JSON text`, () => {
      const record = parseStatestream(`home/statestream/light/kitchen/${name}`, value, live);
      assert.equal(record.keyKind, 'attribute');
      assert.deepEqual(record.value, value);
      assert.deepEqual(JSON.parse(record.raw), value);
    });
  }

  it('keeps a pre-parsed attribute string that is not JSON as it is ("Living Room")', () => {
    const record = parseStatestream('homeassistant/light/kitchen/friendly_name', 'Living Room', live);
    assert.equal(record.value, 'Living Room');
    assert.equal(record.raw, '"Living Room"');
  });

  it('reads Python NaN/Infinity as numbers (json.dumps writes them bare)', () => {
    assert.ok(Number.isNaN(parseStatestream('h/sensor/x/reading', 'NaN', live).value as number));
    assert.equal(parseStatestream('h/sensor/x/reading', '-Infinity', live).value, -Infinity);
  });

  it('refuses an attribute that is not JSON when it is known to be wire text', () => {
    expectError('attribute-not-json', () =>
      parseStatestream('homeassistant/light/kitchen/friendly_name', Buffer.from('Living Room'), live),
    );
    expectError('attribute-not-json', () =>
      parseStatestream('homeassistant/light/kitchen/friendly_name', 'Living Room', { retain: false, strings: 'raw' }),
    );
    expectError('attribute-not-json', () => parseStatestream('homeassistant/light/kitchen/x', Buffer.from('{"a":'), live));
  });

  it('reads strings exactly in `decoded` mode (a string attribute "1.0" stays a string)', () => {
    assert.equal(parseStatestream('h/update/fw/installed_version', '1.0', { retain: false, strings: 'decoded' }).value, '1.0');
    assert.equal(
      parseStatestream('h/update/fw/installed_version', '1.0', { retain: false }).value,
      1,
      'auto mode reads JSON-looking text as JSON',
    );
  });

  it('keeps an attribute named __proto__ as plain data', () => {
    const record = parseStatestream('h/sensor/x/__proto__', '{"polluted": true}', live);
    assert.deepEqual(record.value, { polluted: true });
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

describe('statestream parseStatestream: base topics', () => {
  it('derives a multi-level base from everything before the last three levels', () => {
    const record = parseStatestream('site/a/home/statestream/climate/hall/current_temperature', '20', live);
    assert.equal(record.baseTopic, 'site/a/home/statestream');
    assert.equal(record.entityId, 'climate.hall');
    assert.equal(record.key, 'current_temperature');
  });

  it('uses a configured base (trailing slash as Home Assistant writes it is ignored)', () => {
    const record = parseStatestream('home/statestream/sensor/x/state', '1', { retain: false, baseTopic: 'home/statestream/' });
    assert.equal(record.baseTopic, 'home/statestream');
  });

  it('refuses a topic outside the configured base, or with the wrong depth below it', () => {
    expectError('base-mismatch', () => parseStatestream('other/sensor/x/state', '1', { retain: false, baseTopic: 'home' }));
    expectError('base-mismatch', () => parseStatestream('homeassistant/sensor/x/state', '1', { retain: false, baseTopic: 'home' }));
    expectError('base-mismatch', () => parseStatestream('home/extra/sensor/x/state', '1', { retain: false, baseTopic: 'home' }));
    expectError('base-mismatch', () => parseStatestream('home/sensor/state', '1', { retain: false, baseTopic: 'home' }));
  });
});

describe('statestream parseStatestream: bad topics and payloads', () => {
  const badTopics: Array<[unknown, StatestreamErrorCode]> = [
    ['', 'topic-too-short'],
    ['sensor/x/state', 'topic-too-short'],
    ['state', 'topic-too-short'],
    ['homeassistant//x/state', 'topic-empty-level'],
    ['homeassistant/sensor//state', 'topic-empty-level'],
    ['homeassistant/sensor/x/', 'topic-empty-level'],
    ['/sensor/x/state', 'topic-empty-level'],
    ['a//b/sensor/x/state', 'topic-empty-level'],
    ['homeassistant/+/x/state', 'topic-wildcard'],
    ['homeassistant/sensor/x/#', 'topic-wildcard'],
    ['homeassistant/#', 'topic-wildcard'],
    ['homeassistant/sensor/x y/state', 'topic-bad-entity'],
    ['homeassistant/sen.sor/x/state', 'topic-bad-entity'],
    ['homeassistant/sensor/x\u0000/state', 'topic-invalid'],
    ['homeassistant/sensor/x/\uD800', 'topic-invalid'],
    [42, 'topic-invalid'],
    [undefined, 'topic-invalid'],
    ['a/'.repeat(40000) + 'sensor/x/state', 'topic-invalid'],
    // Over the 1,024 characters the messages table stores (issue #16: dropped by MySQL, kept by SQLite).
    ['homeassistant/sensor/x/' + 'k'.repeat(1002), 'topic-too-long'],
    ['h/sensor/x/' + '\u{1F600}'.repeat(1014), 'topic-too-long'],
  ];
  for (const [topic, code] of badTopics) {
    it(`refuses the topic ${JSON.stringify(topic)?.slice(0, 40)} with ${code}`, () => {
      const err = expectError(code, () => parseStatestream(topic, 'on', live));
      if (typeof topic === 'string') assert.ok(err.topic !== undefined && err.topic.length <= 301);
    });
  }

  it('refuses invalid UTF-8 bytes and lone surrogates', () => {
    expectError('invalid-utf8', () => parseStatestream('h/sensor/x/state', Buffer.from([0x6f, 0xff, 0x6e]), live));
    expectError('invalid-utf8', () => parseStatestream('h/sensor/x/state', 'o\uDC00n', live));
  });

  it('refuses payloads over the size limit, whatever their form', () => {
    const options = { retain: false, maxPayloadBytes: 100 };
    expectError('payload-too-large', () => parseStatestream('h/sensor/x/state', Buffer.alloc(101, 0x61), options));
    expectError('payload-too-large', () => parseStatestream('h/sensor/x/state', 'é'.repeat(51), options));
    expectError('payload-too-large', () => parseStatestream('h/sensor/x/list', Array(60).fill(1), options));
    assert.equal(parseStatestream('h/sensor/x/state', 'é'.repeat(50), options).value, 'é'.repeat(50));
  });

  it('accepts large payloads under the default 1 MiB limit', () => {
    const big = JSON.stringify({ data: 'x'.repeat(200_000) });
    assert.equal((parseStatestream('h/sensor/x/blob', Buffer.from(big), live).value as { data: string }).data.length, 200_000);
  });

  it('refuses JSON nested deeper than 64 levels, as wire text or decoded upstream, on any key', () => {
    const text = (levels: number): string => '['.repeat(levels) + ']'.repeat(levels);
    for (const key of ['state', 'last_updated', 'friendly_name']) {
      const topic = `h/sensor/x/${key}`;
      for (const payload of [text(65), Buffer.from(text(65)), JSON.parse(text(65)) as unknown, JSON.parse(text(100_000)) as unknown]) {
        const err = expectError('payload-too-deep', () => parseStatestream(topic, payload, live));
        assert.equal(err.topic, topic);
      }
    }
    assert.equal(parseStatestream('h/sensor/x/list', Buffer.from(text(64)), live).raw, text(64));
    assert.equal(parseStatestream('h/sensor/x/list', JSON.parse(text(64)), live).raw, text(64));
    assert.equal(
      parseStatestream('h/sensor/x/state', '['.repeat(200), live).value,
      '['.repeat(200),
      'a state that is not JSON is not judged',
    );
  });

  it('refuses payload types no MQTT client produces', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const payload of [undefined, () => 1, 10n, Symbol('s'), NaN, Infinity, cyclic]) {
      expectError('payload-type', () => parseStatestream('h/sensor/x/attr', payload, live));
    }
  });

  it('reads an empty payload as an empty state', () => {
    assert.equal(parseStatestream('h/sensor/x/state', Buffer.alloc(0), live).value, '');
  });
});
