/**
 * A TCP proxy on 127.0.0.1 in front of a real service (MariaDB, mosquitto) that a test can cut
 * and restore, to simulate an outage without stopping the shared service: `cut()` destroys
 * every open connection and refuses new ones until `restore()`.
 *
 * `cutOn()` cuts one connection at a chosen statement of the MySQL or PostgreSQL protocol instead,
 * to lose a COMMIT's answer (the server committed, the client never hears) or the COMMIT itself.
 */
import { createServer, Server, Socket, connect } from 'node:net';

/**
 * `after-answer`: the matching bytes reach the server, which runs them; the proxy holds back its
 * answer until the final OK/ERR packet (the last statement of a multi-statement text included)
 * and then drops both sides without passing any of it on. `before-server`: both sides are dropped
 * instead of forwarding the matching bytes, so the server never runs them.
 */
export type CutMoment = 'after-answer' | 'before-server';

interface ArmedCut {
  match: Buffer;
  moment: CutMoment;
  done: () => void;
}

/** MySQL OK/EOF status flag: another result of a multi-statement text follows. */
const SERVER_MORE_RESULTS_EXISTS = 0x0008;

/** Reads a MySQL length-encoded integer at `at`: [value, bytes used]. */
function lengthEncoded(buffer: Buffer, at: number): [number, number] {
  const first = buffer[at];
  if (first < 0xfb) return [first, 1];
  if (first === 0xfc) return [buffer.readUInt16LE(at + 1), 3];
  if (first === 0xfd) return [buffer.readUIntLE(at + 1, 3), 4];
  return [Number(buffer.readBigUInt64LE(at + 1)), 9];
}

/**
 * True once `bytes` (server → client, from a packet boundary) hold the final answer of a statement
 * that answers OK or ERR (INSERT, COMMIT; not a result set): an ERR packet, or an OK packet
 * without SERVER_MORE_RESULTS_EXISTS.
 */
export function holdsFinalMysqlAnswer(bytes: Buffer): boolean {
  let at = 0;
  while (at + 4 <= bytes.length) {
    const length = bytes.readUIntLE(at, 3);
    if (at + 4 + length > bytes.length) return false;
    const payload = bytes.subarray(at + 4, at + 4 + length);
    at += 4 + length;
    if (payload[0] === 0xff) return true;
    if (payload[0] === 0x00 && payload.length >= 7) {
      let offset = 1;
      offset += lengthEncoded(payload, offset)[1]; // affected rows
      offset += lengthEncoded(payload, offset)[1]; // last insert id
      const status = payload.readUInt16LE(offset);
      if ((status & SERVER_MORE_RESULTS_EXISTS) === 0) return true;
    }
  }
  return false;
}

/**
 * True once `bytes` (server → client, from a message boundary) hold PostgreSQL's ReadyForQuery
 * ('Z'): the server has answered everything the client sent before it, the last statement included.
 */
export function holdsFinalPostgresAnswer(bytes: Buffer): boolean {
  let at = 0;
  while (at + 5 <= bytes.length) {
    const type = bytes[at];
    const length = bytes.readUInt32BE(at + 1);
    if (at + 1 + length > bytes.length) return false;
    if (type === 0x5a) return true;
    at += 1 + length;
  }
  return false;
}

/** Whose wire protocol the proxy reads when a cut waits for the final answer. */
export type ProxiedProtocol = 'mysql' | 'postgres';

export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private cutOff = false;
  private armed: ArmedCut | null = null;
  /** Connections accepted since start (for assertions about reconnects). */
  connections = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
    private readonly protocol: ProxiedProtocol = 'mysql',
  ) {}

  get port(): number {
    const address = this.server?.address();
    if (!address || typeof address !== 'object') throw new Error('proxy not started');
    return address.port;
  }

  async start(port = 0): Promise<this> {
    this.server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, '127.0.0.1', () => resolve());
    });
    return this;
  }

  private accept(client: Socket): void {
    if (this.cutOff) {
      client.destroy();
      return;
    }
    this.connections += 1;
    const upstream = connect(this.targetPort, this.targetHost);
    this.sockets.add(client);
    this.sockets.add(upstream);
    const close = (): void => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
    // Forwarded by hand (not piped) so an armed cut can look at each chunk first.
    let tail = Buffer.alloc(0); // the end of the previous chunk, for a match split across two
    let holding: { answer: Buffer; cut: ArmedCut } | null = null;
    client.on('data', (chunk: Buffer) => {
      const armed = this.armed;
      if (armed && !holding) {
        const seen = Buffer.concat([tail, chunk]);
        tail = seen.subarray(Math.max(0, seen.length - armed.match.length + 1));
        if (seen.includes(armed.match)) {
          this.armed = null;
          if (armed.moment === 'before-server') {
            close();
            armed.done();
            return;
          }
          holding = { answer: Buffer.alloc(0), cut: armed };
        }
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!holding) {
        client.write(chunk);
        return;
      }
      holding.answer = Buffer.concat([holding.answer, chunk]);
      if (this.protocol === 'postgres' ? holdsFinalPostgresAnswer(holding.answer) : holdsFinalMysqlAnswer(holding.answer)) {
        close();
        holding.cut.done();
      }
    });
  }

  /**
   * Arms a one-shot cut of the connection that next sends `match` (e.g. `COMMIT`) to the server,
   * at `moment` (see CutMoment). Resolves once that connection was cut. Other connections and
   * later ones are untouched.
   */
  cutOn(match: string | Buffer, moment: CutMoment): Promise<void> {
    if (this.armed) throw new Error('a cut is already armed');
    return new Promise((resolve) => {
      this.armed = { match: Buffer.isBuffer(match) ? match : Buffer.from(match), moment, done: resolve };
    });
  }

  /** Drops every connection and refuses new ones: the service looks down. */
  cut(): void {
    this.cutOff = true;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  /** Accepts connections again. */
  restore(): void {
    this.cutOff = false;
  }

  async stop(): Promise<void> {
    this.cut();
    this.armed = null;
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
