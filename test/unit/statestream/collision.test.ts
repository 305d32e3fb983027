import assert from 'node:assert/strict';
import { BurstTracker, parseStatestream, StatestreamParser } from '../../../lib/statestream';

/** Publishes one Home Assistant burst (state, timestamps, attributes) through a parser. */
function burst(parser: StatestreamParser, at: number, messages: Array<[string, unknown]>, base = 'homeassistant/climate/hall') {
  return messages.map(([key, payload], i) => parser.parse(`${base}/${key}`, payload, false, at + i));
}

describe('statestream collision: an attribute named `state`', () => {
  it('reads a JSON-quoted string on .../state as the attribute (Home Assistant never quotes states)', () => {
    const record = parseStatestream('homeassistant/vacuum/robot/state', Buffer.from('"cleaning"'), { retain: true });
    assert.equal(record.keyKind, 'attribute');
    assert.equal(record.key, 'state');
    assert.equal(record.value, 'cleaning');
  });

  it('reads non-JSON wire text on .../state as the state, even repeated within a burst', () => {
    const parser = new StatestreamParser();
    const [first, second] = burst(parser, 0, [
      ['state', Buffer.from('on')],
      ['state', Buffer.from('off')],
    ]);
    assert.equal(first?.keyKind, 'state');
    assert.equal(second?.keyKind, 'state');
    assert.equal(second?.value, 'off');
  });

  it('treats a repeated plain string as ambiguous (mqtt-in auto-detect may have unquoted an attribute)', () => {
    const parser = new StatestreamParser();
    const [first, second] = burst(parser, 0, [
      ['state', 'on'],
      ['state', 'docked'],
    ]);
    assert.equal(first?.keyKind, 'state');
    assert.equal(second?.keyKind, 'attribute');
    assert.equal(second?.value, 'docked');
  });

  it('reads the first JSON-shaped .../state of a burst as the state, a repeat as the attribute', () => {
    const parser = new StatestreamParser();
    const records = burst(parser, 1000, [
      ['state', Buffer.from('21.5')],
      ['last_updated', Buffer.from('2024-01-01T00:00:00.000001+00:00')],
      ['last_changed', Buffer.from('2024-01-01T00:00:00.000001+00:00')],
      ['friendly_name', Buffer.from('"Hall"')],
      ['state', Buffer.from('3')],
    ]);
    assert.deepEqual(
      records.map((r) => [r?.key, r?.keyKind, r?.value]),
      [
        ['state', 'state', '21.5'],
        ['last_updated', 'timestamp', '2024-01-01T00:00:00.000001Z'],
        ['last_changed', 'timestamp', '2024-01-01T00:00:00.000001Z'],
        ['friendly_name', 'attribute', 'Hall'],
        ['state', 'attribute', 3],
      ],
    );
  });

  it('never flips the state over many updates with pre-parsed payloads (mqtt-in auto-detect)', () => {
    const parser = new StatestreamParser({ burstGapMs: 50 });
    for (let update = 0; update < 20; update++) {
      const at = update * 1000;
      const records = burst(parser, at, [
        ['state', 20 + update],
        ['friendly_name', 'Hall'],
        ['state', 'attribute-value'],
      ]);
      assert.equal(records[0]?.keyKind, 'state');
      assert.equal(records[0]?.value, String(20 + update));
      assert.equal(records[2]?.keyKind, 'attribute');
      assert.equal(records[2]?.value, 'attribute-value');
    }
  });

  it('starts a new burst after the gap, so the next update`s state is the state again', () => {
    const parser = new StatestreamParser({ burstGapMs: 100 });
    assert.equal(parser.parse('h/sensor/p/state', 5, false, 0)?.keyKind, 'state');
    assert.equal(parser.parse('h/sensor/p/state', 6, false, 50)?.keyKind, 'attribute');
    assert.equal(parser.parse('h/sensor/p/state', 7, false, 151)?.keyKind, 'state');
  });

  it('keeps entities apart (same object id, other domain or base)', () => {
    const parser = new StatestreamParser();
    assert.equal(parser.parse('h/sensor/x/state', 1, false, 0)?.keyKind, 'state');
    assert.equal(parser.parse('h/binary_sensor/x/state', 1, false, 1)?.keyKind, 'state');
    assert.equal(parser.parse('other/sensor/x/state', 1, false, 2)?.keyKind, 'state');
  });

  it('forgets bursts on reset (e.g. a reconnect replaying retained topics)', () => {
    const parser = new StatestreamParser();
    parser.parse('h/sensor/x/state', 1, true, 0);
    parser.reset();
    assert.equal(parser.parse('h/sensor/x/state', 1, true, 1)?.keyKind, 'state');
  });
});

describe('statestream collision: attributes named last_updated / last_changed', () => {
  it('reads JSON on a timestamp topic as the attribute (timestamps are bare text)', () => {
    const quoted = parseStatestream('h/sensor/x/last_updated', Buffer.from('"2024-01-01T00:00:00+00:00"'), { retain: false });
    assert.equal(quoted.keyKind, 'attribute');
    assert.equal(quoted.value, '2024-01-01T00:00:00+00:00');
    assert.equal(parseStatestream('h/sensor/x/last_changed', Buffer.from('1700000000'), { retain: false }).keyKind, 'attribute');
    assert.equal(parseStatestream('h/sensor/x/last_changed', 1700000000, { retain: false }).keyKind, 'attribute');
  });

  it('reads a repeated pre-parsed ISO string within a burst as the attribute', () => {
    const parser = new StatestreamParser({ strings: 'decoded' });
    const first = parser.parse('h/sensor/x/last_updated', '2024-01-01T00:00:00+00:00', false, 0);
    const second = parser.parse('h/sensor/x/last_updated', '2023-05-05T00:00:00+00:00', false, 2);
    assert.equal(first?.keyKind, 'timestamp');
    assert.equal(second?.keyKind, 'attribute');
    assert.equal(second?.value, '2023-05-05T00:00:00+00:00');
  });
});

describe('statestream BurstTracker', () => {
  it('stays within its entity bound, dropping closed bursts first', () => {
    const tracker = new BurstTracker({ gapMs: 10, maxEntities: 100 });
    for (let i = 0; i < 1000; i++) tracker.classify(`h/sensor/e${i}`, 'state', 'ambiguous', i * 20);
    assert.ok(tracker.size <= 100);
    // Even with every burst open at once.
    for (let i = 0; i < 1000; i++) tracker.classify(`h/light/e${i}`, 'state', 'ambiguous', 100_000);
    assert.ok(tracker.size <= 100);
  });

  it('returns definite evidence unchanged', () => {
    const tracker = new BurstTracker();
    assert.equal(tracker.classify('e', 'state', 'attribute', 0), 'attribute');
    assert.equal(tracker.classify('e', 'state', 'reserved', 0), 'reserved');
    assert.equal(tracker.classify('e', 'friendly_name', 'attribute', 0), 'attribute');
  });
});
