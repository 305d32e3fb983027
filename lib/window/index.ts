/** The package's one windowing engine: sliding and tumbling time windows, and the time parser they share. */
export { WindowError, TimeParseError } from './errors';
export type { WindowErrorCode } from './errors';
export { parseTimestamp, formatUtcNaive, SECONDS_MS_THRESHOLD } from './time';
export type { EpochUnit, ParseTimestampOptions } from './time';
export { toReading } from './value';
export { SlidingWindows, windowLabel } from './sliding';
export type {
  SlidingAggregate,
  SlidingSnapshot,
  SlidingStats,
  SlidingWindowOptions,
  SeriesValues,
  WindowLength,
  WindowValues,
} from './sliding';
export { TumblingWindows } from './tumbling';
export type { TumblingOptions, TumblingResult, TumblingSnapshot, TumblingStats, TumblingOutcome } from './tumbling';
export {
  parseWindowSettings,
  parseDuration,
  parseDurationList,
  compilePath,
  outputNames,
  AGGREGATE_NAMES,
  DEFAULT_LATENESS_MS,
  MAX_LATENESS_MS,
} from './settings';
export type { WindowSettings, WindowNodeProperties, WindowMode, SeriesSource, TimeSource, TimeFormat, PropertyReader } from './settings';
export { WindowRunner, MAX_SERIES_KEY_LENGTH, MAX_FUTURE_MS, DEFAULT_SNAPSHOT_EVERY_MS, REVISION_DELAY_MS } from './runner';
export type { WindowEmission, AcceptOutcome, CountedReading, PersistedWindowState } from './runner';
