/**
 * A simulated Home Assistant with MQTT Statestream enabled (`publish_attributes` and
 * `publish_timestamps` on): a small house of entities in the light, sensor, binary_sensor, switch
 * and climate domains whose updates come out exactly as home-assistant/core's mqtt_statestream
 * publishes them, in the same order, QoS 1 and retained:
 *
 *   <base>/<domain>/<object_id>/state          the state text (`on`, `21.5`), never JSON
 *   <base>/<domain>/<object_id>/last_updated   Python isoformat(): `2024-05-01T12:00:00.123456+00:00`
 *   <base>/<domain>/<object_id>/last_changed   (last_changed only moves when the state text changes)
 *   <base>/<domain>/<object_id>/<attribute>    the value as JSON (compact UTF-8, as HA's orjson-based
 *                                              json_dumps writes it) for every attribute, every update
 *
 * Attributes cover every JSON type (string, integer, float, boolean, null, array, object),
 * including non-ASCII text. Pure and deterministic for a seed: the caller owns the clock and the
 * one timer (`startup(now)` once, then `updates(count, now)`).
 */
import { createRandom, randomSeed, type Random } from '../simulator/random';
import { normaliseBaseTopic } from './topic';

export type SimulatedDomain = 'light' | 'sensor' | 'binary_sensor' | 'switch' | 'climate';

export const SIMULATED_DOMAINS: readonly SimulatedDomain[] = ['light', 'sensor', 'binary_sensor', 'switch', 'climate'];

export interface StatestreamPublish {
  topic: string;
  /** Exactly the text Home Assistant would publish. */
  payload: string;
  qos: 1;
  retain: true;
}

export interface HassSimulatorOptions {
  /** Base topic as configured in Home Assistant; may contain `/`. Default `homeassistant`. */
  baseTopic?: string;
  /** Entities per domain (1..1000). Default 2. */
  entitiesPerDomain?: number;
  /** Publish last_updated/last_changed (default true, like `publish_timestamps: true`). */
  publishTimestamps?: boolean;
  /** Publish attributes (default true, like `publish_attributes: true`). */
  publishAttributes?: boolean;
  seed?: number | string;
}

interface SimulatedEntity {
  domain: SimulatedDomain;
  objectId: string;
  /** `<base>/<domain>/<object_id>/` */
  prefix: string;
  state: string;
  attributes: Record<string, unknown>;
  lastUpdated: number;
  /** Their isoformat() texts, fixed when they change (with random microseconds, as real instants have). */
  lastChangedText: string;
  lastUpdatedText: string;
}

const ROOMS = ['living_room', 'kitchen', 'bedroom', 'office', 'hallway', 'garage', 'garden', 'bathroom'];
const ROOM_NAMES: Record<string, string> = {
  living_room: 'Living Room',
  kitchen: 'Küche',
  bedroom: 'Bedroom 🛏️',
  office: 'Office',
  hallway: 'Hallway',
  garage: 'Garage',
  garden: 'Garden 🌱',
  bathroom: 'Bathroom',
};

/** Python's datetime.isoformat() of a UTC instant: microseconds (omitted when zero) and `+00:00`. */
export function pythonIsoformat(ms: number, microsecondExtra = 0): string {
  const date = new Date(ms);
  const base = date.toISOString().slice(0, 19);
  const micro = date.getUTCMilliseconds() * 1000 + microsecondExtra;
  return `${base}${micro === 0 ? '' : `.${String(micro).padStart(6, '0')}`}+00:00`;
}

export class HassSimulator {
  readonly baseTopic: string;
  private readonly entities: SimulatedEntity[] = [];
  private readonly random: Random;
  private readonly timestamps: boolean;
  private readonly attributes: boolean;
  /** Round-robin start with random picks: every entity updates, the order still varies. */
  private cursor = 0;
  private published = 0;

