/** The database Writer engine: batching, journaling and retrying row writer (no Node-RED imports). */
export { RowWriter } from './row-writer';
export type {
  CloseReport,
  DeliveryCallback,
  DeliveryResult,
  LastError,
  OverflowPolicy,
  RejectedRow,
  RowWriterOptions,
  WriterState,
  WriterStats,
} from './row-writer';
export { WriterError, classifyDbError } from './errors';
export type { WriterErrorCode } from './errors';
export type { ColumnMapping } from './mapping';
export type { ConflictPolicy } from '../db/insert';
export {
  COMMIT_MARKER_TABLE,
  MARKER_RETENTION_MS,
  PRUNE_INTERVAL_MS,
  PRUNE_CHUNK_ROWS,
  CommitMarkers,
  commitTokenFloor,
  commitTokenTime,
  newCommitToken,
} from './commit-markers';
export type { ClaimOutcome } from './commit-markers';
