/**
 * Faults under load (issue #9): one Node-RED child process with the five shipped flows (as
 * settings.js seeds them) against a private mosquitto (persistence, deep queues as in
 * docker/mosquitto/mosquitto.conf) and a private MariaDB reached through a TCP proxy (then again
 * against a private PostgreSQL, with the faults that reach the database). A steady
 * load runs throughout: statestream and sensors readings from MQTT.js publishers (every payload
 * carries a unique sequence number), ISEMS polling a simulated solar server whose logs grow,
 * the connector posting its scheduled windows to a local receiver and answering request-API
 * windows. Each fault is injected while the load runs; afterwards the suite waits until
 * everything published before the fault ended is stored, and compares totals per table with
 * what the broker acknowledged.
 *
 * Short variant (default, part of `npm test`): low rates, outages of a few seconds, one repeat.
 * Full variant (`IOTP_SOAK=full`, `npm run soak`): the issue's durations (database cut 30 s,
 * receiver down 60 s), two repeats, ~2,200 msg/s. `IOTP_SOAK_REPEATS` overrides the repeats.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import type { MqttClient } from 'mqtt';
import { formatUtc } from '../../lib/connector/time';
import { openDatabase } from '../../lib/db';
import type { Database } from '../../lib/db/types';
import { startSimulatedSolarServer, type SimulatedSolarServer } from '../../lib/isems/simulate';
import { startReceiver, type PostedBody, type Received, type Receiver } from '../node/connector/fixtures';
import { httpJson, startNodeRed, type RunningNodeRed } from '../support/node-red';
import {
  missingPrograms,
  privatePostgresAvailable,
  startPrivateMariadb,
  startPrivateMosquitto,
  startPrivatePostgres,
  type PrivateMariadb,
  type PrivateMosquitto,
  type PrivatePostgres,
} from '../support/private-services';
import { inCi } from '../support/services';
import { TcpProxy } from '../support/tcp-proxy';
import { makeTempDir, removeTempDir } from '../support/tmp';
import { connectPublisher, formatTable, PacedPublisher, rssMiB, SeqCounts, sleep, TableTally, type FaultRow } from './soak-support';

const FULL = /^full$/i.test(process.env.IOTP_SOAK ?? '');
const profile = FULL
  ? {
      statestreamRate: 1000,
      sensorsRate: 1200,
      warmMs: 15_000,
      dbCutMs: 30_000,
      brokerDownMs: 10_000,
      redDownMs: 10_000,
      receiverDownMs: 60_000,
      journalMs: 20_000,
      repeats: 2,
      recoveryTimeoutMs: 600_000,
    }
  : {
      statestreamRate: 150,
      sensorsRate: 150,
      warmMs: 3_000,
      dbCutMs: 6_000,
      brokerDownMs: 3_000,
      redDownMs: 2_000,
      receiverDownMs: 6_000,
      journalMs: 6_000,
      repeats: 1,
      recoveryTimeoutMs: 90_000,
    };
const repeats = Number(process.env.IOTP_SOAK_REPEATS ?? profile.repeats);
/** RSS limits: no growth across repeats beyond this factor (+ slack), and an absolute cap. */
const RSS_GROWTH_FACTOR = 1.5;
const RSS_GROWTH_SLACK_MIB = 64;
const RSS_CAP_MIB = 1024;
const SENSORS = 20;
const ENTITIES = 50;

/** Naive UTC with microseconds, as the sensors pipeline's devices send it; the microseconds keep the reading key unique. */
const sensorTime = (ms: number, micro: number): string => new Date(ms).toISOString().slice(0, 23) + String(micro % 1000).padStart(3, '0');

/** PostgreSQL runs the faults that reach the database; the others test Node-RED, the broker and the receiver, the same whatever stores the rows. */
const POSTGRES_FAULTS = /^(database|journal unwritable)/;
/** `IOTP_SOAK_DATABASES=mariadb` (or `postgres`) runs one of the two; default both. */
const SOAK_DATABASES = (process.env.IOTP_SOAK_DATABASES ?? 'mariadb,postgres').split(',').map((name) => name.trim().toLowerCase());

