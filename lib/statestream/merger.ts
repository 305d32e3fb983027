/**
 * EntityMerger: folds the per-topic messages of one entity update (state, timestamps, one topic
 * per attribute) into one object, emitted once the entity has been quiet for `quietMs`.
 *
 * One shared clock: the caller owns a single timer and calls `tick(now)`; `nextDueAt()` says when
 * the next entity falls due, so that timer can be armed precisely. No timer per entity or message.
 *
 * Cost: O(1) per message. Open entities live in a Map ordered by last activity (an entity moves to
 * the end when a message arrives), so `tick` only looks at the entities that are due plus one.
 *
 * Bounds (and what happens at them, never silent loss):
 * - a second `state` (or `last_updated`/`last_changed`) for an open entity is a new update: the
 *   open one is emitted first (the parser already turned a colliding attribute into an attribute);
 * - an entity kept busy beyond `maxHoldMs`, or holding `maxKeysPerEntity` keys, is emitted as is;
 * - beyond `maxOpenEntities` open entities, the least recently active one is emitted early.
 */
import type { StatestreamRecord } from './parser';

export interface MergedEntity {
  entityId: string;
  domain: string;
  objectId: string;
  baseTopic: string;
  /** The state text, or null when this update carried no state message. */
  state: string | null;
  /** The state as a finite number, else null. */
  numeric: number | null;
  /** Attribute name → JSON-decoded value. */
  attributes: Record<string, unknown>;
  /** UTC ISO instants (original fraction digits), or null when not published. */
  lastUpdated: string | null;
  lastChanged: string | null;
  /** True when every merged message was retained (a broker replay rather than a live update). */
  retain: boolean;
  /** How many messages were merged. */
  messages: number;
}

export interface EntityMergerOptions {
  /** Emit an entity this long (ms) after its last message. Default 100. */
  quietMs?: number;
  /** Emit an entity at the latest this long (ms) after its first message. Default max(1000, 10 × quietMs). */
  maxHoldMs?: number;
  /** Open entities at most; beyond, the least recently active is emitted early. Default 10,000. */
  maxOpenEntities?: number;
  /** Keys (state, timestamps, attributes) per entity at most. Default 1,000. */
  maxKeysPerEntity?: number;
}

interface OpenEntity {
  merged: MergedEntity;
  firstAt: number;
  lastAt: number;
}

const NOTHING: readonly MergedEntity[] = Object.freeze([]);

export class EntityMerger {
  readonly quietMs: number;
  readonly maxHoldMs: number;
  readonly maxOpenEntities: number;
  readonly maxKeysPerEntity: number;
  /** Ordered by last activity, oldest first. */
  private readonly open = new Map<string, OpenEntity>();

  constructor(options: EntityMergerOptions = {}) {
    this.quietMs = Math.max(0, options.quietMs ?? 100);
    this.maxHoldMs = Math.max(this.quietMs, options.maxHoldMs ?? Math.max(1000, this.quietMs * 10));
    this.maxOpenEntities = Math.max(1, options.maxOpenEntities ?? 10_000);
    this.maxKeysPerEntity = Math.max(1, options.maxKeysPerEntity ?? 1000);
  }

  /** Entities currently being merged. */
  get size(): number {
    return this.open.size;
  }

  /**
   * Adds one parsed message. Returns the entities this message completed early (a new update of
   * the same entity, or a bound reached); usually none.
   */
  push(record: StatestreamRecord, now: number): readonly MergedEntity[] {
    const key = `${record.baseTopic}/${record.domain}/${record.objectId}`;
    let emitted: MergedEntity[] | undefined;
    let entry = this.open.get(key);
    if (entry !== undefined) {
      this.open.delete(key); // re-inserted below: moves it to the end of the activity order
      if (
        startsNewUpdate(entry.merged, record) ||
        now - entry.firstAt >= this.maxHoldMs ||
        entry.merged.messages >= this.maxKeysPerEntity
      ) {
        emitted = [entry.merged];
        entry = undefined;
      }
    }
    if (entry === undefined) {
      if (this.open.size >= this.maxOpenEntities) {
        const [oldestKey, oldest] = this.open.entries().next().value as [string, OpenEntity];
        this.open.delete(oldestKey);
        (emitted ??= []).push(oldest.merged);
      }
      entry = { merged: emptyEntity(record), firstAt: now, lastAt: now };
    }
    apply(entry.merged, record);
    entry.lastAt = now;
    this.open.set(key, entry);
    return emitted ?? NOTHING;
  }

  /**
   * The open entity `record` was merged into by the last `push` (callers that must track which
   * inputs each output merges, e.g. to acknowledge them after it was sent, key on its identity).
   */
  openEntityOf(record: StatestreamRecord): MergedEntity | undefined {
    return this.open.get(`${record.baseTopic}/${record.domain}/${record.objectId}`)?.merged;
  }

  /** Emits every entity quiet for at least `quietMs` at `now`. */
  tick(now: number): readonly MergedEntity[] {
    let emitted: MergedEntity[] | undefined;
    for (const [key, entry] of this.open) {
      if (now - entry.lastAt < this.quietMs) break; // the rest were active more recently
      this.open.delete(key);
      (emitted ??= []).push(entry.merged);
    }
    return emitted ?? NOTHING;
  }

  /** When the next entity falls due (ms), or undefined when none is open. */
  nextDueAt(): number | undefined {
    const first = this.open.values().next();
    return first.done ? undefined : first.value.lastAt + this.quietMs;
  }

  /** Emits everything still open (on close/redeploy: nothing is dropped). */
  flush(): readonly MergedEntity[] {
    const all = [...this.open.values()].map((entry) => entry.merged);
    this.open.clear();
    return all;
  }
}

function startsNewUpdate(merged: MergedEntity, record: StatestreamRecord): boolean {
  if (record.keyKind === 'state') return merged.state !== null;
  if (record.keyKind === 'timestamp') return (record.key === 'last_updated' ? merged.lastUpdated : merged.lastChanged) !== null;
  return false;
}

function emptyEntity(record: StatestreamRecord): MergedEntity {
  return {
    entityId: record.entityId,
    domain: record.domain,
    objectId: record.objectId,
    baseTopic: record.baseTopic,
    state: null,
    numeric: null,
    attributes: {},
    lastUpdated: null,
    lastChanged: null,
    retain: true,
    messages: 0,
  };
}

function apply(merged: MergedEntity, record: StatestreamRecord): void {
  merged.messages++;
  merged.retain &&= record.retain;
  switch (record.keyKind) {
    case 'state':
      merged.state = record.value as string;
      merged.numeric = record.numeric;
      break;
    case 'timestamp':
      if (record.key === 'last_updated') merged.lastUpdated = record.value as string;
      else merged.lastChanged = record.value as string;
      break;
    default:
      // defineProperty: an attribute named `__proto__` must become data, not the object's prototype.
      Object.defineProperty(merged.attributes, record.key, { value: record.value, enumerable: true, writable: true, configurable: true });
  }
}
