/**
 * The ingest's journal mode (glue around lib/mqtt/receive-journal): a received message is appended
 * to the node's receive journal and acknowledged to the broker once the append is durable; the
 * flow is fed from the journal, at most `window` entries at a time, and an entry is released when
 * every node it reached has completed it. Unreleased entries are replayed by the next journal on
 * the directory (restart, redeploy, crash).
 *
 * When the journal is full the node stops acknowledging: QoS 1/2 messages wait here,
 * unacknowledged, until there is room (the broker's in-flight window bounds them, and the broker's
 * queue takes the rest). When the journal cannot be written (disk full, directory gone) messages
 * take the path without a journal (acknowledged when the flow completes them) for a while, then
 * the journal is tried again. Nothing is acknowledged that is neither durable here nor completed.
 *
 * QoS 2 is stored once across a broker restart or a network cut: a PUBLISH repeated before the
 * broker's PUBREL (our PUBREC was lost) is acknowledged without a second entry (lib/mqtt/qos2-receipts).
 */
import { ReceiveJournal, type JournalEntry, type JournalStats } from '../../lib/mqtt/receive-journal';
import type { ReceivedMessage } from '../../lib/mqtt';
import { Qos2Receipts } from '../../lib/mqtt/qos2-receipts';

/** How long the journal is left alone after a failed write. */
export const JOURNAL_RETRY_MS = 30_000;
/** Entries handed to the flow and not yet completed, at most. */
export const FLOW_WINDOW = 1000;
/**
 * Entries handed to the flow per turn of the event loop while messages are arriving: the flow's
 * work for them runs before the next network read, and the broker's next messages wait for our
 * acknowledgements, which wait for that read (with mosquitto's default of 20 in flight, the
 * broker sends no faster than we acknowledge). Small chunks keep receiving ahead of the flow
 * during a burst; the journal holds the difference.
 */
export const FEED_CHUNK_RECEIVING = 10;
/** ...and while nothing arrives (catching up on the journal): larger chunks, fewer turns. */
export const FEED_CHUNK_IDLE = 100;
/** Messages arrived within this long count as "arriving". */
const RECEIVING_MS = 100;
/** How long after the start the broker's redeliveries are compared with what a crash left unacknowledged. */
const REDELIVERY_WINDOW_MS = 60_000;

export type JournalState = 'ok' | 'full' | 'failing' | 'off';

/** The packet id a QoS 2 message's receipt is kept under; QoS 0 and 1 messages have no receipt. */
function qos2ReceiptId(message: ReceivedMessage): number | undefined {
  return message.qos === 2 ? message.messageId : undefined;
}

export interface JournaledReceiveOptions {
  dir: string;
  maxBytes: number;
  warn(message: string): void;
  /** A write failed: the node reports it (once per failure period). */
  error(err: Error): void;
  /**
   * Hands an entry to the flow; `finished(true)` when the flow is done with it (released),
   * `finished(false)` when it could not be handed over in this run (it stays for the next one).
   */
  deliver(entry: JournalEntry, finished: (release: boolean) => void): void;
  /** Hands a message to the flow without the journal (acknowledged on completion). */
  bypass(message: ReceivedMessage): void;
}

export class JournaledReceive {
  readonly journal: ReceiveJournal;
  private readonly options: JournaledReceiveOptions;
  /** QoS 1/2 messages waiting, unacknowledged, for room in the journal. */
  private readonly waiting: ReceivedMessage[] = [];
  private inFlow = 0;
  private failingUntil = 0;
  private lastReceivedAt = 0;
  /**
   * What an earlier run journaled and may not have acknowledged (it was killed between the flush
   * and the PUBACK, or between the PUBACK and its mark), by packet identifier: the broker delivers
   * those again (dup set) and the journal replays them too; the redelivery is acknowledged without
   * a second entry. A redelivery is the broker's latest message under that identifier; the topic
   * and payload must match too. (A broker that hands a freed identifier at once to a message with
   * the same topic and payload, in the microseconds between a PUBACK and its mark, could make a
   * new message look like a redelivery; mosquitto numbers its messages in sequence and cannot.)
   */
  private unacknowledged = new Map<number, { topic: string; payload: Buffer }>();
  private unacknowledgedUntil = 0;
  /** Durable entries whose PUBACK is about to go out (this turn). */
  private toAcknowledge: Array<{ entry: JournalEntry; message: ReceivedMessage }> = [];
  /** QoS 2 packet identifiers journaled (or being journaled) and not yet released by the broker. */
  private readonly qos2 = new Qos2Receipts<ReceivedMessage>();
  /** Redeliveries recognised as already journaled (after our crash, or QoS 2 repeats). */
  redeliveriesSkipped = 0;
  private pumpScheduled = false;
  private closing = false;

  /** Opens the journal (throws ReceiveJournalError when the directory is unusable). */
  constructor(options: JournaledReceiveOptions) {
    this.options = options;
    this.journal = new ReceiveJournal({ dir: options.dir, maxBytes: options.maxBytes, warn: options.warn });
    for (const entry of this.journal.takeUnacknowledged()) this.unacknowledged.set(entry.messageId, entry);
    this.unacknowledgedUntil = Date.now() + REDELIVERY_WINDOW_MS;
    this.schedulePump(); // an earlier run's entries
  }

  get state(): JournalState {
    if (Date.now() < this.failingUntil) return 'failing';
    return this.waiting.length > 0 || !this.journal.hasRoom() ? 'full' : 'ok';
  }

