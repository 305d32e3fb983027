/**
 * StatestreamParser: the configured, stateful front of parseStatestream that a Node-RED node
 * wraps. It holds the compiled filter and the burst memory for the `state` collision rule, and
 * splits each topic once (filtering happens before the payload is even decoded).
 */
import { BurstTracker } from './burst';
import { compileEntityFilter, type EntityFilter, type EntityFilterOptions } from './filter';
import { parseSplitTopic, type StatestreamRecord } from './parse';
import { DEFAULT_MAX_PAYLOAD_BYTES, type StringPayloads } from './payload';
import { normaliseBaseTopic, splitStatestreamTopic } from './topic';

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
