/**
 * The shipped ISEMS flow (flows/3-isems.json) in a running Node-RED, on MariaDB, PostgreSQL and SQLite:
 * solar nodes polled over HTTP (ISEMS_ROUTER_IPS pointing at simulated nodes in this process, a
 * 1-second poll interval) and logs published on the local mosquitto land in `measurement` once;
 * both endpoints answer the contract's JSON (status "0x…", missing status "0x000", ISO 8601 UTC
 * timestamps, the inactive-node filter and ?all=true), and an unknown node gives [].
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { isoFromEpochSeconds } from '../../lib/isems/parse';
import { startSimulatedSolarServer, type SimulatedSolarServer } from '../../lib/isems/simulate';
import { httpJson, packageRoot, startNodeRed, type RunningNodeRed } from '../support/node-red';
import {
  createTestMysqlDatabase,
  createTestPostgresDatabase,
  MQTT_HOST,
  MQTT_PORT,
  requireService,
  type TestMysqlDatabase,
  type TestPostgresDatabase,
} from '../support/services';
import { makeTempDir, removeTempDir } from '../support/tmp';

interface ApiRow {
  id: number;
  nodeId: string;
  timestamp: string;
  status: string;
  isPowerSaveMode: boolean;
  batteryVoltage: number;
  [key: string]: unknown;
}

const CONTRACT_KEYS = [
  'id',
  'nodeId',
  'isemsRevision',
  'timestamp',
  'openMPPTFirmwareVersion',
  'timeToShutdown',
  'isPowerSaveMode',
  'openCircuitVoltage',
  'mppVoltage',
  'batteryVoltage',
  'batteryChargeEstimate',
  'batteryHealthEstimate',
  'batteryTemperature',
  'lowVoltageDisconnectVoltage',
  'temperatureCorrectedVoltage',
  'rateBatteryCapacity',
  'ratedSolarModuleCapacity',
  'latitude',
  'longitude',
  'status',
].sort();

const line = (node: string, epoch: number, status: string): string =>
  `${node};1;${epoch};ESP_2.0;3592;1;19.21;17.9;13.1;87;95;21.5;11.6;14.1;9;30;52.52;13.40${status}`;

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

type Backend = { name: string; service: 'mysql' | 'postgres' | null; setup(dir: string): Promise<string>; teardown(): Promise<void> };

const backends: Backend[] = (() => {
  let mysql: TestMysqlDatabase | undefined;
  let postgres: TestPostgresDatabase | undefined;
  return [
    { name: 'SQLite', service: null, setup: async (dir) => `sqlite:${join(dir, 'isems.db')}`, teardown: async () => undefined },
    {
      name: 'MariaDB',
      service: 'mysql',
      setup: async () => {
        mysql = await createTestMysqlDatabase();
        return mysql.url;
      },
      teardown: async () => mysql?.drop(),
    },
    {
      name: 'PostgreSQL',
      service: 'postgres',
      setup: async () => {
        postgres = await createTestPostgresDatabase('iotp_e2e_isems');
        return postgres.url;
      },
      teardown: async () => postgres?.drop(),
    },
  ];
})();

for (const backend of backends) {
  describe(`ISEMS flow end to end (${backend.name})`, function () {
    this.timeout(120000);
    let dir: string;
    let sim: SimulatedSolarServer;
    let red: RunningNodeRed | undefined;
    const run = randomBytes(4).toString('hex');
    const mqttNode = `e2e-${run}-roof`;
    const oldNode = `e2e-${run}-silent`;
    const now = Math.floor(Date.now() / 60_000) * 60;

    before(async function () {
      await requireService(this, 'mqtt');
      if (backend.service) await requireService(this, backend.service);
      dir = makeTempDir('iotp-isems-e2e-');
      sim = await startSimulatedSolarServer({ nodes: 3, seed: 11, initialLines: 120, startEpochSeconds: now });
      const flows = JSON.parse(readFileSync(join(packageRoot, 'flows', '3-isems.json'), 'utf8')) as unknown[];
      red = await startNodeRed({
        flows,
        env: {
          DATABASE_URL: await backend.setup(dir),
          MQTT_URL: `mqtt://${MQTT_HOST}:${MQTT_PORT}`,
          ISEMS_ROUTER_IPS: sim.urls.join(','),
          ISEMS_POLL_INTERVAL: '1',
          SIMULATE: 'false',
          HIDE_INACTIVE_AFTER_DAYS: '30',
          ISEMS_RETENTION_ROWS: '20000',
        },
      });
    });

    after(async () => {
      await red?.stop();
      await sim?.close();
      await backend.teardown();
      removeTempDir(dir);
    });

    const history = async (nodeId: string): Promise<ApiRow[]> => {
      const response = await httpJson(`${red!.url}/measurements/${encodeURIComponent(nodeId)}/latest`);
      assert.equal(response.status, 200, response.text);
      return (response.body as { measurements: ApiRow[] }).measurements;
    };

    it('stores the polled nodes once, new lines as they appear, and serves a node newest first', async () => {
      const first = sim.simulation.nodes[0];
      let rows = await eventually('the first poll', async () => {
        const found = await history(first.nodeId);
        return found.length >= 120 ? found : undefined;
      });
      assert.equal(rows.length, 120);
      assert.equal(rows[0].timestamp, isoFromEpochSeconds(now));
      assert.ok(
        rows.every((row, i) => i === 0 || row.timestamp < rows[i - 1].timestamp),
        'newest first',
      );
      assert.deepEqual(Object.keys(rows[0]).sort(), CONTRACT_KEYS);
      assert.match(rows[0].timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

      sim.simulation.advance(2);
      rows = await eventually('two new lines', async () => {
        const found = await history(first.nodeId);
        return found.length >= 122 ? found : undefined;
      });
      // Several polls ran meanwhile (every second): still every line once.
      assert.equal(rows.length, 122);
      assert.equal(new Set(rows.map((row) => row.timestamp)).size, 122);
      assert.equal(rows[0].timestamp, isoFromEpochSeconds(now + 120));

      for (const [index, node] of sim.simulation.nodes.entries()) {
        const nodeRows = await history(node.nodeId);
        assert.equal(nodeRows.length, sim.simulation.lineCount(index));
        for (const row of nodeRows) assert.match(row.status, node.withStatus ? /^0x[0-9a-f]{3}$/ : /^0x000$/);
      }
      assert.ok(
        sim.simulation.nodes.some((node) => !node.withStatus),
        'a node without status is covered',
      );
    });

    it('stores logs published on MQTT once and serves /measurements/latest with the inactive filter', async () => {
      const log = [line(mqttNode, now - 120, ';500'), line(mqttNode, now - 60, ''), line(mqttNode, now, ';a0f')].join('\n');
      const silentLog = [line(oldNode, now - 60 * 86_400, ';300')].join('\n');
      const client = await mqtt.connectAsync(`mqtt://${MQTT_HOST}:${MQTT_PORT}`, { clientId: `iotp-e2e-isems-${run}` });
      try {
        // Published until stored (the subscription may still be starting): repeats must not duplicate.
        const rows = await eventually('the MQTT rows', async () => {
          await client.publishAsync(`/isems/${mqttNode}/csvlog`, log, { qos: 1 });
          await client.publishAsync(`/isems/${oldNode}/csvlog`, silentLog, { qos: 1 });
          const [found, silent] = [await history(mqttNode), await history(oldNode)];
          return found.length === 3 && silent.length === 1 ? found : undefined;
        });
        await client.publishAsync(`/isems/${mqttNode}/csvlog`, log, { qos: 1 });
        assert.deepEqual(
          rows.map((row) => [row.timestamp, row.status, row.isPowerSaveMode]),
          [
            [isoFromEpochSeconds(now), '0xa0f', true],
            [isoFromEpochSeconds(now - 60), '0x000', true],
            [isoFromEpochSeconds(now - 120), '0x500', true],
          ],
        );
      } finally {
        await client.endAsync();
      }
      assert.equal((await history(mqttNode)).length, 3);

      const latest = await httpJson(`${red!.url}/measurements/latest`);
      assert.equal(latest.status, 200);
      const active = (latest.body as { measurements: ApiRow[] }).measurements;
      const ids = active.map((row) => row.nodeId);
      assert.deepEqual(ids, [...sim.simulation.nodes.map((n) => n.nodeId), mqttNode].sort());
      assert.equal(active.find((row) => row.nodeId === mqttNode)?.timestamp, isoFromEpochSeconds(now));
      for (const row of active) assert.deepEqual(Object.keys(row).sort(), CONTRACT_KEYS);

      const all = await httpJson(`${red!.url}/measurements/latest?all=true`);
      const allIds = (all.body as { measurements: ApiRow[] }).measurements.map((row) => row.nodeId);
      assert.deepEqual(allIds, [...ids, oldNode].sort());
    });

    it('answers {"measurements": []} for an unknown node', async () => {
      const response = await httpJson(`${red!.url}/measurements/${encodeURIComponent(`no-such-node-${run}`)}/latest`);
      assert.equal(response.status, 200);
      assert.deepEqual(response.body, { measurements: [] });
    });
  });
}
