/**
 * Home Assistant statestream traffic for the trigger benchmarks: ~500 entities x 10 keys (state,
 * two timestamps, seven attributes) across several domains, in Home Assistant's burst order.
 */

/** Entities per data set; each contributes 10 rows per update. */
export const ENTITIES = 500;

export interface Row {
  topic: string;
  payload: string;
}

const DOMAINS = ['sensor', 'binary_sensor', 'light', 'switch', 'climate'];
const ATTRIBUTES: Array<[string, (i: number, n: number) => string]> = [
  ['friendly_name', (i) => JSON.stringify(`Room ${i} device`)],
  ['unit_of_measurement', () => JSON.stringify('°C')],
  ['device_class', () => JSON.stringify('temperature')],
  ['state_class', () => JSON.stringify('measurement')],
  ['icon', () => JSON.stringify('mdi:thermometer')],
  ['battery_level', (i, n) => String((i * 7 + n) % 100)],
  ['options', (_i, n) => JSON.stringify({ min: 0, max: 100, step: 0.5, seen: n })],
];

/** Home Assistant burst order: state, last_updated, last_changed, attributes; ~500 entities × 10 keys. */
export function makeRows(count: number, base: string, seed: number): Row[] {
  const rows: Row[] = [];
  let update = seed;
  while (rows.length < count) {
    const i = update % ENTITIES;
    const n = Math.floor(update / ENTITIES);
    const prefix = `${base}/${DOMAINS[i % DOMAINS.length]}/device_${i}`;
    const at = new Date(Date.UTC(2024, 0, 1) + update * 1000).toISOString().replace('Z', '000+00:00');
    rows.push({ topic: `${prefix}/state`, payload: (18 + ((i + n) % 70) / 10).toFixed(1) });
    rows.push({ topic: `${prefix}/last_updated`, payload: at });
    rows.push({ topic: `${prefix}/last_changed`, payload: at });
    for (const [name, value] of ATTRIBUTES) rows.push({ topic: `${prefix}/${name}`, payload: value(i, n) });
    update++;
  }
  return rows.slice(0, count);
}
