/**
 * nodes/shared/define-node.ts, with test node types defined through it: the stored properties
 * brought to the current version, a missing config node as the start-up failure, and the one
 * start-up error path (logged once, red status, every later message ends with the error, after
 * the node's refuse hook answered it).
 */
import assert from 'node:assert/strict';
import type { Node, NodeAPI, NodeMessageInFlow } from 'node-red';
import { defineNode } from '../../nodes/shared/define-node';
import { collect, flow, helper, nextEvent } from '../support/helper';

interface ProbeConfig {
  target?: string;
  failAtStart?: string;
  version?: number;
  renamed?: string;
  old?: string;
}

type Call = { args: unknown[] };

/** The helper reports each call as an event on the next tick: let those of the start-up pass. */
const settled = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function probeNodes(RED: NodeAPI): void {
  defineNode(RED, { type: 'test-probe-config', setup() {} });
  defineNode<ProbeConfig>(RED, {
    type: 'test-probe',
    migrations: [
      { version: 1, up: (config) => ({ ...config }) },
      { version: 2, up: ({ old, ...config }) => ({ ...config, renamed: old ?? 'unset' }) },
    ],
    setup({ node, config, configNode, startupFailed, onInput }) {
      if (config.failAtStart) {
        // Before any input handler is set, as a node that returns early does.
        startupFailed(new Error(config.failAtStart), { status: 'cannot start' });
        return;
      }
      const target = configNode<Node>(config.target, 'no target configured');
      onInput(
        (msg, send, done) => {
          send({ ...msg, payload: { target: target?.id, version: config.version, renamed: config.renamed } } as NodeMessageInFlow);
          done();
        },
        (msg, send, err) => send({ ...msg, payload: { refused: err.message } } as NodeMessageInFlow),
      );
      node.on('close', () => undefined);
    },
  });
}

describe('defineNode (nodes/shared/define-node.ts)', () => {
  afterEach(async () => {
    await helper.unload();
  });

  it('brings stored properties to the current version and hands the node its config node', async () => {
    await helper.load(
      [probeNodes as never],
      flow([
        { id: 'cfg', type: 'test-probe-config' },
        { id: 'probe', type: 'test-probe', target: 'cfg', old: 'kept', wires: [['out']] },
        { id: 'out', type: 'helper' },
      ]),
    );
    const received = collect<{ payload: unknown }>(helper.getNode('out'), 1);
    helper.getNode('probe').receive({ payload: 'x' } as never);
    assert.deepEqual((await received)[0].payload, { target: 'cfg', version: 2, renamed: 'kept' });
  });

  it('a missing config node: logged once, red status, every message answered by refuse and ended with the error', async () => {
    await helper.load(
      [probeNodes as never],
      flow([
        { id: 'probe', type: 'test-probe', target: 'gone', version: 2, wires: [['out']] },
        { id: 'out', type: 'helper' },
      ]),
    );
    await settled();
    const probe = helper.getNode('probe') as unknown as NodeJS.EventEmitter & {
      receive(msg: unknown): void;
      error: { callCount: number; args: unknown[][] };
      status: { args: unknown[][] };
    };
    assert.equal(probe.error.callCount, 1, 'logged once at start');
    assert.equal(probe.error.args[0][0], 'no target configured');
    assert.deepEqual(probe.status.args.at(-1)?.[0], { fill: 'red', shape: 'ring', text: 'no target configured' });
    for (const n of [1, 2]) {
      const refused = collect<{ payload: unknown }>(helper.getNode('out'), 1);
      const failed = nextEvent<Call>(probe, 'call:error');
      probe.receive({ payload: n });
      assert.deepEqual((await refused)[0].payload, { refused: 'no target configured' });
      const [err, msg] = (await failed).args as [Error, { payload: unknown }];
      assert.equal(err.message, 'no target configured', `message ${n} ends with the start-up error`);
      assert.equal(msg.payload, n);
    }
  });

  it('a failure before the input handler is set still ends every message with the error', async () => {
    await helper.load([probeNodes as never], flow([{ id: 'probe', type: 'test-probe', failAtStart: 'bad settings' }]));
    await settled();
    const probe = helper.getNode('probe') as unknown as NodeJS.EventEmitter & {
      receive(msg: unknown): void;
      status: { args: unknown[][] };
    };
    assert.deepEqual(probe.status.args.at(-1)?.[0], { fill: 'red', shape: 'ring', text: 'cannot start' });
    const failed = nextEvent<Call>(probe, 'call:error');
    probe.receive({ payload: 1 });
    assert.equal(((await failed).args[0] as Error).message, 'bad settings');
  });
});
