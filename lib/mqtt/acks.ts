/**
 * Acknowledge-on-settle bookkeeping.
 *
 * A QoS 1/2 message is acknowledged to the broker (PUBACK / PUBREC) only when every consumer it
 * was handed to has settled it: committed to the database, journaled, or deliberately sent to an
 * error path. Until then the broker keeps the message, so a crash redelivers it instead of losing it.
 *
 * Each hand-over gets an `ackId`: a short string that survives Node-RED's message cloning, so the
 * node that finally stores the message can settle it by id (`settleAck(msg.ackId)`), O(1).
 * The number of open entries is bounded by the broker's in-flight window (Receive Maximum /
 * max_inflight_messages) times the number of consumers of one message.
 *
 * Packet ids belong to one network connection: after a disconnect the broker redelivers every
 * unacknowledged message (with DUP set) on the new connection, so the tracker simply forgets the
 * old connection's entries (`forgetAll`): settling them later does nothing.
 */

export type SettleOutcome = 'committed' | 'journaled' | 'rejected';

/** One received QoS 1/2 packet awaiting its acknowledgement. */
export interface InFlightPacket {
  readonly messageId: number;
  readonly qos: 1 | 2;
  /** Consumers that have not settled yet. */
  remaining: number;
  /** Connection generation the packet id belongs to. */
  readonly generation: number;
}

interface Copy {
  packet: InFlightPacket;
}

/** Sends the acknowledgement for a packet on the current connection. */
export type AckSender = (packet: InFlightPacket) => void;

let trackerSeq = 0;
const trackers = new Map<string, AckTracker>();

export class AckTracker {
  /** Prefix of every ackId handed out by this tracker (process-unique). */
  readonly prefix: string;
  private readonly copies = new Map<string, Copy>();
  private readonly sendAck: AckSender;
  private readonly afterSettle: (() => void) | undefined;
  private generation = 0;
  private copySeq = 0;
  private open = 0;
  /** Counters for status displays. */
  readonly counts = { tracked: 0, acked: 0, rejected: 0, forgotten: 0 };

  /** `afterSettle` runs after a settle() sent an acknowledgement (the session resumes reading there). */
  constructor(sendAck: AckSender, afterSettle?: () => void) {
    this.sendAck = sendAck;
    this.afterSettle = afterSettle;
    this.prefix = `mq${(++trackerSeq).toString(36)}:`;
    trackers.set(this.prefix, this);
  }

  /** Unacknowledged QoS 1/2 packets on the current connection. */
  get inFlight(): number {
    return this.open;
  }

  /** Open hand-overs (ackIds not yet settled). */
  get openCopies(): number {
    return this.copies.size;
  }

  get currentGeneration(): number {
    return this.generation;
  }

  /** Registers a received packet that will be handed to `consumers` consumers (>= 1). */
  track(messageId: number, qos: 1 | 2, consumers: number): InFlightPacket {
    this.open++;
    this.counts.tracked++;
    return { messageId, qos, remaining: consumers, generation: this.generation };
  }

  /** A new ackId for one consumer's copy of `packet`. */
  issue(packet: InFlightPacket): string {
    const id = this.prefix + (++this.copySeq).toString(36);
    this.copies.set(id, { packet });
    return id;
  }

  /**
   * Settles one copy. Returns true when this call settled it (false: unknown, already settled, or
   * from a previous connection). The acknowledgement goes out when the last copy is settled.
   */
  settle(ackId: string, outcome: SettleOutcome = 'committed'): boolean {
    const copy = this.copies.get(ackId);
    if (!copy) return false;
    this.copies.delete(ackId);
    if (outcome === 'rejected') this.counts.rejected++;
    const packet = copy.packet;
    if (--packet.remaining > 0) return true;
    this.complete(packet);
    this.afterSettle?.();
    return true;
  }

  /** Acknowledges a packet no consumer wanted (or whose last copy was settled). */
  complete(packet: InFlightPacket): void {
    if (packet.generation !== this.generation) return;
    packet.remaining = 0;
    this.open--;
    this.counts.acked++;
    this.sendAck(packet);
  }

  /** The connection ended: every open entry is void (the broker will redeliver). */
  forgetAll(): void {
    this.counts.forgotten += this.open;
    this.copies.clear();
    this.open = 0;
    this.generation++;
  }

  /** Stops routing settleAck() here. */
  dispose(): void {
    this.forgetAll();
    trackers.delete(this.prefix);
  }
}

/**
 * Settles a message by the ackId it carries (`msg.ackId`), whichever session delivered it.
 * Idempotent: unknown or already-settled ids return false.
 */
export function settleAck(ackId: unknown, outcome: SettleOutcome = 'committed'): boolean {
  if (typeof ackId !== 'string') return false;
  const colon = ackId.indexOf(':');
  if (colon < 0) return false;
  const tracker = trackers.get(ackId.slice(0, colon + 1));
  return tracker ? tracker.settle(ackId, outcome) : false;
}
