/**
 * A shared MQTT connection with acknowledge-on-settle delivery.
 *
 * Several source/publish nodes that use the same broker config share one MqttSession (one client,
 * one persistent broker session). Each source registers subscriptions; each received message goes
 * to the subscriptions whose filters match, and a QoS 1/2 message is acknowledged to the broker
 * only when every consumer has settled it (see acks.ts).
 *
 * How MQTT.js 5 is bent to do that (read from mqtt/build/lib/client.js and handlers/publish.js):
 * MQTT.js handles incoming packets strictly one after another and sends PUBACK/PUBREC as soon as
 * `customHandleAcks` and `handleMessage` call back; not calling back stalls the whole connection
 * (also PINGRESP and the PUBACKs of our own publishes). So holding the callback cannot keep more
 * than one message in flight. Instead the session
 *  - takes delivery of QoS 1/2 PUBLISH packets in `customHandleAcks` (topic aliases already
 *    resolved; MQTT.js only honours the option for MQTT 5, so it is installed on the live
 *    options object, which handlePublish reads per packet, for 3.1.1 too),
 *  - swallows the PUBACK/PUBREC that MQTT.js then sends by itself (an instance override of the
 *    private `_sendPacket`, in lib/private-apis.ts with the check that it exists), and
 *  - sends the acknowledgement itself, through the original `_sendPacket`, when the message is
 *    settled, in whatever order messages are settled (MQTT allows acknowledgements in any order).
 * QoS 2 then completes normally: the broker answers our PUBREC with PUBREL, MQTT.js replies PUBCOMP
 * (its handleMessage for that PUBREL is answered at once; the message was already delivered).
 * Holding the callback is kept only as the last-resort brake when a broker sends more than the
 * configured window (3.1.1 brokers whose max_inflight_messages exceeds receiveMaximum).
 * The integration tests pin this behaviour, so an MQTT.js upgrade that changes it fails loudly.
 */
import { EventEmitter } from 'node:events';
import mqtt from 'mqtt';
import type { IClientOptions, IPublishPacket, MqttClient } from 'mqtt';
import { AckTracker, type InFlightPacket, type SettleOutcome } from './acks';
import { classifyConnectError, describeDisconnect } from './connect-errors';
import { MqttError } from './errors';
import { mqtt5Losses, ProtocolNegotiation, type ProtocolVersion } from './negotiation';
import { describeBroker, reconnectDelay, toClientOptions, withProtocolVersion, type ResolvedBroker } from './options';
import { assertTopicName, parseFilter, topicMatches, type ParsedFilter } from './topics';
import { connackReceived, interceptIncomingAcks, tolerateReceiveMaximumOverrun, type SendPacket } from '../private-apis';

export type QoS = 0 | 1 | 2;

/** What a consumer receives. `settle` is idempotent; for QoS 0 it does nothing. */
export interface ReceivedMessage {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  /** The broker is redelivering (the previous delivery was not acknowledged). */
  dup: boolean;
  /** MQTT 5 properties (user properties, content type, ...), if any. */
  properties: IPublishPacket['properties'] | undefined;
  /** The subscription filter this copy was delivered for. */
  subscription: string;
  /** The packet identifier (QoS 1/2; undefined for QoS 0): a redelivery of an unacknowledged message carries the same one. */
  messageId: number | undefined;
  /** Settle by id (survives message cloning); undefined for QoS 0. */
  ackId: string | undefined;
  settle(outcome?: SettleOutcome): void;
}

export type MessageHandler = (message: ReceivedMessage) => void;

export interface SubscribeOptions {
  qos?: QoS;
}

export interface Subscription {
  readonly filter: string;
  /** Resolves when the broker granted the subscription (on the current or next connection). */
  readonly ready: Promise<void>;
  /**
   * Stops delivery to this handler. `unsubscribe: true` also removes the broker subscription when
   * no other user has it (use it when the node is deleted, not on a redeploy: a persistent
   * session keeps collecting messages for a kept subscription while the node restarts).
   */
  close(options?: { unsubscribe?: boolean }): Promise<void>;
}

