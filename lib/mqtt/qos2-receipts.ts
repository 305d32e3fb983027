/**
 * The receiving side of QoS 2's exactly-once handshake (MQTT 3.1.1 and 5, section 4.3.3, the
 * receiver's "method B"): from the PUBLISH with packet identifier X until the broker's PUBREL for X,
 * the broker uses X for that one message only. A PUBLISH with X arriving again in between (the
 * broker did not get our PUBREC: a broker restart, a dropped connection) is the same message, to
 * acknowledge again, never to store again. The PUBREL ends it; X may then name a new message.
 *
 * Kept per MQTT session (packet identifiers belong to the session, not to a connection), in
 * memory: it lives as long as our process, which is what a broker restart or a network cut needs.
 * A session the broker did not resume (CONNACK without session present) voids every identifier.
 */

/** What to do with a QoS 2 copy. */
export type Qos2Receipt =
  /** First seen: store it, then call `stored` (or `failed`). */
  | 'new'
  /** A copy of a message already stored: acknowledge it, store nothing. */
  | 'stored'
  /** A copy of a message still being stored: it is held until `stored` or `failed` returns it. */
  | 'held';

interface Receipt<T> {
  topic: string;
  payload: Buffer;
  stored: boolean;
  /** Copies that arrived while the first one was being stored. */
  held: T[];
}

export class Qos2Receipts<T> {
  private readonly byId = new Map<number, Receipt<T>>();
  /** Copies recognised as repeats (acknowledged or held, not stored again). */
  repeats = 0;

  /** Packet identifiers between their PUBLISH and their PUBREL. */
  get size(): number {
    return this.byId.size;
  }

  /**
   * A QoS 2 PUBLISH. The topic and payload must match too: a broker that broke the rule (or a
   * receipt kept past a PUBREL we never saw) then stores a new message rather than dropping it.
   */
  receive(messageId: number, topic: string, payload: Buffer, copy: T): Qos2Receipt {
    const receipt = this.byId.get(messageId);
    if (receipt && receipt.topic === topic && receipt.payload.equals(payload)) {
      this.repeats++;
      if (receipt.stored) return 'stored';
      receipt.held.push(copy);
      return 'held';
    }
    this.byId.set(messageId, { topic, payload, stored: false, held: [] });
    return 'new';
  }

  /** The first copy is durable: returns the copies held meanwhile, to acknowledge now. */
  stored(messageId: number): T[] {
    const receipt = this.byId.get(messageId);
    if (!receipt) return [];
    receipt.stored = true;
    return receipt.held.splice(0);
  }

  /** The first copy could not be stored: forgets the receipt and returns the held copies, to take their own path. */
  failed(messageId: number): T[] {
    const receipt = this.byId.get(messageId);
    if (!receipt) return [];
    this.byId.delete(messageId);
    return receipt.held;
  }

  /** The broker's PUBREL: the identifier is free again. */
  released(messageId: number): void {
    const receipt = this.byId.get(messageId);
    if (receipt?.stored) this.byId.delete(messageId);
  }

  /** A session the broker did not resume: every identifier is void. */
  clear(): void {
    this.byId.clear();
  }
}
