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
import { rate, table } from './support/report';

function fmtShare(fraction: number): string {
  return `${fraction >= 0 ? '+' : ''}${(fraction * 100).toFixed(1)} %`;
}

function fmtTime(opsPerSecond: number): string {
  const us = 1e6 / opsPerSecond;
  return us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : us >= 1 ? `${us.toFixed(2)} µs` : `${(us * 1000).toFixed(0)} ns`;
}

/** A document of about `bytes` bytes: readings with nested metadata, as a batch upload carries them. */
function document(bytes: number): unknown {
  const reading = {
    sensor_id: '17',
    timestamp: '2024-06-14T16:00:00.123456',
    value: 21.5,
    metadata: { location: { lat: 52.52, lng: 13.4 }, unit: 'C', tags: ['a', 'b'] },
  };
  const one = JSON.stringify(reading).length + 1;
  return { readings: Array.from({ length: Math.max(1, Math.round(bytes / one)) }, () => reading) };
}

const payloads: Array<[string, unknown]> = [
  ['HA attribute (friendly_name)', 'Living Room'],
  ['HA attribute (hs_color)', [30.5, 71.2]],
  [
    'sensor reading',
    { sensor_id: '17', timestamp: '2024-06-14T16:00:00.123456', value: 21.5, metadata: { location: { lat: 52.52, lng: 13.4 }, unit: 'C' } },
  ],
  ['1 KB document', document(1024)],
  ['64 KB document', document(64 * 1024)],
  ['1 MiB document', document(1024 * 1024)],
];

const parseRows: string[][] = [];
const stringifyRows: string[][] = [];
for (const [name, value] of payloads) {
  const text = JSON.stringify(value);
  let sink = 0;
  const ops = Math.max(10, Math.round(2_000_000 / text.length));
  const parse = rate((n) => {
    for (let i = 0; i < n; i++) sink += JSON.parse(text) === undefined ? 1 : 0;
  }, ops);
  const check = rate((n) => {
    for (let i = 0; i < n; i++) sink += jsonTextDeeperThan(text) ? 1 : 0;
  }, ops);
  const parseAndCheck = 1 / (1 / parse + 1 / check);
  parseRows.push([name, `${text.length} B`, fmtTime(parse), fmtTime(check), fmtTime(parseAndCheck), fmtShare(parse / check)]);

  const stringify = rate((n) => {
    for (let i = 0; i < n; i++) sink += JSON.stringify(value).length;
  }, ops);
  const within = rate((n) => {
    for (let i = 0; i < n; i++) {
      const out = jsonTextWithinDepth(value);
      sink += typeof out === 'string' ? out.length : 0;
    }
  }, ops);
  stringifyRows.push([name, fmtTime(stringify), fmtTime(within), fmtShare(stringify / within - 1)]);
  if (sink < 0) console.log(sink);
}

table(
  `Parsing untrusted JSON text (MQTT decode, statestream): JSON.parse alone vs the depth check of the same text (Node ${process.versions.node})`,
  ['payload', 'size', 'JSON.parse', 'depth check', 'both', 'check vs parse'],
  parseRows,
);
table(
  'Serialising object values (writer, statestream pre-parsed): JSON.stringify vs jsonTextWithinDepth',
  ['payload', 'JSON.stringify', 'with depth limit', 'difference'],
  stringifyRows,
);
