/**
 * Window engine benchmark: updates per second, cost per update as windows grow, bytes per
 * series, next to node-red-node-smooth and node-red-contrib-aggregator fed the same input in the
 * same run (their node constructors driven through a minimal fake RED).
 *
 * Run: node --expose-gc dist/bench/window.bench.js
 */
import { join } from 'node:path';
import { SlidingWindows, TumblingWindows, type SlidingWindowOptions } from '../lib/window';
import { ensurePeers } from './support/peers';
import { rate, table } from './support/report';

const MIN = 60_000;
const T0 = Date.UTC(2024, 5, 14, 16, 0, 0);

// ---- measurement helpers -------------------------------------------------------------------

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (collect) {
    collect();
    collect();
  }
}

function heapBytes(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

function fmtRate(x: number): string {
  return x >= 1e6 ? `${(x / 1e6).toFixed(2)} M/s` : `${(x / 1e3).toFixed(0)} k/s`;
}

function fmtBytes(x: number): string {
  return x >= 1024 ? `${(x / 1024).toFixed(2)} KB` : `${x.toFixed(0)} B`;
}

/** Deterministic reading values (1..99, like the rolling-averages publisher). */
const VALUES = Float64Array.from({ length: 1 << 16 }, (_, i) => 1 + ((Math.imul(i, 2654435761) >>> 0) % 99));

// ---- a fake RED, enough for the peers' constructors ---------------------------------------

interface FakeNode {
  input(msg: Record<string, unknown>): void;
  close(): void;
  sent: number;
  last: unknown;
  [key: string]: unknown;
}

function loadPeer(dir: string, file: string, type: string): (config: Record<string, unknown>) => FakeNode {
  let ctor: ((this: FakeNode, config: Record<string, unknown>) => void) | undefined;
  const RED = {
    nodes: {
      createNode(node: FakeNode) {
        const handlers: Record<string, ((msg?: unknown) => void)[]> = {};
        node.on = (event: string, fn: (msg?: unknown) => void) => (handlers[event] ??= []).push(fn);
        node.send = (msg: unknown) => {
          node.sent++;
          node.last = msg;
        };
        node.log = () => undefined;
        node.error = () => undefined;
        node.input = (msg) => handlers.input?.forEach((fn) => fn.call(node, msg));
        node.close = () => handlers.close?.forEach((fn) => fn.call(node));
        node.sent = 0;
      },
      registerType(name: string, fn: typeof ctor) {
        if (name === type) ctor = fn;
      },
    },
    util: {
      getMessageProperty: (msg: Record<string, unknown>, prop: string) => msg[prop],
      setMessageProperty: (msg: Record<string, unknown>, prop: string, value: unknown) => {
        msg[prop] = value;
      },
    },
  };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  (require(join(dir, file)) as (red: typeof RED) => void)(RED);
  if (!ctor) throw new Error(`${type} did not register`);
  const registered = ctor;
  return (config) => {
    const node = {} as FakeNode;
    registered.call(node, config);
    return node;
  };
}

// ---- benchmarks ------------------------------------------------------------------------------

function main(): void {
  if (!(globalThis as { gc?: unknown }).gc) console.log('(run with --expose-gc for memory figures)');
  const peers = ensurePeers({ 'node-red-node-smooth': '^0.1.2', 'node-red-contrib-aggregator': '^2.0.0' });
  const smooth = loadPeer(peers['node-red-node-smooth'], '17-smooth.js', 'smooth');
  const aggregator = loadPeer(peers['node-red-contrib-aggregator'], 'aggregator/aggregator.js', 'aggregator');

  console.log(`node ${process.version}, ${process.arch}; rates per CPU-second on one core; every series at 1 Hz unless stated`);

  // 1. Throughput: 1/5/30-min averages.
  const throughput: string[][] = [];
  const engineRun = (options: SlidingWindowOptions, series: number, stepMs: number, read: boolean) => {
    const keys = Array.from({ length: series }, (_, i) => `sensor/${i}`);
    return rate((n) => {
      const w = new SlidingWindows({ ...options, maxSeries: Math.max(series, 1) });
      let t = T0;
      for (let i = 0; i < n; i++) {
        const key = keys[i % series];
        if (i % series === 0) t += stepMs;
        w.add(key, VALUES[i & 0xffff], t);
        if (read) w.read(key, t);
      }
    });
  };
  throughput.push(['engine add, 1 series @1 Hz, window/60 buckets', fmtRate(engineRun({}, 1, 1000, false))]);
  throughput.push(['engine add, 1 series @10 Hz, window/60 buckets', fmtRate(engineRun({}, 1, 100, false))]);
  throughput.push(['engine add, 1,000 series @1 Hz, window/60 buckets', fmtRate(engineRun({}, 1000, 1000, false))]);
  throughput.push(['engine add, 1,000 series @1 Hz, exact 1 s buckets', fmtRate(engineRun({ bucketMs: 1000 }, 1000, 1000, false))]);
  throughput.push(['engine add + read (emit per value), 1,000 series', fmtRate(engineRun({}, 1000, 1000, true))]);
  throughput.push([
    'engine add, mean+count+sum+min+max, 1,000 series',
    fmtRate(engineRun({ aggregates: ['mean', 'count', 'sum', 'min', 'max'] }, 1000, 1000, false)),
  ]);

  // Peers, same input: node-red-node-smooth needs one node per window (count 60/300/1800 = the
  // 1/5/30-min windows at 1 Hz); each node gets its own msg, since smooth overwrites msg.payload.
  const smoothRun = (series: number, action: string) =>
    rate((n) => {
      const nodes = [60, 300, 1800].map((count) => smooth({ action, count, mult: 'multi', round: '' }));
      for (let i = 0; i < n; i++) {
        const topic = `sensor/${i % series}`;
        const payload = VALUES[i & 0xffff];
        for (const node of nodes) node.input({ topic, payload });
      }
    });
  throughput.push(['node-red-node-smooth x3 (mean, count 60/300/1800), 1 series', fmtRate(smoothRun(1, 'mean'))]);
  throughput.push(['node-red-node-smooth x3 (mean, count 60/300/1800), 1,000 series', fmtRate(smoothRun(1000, 'mean'))]);
  throughput.push(['node-red-node-smooth x3 (max, count 60/300/1800), 1,000 series', fmtRate(smoothRun(1000, 'max'))]);
  table('1/5/30-min rolling averages: updates per second (one reading = one update of all three windows)', ['', 'updates/s'], throughput);

  // 2. Constant cost per update as the window grows.
  const growth: string[][] = [];
  for (const [label, ms] of [
    ['1 min', MIN],
    ['1 h', 60 * MIN],
    ['24 h', 1440 * MIN],
  ] as const) {
    const perWindow = engineRun({ windows: [ms] }, 1, 1000, false);
    const exact = engineRun({ windows: [ms], bucketMs: 1000 }, 1, 1000, false);
    const count = ms / 1000;
    const smoothMean = rate(
      (n) => {
        const node = smooth({ action: 'mean', count, mult: 'single', round: '' });
        for (let i = 0; i < n; i++) node.input({ payload: VALUES[i & 0xffff] });
      },
      Math.max(20_000, 2 * count),
    );
    const smoothMax = rate(
      (n) => {
        const node = smooth({ action: 'max', count, mult: 'single', round: '' });
        for (let i = 0; i < n; i++) node.input({ payload: VALUES[i & 0xffff] });
      },
      Math.max(2_000, 2_000_000 / count),
      300,
    );
    const engineMax = engineRun({ windows: [ms], bucketMs: 1000, aggregates: ['max'] }, 1, 1000, false);
    growth.push([label, fmtRate(perWindow), fmtRate(exact), fmtRate(engineMax), fmtRate(smoothMean), fmtRate(smoothMax)]);
  }
  table(
    'Cost per update as the window grows (1 series @1 Hz; smooth sized to the same number of samples)',
    ['window', 'engine W/60', 'engine 1 s', 'engine max 1 s', 'smooth mean', 'smooth max'],
    growth,
  );

  // 3. Bytes per series.
  const memory: string[][] = [];
  const SERIES = 10_000;
  // maxSeries = the series count, so the slab holds exactly that many slots (no doubling slack).
  const engineBytes = (options: SlidingWindowOptions, series: number): number => {
    const before = heapBytes();
    const w = new SlidingWindows({ ...options, maxSeries: series });
    // one reading per series per 30 s bucket over 30 min touches every level's buckets
    for (let t = T0; t < T0 + 30 * MIN; t += 30_000) for (let s = 0; s < series; s++) w.add(`sensor/${s}`, VALUES[s & 0xffff], t);
    const bytes = (heapBytes() - before) / series;
    if (w.stats.series !== series) throw new Error('series missing');
    return bytes;
  };
  memory.push([`engine, 1/5/30 min, window/60 buckets (180), ${SERIES} series`, fmtBytes(engineBytes({}, SERIES))]);
  memory.push(['engine, 1/5/30 min, exact 1 s buckets (1,800), 2000 series', fmtBytes(engineBytes({ bucketMs: 1000 }, 2000))]);
  memory.push([
    `engine, + min/max, window/60 buckets, ${SERIES} series`,
    fmtBytes(engineBytes({ aggregates: ['mean', 'min', 'max'] }, SERIES)),
  ]);
  const PEER_SERIES = 200;
  {
    const before = heapBytes();
    const nodes = [60, 300, 1800].map((count) => smooth({ action: 'mean', count, mult: 'multi', round: '' }));
    for (let i = 0; i < 1800; i++) {
      for (let s = 0; s < PEER_SERIES; s++)
        for (const node of nodes) node.input({ topic: `sensor/${s}`, payload: VALUES[(i + s) & 0xffff] });
    }
    memory.push(['node-red-node-smooth x3 @1 Hz (windows full)', fmtBytes((heapBytes() - before) / PEER_SERIES)]);
    if (nodes.some((node) => node.sent === 0)) throw new Error('smooth sent nothing'); // also keeps the nodes alive until measured
    memory.push(['node-red-node-smooth x3 @10 Hz (counts x10; computed, 8 B/sample)', `>= ${fmtBytes(21_600 * 8)}`]);
  }
  table(`Memory per series (heap + external after GC; peers ${PEER_SERIES} series)`, ['', 'bytes/series'], memory);

  // 4. Per-minute tumbling aggregates (sensors pipeline) vs node-red-contrib-aggregator.
  const tumbling: string[][] = [];
  const SENSORS = 1000;
  const PER_MINUTE = 600; // 10 Hz per sensor
  const ours = rate((n) => {
    const w = new TumblingWindows({ graceMs: 0 });
    let t = T0;
    for (let i = 0; i < n; i++) {
      if (i % SENSORS === 0) t += 100;
      w.add(String(i % SENSORS), VALUES[i & 0xffff], t);
      if (i % (SENSORS * PER_MINUTE) === SENSORS * PER_MINUTE - 1) w.tick(t);
    }
  }, 2_000_000);
  let open: FakeNode[] = [];
  const theirs = rate((n) => {
    const node = aggregator({ intervalCount: 1, intervalUnits: 'm', aggregationType: 'mean', submitPerTopic: true });
    open.push(node);
    for (let i = 0; i < n; i++) {
      node.input({ topic: String(i % SENSORS), payload: VALUES[i & 0xffff] });
      if (i % (SENSORS * PER_MINUTE) === SENSORS * PER_MINUTE - 1) (node.aggregateAll as () => void)();
    }
  }, 2_000_000);
  for (const node of open) node.close();
  open = [];
  tumbling.push(['engine TumblingWindows (add + tick per minute)', fmtRate(ours)]);
  tumbling.push(['node-red-contrib-aggregator (input + aggregateAll per minute)', fmtRate(theirs)]);
  table(`Per-minute mean, ${SENSORS} sensors @10 Hz`, ['', 'readings/s'], tumbling);
}

main();
