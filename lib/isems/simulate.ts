/**
 * Simulated ISEMS solar nodes for tests, benchmarks and demos: each node keeps a log of up to
 * 3,600 lines (one per simulated minute) that a local HTTP server serves at
 * `http://127.0.0.1:<port>/<nodeId>/ISEMS/ffopenmppt.log`.
 *
 * The values follow a plausible day: open-circuit and MPP voltage near 0 V at night and 18-21 V in
 * sunshine (with drifting clouds), the battery charging by day and discharging by night, its
 * voltage following the charge, temperatures following the sun, and status bits consistent with
 * all that (0x900 charging, 0x500 discharging, 0x300 fully charged, 0x580 discharging with a low
 * battery; all with "healthy"). Everything is deterministic for a given seed.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { statusFromFlags } from './parse';

/** How a simulated node answers HTTP requests. */
export type SimulatedBehaviour =
  /** Serves its log. */
  | 'ok'
  /** Sends the headers and the first bytes at once, the rest only after `slowDelayMs`. */
  | 'slow'
  /** Answers 404 with an HTML page (as uhttpd does for a missing file). */
  | 'not-found'
  /** Answers 200 with an HTML page (a captive portal or the router's web UI). */
  | 'html'
  /** Answers 200 with random bytes. */
  | 'garbage';

export interface SimulationOptions {
  /** Seed of all randomness. Default 1. */
  seed?: number;
  /** Number of nodes. Default 5. */
  nodes?: number;
  /** Simulated "now" after the initial history (epoch seconds). Default 2024-06-21T12:00:00Z. */
  startEpochSeconds?: number;
  /** Lines already in each log at the start (one per minute up to "now"). Default 3600. */
  initialLines?: number;
  /** The log keeps at most this many lines, dropping the oldest. Default 3600. */
  maxLines?: number;
  /** Fraction of nodes with the older firmware that writes no status field. Default 1/3. */
  withoutStatusFraction?: number;
}

export interface SimulatedNode {
  nodeId: string;
  firmware: string;
  withStatus: boolean;
  latitude: number;
  longitude: number;
  moduleWatts: number;
  batteryAh: number;
  behaviour: SimulatedBehaviour;
}

/** mulberry32: tiny, fast, good enough for simulation, and reproducible. */
function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STATUS_CHARGING = statusFromFlags(['charging', 'healthy']); // 0x900
const STATUS_DISCHARGING = statusFromFlags(['discharging', 'healthy']); // 0x500
const STATUS_FULL = statusFromFlags(['fullyCharged', 'healthy']); // 0x300
const LOW_BATTERY = statusFromFlags(['batteryLevelLow']); // 0x080
const LOW_TEMPERATURE = statusFromFlags(['lowBatteryTemperature']); // 0x004

const SCALES = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000];

/** `value.toFixed(decimals)` for decimals <= 6, several times faster (generating 1.8 M lines for a benchmark adds up). */
function fixed(value: number, decimals: number): string {
  const scale = SCALES[decimals];
  const scaled = Math.round(Math.abs(value) * scale);
  const whole = Math.floor(scaled / scale);
  const fraction = String(scaled - whole * scale).padStart(decimals, '0');
  return `${value < 0 && scaled !== 0 ? '-' : ''}${whole}.${fraction}`;
}

/** Router plus radio: the constant load on the battery, in watts. */
const LOAD_WATTS = 1.6;

class NodeModel {
  private readonly random: () => number;
  private charge: number;
  private cloud: number;
  private readonly health: number;
  private readonly lowVoltageDisconnect: number;
  private readonly batteryWh: number;
  /** Texts of the fields that never change: low-voltage disconnect (13), and capacities and position (15-18). */
  private readonly disconnectField: string;
  private readonly constantFields: string;
  /** The log as bytes, and the byte length of each line in it (oldest first). */
  buffer: Buffer = Buffer.alloc(0);
  private lineLengths: number[] = [];
  lineCount = 0;

  constructor(
    readonly spec: SimulatedNode,
    seed: number,
  ) {
    this.random = createRandom(seed);
    this.charge = 40 + this.random() * 50;
    this.cloud = 0.5 + this.random() * 0.5;
    this.health = Math.round(80 + this.random() * 20);
    this.lowVoltageDisconnect = Math.round((11.5 + this.random() * 0.2) * 100) / 100;
    this.batteryWh = spec.batteryAh * 12.8;
    this.disconnectField = fixed(this.lowVoltageDisconnect, 2);
    this.constantFields = `${spec.batteryAh};${spec.moduleWatts};${fixed(spec.latitude, 6)};${fixed(spec.longitude, 6)}`;
  }

