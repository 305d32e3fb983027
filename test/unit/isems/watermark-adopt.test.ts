import assert from 'node:assert/strict';
import { WatermarkLedger } from '../../../lib/isems/watermarks';
import { sameSimulatedNode } from '../../../nodes/iotp-isems/iotp-isems';

describe('isems watermarks of the simulated nodes follow them to a new port', () => {
  const now = 'http://127.0.0.1:40001/isems-001/ISEMS/ffopenmppt.log';

  it('recognises the same simulated node on another loopback port only', () => {
    assert.equal(sameSimulatedNode('http://127.0.0.1:35457/isems-001/ISEMS/ffopenmppt.log', now), true);
    assert.equal(sameSimulatedNode('http://127.0.0.1:35457/isems-002/ISEMS/ffopenmppt.log', now), false);
    assert.equal(
      sameSimulatedNode('http://10.0.0.5:35457/isems-001/ISEMS/ffopenmppt.log', now),
      false,
      'a real node keeps its own watermark',
    );
    assert.equal(sameSimulatedNode('mqtt:isems-001', now), false);
  });

  it('moves the newest old watermark onto the new key and forgets the old keys', () => {
    const ledger = new WatermarkLedger({
      version: 1,
      watermarks: {
        'http://127.0.0.1:35457/isems-001/ISEMS/ffopenmppt.log': 1_700_000_060,
        'http://127.0.0.1:35999/isems-001/ISEMS/ffopenmppt.log': 1_700_000_120,
        'http://127.0.0.1:35457/isems-002/ISEMS/ffopenmppt.log': 1_700_000_060,
      },
    });
    assert.equal(
      ledger.adopt(now, (key) => sameSimulatedNode(key, now)),
      true,
    );
    assert.equal(ledger.get(now), 1_700_000_120);
    assert.equal(ledger.size, 2, 'isems-002 untouched, the two old isems-001 keys gone');
    assert.equal(
      ledger.adopt(now, (key) => sameSimulatedNode(key, now)),
      false,
      'nothing left to move',
    );
  });
});
