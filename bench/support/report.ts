/** Measuring and printing helpers shared by the benchmarks. */

/**
 * Runs `body(n)` with growing n until it takes >= minMs of CPU time; returns operations per
 * CPU-second of the last run. CPU time rather than wall time: the figures should not depend on
 * what else the machine is running (single core either way: the code measured is synchronous).
 */
export function rate(body: (n: number) => void, ops = 200_000, minMs = 250): number {
  body(Math.min(ops, 50_000)); // warm-up (JIT)
  for (;;) {
    const start = process.cpuUsage();
    body(ops);
    const used = process.cpuUsage(start);
    const ms = (used.user + used.system) / 1000;
    if (ms >= minMs) return (ops / ms) * 1000;
    ops *= Math.max(2, Math.ceil(minMs / Math.max(ms, 1)));
  }
}

/** Prints a titled table: the first column left-aligned, the others right-aligned. */
export function table(title: string, header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(`\n${title}`);
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}