  /** Entries in the flow now. */
  get flowing(): number {
    return this.inFlow;
  }

  stats(): JournalStats & { waiting: number } {
    return { ...this.journal.stats(), waiting: this.waiting.length };
  }

  /** A message from the broker. */
  receive(message: ReceivedMessage): void {
    if (this.closing) return; // unacknowledged: the broker (or the parked hand-over) delivers it again
    this.lastReceivedAt = Date.now();
    if (message.dup && this.isJournaledAlready(message)) {
      this.redeliveriesSkipped++;
      message.settle('journaled');
      return;
    }
    if (Date.now() < this.failingUntil) {
      this.options.bypass(message);
      return;
    }
    const receiptId = qos2ReceiptId(message);
    if (receiptId !== undefined) {
      const receipt = this.qos2.receive(receiptId, message.topic, message.payload, message);
      if (receipt !== 'new') {
        this.redeliveriesSkipped++;
        if (receipt === 'stored') message.settle('journaled');
        return; // 'held': settled with the first copy
      }
    }
    if (this.waiting.length > 0 || !this.journal.hasRoom(message.payload.length + message.topic.length + 64)) {
      // Full: QoS 0 has nothing to hold back (the broker does not wait for it); the rest waits unacknowledged.
      if (message.qos === 0) this.options.bypass(message);
      else this.waiting.push(message);
      return;
    }
    this.append(message);
  }

  private isJournaledAlready(message: ReceivedMessage): boolean {
    if (this.unacknowledged.size === 0 || message.messageId === undefined) return false;
    const earlier = this.unacknowledged.get(message.messageId);
    if (!earlier || earlier.topic !== message.topic || !earlier.payload.equals(message.payload)) return false;
    this.unacknowledged.delete(message.messageId);
    return true;
  }

  /** The broker's PUBREL for a QoS 2 message: its packet identifier may name a new message from now on. */
  qos2Released(messageId: number): void {
    this.qos2.released(messageId);
  }

  /** The broker did not resume the session: its packet identifiers are void. */
  sessionLost(): void {
    this.qos2.clear();
  }

  /** Called now and then (the node's status tick): compaction, and a full journal's waiting messages. */
  tick(): void {
    if (this.unacknowledged.size > 0 && Date.now() > this.unacknowledgedUntil) this.unacknowledged.clear();
    this.journal.maintain();
    this.schedulePump();
  }

  /** Takes no more messages and feeds the flow no more (closing: the flow is being stopped). */
  stop(): void {
    this.closing = true;
    this.waiting.length = 0; // unacknowledged: redelivered by the broker
  }

  /** Writes what is being appended (those messages are acknowledged), closes the journal. */
  async close(): Promise<void> {
    this.stop();
    await this.journal.close();
  }

  private append(message: ReceivedMessage): void {
    this.journal.append(
      {
        topic: message.topic,
        payload: message.payload,
        qos: message.qos,
        retain: message.retain,
        dup: message.dup,
        messageId: message.messageId,
        properties: message.properties as Record<string, unknown> | undefined,
        receivedAt: Date.now(),
      },
      (err, entry) => {
        if (err || !entry) {
          if (Date.now() >= this.failingUntil) this.options.error(err ?? new Error('receive journal append failed'));
          this.failingUntil = Date.now() + JOURNAL_RETRY_MS;
          this.options.bypass(message);
          // Repeats held for it take the same path: acknowledged only once the flow completes them
          // (the first copy's acknowledgement may belong to a connection that is gone). At least once.
          const receiptId = qos2ReceiptId(message);
          if (receiptId !== undefined) for (const held of this.qos2.failed(receiptId)) this.options.bypass(held);
          return;
        }
        // Acknowledged together once this group's callbacks have run, then marked as such.
        if (this.toAcknowledge.length === 0) process.nextTick(() => this.acknowledge());
        this.toAcknowledge.push({ entry, message });
      },
    );
  }

  private acknowledge(): void {
    const batch = this.toAcknowledge;
    this.toAcknowledge = [];
    for (const { message } of batch) {
      message.settle('journaled');
      const receiptId = qos2ReceiptId(message);
      if (receiptId !== undefined) for (const held of this.qos2.stored(receiptId)) held.settle('journaled');
    }
    this.journal.acknowledged(batch.map((item) => item.entry));
    this.schedulePump();
  }

  private schedulePump(): void {
    if (this.pumpScheduled || this.closing) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.closing || this.journal.isClosed) return;
    while (this.waiting.length > 0 && Date.now() >= this.failingUntil) {
      const next = this.waiting[0];
      if (!this.journal.hasRoom(next.payload.length + next.topic.length + 64)) break;
      this.waiting.shift();
      this.append(next);
    }
    const chunk = Date.now() - this.lastReceivedAt < RECEIVING_MS ? FEED_CHUNK_RECEIVING : FEED_CHUNK_IDLE;
    const room = Math.min(chunk, FLOW_WINDOW - this.inFlow);
    if (room <= 0) return;
    const entries = this.journal.take(room);
    if (entries.length === 0) return;
    if (entries.length === room) this.schedulePump(); // more may wait: the next chunk after the next network read
    this.journal.attempt(entries);
    this.inFlow += entries.length;
    for (const entry of entries) {
      let finished = false;
      this.options.deliver(entry, (release) => {
        if (finished) return;
        finished = true;
        this.inFlow--;
        if (release) this.journal.release(entry);
        this.schedulePump();
      });
    }
  }
}