  /** One log line for the minute ending at `epochSeconds`, advancing the battery state. */
  line(epochSeconds: number): string {
    const { spec, random } = this;
    // Local solar time from longitude; the sun is up from 6 to 18 and highest at noon.
    const hour = (((epochSeconds / 3600 + spec.longitude / 15) % 24) + 24) % 24;
    const daylight = Math.max(0, Math.sin((Math.PI * (hour - 6)) / 12));
    this.cloud = Math.min(1, Math.max(0.2, this.cloud + (random() - 0.5) * 0.08));
    const irradiance = daylight * this.cloud;
    const temperature = 6 + 14 * daylight + (random() - 0.5) * 1.5;

    const solarWatts = spec.moduleWatts * irradiance * 0.85;
    const full = this.charge >= 99.5;
    const netWatts = (full ? Math.min(solarWatts, LOAD_WATTS) : solarWatts) - LOAD_WATTS;
    this.charge = Math.min(100, Math.max(0, this.charge + (netWatts / 60 / this.batteryWh) * 100));
    const charging = !full && solarWatts > LOAD_WATTS;

    const openCircuit =
      irradiance > 0.01 ? 17.2 + 3.8 * Math.min(1, irradiance * 3) - 0.04 * (temperature - 25) + (random() - 0.5) * 0.2 : random() * 0.3;
    const mpp = charging ? openCircuit * 0.8 : openCircuit;
    const battery = 11.7 + 1.3 * (this.charge / 100) + (charging ? 0.9 * Math.min(1, irradiance * 2) : 0) + (random() - 0.5) * 0.04;
    const corrected = 14.1 - 0.024 * (temperature - 25);
    const timeToShutdown = Math.round((((this.charge / 100) * this.batteryWh) / LOAD_WATTS) * 60);

    let status = full ? STATUS_FULL : charging ? STATUS_CHARGING : STATUS_DISCHARGING;
    if (this.charge < 20) status |= LOW_BATTERY;
    if (temperature < 0) status |= LOW_TEMPERATURE;

    const statusField = spec.withStatus ? `;${status.toString(16).padStart(3, '0')}` : '';
    return (
      `${spec.nodeId};1;${epochSeconds};${spec.firmware};${timeToShutdown};${this.charge < 25 ? '1' : '0'};` +
      `${fixed(openCircuit, 3)};${fixed(mpp, 3)};${fixed(battery, 3)};${Math.round(this.charge)};${this.health};` +
      `${fixed(temperature, 1)};${this.disconnectField};${fixed(corrected, 3)};${this.constantFields}${statusField}`
    );
  }

  /** Appends lines and drops the oldest beyond `maxLines`, rebuilding the served bytes once. */
  append(lines: string[], maxLines: number): void {
    const added = Buffer.from(lines.map((line) => `${line}\n`).join(''), 'utf8');
    for (const line of lines) this.lineLengths.push(Buffer.byteLength(line, 'utf8') + 1);
    let dropBytes = 0;
    const drop = Math.max(0, this.lineLengths.length - maxLines);
    for (let i = 0; i < drop; i++) dropBytes += this.lineLengths[i];
    if (drop > 0) this.lineLengths = this.lineLengths.slice(drop);
    this.buffer = Buffer.concat([this.buffer.subarray(dropBytes), added]);
    this.lineCount = this.lineLengths.length;
  }
}

/** The nodes' data: advance simulated time, read each node's log. */
export class SolarSimulation {
  readonly nodes: SimulatedNode[];
  private readonly models: NodeModel[];
  private readonly maxLines: number;
  private readonly indexById = new Map<string, number>();
  private clock: number;

  constructor(options: SimulationOptions = {}) {
    const seed = options.seed ?? 1;
    const count = options.nodes ?? 5;
    const start = options.startEpochSeconds ?? 1_718_971_200; // 2024-06-21T12:00:00Z
    const initialLines = options.initialLines ?? 3600;
    this.maxLines = options.maxLines ?? 3600;
    const withoutStatus = options.withoutStatusFraction ?? 1 / 3;
    const random = createRandom(seed);
    this.nodes = [];
    this.models = [];
    for (let i = 0; i < count; i++) {
      const oldFirmware = random() < withoutStatus;
      const spec: SimulatedNode = {
        nodeId: `isems-${String(i + 1).padStart(3, '0')}`,
        firmware: oldFirmware ? 'ATmega8_A_1' : 'ESP_2.0',
        withStatus: !oldFirmware,
        latitude: 52.52 + (random() - 0.5) * 0.2,
        longitude: 13.4 + (random() - 0.5) * 0.3,
        moduleWatts: [10, 20, 30, 50][Math.floor(random() * 4)],
        batteryAh: [7, 9, 12, 18][Math.floor(random() * 4)],
        behaviour: 'ok',
      };
      this.indexById.set(spec.nodeId, i);
      this.nodes.push(spec);
      this.models.push(new NodeModel(spec, Math.floor(random() * 2 ** 32)));
    }
    // History: one line per minute, the last one at `start`.
    this.clock = start - initialLines * 60;
    this.advance(initialLines);
  }

