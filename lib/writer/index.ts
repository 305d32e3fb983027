/** The database Writer engine: batching, journaling and retrying row writer (no Node-RED imports). */
export { RowWriter } from './row-writer';
export type {
  CloseReport, DeliveryCallback, DeliveryResult, LastError, OverflowPolicy, RejectedRow, RowWriterOptions, WriterState, WriterStats,
} from './row-writer';
export { WriterError, classifyDbError } from './errors';
export type { WriterErrorCode } from './errors';
export type { ColumnMapping } from './mapping';
export type { ConflictPolicy } from '../db/insert';
