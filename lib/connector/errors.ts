/**
 * Typed errors of the data connector. Every failure a caller can act on carries a stable
 * machine-readable `code`; `reason` is a short human sentence safe to show in a status or an
 * HTTP response (it never contains the API key or the endpoint's credentials).
 */
import { IotpError } from '../errors';

export type ConnectorErrorCode =
  | 'INVALID_OPTION'
  | 'INVALID_TIME'
  | 'INVALID_WINDOW'
  | 'WINDOW_TOO_LONG'
  | 'WINDOW_IN_FUTURE'
  | 'INVALID_BODY'
  | 'INVALID_ENDPOINT'
  | 'OUTBOX_CORRUPT'
  | 'OUTBOX_FULL'
  | 'TASKS_FULL'
  /** The connector is starting, misconfigured or shutting down: the request API answers 503. */
  | 'NOT_READY';

export class ConnectorError extends IotpError<ConnectorErrorCode> {
  get reason(): string {
    return this.message;
  }
}

export function isConnectorError(value: unknown): value is ConnectorError {
  return value instanceof ConnectorError;
}

/** A positive finite number option, or a ConnectorError naming the option. */
export function positiveNumber(name: string, value: unknown, { integer = false, min = Number.MIN_VALUE } = {}): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    throw new ConnectorError('INVALID_OPTION', `${name} must be ${integer ? 'an integer' : 'a number'} >= ${min}, got ${String(value)}`);
  }
  return value;
}
