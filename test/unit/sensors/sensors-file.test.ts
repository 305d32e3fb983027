import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSensorsDefinition, readSensorsFile, SensorsFileError, sensorsDefinitionToJSON } from '../../../lib/sensors/sensors-file';
import { makeTempDir, removeTempDir } from '../../support/tmp';

const REFERENCE = `{
  "1": {"lat": 10, "lng": 10, "unit": "C", "type": "temperature", "range": [0, 45], "description": "Main Entrance"},
  "2": {"lat": 90, "lng": 90, "unit": "C", "type": "temperature", "range": [0, 45], "description": "Kitchen"},
  "3": {"lat": 90, "lng": 10, "unit": "C", "type": "temperature", "range": [0, 45], "description": "Deposit"},
  "4": {"lat": 10, "lng": 90, "unit": "C", "type": "temperature", "range": [0, 45], "description": "Assemlby Floor"},
  "5": {"lat": 50, "lng": 50, "unit": "C", "type": "temperature", "range": [0, 45], "description": "Offices"}
}`;

function invalid(source: unknown, path: string, code = 'INVALID'): void {
  assert.throws(
    () => parseSensorsDefinition(source as string),
    (err: unknown) => err instanceof SensorsFileError && err.code === code && err.path === path,
    `expected ${code} at ${path}`,
  );
}

describe('sensors/sensors-file', () => {
  let dir: string;
  before(() => {
    dir = makeTempDir('iotp-sensors-');
  });
  after(() => removeTempDir(dir));

  it('parses the reference sensors.json', () => {
    const sensors = parseSensorsDefinition(REFERENCE);
    assert.deepEqual([...sensors.keys()], [1, 2, 3, 4, 5]);
    assert.deepEqual(sensors.get(4), {
      id: 4,
      lat: 10,
      lng: 90,
      unit: 'C',
      type: 'temperature',
      range: [0, 45],
      description: 'Assemlby Floor',
    });
  });

  it('reads a file and round-trips through sensorsDefinitionToJSON', async () => {
    const file = join(dir, 'sensors.json');
    writeFileSync(file, REFERENCE);
    const sensors = await readSensorsFile(file);
    assert.equal(sensors.size, 5);
    assert.deepEqual(sensorsDefinitionToJSON(sensors), JSON.parse(REFERENCE));
  });

  it('accepts an optional interval_ms', () => {
    const sensors = parseSensorsDefinition({
      9: { lat: 0, lng: 0, unit: 'V', type: 'voltage', range: [-1, 1], description: '', interval_ms: 5000 },
    });
    assert.equal(sensors.get(9)?.intervalMs, 5000);
  });

  it('rejects every defect with its location', () => {
    const s = { lat: 1, lng: 2, unit: 'C', type: 't', range: [0, 1], description: 'x' };
    invalid('{', '', 'BAD_JSON');
    invalid('[]', '');
    invalid({ abc: s }, '"abc"');
    invalid({ '01': s }, '"01"');
    invalid({ 1: 'x' }, '"1"');
    invalid({ 1: { ...s, lat: undefined } }, '"1".lat');
    invalid({ 1: { ...s, lat: '1' } }, '"1".lat');
    invalid({ 1: { ...s, lat: 100 } }, '"1".lat');
    invalid({ 1: { ...s, lng: -181 } }, '"1".lng');
    invalid({ 1: { ...s, range: [1] } }, '"1".range');
    invalid({ 1: { ...s, range: [5, 1] } }, '"1".range');
    invalid({ 1: { ...s, range: [0, 'x'] } }, '"1".range[1]');
    invalid({ 1: { ...s, unit: '' } }, '"1".unit');
    invalid({ 1: { ...s, type: 7 } }, '"1".type');
    invalid({ 1: { ...s, unit: 'u'.repeat(33) } }, '"1".unit');
    invalid({ 1: { ...s, interval_ms: 0 } }, '"1".interval_ms');
  });

  it('reports an unreadable file and names it', async () => {
    await assert.rejects(
      readSensorsFile(join(dir, 'missing.json')),
      (err: unknown) => err instanceof SensorsFileError && err.code === 'READ_FAILED' && /missing\.json/.test(err.message),
    );
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"1": {"lat": 1}}');
    await assert.rejects(
      readSensorsFile(bad),
      (err: unknown) => err instanceof SensorsFileError && err.path === '"1".lng' && /bad\.json/.test(err.message),
    );
  });
});