export interface PublishOptions {
  qos?: QoS;
  retain?: boolean;
  properties?: IPublishPacket['properties'];
}

export interface SessionCounts {
  connected: boolean;
  /** Unacknowledged QoS 1/2 messages held by consumers (or parked). */
  inFlight: number;
  delivered: number;
  acked: number;
  rejected: number;
  redelivered: number;
  /** QoS 1/2 messages that matched no subscription after the grace period (acknowledged). */
  unmatched: number;
  /** Publishes waiting for the broker's acknowledgement (or for a connection). */
  pendingPublishes: number;
  published: number;
  /** Times reading was paused because the broker exceeded the in-flight window. */
  pauses: number;
}

/** The 'negotiated' event: the version of the session's first connection, and with `auto` why it is 3.1.1. */
export interface Negotiated {
  version: ProtocolVersion;
  /** Set when `auto` fell back to 3.1.1: what the broker did. */
  fellBackBecause?: string;
  /** With a fallback: what the session goes without (one sentence each; lib/mqtt/negotiation.ts). */
  losses: string[];
}

export interface SessionOptions {
  /** How long a QoS 1/2 message that matches no subscription is held for a subscriber that is
   *  about to (re)register (startup, redeploy) before it is acknowledged and dropped. */
  unmatchedGraceMs?: number;
}

interface FilterEntry {
  parsed: ParsedFilter;
  qos: QoS;
  users: Set<SubscriptionImpl>;
  /** The broker confirmed it in the current broker session (no need to resubscribe). */
  confirmed: boolean;
  waiters: Array<{ resolve: () => void; reject: (err: Error) => void }>;
}

interface Parked {
  topic: string;
  packet: IPublishPacket;
  inflight: InFlightPacket;
  since: number;
}

type AckCallback = (errorOrCode: Error | number, code?: number) => void;

class SubscriptionImpl implements Subscription {
  ready: Promise<void> = Promise.resolve();
  closed = false;

  constructor(
    readonly filter: string,
    readonly handler: MessageHandler,
    private readonly owner: MqttSession,
  ) {}

  close(options?: { unsubscribe?: boolean }): Promise<void> {
    return this.owner.removeSubscription(this, options?.unsubscribe === true);
  }
}

export class MqttSession extends EventEmitter {
  readonly broker: ResolvedBroker;
  readonly description: string;
  readonly client: MqttClient;
  private readonly tracker: AckTracker;
  private readonly filters = new Map<string, FilterEntry>();
  private readonly sendPacket: SendPacket;
  private readonly unmatchedGraceMs: number;
  private parked: Parked[] = [];
  private waiting: { topic: string; packet: IPublishPacket; cb: AckCallback } | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private reconnectAttempts = 0;
  private closed = false;
  private readonly negotiation: ProtocolNegotiation;
  /** A socket error (or a CONNACK refusal) ended the current connection attempt. */
  private attemptFailed = false;
  /** Why the connection is down, in words (undefined while connected or before the first attempt ends). */
  private downBecause: string | undefined;
  /** The current attempt ended in a fallback to 3.1.1 (its close is no disconnect to report). */
  private fellBack = false;
  /** A publish was refused for a full queue: the next completed publish announces room ('publish-room'). */
  private roomWanted = false;
  private readonly stats = { delivered: 0, redelivered: 0, unmatched: 0, published: 0, pauses: 0 };
  /** Rejecters of the publishes not yet acknowledged by the broker. */
  private readonly pendingPublishes = new Set<(err: Error) => void>();
  private onPublishesDone: (() => void) | undefined;

