/**
 * Home Assistant MQTT Statestream messages → structured records: parseStatestream reads one
 * message; StatestreamParser is its configured, stateful front that a Node-RED node wraps (it
 * holds the compiled entity filter and the burst memory for the collision rule below, and splits
 * each topic once: filtering happens before the payload is even decoded).
 *
 * What each key carries (home-assistant/core mqtt_statestream):
 * - `.../state`: the raw state text, never JSON-quoted (`on`, `21.5`, `unavailable`);
 * - `.../last_updated`, `.../last_changed`: Python isoformat() text, not JSON;
 * - `.../<attribute>`: the attribute JSON-encoded (`"Living Room"`, `255`, `[1,2]`, `{"a":1}`).
 *
 * The `state`/`last_updated`/`last_changed` collision (an attribute with one of those names is
 * published on the same topic, home-assistant/core#11225) is settled from two facts:
 * 1. the payload's shape: attributes are always JSON, states and timestamps never are JSON
 *    strings, so wire text `"x"` is the attribute and wire text `on` is the state;
 * 2. the burst: Home Assistant publishes state, then timestamps, then attributes, in one burst.
 *    When the shape cannot tell (`21.5`, `true`, or a value JSON-decoded upstream), the first such
 *    message of an entity's burst is the state (timestamp) and a repeat within the same burst is
 *    the attribute. That needs memory of the burst: pass a `BurstResolver` (see burst.ts); without
 *    one the state (timestamp) reading is taken.
 * The state therefore never flips to an attribute's value within an update.
 */
import { BurstTracker } from './burst';
import { StatestreamError } from './errors';
import { compileEntityFilter, type EntityFilter, type EntityFilterOptions } from './filter';
import { DEFAULT_MAX_PAYLOAD_BYTES, isJson, normalisePayload, tryParseJson, type PayloadForm, type StringPayloads } from './payload';
import { parseIsoInstant } from './timestamp';
import { normaliseBaseTopic, splitStatestreamTopic, type StatestreamTopic } from './topic';

export type KeyKind = 'state' | 'timestamp' | 'attribute';
/** The keys Home Assistant itself publishes (and attributes may collide with). */
export type ReservedKey = 'state' | 'last_updated' | 'last_changed';

/** What the payload's shape says about a message on a reserved key. */
export type KeyEvidence = 'reserved' | 'attribute' | 'ambiguous';

/** Remembers entity bursts to settle ambiguous reserved-key messages; see burst.ts. */
export interface BurstResolver {
  /**
   * Called for every message of an entity (so the burst is tracked). Returns the reading:
   * definite evidence is returned unchanged; `ambiguous` is settled by the burst rule.
   */
  classify(entityKey: string, key: string, evidence: KeyEvidence, now: number): 'reserved' | 'attribute';
}

export interface ParseOptions {
  /** The MQTT retain flag of the message (a broker replay on subscribe sets it). */
  retain: boolean;
  /** Base topic as configured in Home Assistant (trailing `/` ignored); default: all but the last three levels. */
  baseTopic?: string;
  /** Payloads larger than this many bytes (UTF-8) are refused; default 1 MiB. */
  maxPayloadBytes?: number;
  /** How string payloads are read; see StringPayloads. Default `auto`. */
  strings?: StringPayloads;
  /** Settles ambiguous `state`/timestamp messages by burst; without it the reserved reading wins. */
  burst?: BurstResolver;
  /** Clock for the burst resolver (ms); default Date.now(). */
  now?: number;
}

export interface StatestreamRecord {
  topic: string;
  baseTopic: string;
  domain: string;
  objectId: string;
  /** `light.kitchen` */
  entityId: string;
  /** `state`, `last_updated`, `last_changed` or the attribute name (which may itself be `state`). */
  key: string;
  keyKind: KeyKind;
  /** The payload as text, as Home Assistant published it (reconstructed for pre-parsed payloads). */
  raw: string;
  /** state: the text; timestamp: UTC ISO instant (`...Z`, original fraction digits); attribute: the JSON-decoded value. */
  value: unknown;
  /** The state as a number when it is a finite decimal number (`21.5`), else null. */
  numeric: number | null;
  /** The timestamp as a Date (millisecond precision), else null. */
  date: Date | null;
  retain: boolean;
}

const NUMBER_TEXT = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** The state's numeric reading: finite decimal text only (not `0x10`, `Infinity`, `` or ` 1`). */
export function numericReading(text: string): number | null {
  if (text.length === 0 || text.length > 64 || !NUMBER_TEXT.test(text)) return null;
  const n = Number(text);
  return Number.isFinite(n) ? n : null;
}

/** Parses one message; throws StatestreamError (and nothing else) on bad input. */
export function parseStatestream(topic: unknown, payload: unknown, options: ParseOptions): StatestreamRecord {
  const parts = splitStatestreamTopic(topic, normaliseBaseTopic(options.baseTopic));
  return parseSplitTopic(parts, topic as string, payload, options);
}

/** The payload half of parseStatestream, for callers that split (and filtered) the topic already. */
export function parseSplitTopic(parts: StatestreamTopic, topic: string, payload: unknown, options: ParseOptions): StatestreamRecord {
  const form = normalisePayload(payload, options.strings ?? 'auto', options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES, topic);
  const key = parts.key;
  if (key === 'state') return readState(parts, topic, form, options);
  if (key === 'last_updated' || key === 'last_changed') return readTimestamp(parts, topic, form, options);
  settle(parts, topic, 'attribute', options);
  return attributeRecord(parts, topic, form, options.retain);
}

