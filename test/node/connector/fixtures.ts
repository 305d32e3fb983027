/**
 * Shared by the connector's node and end-to-end tests: a real HTTP receiver on 127.0.0.1:0, the
 * `sensor_data` table the sensors pipeline creates (made here by hand: that pipeline's migration
 * set is not part of this area), readings in it, and a look at what the receiver got.
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { formatUtc } from '../../../lib/connector/time';
import type { Database } from '../../../lib/db/types';

export const MIN = 60_000;

export interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** Decides each answer; n is the 1-based request number. Default: 200 `{"ok":true}`. */
  respond: (request: Received, response: ServerResponse, n: number) => void;
  /** Resolves once `count` requests have arrived. */
  waitFor(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export const accept = (_request: Received, response: ServerResponse): void => {
  response.writeHead(200, { 'Content-Type': 'application/json' }).end('{"ok":true}');
};

export async function startReceiver(respond: Receiver['respond'] = accept, port = 0): Promise<Receiver> {
  const waiters: { count: number; resolve: () => void }[] = [];
  const receiver = { received: [] as Received[], respond } as Receiver;
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const entry: Received = {
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      receiver.received.push(entry);
      receiver.respond(entry, response, receiver.received.length);
      for (const waiter of [...waiters]) {
        if (receiver.received.length >= waiter.count) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ingest`;
  receiver.waitFor = (count, timeoutMs = 20_000) =>
    new Promise<void>((resolve, reject) => {
      if (receiver.received.length >= count) return resolve();
      const timer = setTimeout(
        () => reject(new Error(`receiver got ${receiver.received.length} of ${count} requests within ${timeoutMs} ms`)),
        timeoutMs,
      );
      waiters.push({
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  receiver.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return receiver;
}

/** The columns of the sensors pipeline's `sensor_data` that the connector reads. */
export async function createSensorData(db: Database): Promise<void> {
  await db.query(
    {
      mysql:
        'CREATE TABLE sensor_data (id BIGINT AUTO_INCREMENT PRIMARY KEY, sensor_id INT NOT NULL, `timestamp` DATETIME(6) NOT NULL, value FLOAT NULL, KEY idx_time (`timestamp`))',
      sqlite:
        'CREATE TABLE sensor_data (id INTEGER PRIMARY KEY AUTOINCREMENT, sensor_id INTEGER NOT NULL, "timestamp" DATETIME NOT NULL, value REAL)',
      postgres:
        'CREATE TABLE sensor_data (id BIGSERIAL PRIMARY KEY, sensor_id INT NOT NULL, "timestamp" TIMESTAMP(6) NOT NULL, value DOUBLE PRECISION NULL)',
    }[db.dialect],
  );
}

/** `YYYY-MM-DD HH:MM:SS.ffffff` UTC: DATETIME(6) text, and the sensors pipeline's SQLite form. */
export function storedTime(ms: number): string {
  const text = formatUtc(ms).replace('T', ' ');
  const [whole, fraction = ''] = text.split('.');
  return `${whole}.${fraction.padEnd(6, '0')}`;
}

export interface Reading {
  sensorId: number;
  ms: number;
  value: number;
}

export async function insertReadings(db: Database, readings: readonly Reading[]): Promise<void> {
  for (const r of readings) {
    await db.query('INSERT INTO sensor_data (sensor_id, timestamp, value) VALUES (?, ?, ?)', [r.sensorId, storedTime(r.ms), r.value]);
  }
}

export interface PostedBody {
  start_time: string;
  end_time: string;
  data: Record<string, { timestamp: string; value: unknown }[]>;
}

/** Every reading the receiver got, as `sensor@timestamp` → the windows (`start/end`) it came in. */
export function windowsPerReading(received: readonly Received[]): Map<string, Set<string>> {
  const seen = new Map<string, Set<string>>();
  for (const request of received) {
    const body = JSON.parse(request.body) as PostedBody;
    for (const [sensor, list] of Object.entries(body.data)) {
      for (const reading of list) {
        const key = `${sensor}@${reading.timestamp}`;
        const windows = seen.get(key) ?? new Set<string>();
        windows.add(`${body.start_time}/${body.end_time}`);
        seen.set(key, windows);
      }
    }
  }
  return seen;
}

/** `sensor_<id>@<contract timestamp>` of a reading, as `windowsPerReading` keys it. */
export function readingKey(r: Reading): string {
  return `sensor_${r.sensorId}@${formatUtc(r.ms)}`;
}

type SpiedNode = { status: { getCalls(): { thisValue: unknown; args: [{ fill?: string; text?: string }] }[] } };

/** Status updates of one node (the helper spies on Node.prototype.status, so calls made in the constructor count too). */
export function statusCalls(node: unknown): { fill?: string; text?: string }[] {
  return (node as SpiedNode).status
    .getCalls()
    .filter((call) => call.thisValue === node)
    .map((call) => call.args[0]);
}