  constructor(broker: ResolvedBroker, options: SessionOptions = {}, clientOptionsOverride: Partial<IClientOptions> = {}) {
    super();
    this.broker = broker;
    this.description = describeBroker(broker);
    this.unmatchedGraceMs = options.unmatchedGraceMs ?? 10_000;
    this.negotiation = new ProtocolNegotiation(broker.protocolVersion);
    this.client = mqtt.connect({ ...toClientOptions(broker, this.negotiation.version), ...clientOptionsOverride, manualConnect: true });
    this.tracker = new AckTracker(
      (packet) => this.writeAck(packet),
      () => this.resumeIfRoom(),
    );
    // MQTT.js acknowledges every incoming QoS 1/2 PUBLISH on its own; those acknowledgements are
    // dropped (lib/private-apis.ts, which first checks the client has what this relies on) and sent
    // by writeAck() once the message is settled.
    this.sendPacket = interceptIncomingAcks(this.client);
    tolerateReceiveMaximumOverrun(this.client);
    // Installed on the live options object: handlePublish reads it per packet, for 3.1.1 as well.
    this.client.options.customHandleAcks = (topic: string, _payload: Buffer, packet: IPublishPacket, cb: AckCallback) =>
      this.onQosPublish(topic, packet, cb);
    this.client.handleMessage = (packet, callback) => {
      // QoS 0 PUBLISH, QoS 1 PUBLISH (already delivered in customHandleAcks) or the PUBREL of a QoS 2
      // message (already delivered and acknowledged with PUBREC): only QoS 0 is new here. The
      // PUBREL frees the packet identifier, which receivers that store QoS 2 once need to know.
      if (packet.cmd === 'publish' && (packet.qos ?? 0) === 0) this.dispatch(packet.topic, packet, undefined);
      else if (packet.cmd === 'publish' && packet.qos === 2 && packet.messageId !== undefined) this.emit('qos2-released', packet.messageId);
      callback();
    };

    this.client.on('connect', (connack) => this.onConnect(connack.sessionPresent === true));
    this.client.on('close', () => this.onClose());
    // An MQTT 5 broker may say why it ends the connection (e.g. 142: another client took the session over).
    this.client.on('disconnect', (packet) => {
      if (typeof packet.reasonCode === 'number' && packet.reasonCode !== 0) this.downBecause = describeDisconnect(packet.reasonCode);
    });
    this.client.on('reconnect', () => {
      this.reconnectAttempts++;
      // MQTT.js retries at a fixed reconnectPeriod; growing it here before the next failure gives backoff.
      this.client.options.reconnectPeriod = reconnectDelay(
        this.reconnectAttempts,
        this.broker.reconnectInitialMs,
        this.broker.reconnectMaxMs,
      );
      this.emit('reconnecting', this.reconnectAttempts);
    });
    this.client.on('error', (err) => this.onClientError(sanitizeError(err, this.broker)));
    this.client.on('offline', () => this.emit('offline'));
    this.client.connect();
    this.ticker = setInterval(() => this.tick(), 1000);
    this.ticker.unref();
  }

  /** True while connected to the broker. */
  get connected(): boolean {
    return this.client.connected;
  }

  /** The MQTT version the broker accepted (3.1.1 = 4), or undefined before the first connection. */
  get protocolVersion(): ProtocolVersion | undefined {
    return this.negotiation.negotiated;
  }

  /**
   * Why the session is not connected, in words for a status or log (no secrets); undefined while
   * connected, and while connecting (the first attempt, or finding out the broker's MQTT version).
   */
  get problem(): string | undefined {
    return this.client.connected ? undefined : this.downBecause;
  }

  /** True while publish() would refuse for a full queue. */
  get publishQueueFull(): boolean {
    return this.pendingPublishes.size >= this.broker.maxPendingPublishes;
  }

  /** Publishes waiting for the broker's acknowledgement (or for a connection). */
  get pendingPublishCount(): number {
    return this.pendingPublishes.size;
  }

  /** Asks for one 'publish-room' event when the full publish queue has room again. */
  notifyPublishRoom(): void {
    this.roomWanted = true;
  }

  /** Unacknowledged QoS 1/2 messages (cheap; counts() builds a snapshot object). */
  get inFlight(): number {
    return this.tracker.inFlight;
  }

  counts(): SessionCounts {
    return {
      connected: this.client.connected,
      inFlight: this.tracker.inFlight,
      delivered: this.stats.delivered,
      acked: this.tracker.counts.acked,
      rejected: this.tracker.counts.rejected,
      redelivered: this.stats.redelivered,
      unmatched: this.stats.unmatched,
      pendingPublishes: this.pendingPublishes.size,
      published: this.stats.published,
      pauses: this.stats.pauses,
    };
  }

