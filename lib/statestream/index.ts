/** Home Assistant MQTT Statestream: parsing, filtering, merging, and the MySQL/SQLite schema. */
export { StatestreamError, isStatestreamError, type StatestreamErrorCode } from './errors';
export { splitStatestreamTopic, normaliseBaseTopic, type StatestreamTopic } from './topic';
export { parseIsoInstant, type IsoInstant } from './timestamp';
export { DEFAULT_MAX_PAYLOAD_BYTES, type StringPayloads } from './payload';
export {
  parseStatestream,
  parseSplitTopic,
  numericReading,
  type StatestreamRecord,
  type ParseOptions,
  type KeyKind,
  type KeyEvidence,
  type ReservedKey,
  type BurstResolver,
  StatestreamParser,
  type StatestreamParserOptions,
} from './parser';
export { BurstTracker, type BurstTrackerOptions } from './burst';
export { compileEntityFilter, globMatches, type EntityFilter, type EntityFilterOptions } from './filter';
export { EntityMerger, type MergedEntity, type EntityMergerOptions } from './merger';
export { statestreamMigrations, SEED_README_QUERY, MYSQL_CHARSET, MYSQL_COLLATION } from './schema';
export {
  HassSimulator,
  pythonIsoformat,
  SIMULATED_DOMAINS,
  type HassSimulatorOptions,
  type SimulatedDomain,
  type StatestreamPublish,
} from './simulate';
