/** The iotp-hass-simulator node: off unless enabled, a start-up burst then updates at the rate, stops on close. */
import assert from 'node:assert/strict';
import { isEnabled } from '../../../lib/simulator';
import simulatorNode, { updatesDue } from '../../../nodes/iotp-hass-simulator/iotp-hass-simulator';
import statestreamNode from '../../../nodes/iotp-statestream/iotp-statestream';
import { flow as testFlow, helper } from '../../support/helper';

const sim = (props: Record<string, unknown> = {}) => ({
  id: 'sim',
  type: 'iotp-hass-simulator',
  enabled: 'true',
  baseTopic: 'home/statestream',
  rate: 50,
  entitiesPerDomain: 1,
  publishTimestamps: true,
  publishAttributes: true,
  seed: 'test',
  version: 1,
  wires: [['out']],
  ...props,
});

const events = (id: string): NodeJS.EventEmitter => helper.getNode(id) as unknown as NodeJS.EventEmitter;

describe('iotp-hass-simulator node', function () {
  this.timeout(20000);
  afterEach(() => helper.unload());

  it('reads enabled from text as settings give it', () => {
    for (const v of ['true', 'TRUE', '1', 'yes', 'on', true]) assert.equal(isEnabled(v), true, String(v));
    for (const v of ['false', '0', '', '${SIMULATE}', undefined, 'no']) assert.equal(isEnabled(v), false, String(v));
  });

  it('spreads updates at the rate without a catch-up burst after a stall', () => {
    assert.equal(updatesDue(10, 0, 1000, 0), 10);
    assert.equal(updatesDue(10, 0, 1050, 10), 0);
    assert.equal(updatesDue(10, 0, 1100, 10), 1);
    assert.equal(updatesDue(10, 0, 60_000, 10), 10, 'at most one second worth');
    assert.equal(updatesDue(0.5, 0, 1999, 0), 0);
    assert.equal(updatesDue(0.5, 0, 2000, 0), 1);
  });

  it('publishes nothing when disabled', async () => {
    await helper.load([simulatorNode], testFlow([sim({ enabled: 'false' }), { id: 'out', type: 'helper' }]));
    let count = 0;
    events('out').on('input', () => count++);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(count, 0);
  });

  it('publishes the start-up state of every entity, then updates, all parseable statestream, and stops on close', async () => {
    await helper.load(
      [simulatorNode, statestreamNode],
      testFlow([
        sim({ wires: [['out', 'ss']] }),
        {
          id: 'ss',
          type: 'iotp-statestream',
          baseTopic: 'home/statestream',
          strings: 'raw',
          output: 'record',
          quietMs: 100,
          maxPayload: 1048576,
          version: 1,
          wires: [['parsed']],
        },
        { id: 'out', type: 'helper' },
        { id: 'parsed', type: 'helper' },
      ]),
    );
    const messages: Array<{ topic: string; payload: string; qos: number; retain: boolean }> = [];
    let parsed = 0;
    const errors: unknown[] = [];
    events('out').on('input', (m: (typeof messages)[number]) => messages.push(m));
    events('parsed').on('input', () => parsed++);
    events('ss').on('call:error', (call: { args: unknown[] }) => errors.push(call.args[0]));
    await new Promise((r) => setTimeout(r, 600));
    const states = messages.filter((m) => m.topic.endsWith('/state'));
    assert.ok(states.length > 5 + 10, `start-up (5 entities) plus updates at 50/s, got ${states.length}`);
    assert.deepEqual([...new Set(states.slice(0, 5).map((m) => m.topic.split('/')[2]))].sort(), [
      'binary_sensor',
      'climate',
      'light',
      'sensor',
      'switch',
    ]);
    assert.ok(messages.every((m) => m.qos === 1 && m.retain === true && typeof m.payload === 'string'));
    // The parser's output is one hop further than `out` while the simulator keeps publishing:
    // every message seen so far must come out parsed once those hops are done.
    const seen = messages.length;
    for (const deadline = Date.now() + 2000; parsed < seen && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 10));
    assert.ok(parsed >= seen, `${parsed} of ${seen} messages parsed`);
    assert.deepEqual(errors, []);
    await helper.unload();
    const after = messages.length;
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(messages.length, after);
  });
});
