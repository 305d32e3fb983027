import assert from 'node:assert/strict';
import { downstreamOf, type FlowNodeConfig } from '../../lib/flow-graph';

const graph = (nodes: FlowNodeConfig[]): Map<string, FlowNodeConfig> => new Map(nodes.map((n) => [n.id, n]));
const reached = (start: string, nodes: FlowNodeConfig[]): { ids: string[]; complete: boolean } => {
  const result = downstreamOf(start, graph(nodes));
  return { ids: result.nodes.map((n) => n.id).sort(), complete: result.complete };
};

describe('flow graph: which nodes a node reaches', () => {
  it('follows wires of every output, once per node, through loops', () => {
    const nodes = [
      { id: 'in', type: 'iotp-mqtt-in', wires: [['parse']] },
      { id: 'parse', type: 'iotp-statestream', wires: [['write'], ['debug']] },
      { id: 'write', type: 'iotp-db-write', wires: [['parse']] },
      { id: 'debug', type: 'debug', wires: [] },
      { id: 'other', type: 'iotp-db-write', wires: [] },
    ];
    assert.deepEqual(reached('in', nodes), { ids: ['debug', 'parse', 'write'], complete: true });
  });

  it('follows a link out to its link in nodes and a static link call into the called nodes and on', () => {
    const nodes = [
      { id: 'in', type: 'iotp-mqtt-in', wires: [['out', 'call']] },
      { id: 'out', type: 'link out', mode: 'link', links: ['li'], wires: [] },
      { id: 'li', type: 'link in', wires: [['w1']] },
      { id: 'w1', type: 'iotp-db-write', wires: [[]] },
      { id: 'call', type: 'link call', linkType: 'static', links: ['li2'], wires: [['w2']] },
      { id: 'li2', type: 'link in', wires: [['fn']] },
      { id: 'fn', type: 'function', wires: [['ret']] },
      { id: 'ret', type: 'link out', mode: 'return', wires: [] },
      { id: 'w2', type: 'iotp-db-write', wires: [[]] },
    ];
    const result = reached('in', nodes);
    assert.deepEqual(result.ids, ['call', 'fn', 'li', 'li2', 'out', 'ret', 'w1', 'w2']);
    assert.equal(result.complete, false, 'a return-mode link out goes back to whichever call came');
  });

  it('says when a path cannot be followed: subflow instances, dynamic link calls, an unknown start', () => {
    assert.equal(
      reached('in', [
        { id: 'in', type: 'x', wires: [['sf']] },
        { id: 'sf', type: 'subflow:abc', wires: [] },
      ]).complete,
      false,
    );
    assert.equal(
      reached('in', [
        { id: 'in', type: 'x', wires: [['c']] },
        { id: 'c', type: 'link call', linkType: 'dynamic', wires: [] },
      ]).complete,
      false,
    );
    assert.deepEqual(reached('nope', []), { ids: [], complete: false });
    assert.deepEqual(
      reached('in', [{ id: 'in', type: 'x', wires: [['gone']] }]),
      { ids: [], complete: true },
      'a wire to a deleted node leads nowhere',
    );
  });
});