  /** Settles a delivered message by its ackId. Idempotent. */
  settle(ackId: string, outcome: SettleOutcome = 'committed'): boolean {
    return this.tracker.settle(ackId, outcome);
  }

  subscribe(filter: string, options: SubscribeOptions, handler: MessageHandler): Subscription {
    if (this.closed) throw new MqttError('MQTT_SESSION_CLOSED', 'the MQTT session is closed');
    const parsed = parseFilter(filter);
    const qos = options.qos ?? 1;
    if (qos !== 0 && qos !== 1 && qos !== 2) throw new MqttError('MQTT_BAD_SETTINGS', `qos must be 0, 1 or 2 (got ${JSON.stringify(qos)})`);
    const subscription = new SubscriptionImpl(filter, handler, this);
    let entry = this.filters.get(filter);
    let mustSend = false;
    if (!entry) {
      entry = { parsed, qos, users: new Set(), confirmed: false, waiters: [] };
      this.filters.set(filter, entry);
      mustSend = true;
    } else if (qos > entry.qos) {
      entry.qos = qos;
      entry.confirmed = false;
      mustSend = true;
    }
    entry.users.add(subscription);
    if (entry.confirmed) {
      subscription.ready = Promise.resolve();
    } else {
      const target = entry;
      subscription.ready = new Promise<void>((resolve, reject) => target.waiters.push({ resolve, reject }));
      subscription.ready.catch(() => undefined); // observed by whoever awaits it; never an unhandled rejection
      if (mustSend && this.client.connected) this.sendSubscribe(target);
    }
    this.replayParked(subscription, parsed);
    return subscription;
  }

  /** @internal used by Subscription.close */
  async removeSubscription(subscription: SubscriptionImpl, unsubscribe: boolean): Promise<void> {
    if (subscription.closed) return;
    subscription.closed = true;
    const entry = this.filters.get(subscription.filter);
    if (!entry) return;
    entry.users.delete(subscription);
    if (entry.users.size > 0) return;
    this.filters.delete(subscription.filter);
    if (unsubscribe && this.client.connected) {
      await new Promise<void>((resolve) => this.client.unsubscribe(subscription.filter, () => resolve()));
    }
  }

  /**
   * Publishes; resolves when the broker acknowledged it (QoS 1: PUBACK, QoS 2: PUBCOMP; QoS 0:
   * written to the socket). While offline MQTT.js queues publishes; at most
   * `maxPendingPublishes` may wait, beyond that publish() rejects with MQTT_PUBLISH_QUEUE_FULL.
   */
  publish(topic: string, payload: Buffer | string, options: PublishOptions = {}): Promise<void> {
    if (this.closed) return Promise.reject(new MqttError('MQTT_SESSION_CLOSED', 'the MQTT session is closed'));
    try {
      assertTopicName(topic);
    } catch (err) {
      return Promise.reject(err);
    }
    const qos = options.qos ?? 0;
    if (qos !== 0 && qos !== 1 && qos !== 2)
      return Promise.reject(new MqttError('MQTT_BAD_SETTINGS', `qos must be 0, 1 or 2 (got ${JSON.stringify(qos)})`));
    if (this.pendingPublishes.size >= this.broker.maxPendingPublishes) {
      this.roomWanted = true;
      return Promise.reject(
        new MqttError(
          'MQTT_PUBLISH_QUEUE_FULL',
          `${this.pendingPublishes.size} publishes are already waiting for ${this.description}${this.client.connected ? '' : ' (disconnected)'}; the limit is ${this.broker.maxPendingPublishes}`,
        ),
      );
    }
    return new Promise<void>((resolve, reject) => {
      let finished = false;
      const finish = (err?: Error): void => {
        if (finished) return; // MQTT.js may still call back after close() gave up on it
        finished = true;
        this.pendingPublishes.delete(finish);
        if (this.pendingPublishes.size === 0) this.onPublishesDone?.();
        if (this.roomWanted && !this.publishQueueFull) {
          this.roomWanted = false;
          this.emit('publish-room');
        }
        if (err) {
          reject(
            err instanceof MqttError
              ? err
              : new MqttError('MQTT_PUBLISH_FAILED', `publish to ${JSON.stringify(topic)} failed: ${err.message}`, { cause: err }),
          );
        } else {
          this.stats.published++;
          resolve();
        }
      };
      this.pendingPublishes.add(finish);
      this.client.publish(topic, payload, { qos, retain: options.retain === true, properties: options.properties }, (err) =>
        finish(err ?? undefined),
      );
    });
  }

