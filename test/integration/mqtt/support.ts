/** Helpers for the MQTT integration tests: unique topics, waiting, sessions, a cuttable TCP proxy. */
import { randomBytes } from 'node:crypto';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import mqtt from 'mqtt';
import type { MqttClient } from 'mqtt';
import { MQTT_HOST, MQTT_PORT } from '../../support/services';
import { resolveBrokerSettings, type BrokerSettings } from '../../../lib/mqtt/options';
import { MqttSession, type ReceivedMessage, type SessionOptions } from '../../../lib/mqtt/session';

export const uniqueTopic = (): string => `iotp-test/${randomBytes(6).toString('hex')}`;
export const uniqueClientId = (): string => `iotpt${randomBytes(8).toString('hex')}`;

/** Polls until `condition` holds; fails with `what` after timeoutMs (a hang guard, not a timing assertion). */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Tracks sessions and raw clients a test opened so afterEach can close them. */
export class Opened {
  private sessions: MqttSession[] = [];
  private clients: MqttClient[] = [];

  session(settings: BrokerSettings, options: SessionOptions = {}): MqttSession {
    const where = settings.url ? {} : { host: MQTT_HOST, port: MQTT_PORT };
    const broker = resolveBrokerSettings({ ...where, reconnectInitialMs: 100, ...settings }, 'test');
    const session = new MqttSession(broker, options);
    session.on('error', () => undefined); // tests assert on counts; connection noise is expected in some
    this.sessions.push(session);
    return session;
  }

  async publisher(protocolVersion: 4 | 5 = 4): Promise<MqttClient> {
    const client = await mqtt.connectAsync({
      host: MQTT_HOST,
      port: MQTT_PORT,
      protocolVersion,
      clientId: uniqueClientId(),
      reconnectPeriod: 0,
    });
    this.clients.push(client);
    return client;
  }

  async closeAll(): Promise<void> {
    const sessions = this.sessions.splice(0);
    await Promise.all(sessions.map((s) => s.close()));
    await Promise.all(this.clients.splice(0).map((c) => c.endAsync(true)));
    // Persistent test sessions would otherwise stay in the broker (and its persistence file) forever:
    // connecting once with a clean session discards each of them.
    const local = new Set(sessions.filter((s) => s.broker.host === MQTT_HOST && s.broker.port === MQTT_PORT).map((s) => s.broker.clientId));
    await Promise.all(
      [...local].map(async (clientId) => {
        const wipe = await mqtt.connectAsync({ host: MQTT_HOST, port: MQTT_PORT, clientId, clean: true, reconnectPeriod: 0 });
        await wipe.endAsync(true);
      }),
    );
  }
}

/** Publishes `count` messages `prefix-0..` and waits for the broker's acknowledgements. */
export async function publishMany(client: MqttClient, topic: string, count: number, qos: 0 | 1 | 2 = 1): Promise<void> {
  const all: Array<Promise<unknown>> = [];
  for (let i = 0; i < count; i++) all.push(client.publishAsync(topic, String(i), { qos }));
  await Promise.all(all);
}

export const texts = (messages: ReceivedMessage[]): string[] => messages.map((m) => m.payload.toString());

/** A TCP proxy to the broker that a test can cut (drop connections, refuse new ones) and restore. */
export class CuttableProxy {
  private server: Server | undefined;
  private sockets = new Set<Socket>();
  port = 0;

  async start(): Promise<void> {
    const server = createServer((inbound) => {
      const outbound = netConnect(MQTT_PORT, MQTT_HOST);
      this.sockets.add(inbound).add(outbound);
      const drop = (): void => {
        inbound.destroy();
        outbound.destroy();
        this.sockets.delete(inbound);
        this.sockets.delete(outbound);
      };
      inbound.on('error', drop).on('close', drop);
      outbound.on('error', drop).on('close', drop);
      inbound.pipe(outbound).pipe(inbound);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    const address = server.address();
    if (!address || typeof address !== 'object') throw new Error('proxy has no address');
    this.port = address.port;
    this.server = server;
  }

  /** Drops every connection and stops listening (new connections are refused). */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
