/**
 * Rows for the `measurement` table as the generic writer (iotp-db-write) takes them: one property
 * per column, named as the column, holding a value both drivers bind as is.
 */
import type { IsemsMeasurement } from './parse';
import { MEASUREMENT_COLUMNS } from './schema';

/** A `measurement` row: `timestamp` as epoch seconds, `isPowerSaveMode` 0/1, `status` null when not reported. */
export type MeasurementRow = Omit<IsemsMeasurement, 'timestamp' | 'isPowerSaveMode' | 'epochSeconds' | 'statusHex' | 'statusFlags'> & {
  timestamp: number;
  isPowerSaveMode: 0 | 1;
};

export function toMeasurementRow(record: IsemsMeasurement): MeasurementRow {
  return {
    nodeId: record.nodeId,
    isemsRevision: record.isemsRevision,
    timestamp: record.epochSeconds,
    openMPPTFirmwareVersion: record.openMPPTFirmwareVersion,
    timeToShutdown: record.timeToShutdown,
    isPowerSaveMode: record.isPowerSaveMode ? 1 : 0,
    openCircuitVoltage: record.openCircuitVoltage,
    mppVoltage: record.mppVoltage,
    batteryVoltage: record.batteryVoltage,
    batteryChargeEstimate: record.batteryChargeEstimate,
    batteryHealthEstimate: record.batteryHealthEstimate,
    batteryTemperature: record.batteryTemperature,
    lowVoltageDisconnectVoltage: record.lowVoltageDisconnectVoltage,
    temperatureCorrectedVoltage: record.temperatureCorrectedVoltage,
    rateBatteryCapacity: record.rateBatteryCapacity,
    ratedSolarModuleCapacity: record.ratedSolarModuleCapacity,
    latitude: record.latitude,
    longitude: record.longitude,
    status: record.status,
  };
}

/** The writer's column list for these rows (iotp-db-write `columns`, one per line). */
export const MEASUREMENT_WRITER_COLUMNS: readonly string[] = MEASUREMENT_COLUMNS;

/** Epoch seconds of the newest row (rows in timestamp order, as the poller and parser return them). */
export function newestEpochSeconds(rows: readonly { timestamp: number }[]): number {
  let newest = -1;
  for (const row of rows) if (row.timestamp > newest) newest = row.timestamp;
  return newest;
}
