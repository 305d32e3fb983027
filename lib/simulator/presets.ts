/**
 * Configurations that reproduce the publishers of the original pipelines (CONTRACTS.md §2, §4).
 */
import type { SimulatorConfig } from './simulator';

export interface SensorDefinition {
  lat: number;
  lng: number;
  unit: string;
  type: string;
  /** Inclusive bounds of the published integer value. */
  range: readonly [number, number];
  description: string;
}

/** The five sensors of the original IoT sensors pipeline (sensors.json, spelling included). */
export const SENSORS: Readonly<Record<string, SensorDefinition>> = {
  '1': { lat: 10, lng: 10, unit: 'C', type: 'temperature', range: [0, 45], description: 'Main Entrance' },
  '2': { lat: 90, lng: 90, unit: 'C', type: 'temperature', range: [0, 45], description: 'Kitchen' },
  '3': { lat: 90, lng: 10, unit: 'C', type: 'temperature', range: [0, 45], description: 'Deposit' },
  '4': { lat: 10, lng: 90, unit: 'C', type: 'temperature', range: [0, 45], description: 'Assemlby Floor' },
  '5': { lat: 50, lng: 50, unit: 'C', type: 'temperature', range: [0, 45], description: 'Offices' },
};

/**
 * Rolling-averages publisher: a random integer 1..99 every 1-30 s (random) on `topic`
 * (env TOPIC, default DATA) as `{"number": 42, "epochtime": "1669940235"}`: epochtime is epoch
 * seconds as TEXT, number is a number.
 */
export function rollingAveragesConfig(options: { topic?: string; seed?: number | string } = {}): SimulatorConfig {
  const topic = options.topic ?? 'DATA';
  return {
    series: [{ id: topic, topic }],
    values: { kind: 'int', min: 1, max: 99 },
    interval: { minMs: 1_000, maxMs: 30_000 },
    template: { number: '{{value}}', epochtime: '{{epochSeconds:string}}' },
    seed: options.seed,
    startImmediately: false,
  };
}

/**
 * IoT sensors publisher: every sensor publishes every `intervalMs` (env INTERVAL_MS, default 1000)
 * to `topic` (env MQTT_TOPIC, default sensors):
 * `{"sensor_id": "1", "timestamp": "2024-06-14T16:00:00.123456", "value": 23, "metadata": {...}}`
 * with value a random integer in the sensor's range and timestamp UTC without offset.
 */
export function sensorsConfig(
  options: { intervalMs?: number; topic?: string; seed?: number | string; sensors?: Readonly<Record<string, SensorDefinition>> } = {},
): SimulatorConfig {
  const sensors = options.sensors ?? SENSORS;
  return {
    series: Object.entries(sensors).map(([id, s]) => ({
      id,
      values: { kind: 'int', min: s.range[0], max: s.range[1] },
      fields: { location: { lat: s.lat, lng: s.lng }, unit: s.unit, type: s.type, description: s.description },
    })),
    values: { kind: 'int', min: 0, max: 45 },
    interval: { fixedMs: options.intervalMs ?? 1000 },
    topic: options.topic ?? 'sensors',
    template: {
      sensor_id: '{{series}}',
      timestamp: '{{utcTimestamp}}',
      value: '{{value}}',
      metadata: {
        location: '{{fields.location}}',
        unit: '{{fields.unit}}',
        type: '{{fields.type}}',
        description: '{{fields.description}}',
      },
    },
    seed: options.seed,
  };
}
