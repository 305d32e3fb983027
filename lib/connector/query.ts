/**
 * The user-editable SQL that selects a window's readings, and the named parameters it may use.
 * Users customise *which* rows are sent by editing this query (the original required editing Python).
 * The default is half-open, `>= :start_time AND < :end_time`, so a row on a boundary is sent once.
 */
import { formatUtc } from './time';
import type { TimeWindow } from './windows';

/**
 * Reads the sensors pipeline's `sensor_data` (`sensor_id` int, `timestamp` DATETIME(6) in MySQL,
 * fixed-width `YYYY-MM-DD HH:MM:SS.ffffff` text in SQLite) and names each sensor `sensor_<id>`, as
 * in the contract's body. CONCAT works in MySQL/MariaDB and in SQLite >= 3.44 (better-sqlite3 12
 * bundles a newer one), so the same text runs on both.
 */
export const DEFAULT_READINGS_QUERY =
  "SELECT CONCAT('sensor_', sensor_id) AS sensor, timestamp, value FROM sensor_data WHERE timestamp >= :start_time AND timestamp < :end_time ORDER BY timestamp";

export interface WindowQueryParams {
  /** Naive UTC `2021-07-01 12:00:00` (MySQL DATETIME/TIMESTAMP in a UTC session; SQLite text in that form). */
  start_time: string;
  end_time: string;
  /** Naive UTC with a `T`: `2021-07-01T12:00:00` (SQLite text stored in ISO form). */
  start_time_iso: string;
  end_time_iso: string;
  /** Epoch milliseconds (integer timestamp columns). */
  start_time_ms: number;
  end_time_ms: number;
}

/**
 * Parameters for a window. Whole seconds render without a fraction, so text comparison against
 * stored `YYYY-MM-DD HH:MM:SS` values stays correct at the boundaries.
 */
export function windowQueryParams(window: TimeWindow): WindowQueryParams {
  const start = formatUtc(window.start);
  const end = formatUtc(window.end);
  return {
    start_time: start.replace('T', ' '),
    end_time: end.replace('T', ' '),
    start_time_iso: start,
    end_time_iso: end,
    start_time_ms: window.start,
    end_time_ms: window.end,
  };
}