function settle(parts: StatestreamTopic, topic: string, evidence: KeyEvidence, options: ParseOptions): 'reserved' | 'attribute' {
  if (options.burst) {
    const entityKey = topic.slice(0, topic.length - parts.key.length - 1);
    return options.burst.classify(entityKey, parts.key, evidence, options.now ?? Date.now());
  }
  return evidence === 'attribute' ? 'attribute' : 'reserved';
}

function readState(parts: StatestreamTopic, topic: string, form: PayloadForm, options: ParseOptions): StatestreamRecord {
  let evidence: KeyEvidence;
  if (form.kind === 'decoded') {
    evidence = 'ambiguous';
  } else {
    const parsed = tryParseJson(form.text, topic);
    if (typeof parsed === 'string')
      evidence = 'attribute'; // a JSON-quoted string: Home Assistant never quotes states
    else if (isJson(parsed))
      evidence = 'ambiguous'; // `21.5`, `true`, `[1]`: a state text or an attribute's JSON
    else evidence = form.kind === 'wire' ? 'reserved' : 'ambiguous'; // not JSON: a state (unless decoded upstream)
  }
  if (settle(parts, topic, evidence, options) === 'attribute') return attributeRecord(parts, topic, form, options.retain);
  const text = form.kind === 'decoded' ? (typeof form.value === 'string' ? form.value : form.text) : form.text;
  return record(parts, topic, 'state', text, text, numericReading(text), null, options.retain);
}

function readTimestamp(parts: StatestreamTopic, topic: string, form: PayloadForm, options: ParseOptions): StatestreamRecord {
  let evidence: KeyEvidence;
  let text: string | undefined;
  if (form.kind === 'decoded') {
    if (typeof form.value === 'string') {
      text = form.value;
      evidence = 'ambiguous';
    } else {
      evidence = 'attribute'; // a timestamp is never a JSON number/object/...
    }
  } else if (isJson(tryParseJson(form.text, topic))) {
    evidence = 'attribute'; // Home Assistant's timestamps are bare isoformat() text, never JSON
  } else {
    text = form.text;
    evidence = form.kind === 'wire' ? 'reserved' : 'ambiguous';
  }
  const instant = text === undefined ? undefined : parseIsoInstant(text);
  if (text !== undefined && instant === undefined) {
    throw new StatestreamError('bad-timestamp', `${parts.key} is not an ISO 8601 date-time with a UTC offset: "${clip(text)}"`, topic);
  }
  if (settle(parts, topic, evidence, options) === 'attribute' || instant === undefined) {
    return attributeRecord(parts, topic, form, options.retain);
  }
  return record(parts, topic, 'timestamp', text as string, instant.iso, null, instant.date, options.retain);
}

function attributeRecord(parts: StatestreamTopic, topic: string, form: PayloadForm, retain: boolean): StatestreamRecord {
  if (form.kind === 'decoded') return record(parts, topic, 'attribute', form.text, form.value, null, null, retain);
  const parsed = tryParseJson(form.text, topic);
  if (isJson(parsed)) return record(parts, topic, 'attribute', form.text, parsed, null, null, retain);
  if (form.kind === 'string') return record(parts, topic, 'attribute', JSON.stringify(form.text), form.text, null, null, retain);
  throw new StatestreamError('attribute-not-json', `attribute "${clip(parts.key)}" is not valid JSON: "${clip(form.text)}"`, topic);
}

function record(
  parts: StatestreamTopic,
  topic: string,
  keyKind: KeyKind,
  raw: string,
  value: unknown,
  numeric: number | null,
  date: Date | null,
  retain: boolean,
): StatestreamRecord {
  return {
    topic,
    baseTopic: parts.baseTopic,
    domain: parts.domain,
    objectId: parts.objectId,
    entityId: `${parts.domain}.${parts.objectId}`,
    key: parts.key,
    keyKind,
    raw,
    value,
    numeric,
    date,
    retain: retain === true,
  };
}

function clip(text: string): string {
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

export interface StatestreamParserOptions extends EntityFilterOptions {
  /** Base topic as configured in Home Assistant; default: derived per message (all but the last three levels). */
  baseTopic?: string;
  maxPayloadBytes?: number;
  strings?: StringPayloads;
  /** Gap that ends an entity's burst for the collision rule, ms (default 100). */
  burstGapMs?: number;
  /** Entities whose burst is remembered at most (default 10,000). */
  maxTrackedEntities?: number;
}

/** parseStatestream configured once (base topic, filter, limits, string mode) with the burst memory; see the header. */
export class StatestreamParser {
  private readonly baseTopic: string;
  private readonly maxPayloadBytes: number;
  private readonly strings: StringPayloads;
  private readonly filter: EntityFilter;
  private readonly bursts: BurstTracker;

  constructor(options: StatestreamParserOptions = {}) {
    this.baseTopic = normaliseBaseTopic(options.baseTopic);
    this.maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    this.strings = options.strings ?? 'auto';
    this.filter = compileEntityFilter(options);
    this.bursts = new BurstTracker({ gapMs: options.burstGapMs, maxEntities: options.maxTrackedEntities });
  }

  /**
   * Parses one message. Returns null when the entity is filtered out; throws StatestreamError
   * (and nothing else) for bad input.
   */
  parse(topic: unknown, payload: unknown, retain: boolean, now: number = Date.now()): StatestreamRecord | null {
    const parts = splitStatestreamTopic(topic, this.baseTopic);
    if (!this.filter.accepts(parts.domain, `${parts.domain}.${parts.objectId}`)) return null;
    return parseSplitTopic(parts, topic as string, payload, {
      retain,
      maxPayloadBytes: this.maxPayloadBytes,
      strings: this.strings,
      burst: this.bursts,
      now,
    });
  }

  /** Forget burst memory, e.g. after a reconnect (the broker then replays retained topics). */
  reset(): void {
    this.bursts.clear();
  }
}