  /**
   * Disconnects. Unsettled messages stay with the broker (persistent session) and are redelivered.
   * Publishes still waiting for the broker get up to `publishGraceMs` while connected; whatever is
   * left then rejects with MQTT_SESSION_CLOSED (MQTT.js alone would wait for them forever when the
   * broker is unreachable).
   */
  async close(publishGraceMs = 5_000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
    for (const entry of this.filters.values()) {
      for (const waiter of entry.waiters)
        waiter.reject(new MqttError('MQTT_SESSION_CLOSED', 'the MQTT session closed before the subscription was granted'));
    }
    this.filters.clear();
    if (this.client.connected && this.pendingPublishes.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, publishGraceMs);
        this.onPublishesDone = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    const abandoned = [...this.pendingPublishes];
    for (const fail of abandoned)
      fail(new MqttError('MQTT_SESSION_CLOSED', 'the MQTT session closed before the broker acknowledged the publish'));
    // A clean DISCONNECT when nothing is outstanding; otherwise MQTT.js's end(false) would wait forever.
    const force = !this.client.connected || abandoned.length > 0;
    await new Promise<void>((resolve) => this.client.end(force, {}, () => resolve()));
    this.tracker.dispose();
    this.parked = [];
    this.waiting = undefined;
  }

  // ---------------------------------------------------------------- receiving

  private onQosPublish(topic: string, packet: IPublishPacket, cb: AckCallback): void {
    if (!this.client.connected) {
      // Parsed before the connection dropped: its packet id is void and the broker redelivers it.
      cb(0);
      return;
    }
    if (this.tracker.inFlight >= this.broker.receiveMaximum) {
      // The broker sent more than our window: stop reading until a consumer settles something.
      this.stats.pauses++;
      this.waiting = { topic, packet, cb };
      return;
    }
    this.dispatch(topic, packet, cb);
  }

  private dispatch(topic: string, packet: IPublishPacket, cb: AckCallback | undefined): void {
    const qos = (packet.qos ?? 0) as QoS;
    let matches: FilterEntry[] | undefined;
    let consumers = 0;
    for (const entry of this.filters.values()) {
      if (topicMatches(entry.parsed, topic)) {
        (matches ??= []).push(entry);
        consumers += entry.users.size;
      }
    }
    this.stats.delivered++;
    if (packet.dup) this.stats.redelivered++;
    if (qos === 0) {
      if (matches) this.handOver(topic, packet, matches, undefined);
      else this.stats.unmatched++;
      return;
    }
    const inflight = this.tracker.track(packet.messageId!, qos, consumers);
    if (!matches || consumers === 0) {
      // No subscriber yet (startup order, redeploy): hold it unacknowledged for a moment.
      this.parked.push({ topic, packet, inflight, since: Date.now() });
    } else {
      this.handOver(topic, packet, matches, inflight);
    }
    // Only now let MQTT.js move on (reason code 0; its own PUBACK/PUBREC is swallowed): the
    // callback can synchronously read and dispatch the next packet, which must not overtake this one.
    if (cb) cb(0);
  }

  private handOver(topic: string, packet: IPublishPacket, matches: FilterEntry[], inflight: InFlightPacket | undefined): void {
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    for (const entry of matches) {
      for (const subscription of entry.users) this.deliverCopy(topic, packet, payload, subscription, inflight);
    }
  }

