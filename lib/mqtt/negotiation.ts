/**
 * Which MQTT version to speak. `auto` (the default) tries MQTT 5 and falls back to 3.1.1 when the
 * broker turns MQTT 5 down, which brokers do in two ways:
 *  - a CONNACK refusing the version: 3.1.1 return code 1 "unacceptable protocol version" (aedes
 *    answers a v5 CONNECT so) or MQTT 5 reason code 132 "unsupported protocol version";
 *  - closing the connection on the v5 CONNECT without any answer (RabbitMQ's MQTT plugin before
 *    3.13, mosquitto before 1.6). A broker that restarts while we connect looks the same once, so
 *    only a second such close in a row counts; a network error in between starts the count again.
 * The version found is kept for the life of the session (until a redeploy or restart): a later
 * drop is network trouble, not a reason to renegotiate. Pure logic: the session feeds it events.
 */

export type ProtocolChoice = 4 | 5 | 'auto';
export type ProtocolVersion = 4 | 5;

/** CONNACK codes that mean "not this protocol version" (3.1.1: 1; MQTT 5: 132). */
const VERSION_REFUSALS = new Set([1, 132]);
/** Silent closes of a v5 CONNECT in a row before the broker counts as one that does not speak 5. */
const SILENT_CLOSES_TO_FALL_BACK = 2;

export type NegotiationStep = { fallBack: false } | { fallBack: true; reason: string };

export class ProtocolNegotiation {
  private attemptVersion: ProtocolVersion;
  private agreed: ProtocolVersion | undefined;
  private silentCloses = 0;
  private fallbackReason: string | undefined;

  constructor(readonly choice: ProtocolChoice) {
    this.attemptVersion = choice === 4 ? 4 : 5;
  }

  /** The version the next (or current) CONNECT uses. */
  get version(): ProtocolVersion {
    return this.attemptVersion;
  }

  /** The version a broker accepted in this session, or undefined before the first CONNACK. */
  get negotiated(): ProtocolVersion | undefined {
    return this.agreed;
  }

  /** Why `auto` settled on 3.1.1 (undefined when it did not fall back). */
  get fellBackBecause(): string | undefined {
    return this.fallbackReason;
  }

  /** True while an `auto` session still tries MQTT 5. */
  private get probing(): boolean {
    return this.choice === 'auto' && this.agreed === undefined && this.attemptVersion === 5;
  }

  /** The broker accepted the CONNECT. */
  accepted(): void {
    this.agreed ??= this.attemptVersion;
    this.silentCloses = 0;
  }

  /** The broker refused the CONNECT with this CONNACK code. */
  refused(code: number): NegotiationStep {
    this.silentCloses = 0;
    if (!this.probing || !VERSION_REFUSALS.has(code)) return { fallBack: false };
    return this.fallBack(`it refused MQTT 5 (CONNACK code ${code})`);
  }

  /** The connection closed after the CONNECT went out, with neither a CONNACK nor a socket error. */
  closedWithoutAnswer(): NegotiationStep {
    if (!this.probing) return { fallBack: false };
    this.silentCloses += 1;
    if (this.silentCloses < SILENT_CLOSES_TO_FALL_BACK) return { fallBack: false };
    return this.fallBack('it closed the connection on the MQTT 5 CONNECT without an answer');
  }

  /** A network error ended the attempt: says nothing about the protocol. */
  networkError(): void {
    this.silentCloses = 0;
  }

  private fallBack(reason: string): NegotiationStep {
    this.attemptVersion = 4;
    this.silentCloses = 0;
    this.fallbackReason = reason;
    return { fallBack: true, reason };
  }
}

/** `MQTT 5`, `MQTT 3.1.1`: how a version is named in statuses and logs. */
export function protocolName(version: ProtocolVersion): string {
  return version === 5 ? 'MQTT 5' : 'MQTT 3.1.1';
}

/** What this package's session uses from MQTT 5, to say what a 3.1.1 connection goes without. */
export interface Mqtt5Uses {
  cleanSession: boolean;
  sessionExpirySeconds: number;
  receiveMaximum: number;
  maximumPacketSize: number | undefined;
  /** Subscription filters of the session (shared ones, `$share/...`, depend on the broker on 3.1.1). */
  filters: Iterable<string>;
}

/**
 * One sentence per MQTT 5 feature the session would have used, for the single warning a 3.1.1
 * connection gets. Nothing here stops working: each has a 3.1.1 stand-in, stated in the text.
 */
export function mqtt5Losses(uses: Mqtt5Uses): string[] {
  const losses: string[] = [];
  if (!uses.cleanSession) {
    losses.push(`the broker keeps the session by its own rules, not for ${uses.sessionExpirySeconds} s`);
  }
  losses.push(`its own in-flight window applies, not ${uses.receiveMaximum}`);
  if (uses.maximumPacketSize !== undefined) {
    losses.push(`it sends messages larger than ${uses.maximumPacketSize} bytes too`);
  }
  const shared = [...uses.filters].filter((filter) => filter.startsWith('$share/'));
  if (shared.length > 0) {
    // mosquitto splits the stream; aedes and RabbitMQ 3.10 grant the subscription and deliver nothing to it.
    losses.push(
      `shared subscriptions (${shared.slice(0, 3).join(', ')}${shared.length > 3 ? ', …' : ''}) work only if it supports them on 3.1.1 (mosquitto does; aedes and RabbitMQ before 3.13 accept them and deliver nothing)`,
    );
  }
  return losses;
}
