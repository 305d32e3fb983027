import assert from 'node:assert/strict';
import { ingestFilters } from '../../nodes/iotp-mqtt-in/iotp-mqtt-in';

describe('iotp-mqtt-in share group', () => {
  it('prefixes every filter with $share/<group>/ when a group is set', () => {
    assert.deepEqual(ingestFilters('sensors\nhomeassistant/#', 'ingest'), ['$share/ingest/sensors', '$share/ingest/homeassistant/#']);
  });

  it('keeps plain filters for an empty group or an unresolved ${VAR}, and keeps explicit $share filters', () => {
    assert.deepEqual(ingestFilters('sensors', ''), ['sensors']);
    assert.deepEqual(ingestFilters('sensors', undefined), ['sensors']);
    assert.deepEqual(ingestFilters('sensors', '${MQTT_SHARE_GROUP}'), ['sensors']);
    assert.deepEqual(ingestFilters('$share/other/sensors', 'ingest'), ['$share/other/sensors']);
  });

  it('refuses a group that would change the filter (/, +, #, spaces)', () => {
    for (const group of ['a/b', 'a+', '#', 'a b']) assert.throws(() => ingestFilters('sensors', group), { code: 'MQTT_BAD_TOPIC' });
  });
});