  private deliverCopy(
    topic: string,
    packet: IPublishPacket,
    payload: Buffer,
    subscription: SubscriptionImpl,
    inflight: InFlightPacket | undefined,
  ): void {
    const ackId = inflight ? this.tracker.issue(inflight) : undefined;
    const message: ReceivedMessage = {
      topic,
      payload,
      qos: (packet.qos ?? 0) as QoS,
      retain: packet.retain === true,
      dup: packet.dup === true,
      properties: packet.properties,
      subscription: subscription.filter,
      messageId: (packet.qos ?? 0) > 0 ? packet.messageId : undefined,
      ackId,
      settle: ackId === undefined ? noop : (outcome?: SettleOutcome) => void this.settle(ackId, outcome),
    };
    try {
      subscription.handler(message);
    } catch (err) {
      // A consumer bug must not break the connection. The copy stays unsettled: the broker
      // redelivers it after the next reconnect rather than the message being lost.
      this.report(new Error(`a handler of ${JSON.stringify(subscription.filter)} threw: ${(err as Error)?.message ?? String(err)}`));
    }
  }

  private replayParked(subscription: SubscriptionImpl, parsed: ParsedFilter): void {
    if (this.parked.length === 0) return;
    // Swap the list out first: a handler may settle, resume reading and park new messages meanwhile.
    const items = this.parked;
    this.parked = [];
    for (const item of items) {
      if (item.inflight.generation !== this.tracker.currentGeneration) continue;
      if (!topicMatches(parsed, item.topic)) {
        this.parked.push(item);
        continue;
      }
      item.inflight.remaining = 1;
      const payload = typeof item.packet.payload === 'string' ? Buffer.from(item.packet.payload) : item.packet.payload;
      this.deliverCopy(item.topic, item.packet, payload, subscription, item.inflight);
    }
  }

  private resumeIfRoom(): void {
    const waiting = this.waiting;
    if (!waiting || this.tracker.inFlight >= this.broker.receiveMaximum) return;
    this.waiting = undefined;
    this.dispatch(waiting.topic, waiting.packet, waiting.cb);
  }