  /** Simulated now (epoch seconds): the timestamp of the newest line. */
  get nowEpochSeconds(): number {
    return this.clock;
  }

  /** Lets `minutes` of simulated time pass: every node appends one line per minute. */
  advance(minutes = 1): void {
    for (const model of this.models) {
      const lines: string[] = [];
      for (let m = 1; m <= minutes; m++) lines.push(model.line(this.clock + m * 60));
      model.append(lines, this.maxLines);
    }
    this.clock += minutes * 60;
  }

  /** The log of node `index` as served (bytes). */
  logBytes(index: number): Buffer {
    return this.models[index].buffer;
  }

  logText(index: number): string {
    return this.models[index].buffer.toString('utf8');
  }

  lineCount(index: number): number {
    return this.models[index].lineCount;
  }

  /** Index of a node id, or -1. */
  indexOf(nodeId: string): number {
    return this.indexById.get(nodeId) ?? -1;
  }
}

export interface SimulatedServerOptions extends SimulationOptions {
  /** How long a 'slow' node holds back the rest of its response. Default 30 s. */
  slowDelayMs?: number;
}

/** A local HTTP server (127.0.0.1, ephemeral port) serving every simulated node's log under its own path. */
export class SimulatedSolarServer {
  readonly simulation: SolarSimulation;
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly slowDelayMs: number;
  private readonly garbageRandom: () => number;
  private port = 0;
  /** Requests served per node index (tests check that nothing is fetched twice per poll). */
  readonly requests: number[];
  /** TCP connections accepted so far (tests check keep-alive reuse). */
  connections = 0;

  constructor(options: SimulatedServerOptions = {}) {
    this.simulation = new SolarSimulation(options);
    this.slowDelayMs = options.slowDelayMs ?? 30_000;
    this.garbageRandom = createRandom((options.seed ?? 1) ^ 0x5eed);
    this.requests = new Array<number>(this.simulation.nodes.length).fill(0);
    this.server = http.createServer((request, response) => this.handle(request, response));
    this.server.on('connection', (socket) => {
      this.connections++;
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** The log URL of node `index` (give these to the poller as full-URL entries). */
  url(index: number): string {
    return `http://127.0.0.1:${this.port}/${encodeURIComponent(this.simulation.nodes[index].nodeId)}/ISEMS/ffopenmppt.log`;
  }

  get urls(): string[] {
    return this.simulation.nodes.map((_, index) => this.url(index));
  }

  setBehaviour(index: number, behaviour: SimulatedBehaviour): void {
    this.simulation.nodes[index].behaviour = behaviour;
  }

  /** Stops listening and drops every connection (also slow responses still pending). */
  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private handle(request: http.IncomingMessage, response: http.ServerResponse): void {
    const match = /^\/([^/]+)\/ISEMS\/ffopenmppt\.log$/.exec(request.url ?? '');
    const index = match ? this.simulation.indexOf(safeDecode(match[1])) : -1;
    if (index < 0) {
      sendHtml(response, 404, 'Not Found', 'The requested URL was not found on this server.');
      return;
    }
    this.requests[index]++;
    const behaviour = this.simulation.nodes[index].behaviour;
    switch (behaviour) {
      case 'not-found':
        sendHtml(response, 404, 'Not Found', 'The requested URL was not found on this server.');
        return;
      case 'html':
        sendHtml(response, 200, 'Welcome to the mesh', 'Please log in to continue.');
        return;
      case 'garbage': {
        const bytes = Buffer.alloc(4096);
        for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(this.garbageRandom() * 256);
        bytes[0] = 0x7f; // binary, never mistaken for the start of an HTML page
        response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length });
        response.end(bytes);
        return;
      }
      case 'slow': {
        const body = this.simulation.logBytes(index);
        response.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
        response.write(body.subarray(0, 100));
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          response.end(body.subarray(100));
        }, this.slowDelayMs);
        this.timers.add(timer);
        return;
      }
      case 'ok': {
        const body = this.simulation.logBytes(index);
        response.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
        response.end(body);
        return;
      }
    }
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return '';
  }
}

function sendHtml(response: http.ServerResponse, status: number, title: string, text: string): void {
  const body = `<!DOCTYPE html>\n<html><head><title>${status} ${title}</title></head><body><h1>${title}</h1><p>${text}</p></body></html>\n`;
  response.writeHead(status, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(body) });
  response.end(body);
}

/** Starts a simulated network; `await server.close()` when done. */
export function startSimulatedSolarServer(options: SimulatedServerOptions = {}): Promise<SimulatedSolarServer> {
  return new SimulatedSolarServer(options).start();
}
