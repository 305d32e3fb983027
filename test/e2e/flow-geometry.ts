/**
 * What a tab looks like in the rendered editor, measured in the browser: every node's box (as
 * the editor sized it for its label), its status text's box, every wire's path and every node's
 * fill colour. `layoutProblems` turns that into the defects a user sees: a node cut off at the
 * canvas's left or top edge, nodes on top of each other, a status text running under another
 * node, a wire drawn across a comment or a node it does not connect.
 */

export interface Box {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

export interface NodeShape {
  id: string;
  type: string;
  label: string;
  box: Box;
  /** The status text's box (workspace coordinates), when the node shows one. */
  status?: Box & { text: string };
  fill: string;
}

export interface WireShape {
  source: string;
  target: string;
  /** Points along the drawn path, every few pixels (workspace coordinates). */
  points: [number, number][];
}

export interface TabShape {
  nodes: NodeShape[];
  wires: WireShape[];
}

/**
 * Runs in the page (page.evaluate): the active tab's nodes and wires. Workspace coordinates are
 * the flow's x/y: the editor's screen boxes are mapped back through the view's scale and scroll.
 */
export function measureActiveTab(): TabShape {
  const RED = (globalThis as unknown as { RED: any }).RED; // eslint-disable-line @typescript-eslint/no-explicit-any
  const chart = document.getElementById('red-ui-workspace-chart')!;
  const origin = chart.getBoundingClientRect();
  const scale: number = RED.view.scale();
  const toWorkspace = (x: number, y: number): [number, number] => [
    (x - origin.left + chart.scrollLeft) / scale,
    (y - origin.top + chart.scrollTop) / scale,
  ];
  const boxOf = (element: Element): Box => {
    const r = element.getBoundingClientRect();
    const [left, top] = toWorkspace(r.left, r.top);
    const [right, bottom] = toWorkspace(r.right, r.bottom);
    return { left, top, right, bottom };
  };
  const nodes: NodeShape[] = [];
  RED.nodes.eachNode((n: { id: string; type: string; z: string; x: number; y: number; w: number; h: number }) => {
    if (n.z !== RED.workspaces.active()) return;
    const group = document.getElementById(n.id);
    const rect = group?.querySelector('.red-ui-flow-node');
    if (!group || !rect) return;
    const label = (group.querySelector('.red-ui-flow-node-label')?.textContent ?? '').trim();
    const box = { left: n.x - n.w / 2, top: n.y - n.h / 2, right: n.x + n.w / 2, bottom: n.y + n.h / 2 };
    // An inject or debug node's button sits outside its box, on the left or right.
    const button = group.querySelector('.red-ui-flow-node-button');
    if (button && getComputedStyle(button).display !== 'none') {
      const b = boxOf(button);
      Object.assign(box, { left: Math.min(box.left, b.left), right: Math.max(box.right, b.right) });
    }
    const shape: NodeShape = { id: n.id, type: n.type, label, box, fill: getComputedStyle(rect).fill };
    const statusGroup = group.querySelector('.red-ui-flow-node-status-group') as SVGGElement | null;
    const statusText = (group.querySelector('.red-ui-flow-node-status-label')?.textContent ?? '').trim();
    if (statusGroup && statusText && getComputedStyle(statusGroup).display !== 'none')
      shape.status = { ...boxOf(statusGroup), text: statusText };
    nodes.push(shape);
  });
  const wires: WireShape[] = [];
  for (const path of Array.from(document.querySelectorAll('.red-ui-flow-link-path'))) {
    // d3 keeps the link on the element; a path without one is a drag line, not a wire.
    const link = (path as unknown as { __data__?: { source?: { id: string }; target?: { id: string } } }).__data__;
    if (!link?.source || !link.target) continue;
    const svgPath = path as SVGPathElement;
    const matrix = svgPath.getScreenCTM();
    if (!matrix) continue;
    const length = svgPath.getTotalLength();
    const points: [number, number][] = [];
    for (let at = 0; at <= length; at += 4) {
      const p = svgPath.getPointAtLength(at);
      points.push(toWorkspace(p.x * matrix.a + p.y * matrix.c + matrix.e, p.x * matrix.b + p.y * matrix.d + matrix.f));
    }
    wires.push({ source: link.source.id, target: link.target.id, points });
  }
  return { nodes, wires };
}

const overlaps = (a: Box, b: Box, gap = 0): boolean =>
  a.left < b.right + gap && b.left < a.right + gap && a.top < b.bottom + gap && b.top < a.bottom + gap;
const inside = ([x, y]: [number, number], b: Box): boolean => x > b.left && x < b.right && y > b.top && y < b.bottom;

/**
 * Layout defects of one tab, one line each (empty: tidy). `margin`: the least distance from the
 * canvas's left and top edge. `statusRoom`: how far right of its start a status text may run
 * without meeting another node, whatever it says now (statuses grow: counts, averages, reasons).
 */
export function layoutProblems(tab: TabShape, options: { margin?: number; statusRoom?: number } = {}): string[] {
  const margin = options.margin ?? 20;
  const statusRoom = options.statusRoom ?? 0;
  const problems: string[] = [];
  const name = (n: NodeShape): string => `${n.type} "${n.label || n.id}"`;
  for (const node of tab.nodes) {
    if (node.box.left < margin || node.box.top < margin)
      problems.push(`${name(node)} is cut off at the canvas edge (left ${Math.round(node.box.left)}, top ${Math.round(node.box.top)})`);
  }
  for (const [i, a] of tab.nodes.entries()) {
    for (const b of tab.nodes.slice(i + 1)) if (overlaps(a.box, b.box, 5)) problems.push(`${name(a)} and ${name(b)} overlap`);
  }
  for (const node of tab.nodes) {
    if (!node.status) continue;
    const room = { ...node.status, right: Math.max(node.status.right, node.status.left + statusRoom) };
    for (const other of tab.nodes) {
      if (other === node) continue;
      if (overlaps(node.status, other.box)) problems.push(`the status of ${name(node)} ("${node.status.text}") runs under ${name(other)}`);
      else if (overlaps(room, other.box))
        problems.push(`${name(other)} sits in the room of the status of ${name(node)} (${statusRoom} px)`);
    }
  }
  for (const wire of tab.wires) {
    for (const node of tab.nodes) {
      if (node.id === wire.source || node.id === wire.target) continue;
      const crossed = wire.points.some((p) => inside(p, node.box));
      if (crossed) problems.push(`the wire ${wire.source} → ${wire.target} crosses ${name(node)}`);
    }
  }
  return problems;
}