for (const dialect of (['mysql', 'postgres'] as const).filter((d) => SOAK_DATABASES.includes(d === 'mysql' ? 'mariadb' : 'postgres'))) {
  describe(`faults under load on ${dialect === 'mysql' ? 'MariaDB' : 'PostgreSQL'} (${FULL ? 'full' : 'short'} soak: ${repeats} repeat(s))`, function () {
    this.timeout(FULL ? 3_600_000 : 600_000);
    const run = randomBytes(4).toString('hex');
    const base = `soak/${run}/ha`;
    const sensorsTopic = `soak/${run}/sensors`;
    const API_KEY = `soak-api-${run}`;
    let workDir = '';
    let journalDir = '';
    let broker: PrivateMosquitto | undefined;
    let mariadb: PrivateMariadb | PrivatePostgres | undefined;
    // measurement's camel-case columns need quotes on PostgreSQL.
    const q = (name: string): string => (dialect === 'postgres' ? `"${name}"` : name);
    let proxy: TcpProxy | undefined;
    let db: Database | undefined;
    let solar: SimulatedSolarServer | undefined;
    let receiver: Receiver | undefined;
    let receiverPort = 0;
    let red: RunningNodeRed | undefined;
    let env: Record<string, string> = {};
    let client: MqttClient | undefined;
    let statestream: PacedPublisher | undefined;
    let sensors: PacedPublisher | undefined;
    let messagesTally: TableTally | undefined;
    let sensorsTally: TableTally | undefined;
    let solarTimer: NodeJS.Timeout | undefined;
    let rssTimer: NodeJS.Timeout | undefined;
    let tallyTimer: NodeJS.Timeout | undefined;
    let phasePeakRss = 0;
    let skipped = false;
    const posted: Received[] = [];
    /** When the receiver got each of `posted`, epoch ms. */
    const postedAt: number[] = [];
    const requestWindows = new Set<string>();
    const table: FaultRow[] = [];
    /** Sequence numbers below these were compared in an earlier phase. */
    const checked = { statestream: 0, sensors: 0 };

    const respond = (request: Received, response: ServerResponse): void => {
      posted.push(request);
      postedAt.push(Date.now());
      response.writeHead(200, { 'Content-Type': 'application/json' }).end('{"ok":true}');
    };

    const nodeRedOutput = (): string => red?.output() ?? '';

    before(async function () {
      const missing = await missingPrograms(dialect === 'mysql' ? ['mosquitto', 'mariadb'] : ['mosquitto']);
      if (dialect === 'mysql' && !existsSync('/usr/sbin/mariadbd') && !existsSync('/usr/sbin/mysqld')) missing.push('mariadbd');
      if (dialect === 'postgres') missing.push(...[await privatePostgresAvailable()].filter((m): m is string => m !== null));
      if (missing.length > 0) {
        const message = `the soak suite needs ${missing.join(', ')} (private mosquitto and ${dialect === 'mysql' ? 'MariaDB' : 'PostgreSQL'} instances)`;
        if (inCi()) throw new Error(`${message} (CI=true requires them)`);
        console.log(`      [skip] ${message}`);
        skipped = true;
        this.skip();
      }
      workDir = makeTempDir('iotp-soak-');
      journalDir = join(workDir, 'journal');
      mkdirSync(journalDir);
      broker = await startPrivateMosquitto({
        extraConfig: [
          'max_queued_messages 1000000',
          'max_queued_bytes 268435456',
          'max_inflight_messages 100',
          'persistent_client_expiration 1d',
          // Logs "<client id> <qos> <filter>" per subscription: the publishers start once both ingests subscribed.
          'log_type subscribe',
        ],
      });
      if (dialect === 'mysql') {
        const server = await startPrivateMariadb({ extraArgs: ['--max-connections=200'] });
        mariadb = server;
        await server.admin('CREATE DATABASE soak CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci');
        db = openDatabase({
          dialect: 'mysql',
          host: server.host,
          port: server.port,
          user: 'root',
          password: '',
          database: 'soak',
          poolSize: 2,
          connectTimeoutMs: 5000,
        });
      } else {
        const server = await startPrivatePostgres();
        mariadb = server;
        const admin = openDatabase({
          dialect: 'postgres',
          host: server.host,
          port: server.port,
          user: server.user,
          password: '',
          database: 'postgres',
          poolSize: 1,
          connectTimeoutMs: 5000,
        });
        await admin.query('CREATE DATABASE soak');
        await admin.close();
        db = openDatabase({
          dialect: 'postgres',
          host: server.host,
          port: server.port,
          user: server.user,
          password: '',
          database: 'soak',
          poolSize: 2,
          connectTimeoutMs: 5000,
        });
      }
      proxy = await new TcpProxy(mariadb.host, mariadb.port).start();
      const nowMinute = Math.floor(Date.now() / 60_000) * 60;
      solar = await startSimulatedSolarServer({ nodes: 3, seed: 9, initialLines: 30, startEpochSeconds: nowMinute - 3600 });
      receiver = await startReceiver(respond);
      receiverPort = Number(new URL(receiver.url).port);
      env = {
        DATABASE_URL:
          dialect === 'mysql' ? `mysql://root@127.0.0.1:${proxy.port}/soak` : `postgresql://postgres@127.0.0.1:${proxy.port}/soak`,
        MQTT_URL: broker.url,
        SIMULATE: 'false',
        STATESTREAM_BASE_TOPIC: base,
        TOPIC: `soak/${run}/DATA`,
        STATS_TOPIC: `soak/${run}/STATS`,
        MQTT_TOPIC: sensorsTopic,
        ISEMS_ROUTER_IPS: solar.urls.join(','),
        ISEMS_POLL_INTERVAL: '1',
        API_KEY,
        POST_DATA_ENDPOINT: receiver.url,
        POST_DATA_API_KEY: `soak-post-${run}`,
        FETCH_DATA_INTERVAL: '1',
        BATCH_SIZE: '500',
        IOTP_JOURNAL_DIR: journalDir,
      };
      // No `flows`: settings.js deploys the shipped flows on first start (the five pipelines, and
      // their dashboard pages where Dashboard 2.0 is installed, as in this package's devDependencies).
      red = await startNodeRed({ env, startTimeoutMs: 120_000 });
      const deployed = /deployed (\d+) shipped flow\(s\)/.exec(red.output());
      assert.ok(deployed && Number(deployed[1]) >= 5, `the shipped flows were deployed:\n${red.output().slice(0, 2000)}`);

      // "deployed" is logged before the ingests have connected: a message published before the
      // broker has an ingest's subscription goes to no session at all (MQTT's rule, not a loss of
      // ours), and would be counted missing.
      await waitFor(
        'the statestream and sensors ingests to subscribe',
        async () => {
          const subscribed = broker!.output();
          return subscribed.includes(` ${base}/#`) && new RegExp(` (\\$share/[^/]+/)?${sensorsTopic}$`, 'm').test(subscribed);
        },
        60_000,
      );
      client = await connectPublisher(broker.url, `soak-pub-${run}`);
      statestream = new PacedPublisher(client, 'statestream', profile.statestreamRate, (seq) => ({
        topic: `${base}/sensor/e${seq % ENTITIES}/state`,
        payload: String(seq),
      }));
      sensors = new PacedPublisher(client, 'sensors', profile.sensorsRate, (seq) => ({
        topic: sensorsTopic,
        payload: JSON.stringify({
          sensor_id: String(1 + (seq % SENSORS)),
          timestamp: sensorTime(Date.now(), seq),
          value: seq,
          metadata: { location: { lat: 52.5, lng: 13.4 }, unit: 'C', type: 'temperature', description: 'soak' },
        }),
      }));
      messagesTally = new TableTally(db, 'messages', 'payload');
      sensorsTally = new TableTally(db, 'sensor_data', 'value');
      statestream.start();
      sensors.start();
      // The solar nodes write one new log line every 2 s (a simulated minute each).
      solarTimer = setInterval(() => solar!.simulation.advance(1), 2000);
      rssTimer = setInterval(() => {
        const rss = rssMiB(red?.child.pid);
        if (Number.isFinite(rss)) phasePeakRss = Math.max(phasePeakRss, rss);
      }, 500);
      // When each reading was first seen stored, to tell late rows from unposted ones at the end.
      let refreshing = false;
      tallyTimer = setInterval(() => {
        if (refreshing) return;
        refreshing = true;
        sensorsTally!
          .refresh()
          .catch(() => undefined)
          .finally(() => (refreshing = false));
      }, 1000);
      await waitFor(
        'the first stored rows of every pipeline',
        async () => {
          await messagesTally!.refresh();
          await sensorsTally!.refresh();
          return messagesTally!.rows > 0 && sensorsTally!.rows > 0 && (await isemsBehind()) === 0;
        },
        120_000,
      );
    });

    after(async function () {
      if (skipped) return;
      clearInterval(solarTimer);
      clearInterval(rssTimer);
      clearInterval(tallyTimer);
      await statestream?.stop();
      await sensors?.stop();
      if (table.length > 0) console.log(`\n${formatTable(table)}\n`);
      await red?.stop();
      await client?.endAsync().catch(() => undefined);
      await receiver?.close();
      await solar?.close();
      await db?.close();
      await proxy?.stop();
      await mariadb?.stop();
      await broker?.stop();
      if (workDir) removeTempDir(workDir);
    });

    async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<number> {
      const started = Date.now();
      for (;;) {
        try {
          if (await probe()) return Date.now() - started;
        } catch {
          // the database may be restarting: ask again
        }
        if (Date.now() - started > timeoutMs)
          throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n--- Node-RED output ---\n${nodeRedOutput().slice(-6000)}`);
        await sleep(500);
      }
    }

    /** ISEMS log lines not yet in `measurement` (0: caught up); also checks nothing is stored twice. */
    async function isemsBehind(expected = solar!.simulation.nodes.map((_, i) => solar!.simulation.lineCount(i))): Promise<number> {
      const { rows } = await db!.query(
        `SELECT ${q('nodeId')}, COUNT(*) AS n, COUNT(DISTINCT ${q('timestamp')}) AS d FROM measurement GROUP BY ${q('nodeId')}`,
      );
      const stored = new Map(rows.map((r) => [String(r.nodeId), Number(r.n)]));
      for (const r of rows) assert.equal(Number(r.n), Number(r.d), `measurement rows of ${String(r.nodeId)} stored once`);
      let behind = 0;
      solar!.simulation.nodes.forEach((node, i) => (behind += Math.max(0, expected[i] - (stored.get(node.nodeId) ?? 0))));
      return behind;
    }

    /** Sequence numbers below which every acknowledged message is stored (settled-but-unacknowledged ones do not block). */
    function storedPrefix(publisher: PacedPublisher, tally: TableTally, from: number): number {
      let seq = from;
      while (seq < publisher.next && (tally.stored.get(seq) > 0 || (publisher.settled.get(seq) > 0 && publisher.acked.get(seq) === 0)))
        seq++;
      return seq;
    }

    async function backlog(): Promise<number> {
      await messagesTally!.refresh();
      await sensorsTally!.refresh();
      return statestream!.ackedCount - messagesTally!.distinct + (sensors!.ackedCount - sensorsTally!.distinct);
    }

    /** POSTs /raise-request for [start, end) and returns the task's final state. */
    async function raiseRequest(
      start: number,
      end: number,
      timeoutMs: number,
    ): Promise<{ state: string; status: string; window: { start_time: string; end_time: string } }> {
      const window = { start_time: formatUtc(start), end_time: formatUtc(end) };
      requestWindows.add(`${window.start_time}/${window.end_time}`);
      const raised = await httpJson(`${red!.url}/raise-request`, {
        method: 'POST',
        body: window,
        headers: { authorization: `Bearer ${API_KEY}` },
      });
      assert.equal(raised.status, 200, raised.text);
      const taskId = (raised.body as { task_id: string }).task_id;
      let task = { state: 'PENDING', status: '' };
      await waitFor(
        `request task ${taskId}`,
        async () => {
          task = (await httpJson(`${red!.url}/tasks/${taskId}`, { headers: { authorization: `Bearer ${API_KEY}` } })).body as typeof task;
          return task.state === 'SUCCESS' || task.state === 'FAILURE';
        },
        timeoutMs,
      );
      return { ...task, window };
    }

    /** The readings (sequence numbers) the receiver got for one window, with their counts. */
    function postedFor(window: { start_time: string; end_time: string }): SeqCounts {
      const counts = new SeqCounts();
      for (const request of posted) {
        const body = JSON.parse(request.body) as PostedBody;
        if (body.start_time !== window.start_time || body.end_time !== window.end_time) continue;
        for (const list of Object.values(body.data)) for (const reading of list) counts.add(Number(reading.value));
      }
      return counts;
    }

    async function restartNodeRed(downMs: number): Promise<void> {
      await red!.kill();
      await sleep(downMs);
      red = await startNodeRed({ env, userDir: red!.userDir, port: red!.port, startTimeoutMs: 120_000 });
    }

    async function redeploy(type: 'full' | 'nodes'): Promise<void> {
      const current = await httpJson(`${red!.url}/flows`, { headers: { 'Node-RED-API-Version': 'v1' } });
      assert.equal(current.status, 200, current.text);
      const flows = current.body as Array<Record<string, unknown>>;
      if (type === 'nodes') {
        // Changed nodes are stopped and restarted: the two raw writers and the ISEMS poller.
        for (const node of flows) {
          if (node.id === 'iotp_ss_write' || node.id === 'sensors.write.raw' || node.id === 'isems.collector') {
            node.name = String(node.name ?? '').endsWith(' (soak)') ? String(node.name).slice(0, -7) : `${String(node.name ?? '')} (soak)`;
          }
        }
      }
      const deployed = await httpJson(`${red!.url}/flows`, {
        method: 'POST',
        body: flows,
        headers: { 'Node-RED-Deployment-Type': type, 'Node-RED-API-Version': 'v1' },
      });
      assert.ok(deployed.status === 200 || deployed.status === 204, `deploy ${type}: ${deployed.status} ${deployed.text}`);
    }

    let journalWarning: { seen(): boolean; stop(): void } | undefined;
    type Fault = { name: string; inject: () => Promise<void>; after?: () => Promise<void> };

    const faults: Fault[] = [
      {
        name: `database cut ${profile.dbCutMs / 1000} s`,
        inject: async () => {
          proxy!.cut();
          await sleep(profile.dbCutMs);
          proxy!.restore();
        },
      },
      { name: 'database restart', inject: () => mariadb!.restart() },
      {
        name: 'mosquitto restart',
        inject: async () => {
          await broker!.pause();
          await sleep(profile.brokerDownMs);
          await broker!.start();
        },
      },
      { name: 'Node-RED SIGKILL + restart', inject: () => restartNodeRed(profile.redDownMs) },
      { name: 'redeploy (full)', inject: () => redeploy('full') },
      { name: 'redeploy (modified nodes)', inject: () => redeploy('nodes') },
      {
        name: `receiver down ${profile.receiverDownMs / 1000} s`,
        inject: async () => {
          await receiver!.close();
          await sleep(profile.receiverDownMs);
          receiver = await startReceiver(respond, receiverPort);
        },
      },
      {
        name: 'journal unwritable + database cut',
        // As root, permissions do not stop writes: the journal directory is replaced by a file.
        inject: async () => {
          // Watched as printed: late readings of the minute means can flood the output meanwhile.
          journalWarning = red!.watchOutput(/journal write to \S+ failed/);
          const aside = `${journalDir}.aside`;
          renameSync(journalDir, aside);
          writeFileSync(journalDir, 'not a directory\n');
          proxy!.cut();
          try {
            await sleep(profile.journalMs);
          } finally {
            rmSync(journalDir, { force: true });
            renameSync(aside, journalDir);
            proxy!.restore();
          }
        },
        after: async () => {
          const said = journalWarning?.seen() ?? false;
          journalWarning?.stop();
          assert.ok(said, `Node-RED says that the journal cannot be written\n${nodeRedOutput().slice(-3000)}`);
        },
      },
    ];

    for (let repeat = 1; repeat <= repeats; repeat++) {
      for (const fault of faults) {
        if (dialect === 'postgres' && !POSTGRES_FAULTS.test(fault.name)) continue;
        it(`${fault.name} (repeat ${repeat}): nothing lost, keyed rows once, memory bounded`, () => reportNow(runPhase(fault, repeat)));
      }
    }

    /** A failure is printed at once (the run goes on for minutes before mocha's summary). */
    async function reportNow(phase: Promise<void>): Promise<void> {
      try {
        await phase;
      } catch (err) {
        const log = join(tmpdir(), `iotp-soak-${run}-node-red.log`);
        writeFileSync(log, nodeRedOutput());
        console.log(`      FAILED: ${(err as Error).message.split('\n')[0].slice(0, 2000)} (Node-RED output: ${log})`);
        throw err;
      }
    }

    async function runPhase(fault: Fault, repeat: number): Promise<void> {
      {
        {
          const phaseStart = Date.now();
          phasePeakRss = rssMiB(red?.child.pid);
          const from = { statestream: checked.statestream, sensors: checked.sensors };
          await sleep(profile.warmMs);
          let maxBacklog = await backlog();
          let sampling = true;
          const sampler = (async () => {
            while (sampling) {
              try {
                maxBacklog = Math.max(maxBacklog, await backlog());
              } catch {
                // database restarting
              }
              await sleep(1000);
            }
          })();
          const faultStart = Date.now();
          try {
            await fault.inject();
          } finally {
            sampling = false;
            await sampler;
          }
          const faultEnd = Date.now();
          // Caught up: every message acknowledged by then is stored, and every log line then served.
          const until = { statestream: statestream!.next, sensors: sensors!.next };
          const isemsExpected = solar!.simulation.nodes.map((_, i) => solar!.simulation.lineCount(i));
          let recoveryMs: number;
          try {
            recoveryMs = await waitFor(
              `recovery after ${fault.name}`,
              async () => {
                maxBacklog = Math.max(maxBacklog, await backlog());
                return (
                  storedPrefix(statestream!, messagesTally!, from.statestream) >= until.statestream &&
                  storedPrefix(sensors!, sensorsTally!, from.sensors) >= until.sensors &&
                  (await isemsBehind(isemsExpected)) === 0
                );
              },
              profile.recoveryTimeoutMs,
            );
          } catch (err) {
            // The next phase judges its own messages: these are reported here, once.
            checked.statestream = until.statestream;
            checked.sensors = until.sensors;
            const ss = messagesTally!.compare(statestream!.acked, from.statestream, until.statestream);
            const sn = sensorsTally!.compare(sensors!.acked, from.sensors, until.sensors);
            throw new Error(
              `${(err as Error).message.split('\n')[0]}: statestream missing ${ss.missing.length} (first ${ss.missing.slice(0, 10).join(',')}), sensors missing ${sn.missing.length} (first ${sn.missing.slice(0, 10).join(',')})\n${nodeRedOutput().slice(-6000)}`,
            );
          }
          await fault.after?.();

          // The connector's request API over the fault: every stored reading of the window posted, none twice.
          const windowStart = Math.max(faultStart - 2000, faultEnd - 60_000);
          const windowEnd = faultEnd - 1000;
          const task = await raiseRequest(windowStart, windowEnd, profile.recoveryTimeoutMs);
          assert.equal(task.state, 'SUCCESS', task.status);
          const { rows: inWindow } = await db!.query('SELECT value FROM sensor_data WHERE timestamp >= ? AND timestamp < ?', [
            task.window.start_time.replace('T', ' ').replace('Z', ''),
            task.window.end_time.replace('T', ' ').replace('Z', ''),
          ]);
          const expectedPosts = new SeqCounts();
          for (const row of inWindow) expectedPosts.add(Number(row.value));
          const gotPosts = postedFor(task.window);
          let postedMissing = 0;
          let postedTwice = 0;
          for (let seq = 0; seq < Math.max(expectedPosts.size, gotPosts.size); seq++) {
            const want = expectedPosts.get(seq);
            const got = gotPosts.get(seq);
            if (got < want) postedMissing += want - got;
            if (got > want) postedTwice += got - want;
          }

          const ss = messagesTally!.compare(statestream!.acked, from.statestream, until.statestream);
          const sn = sensorsTally!.compare(sensors!.acked, from.sensors, until.sensors);
          checked.statestream = until.statestream;
          checked.sensors = until.sensors;
          const row: FaultRow = {
            fault: fault.name,
            repeat,
            published: ss.published + sn.published,
            stored: ss.stored + sn.stored,
            missing: ss.missing.length + sn.missing.length + postedMissing,
            duplicatesKeyless: ss.duplicates + sn.duplicates,
            duplicatesKeyed: postedTwice,
            maxBacklog,
            recoverySeconds: recoveryMs / 1000,
            peakRssMiB: phasePeakRss,
          };
          table.push(row);
          console.log(
            `      ${fault.name} #${repeat}: published ${row.published}, stored ${row.stored}, missing ${row.missing}, duplicates ${row.duplicatesKeyless} keyless / ${row.duplicatesKeyed} keyed, max backlog ${maxBacklog}, recovered in ${row.recoverySeconds.toFixed(1)} s, peak RSS ${phasePeakRss.toFixed(0)} MiB (window of ${inWindow.length} readings posted; phase ${((Date.now() - phaseStart) / 1000).toFixed(0)} s)`,
          );
          assert.deepEqual(ss.missing.slice(0, 20), [], 'statestream messages acknowledged by the broker and not stored');
          assert.deepEqual(sn.missing.slice(0, 20), [], 'sensor readings acknowledged by the broker and not stored');
          assert.equal(postedMissing, 0, 'stored readings of the request window not posted');
          assert.equal(postedTwice, 0, 'readings posted more often than stored');
          assert.ok(phasePeakRss < RSS_CAP_MIB, `Node-RED RSS ${phasePeakRss.toFixed(0)} MiB stays under ${RSS_CAP_MIB} MiB`);
        }
      }
    }

    it('at the end: totals over the whole run, facts consistent, scheduled posts once, memory bounded', async function () {
      if (table.length === 0) this.skip();
      await statestream!.stop();
      await sensors!.stop();
      clearInterval(solarTimer);
      await statestream!.drain();
      await sensors!.drain();
      const until = { statestream: statestream!.next, sensors: sensors!.next };
      try {
        await waitFor(
          'the last messages',
          async () => {
            await backlog();
            return (
              storedPrefix(statestream!, messagesTally!, 0) >= until.statestream &&
              storedPrefix(sensors!, sensorsTally!, 0) >= until.sensors &&
              (await isemsBehind()) === 0
            );
          },
          profile.recoveryTimeoutMs,
        );
      } catch (err) {
        // Go on: the comparison below says what is missing.
        console.log(`      ${(err as Error).message.split('\n')[0]}`);
      }
      await sleep(2000);
      await backlog();
      // The schedule posts a window every minute (after a 30 s settle, and after rows still on
      // their way in): wait until it has posted the window of the last reading, so every fault's
      // readings, late ones included, are judged below.
      // The bookmark moves once every batch of a window was acknowledged.
      const lastReadingAt = Date.now();
      await waitFor(
        'the scheduled window of the last reading',
        async () => {
          const { rows } = await db!.query('SELECT MAX(window_end) AS window_end FROM connector_bookmarks');
          return Number(rows[0]?.window_end ?? 0) > lastReadingAt;
        },
        240_000,
      ).catch((err: Error) => console.log(`      ${err.message.split('\n')[0]}`));
      const ss = messagesTally!.compare(statestream!.acked, 0, until.statestream);
      const sn = sensorsTally!.compare(sensors!.acked, 0, until.sensors);

      // The statestream trigger: one fact per stored live message, one state per entity.
      const facts = Number((await db!.query('SELECT COUNT(*) AS n FROM facts')).rows[0].n);
      const states = Number((await db!.query('SELECT COUNT(*) AS n FROM states')).rows[0].n);

      // Scheduled windows (every minute, after a 30 s settle): no reading in two windows, none more
      // often than stored; readings of delivered windows that are not posted are counted.
      const scheduled = new SeqCounts();
      const windows = new Set<string>();
      let lastEnd = '';
      for (const request of posted) {
        const body = JSON.parse(request.body) as PostedBody;
        const key = `${body.start_time}/${body.end_time}`;
        if (requestWindows.has(key)) continue;
        windows.add(key);
        if (body.end_time > lastEnd) lastEnd = body.end_time;
        for (const list of Object.values(body.data)) for (const reading of list) scheduled.add(Number(reading.value));
      }
      let scheduledTwice = 0;
      let scheduledMissing = 0;
      /** Unposted readings first seen stored only after their window was posted (late rows), per window. */
      const lateByWindow = new Map<string, number>();
      const firstStart = [...windows].map((w) => w.split('/')[0]).sort()[0];
      if (firstStart) {
        const { rows } = await db!.query('SELECT value, timestamp FROM sensor_data WHERE timestamp >= ? AND timestamp < ?', [
          firstStart.replace('T', ' ').replace('Z', ''),
          lastEnd.replace('T', ' ').replace('Z', ''),
        ]);
        const stored = new SeqCounts();
        const stamp = new Map<number, number>();
        for (const row of rows) {
          stored.add(Number(row.value));
          stamp.set(Number(row.value), new Date(row.timestamp as string | Date).getTime());
        }
        const windowPostedAt = new Map<string, number>();
        posted.forEach((request, i) => {
          const body = JSON.parse(request.body) as PostedBody;
          const key = `${body.start_time}/${body.end_time}`;
          if (!requestWindows.has(key) && !windowPostedAt.has(key)) windowPostedAt.set(key, postedAt[i]);
        });
        for (let seq = 0; seq < Math.max(stored.size, scheduled.size); seq++) {
          if (scheduled.get(seq) > stored.get(seq)) scheduledTwice += scheduled.get(seq) - stored.get(seq);
          if (scheduled.get(seq) < stored.get(seq)) {
            scheduledMissing += stored.get(seq) - scheduled.get(seq);
            const at = stamp.get(seq) ?? 0;
            const key =
              [...windowPostedAt.keys()].find((w) => {
                const [start, end] = w.split('/').map((t) => Date.parse(`${t}Z`));
                return at >= start && at < end;
              }) ?? 'no posted window';
            const late = (sensorsTally!.firstSeen.get(seq) || Infinity) > (windowPostedAt.get(key) ?? 0);
            const label = `${key} ${late ? 'stored after its post' : 'stored before its post'}`;
            lateByWindow.set(label, (lateByWindow.get(label) ?? 0) + 1);
          }
        }
      }
      if (lateByWindow.size > 0)
        console.log(`      unposted readings by window: ${[...lateByWindow].map(([w, n]) => `${w}: ${n}`).join('; ')}`);
      const peaks = table.map((r) => r.peakRssMiB);
      const firstRoundPeak = Math.max(...table.filter((r) => r.repeat === 1).map((r) => r.peakRssMiB));
      const lastRoundPeak = Math.max(...table.filter((r) => r.repeat === repeats).map((r) => r.peakRssMiB));
      console.log(
        `      whole run: statestream ${ss.published} published, ${ss.stored} stored, ${ss.missing.length} missing, ${ss.duplicates} duplicates; sensors ${sn.published} published, ${sn.stored} stored, ${sn.missing.length} missing, ${sn.duplicates} duplicates; facts ${facts} for ${messagesTally!.rows} message rows, ${states} states; scheduled windows ${windows.size} (up to ${lastEnd}): ${scheduledTwice} readings posted more often than stored, ${scheduledMissing} stored readings not posted; ISEMS ${solar!.simulation.nodes.map((_, i) => solar!.simulation.lineCount(i)).join('/')} lines stored once; RSS peak first round ${firstRoundPeak.toFixed(0)} MiB, last round ${lastRoundPeak.toFixed(0)} MiB`,
      );
      assert.deepEqual(ss.missing.slice(0, 20), []);
      assert.deepEqual(sn.missing.slice(0, 20), []);
      assert.equal(facts, messagesTally!.rows, 'one fact per stored message');
      assert.equal(states, ENTITIES);
      assert.ok(windows.size > 0, 'the schedule delivered windows');
      assert.equal(scheduledTwice, 0, 'no reading posted in two scheduled windows');
      assert.equal(scheduledMissing, 0, 'every stored reading of a delivered scheduled window posted');
      assert.ok(Math.max(...peaks) < RSS_CAP_MIB);
      assert.ok(
        lastRoundPeak <= firstRoundPeak * RSS_GROWTH_FACTOR + RSS_GROWTH_SLACK_MIB,
        `RSS bounded: last round ${lastRoundPeak.toFixed(0)} MiB vs first ${firstRoundPeak.toFixed(0)} MiB`,
      );
    });
  });
}
