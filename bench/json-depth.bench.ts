/**
 * What the nesting limit (lib/json-depth.ts) costs on the paths it guards, beside the work those
 * paths do anyway, measured in the same run on the same payloads:
 * - MQTT decoding and the statestream parser: JSON.parse of the text, then the depth check of the
 *   same text (nothing for short text, one pass over the characters otherwise);
 * - the writer's object values and the statestream's pre-parsed payloads: JSON.stringify alone
 *   vs jsonTextWithinDepth (the same stringify, then the check of its text).
 * Payloads: a Home Assistant attribute, a sensor reading, then larger JSON documents up to the
 * 1 MiB payload limit.
 *
 * Run: node dist/bench/json-depth.bench.js
 */
import { jsonTextDeeperThan, jsonTextWithinDepth } from '../lib/json-depth';

/** Operations per CPU-second of `body`, run until it took at least `minMs` of CPU time. */
function rate(body: (n: number) => void, minMs = 300): number {
  body(1000); // warm-up (JIT)
  for (let ops = 1000; ; ) {
    const start = process.cpuUsage();
    body(ops);
    const used = process.cpuUsage(start);
    const ms = (used.user + used.system) / 1000;
    if (ms >= minMs) return (ops / ms) * 1000;
    ops *= Math.max(2, Math.ceil(minMs / Math.max(ms, 1)));
  }
}

function fmtTime(opsPerSecond: number): string {
  const us = 1e6 / opsPerSecond;
  return us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : us >= 1 ? `${us.toFixed(2)} µs` : `${(us * 1000).toFixed(0)} ns`;
}

function table(title: string, header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(`\n${title}`);
  console.log(line(header));
  for (const row of rows) console.log(line(row));
}

/** A document of about `bytes` bytes: readings with nested metadata, as a batch upload carries them. */
function document(bytes: number): unknown {
  const reading = { sensor_id: '17', timestamp: '2024-06-14T16:00:00.123456', value: 21.5, metadata: { location: { lat: 52.52, lng: 13.4 }, unit: 'C', tags: ['a', 'b'] } };
  const one = JSON.stringify(reading).length + 1;
  return { readings: Array.from({ length: Math.max(1, Math.round(bytes / one)) }, () => reading) };
}

const payloads: Array<[string, unknown]> = [
  ['HA attribute (friendly_name)', 'Living Room'],
  ['HA attribute (hs_color)', [30.5, 71.2]],
  ['sensor reading', { sensor_id: '17', timestamp: '2024-06-14T16:00:00.123456', value: 21.5, metadata: { location: { lat: 52.52, lng: 13.4 }, unit: 'C' } }],
  ['1 KB document', document(1024)],
  ['64 KB document', document(64 * 1024)],
  ['1 MiB document', document(1024 * 1024)],
];

const parseRows: string[][] = [];
const stringifyRows: string[][] = [];
for (const [name, value] of payloads) {
  const text = JSON.stringify(value);
  let sink = 0;
  const parse = rate((n) => {
    for (let i = 0; i < n; i++) sink += JSON.parse(text) === undefined ? 1 : 0;
  });
  const check = rate((n) => {
    for (let i = 0; i < n; i++) sink += jsonTextDeeperThan(text) ? 1 : 0;
  });
  const parseAndCheck = 1 / (1 / parse + 1 / check);
  parseRows.push([name, `${text.length} B`, fmtTime(parse), fmtTime(check), fmtTime(parseAndCheck), `+${((parse / check) * 100).toFixed(1)} %`]);

  const stringify = rate((n) => {
    for (let i = 0; i < n; i++) sink += JSON.stringify(value).length;
  });
  const within = rate((n) => {
    for (let i = 0; i < n; i++) {
      const out = jsonTextWithinDepth(value);
      sink += typeof out === 'string' ? out.length : 0;
    }
  });
  stringifyRows.push([name, fmtTime(stringify), fmtTime(within), `${(((stringify - within) / stringify) * 100).toFixed(1)} %`]);
  if (sink < 0) console.log(sink);
}

table(
  `Parsing untrusted JSON text (MQTT decode, statestream): JSON.parse alone vs the depth check of the same text (Node ${process.versions.node})`,
  ['payload', 'size', 'JSON.parse', 'depth check', 'both', 'check vs parse'],
  parseRows,
);
table('Serialising object values (writer, statestream pre-parsed): JSON.stringify vs jsonTextWithinDepth', ['payload', 'JSON.stringify', 'with depth limit', 'slower by'], stringifyRows);