  constructor(options: HassSimulatorOptions = {}) {
    const base = normaliseBaseTopic(options.baseTopic ?? 'homeassistant');
    if (base === '' || /[+#\u0000]/.test(base) || base.split('/').some((level) => level === '')) {
      throw new RangeError(`invalid statestream base topic "${options.baseTopic}": non-empty levels, no wildcards`);
    }
    this.baseTopic = base;
    const perDomain = Math.floor(options.entitiesPerDomain ?? 2);
    if (!(perDomain >= 1 && perDomain <= 1000))
      throw new RangeError(`entitiesPerDomain must be 1..1000 (got ${options.entitiesPerDomain})`);
    this.timestamps = options.publishTimestamps !== false;
    this.attributes = options.publishAttributes !== false;
    this.random = createRandom(options.seed ?? randomSeed());
    for (const domain of SIMULATED_DOMAINS) {
      for (let i = 0; i < perDomain; i++) this.entities.push(this.createEntity(domain, i));
    }
  }

  /** How many entities the simulated house has. */
  get entityCount(): number {
    return this.entities.length;
  }

  /** Messages produced so far. */
  get messagesPublished(): number {
    return this.published;
  }

  /** Entity ids (`light.kitchen`), in a stable order. */
  entityIds(): string[] {
    return this.entities.map((e) => `${e.domain}.${e.objectId}`);
  }

  /** Messages one update of an entity produces (state + timestamps + attributes). */
  messagesPerUpdate(entityIndex: number): number {
    const entity = this.entities[entityIndex];
    return 1 + (this.timestamps ? 2 : 0) + (this.attributes ? Object.keys(entity.attributes).length : 0);
  }

  /** Home Assistant starting up: every entity publishes its full state once. */
  startup(now: number): StatestreamPublish[] {
    const out: StatestreamPublish[] = [];
    for (const entity of this.entities) {
      this.touch(entity, now, true);
      this.emit(entity, out);
    }
    return out;
  }

  /** `count` entity updates at `now` (each one burst of messages); entities are visited in turn. */
  updates(count: number, now: number): StatestreamPublish[] {
    const out: StatestreamPublish[] = [];
    for (let i = 0; i < count; i++) {
      const entity = this.entities[this.cursor];
      this.cursor = (this.cursor + 1) % this.entities.length;
      this.advance(entity, now);
      this.emit(entity, out);
    }
    return out;
  }

  private emit(entity: SimulatedEntity, out: StatestreamPublish[]): void {
    const push = (key: string, payload: string): void => {
      out.push({ topic: entity.prefix + key, payload, qos: 1, retain: true });
      this.published++;
    };
    push('state', entity.state);
    if (this.timestamps) {
      push('last_updated', entity.lastUpdatedText);
      push('last_changed', entity.lastChangedText);
    }
    if (this.attributes) for (const [key, value] of Object.entries(entity.attributes)) push(key, JSON.stringify(value));
  }

  private touch(entity: SimulatedEntity, at: number, changed: boolean): void {
    entity.lastUpdated = at;
    entity.lastUpdatedText = pythonIsoformat(at, this.random.int(0, 999));
    if (changed) {
      entity.lastChangedText = entity.lastUpdatedText;
    }
  }

  private createEntity(domain: SimulatedDomain, index: number): SimulatedEntity {
    const room = ROOMS[index % ROOMS.length];
    const suffix = index < ROOMS.length ? '' : `_${Math.floor(index / ROOMS.length) + 1}`;
    const name = `${ROOM_NAMES[room]}${suffix ? ` ${suffix.slice(1)}` : ''}`;
    const objectId = `${room}${domain === 'sensor' ? '_temperature' : domain === 'binary_sensor' ? '_motion' : ''}${suffix}`;
    const entity: SimulatedEntity = {
      domain,
      objectId,
      prefix: `${this.baseTopic}/${domain}/${objectId}/`,
      state: '',
      attributes: {},
      lastUpdated: 0,
      lastChangedText: '',
      lastUpdatedText: '',
    };
    const r = this.random;
    switch (domain) {
      case 'light':
        entity.state = 'on';
        entity.attributes = {
          supported_color_modes: ['brightness', 'color_temp', 'hs'],
          color_mode: 'color_temp',
          brightness: r.int(1, 255),
          color_temp_kelvin: 2700,
          hs_color: [r.float(0, 360), r.float(0, 100)].map((v) => Math.round(v * 10) / 10),
          effect: null,
          friendly_name: `${name} Light`,
          supported_features: 44,
        };
        break;
      case 'sensor':
        entity.state = r.float(18, 24).toFixed(1);
        entity.attributes = {
          state_class: 'measurement',
          unit_of_measurement: '°C',
          device_class: 'temperature',
          friendly_name: `${name} Temperature`,
          calibration: { offset: -0.3, verified: true, history: [20.1, 20.4] },
        };
        break;
      case 'binary_sensor':
        entity.state = 'off';
        entity.attributes = { device_class: 'motion', friendly_name: `${name} Motion`, battery_level: r.int(20, 100), last_tripped: null };
        break;
      case 'switch':
        entity.state = 'off';
        entity.attributes = { friendly_name: `${name} Plug`, current_power_w: 0, assumed_state: false, icon: 'mdi:power-socket-eu' };
        break;
      case 'climate':
        entity.state = 'heat';
        entity.attributes = {
          hvac_modes: ['off', 'heat', 'auto'],
          min_temp: 7,
          max_temp: 35,
          current_temperature: Math.round(r.float(17, 22) * 10) / 10,
          temperature: 21,
          preset_mode: null,
          preset_modes: ['eco', 'comfort', 'boost'],
          friendly_name: `${name} Thermostat`,
          supported_features: 401,
          window_open: false,
        };
        break;
    }
    return entity;
  }

  /** The next plausible state of an entity (attributes move with it). */
  private advance(entity: SimulatedEntity, now: number): void {
    const r = this.random;
    const before = entity.state;
    const a = entity.attributes;
    switch (entity.domain) {
      case 'light': {
        const on = r.next() < 0.6;
        entity.state = on ? 'on' : 'off';
        a.brightness = on ? r.int(1, 255) : null;
        a.color_mode = on ? 'color_temp' : null;
        break;
      }
      case 'sensor': {
        const next = Math.min(30, Math.max(10, Number(entity.state) + r.float(-0.3, 0.3)));
        entity.state = next.toFixed(1);
        break;
      }
      case 'binary_sensor':
        entity.state = r.next() < 0.3 ? 'on' : 'off';
        if (entity.state === 'on') a.last_tripped = pythonIsoformat(now);
        a.battery_level = Math.max(0, (a.battery_level as number) - (r.next() < 0.05 ? 1 : 0));
        break;
      case 'switch': {
        entity.state = r.next() < 0.5 ? 'on' : 'off';
        a.current_power_w = entity.state === 'on' ? Math.round(r.float(5, 2000) * 100) / 100 : 0;
        break;
      }
      case 'climate': {
        const current = Math.round(((a.current_temperature as number) + r.float(-0.2, 0.2)) * 10) / 10;
        a.current_temperature = current;
        a.window_open = r.next() < 0.05;
        entity.state = a.window_open ? 'off' : 'heat';
        break;
      }
    }
    this.touch(entity, Math.max(now, entity.lastUpdated + 1), entity.state !== before);
  }
}