  /** 'error' events only when someone listens: an unobserved EventEmitter error would crash Node-RED. */
  private report(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  private writeAck(packet: InFlightPacket): void {
    if (!this.client.connected) return; // the broker redelivers after reconnecting
    this.sendPacket({ cmd: packet.qos === 1 ? 'puback' : 'pubrec', messageId: packet.messageId }, undefined, undefined, true);
  }

  private tick(): void {
    if (this.parked.length === 0) return;
    const cutoff = Date.now() - this.unmatchedGraceMs;
    const items = this.parked;
    this.parked = [];
    for (const item of items) {
      if (item.since > cutoff) {
        this.parked.push(item);
        continue;
      }
      // Nobody subscribed to it within the grace period (a subscription the broker still holds
      // from an earlier configuration): acknowledge so it does not occupy the window forever.
      this.stats.unmatched++;
      this.tracker.complete(item.inflight);
    }
    this.resumeIfRoom();
  }

  // ---------------------------------------------------------------- connection

  private onConnect(sessionPresent: boolean): void {
    this.reconnectAttempts = 0;
    this.client.options.reconnectPeriod = this.broker.reconnectInitialMs;
    this.attemptFailed = false;
    this.downBecause = undefined;
    const first = this.negotiation.negotiated === undefined;
    this.negotiation.accepted();
    if (first) {
      const version = this.negotiation.negotiated ?? this.negotiation.version;
      const fellBackBecause = this.negotiation.fellBackBecause;
      const losses = fellBackBecause === undefined ? [] : mqtt5Losses({ ...this.broker, filters: this.filters.keys() });
      this.emit('negotiated', { version, losses, ...(fellBackBecause !== undefined ? { fellBackBecause } : {}) } satisfies Negotiated);
    }
    for (const entry of this.filters.values()) {
      // A resumed session still has the subscriptions the broker granted; subscribing again
      // would make the broker resend every retained message.
      if (!sessionPresent || this.broker.cleanSession) entry.confirmed = false;
      if (!entry.confirmed) this.sendSubscribe(entry);
    }
    this.emit('connect', sessionPresent);
  }

  private onClose(): void {
    // Packet ids of the closed connection are void; the broker redelivers what was not acknowledged.
    this.tracker.forgetAll();
    this.parked = [];
    this.waiting = undefined;
    if (this.closed) return;
    const answered = connackReceived(this.client);
    // Still finding out which version the broker speaks: no 'disconnect' to report yet.
    let negotiating = this.fellBack;
    if (!answered && !this.attemptFailed) {
      // The socket was open (a failed connect is an error) and the broker hung up on the CONNECT.
      const probing = this.negotiation.choice === 'auto' && this.negotiation.negotiated === undefined && this.negotiation.version === 5;
      if (this.negotiation.closedWithoutAnswer().fallBack) this.fallBackTo311();
      negotiating ||= probing;
      if (!probing) {
        this.downBecause =
          this.broker.protocolVersion === 5
            ? 'the broker closed the connection without answering the MQTT 5 CONNECT (if it speaks only MQTT 3.1.1, choose "auto" or MQTT 3.1.1)'
            : 'the broker closed the connection without answering the CONNECT';
      }
    } else if (answered && !this.attemptFailed && this.downBecause === undefined) {
      this.downBecause = 'the connection was closed';
    }
    this.attemptFailed = false;
    this.fellBack = false;
    // Finding out which version the broker speaks is part of connecting: no problem to show.
    if (negotiating) this.downBecause = undefined;
    else this.emit('disconnect', this.downBecause);
  }

  /** Errors MQTT.js reports: a refused CONNECT may mean "not MQTT 5" (auto falls back), the rest is reported. */
  private onClientError(err: Error): void {
    const code = (err as Error & { code?: unknown }).code;
    if (typeof code === 'number') {
      // A CONNACK refusal (MQTT.js closes the socket itself and reconnects after the backoff).
      if (this.negotiation.refused(code).fallBack) {
        this.attemptFailed = true;
        this.fallBackTo311();
        return;
      }
    } else {
      this.negotiation.networkError();
    }
    this.attemptFailed = true;
    this.downBecause = classifyConnectError(err).reason;
    this.report(err);
  }

  /** `auto` found a broker without MQTT 5: the next connection attempt speaks 3.1.1. */
  private fallBackTo311(): void {
    this.fellBack = true;
    withProtocolVersion(this.client.options, this.broker, 4);
    this.downBecause = undefined;
    this.reconnectAttempts = 0;
    this.client.options.reconnectPeriod = this.broker.reconnectInitialMs;
  }

  private sendSubscribe(entry: FilterEntry): void {
    const filter = entry.parsed.raw;
    const qos = entry.qos;
    this.client.subscribe(filter, { qos }, (err, granted) => {
      const current = this.filters.get(filter);
      if (current !== entry) return;
      const grant = granted?.[0];
      let failure: Error | undefined;
      if (err) failure = new MqttError('MQTT_BAD_TOPIC', `subscribing to ${JSON.stringify(filter)} failed: ${err.message}`);
      else if (!grant || grant.qos > 2)
        failure = new MqttError('MQTT_BAD_TOPIC', `the broker refused the subscription ${JSON.stringify(filter)}`);
      if (failure) {
        // Connection trouble is retried on the next connect; a refusal is final until settings change.
        if (!err || this.client.connected) {
          for (const waiter of entry.waiters.splice(0)) waiter.reject(failure);
          this.report(failure);
        }
        return;
      }
      if (entry.qos === qos) entry.confirmed = true;
      for (const waiter of entry.waiters.splice(0)) waiter.resolve();
    });
  }
}

function noop(): void {}

/** MQTT.js errors can quote the connection URL; make sure no password leaks into logs. */
function sanitizeError(err: Error, broker: ResolvedBroker): Error {
  if (broker.password && err.message.includes(broker.password)) {
    const clean = new Error(err.message.split(broker.password).join('***'));
    (clean as Error & { code?: unknown }).code = (err as Error & { code?: unknown }).code;
    return clean;
  }
  return err;
}
