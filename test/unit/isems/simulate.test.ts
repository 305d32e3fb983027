import assert from 'node:assert/strict';
import { parseLog } from '../../../lib/isems/parse';
import { SolarSimulation } from '../../../lib/isems/simulate';

describe('isems simulate', () => {
  it('is deterministic for a seed and differs between seeds', () => {
    const a = new SolarSimulation({ seed: 7, nodes: 3, initialLines: 200 });
    const b = new SolarSimulation({ seed: 7, nodes: 3, initialLines: 200 });
    const c = new SolarSimulation({ seed: 8, nodes: 3, initialLines: 200 });
    assert.equal(a.logText(2), b.logText(2));
    assert.notEqual(a.logText(2), c.logText(2));
  });

  it('writes one valid line per minute, 18 or 19 fields, capped at 3,600 lines', () => {
    const simulation = new SolarSimulation({ seed: 3, nodes: 6, initialLines: 3590 });
    simulation.advance(20);
    for (let i = 0; i < 6; i++) {
      const { records, errors } = parseLog(simulation.logText(i));
      assert.deepEqual(errors, []);
      assert.equal(records.length, 3600);
      assert.equal(simulation.lineCount(i), 3600);
      assert.equal(records[records.length - 1].epochSeconds, simulation.nowEpochSeconds);
      for (let k = 1; k < records.length; k++) assert.equal(records[k].epochSeconds - records[k - 1].epochSeconds, 60);
      assert.ok(records.every((r) => r.nodeId === simulation.nodes[i].nodeId));
      assert.equal(records[0].status === null, !simulation.nodes[i].withStatus);
    }
    assert.ok(simulation.nodes.some((n) => n.withStatus) && simulation.nodes.some((n) => !n.withStatus));
  });

  it('follows the sun: solar voltage near 0 at night and high by day, status bits consistent', () => {
    const simulation = new SolarSimulation({ seed: 1, nodes: 4, withoutStatusFraction: 0 });
    for (let i = 0; i < 4; i++) {
      const { records } = parseLog(simulation.logText(i));
      const localHour = (r: { epochSeconds: number; longitude: number }): number =>
        (((r.epochSeconds / 3600 + r.longitude / 15) % 24) + 24) % 24;
      const night = records.filter((r) => localHour(r) < 4 || localHour(r) > 20);
      const noon = records.filter((r) => localHour(r) > 11 && localHour(r) < 13);
      assert.ok(night.length > 0 && noon.length > 0);
      assert.ok(
        night.every((r) => r.openCircuitVoltage < 1),
        'dark at night',
      );
      assert.ok(
        noon.every((r) => r.openCircuitVoltage > 15),
        'bright at noon',
      );
      assert.ok(
        night.every((r) => r.statusFlags?.discharging && !r.statusFlags.charging),
        'discharging at night',
      );
      for (const r of records) {
        const flags = r.statusFlags;
        assert.ok(flags);
        assert.equal([flags.charging, flags.discharging, flags.fullyCharged].filter(Boolean).length, 1, r.statusHex);
        assert.equal(flags.batteryLevelLow, r.batteryChargeEstimate < 20 || (r.batteryChargeEstimate === 20 && flags.batteryLevelLow));
        assert.ok(r.batteryVoltage > 11 && r.batteryVoltage < 15);
        assert.ok(r.batteryChargeEstimate >= 0 && r.batteryChargeEstimate <= 100);
      }
      const charges = new Set(records.map((r) => r.batteryChargeEstimate));
      assert.ok(charges.size > 3, 'charge varies over the day');
    }
  });
});
