import { IotpError } from '../errors';

/** Machine-readable reasons the window engine refuses an input. */
export type WindowErrorCode =
  | 'INVALID_VALUE'
  | 'INVALID_TIME'
  | 'INVALID_TIMESTAMP'
  | 'INVALID_SERIES'
  | 'INVALID_OPTIONS'
  | 'INVALID_SNAPSHOT'
  /** A reading older than every window it could count in (sliding) or for a closed window (tumbling). */
  | 'LATE_READING'
  /** An event time too far ahead of the clock: it would move every window into the future. */
  | 'FUTURE_READING'
  /** The bound on open tumbling windows is reached. */
  | 'WINDOW_OVERFLOW';

/** Every error the window engine throws: a rejected input never changes any window. */
export class WindowError extends IotpError<WindowErrorCode> {}

/** A timestamp that is neither epoch seconds/milliseconds nor ISO 8601 text. */
export class TimeParseError extends WindowError {
  /** The rejected input, shortened so a hostile payload cannot bloat logs. */
  readonly input: string;

  constructor(input: unknown, reason: string) {
    const shown = describe(input);
    super('INVALID_TIMESTAMP', `invalid timestamp ${shown}: ${reason}`);
    this.input = shown;
  }
}

/** A short, log-safe rendering of any input (strings cut at 64 characters). */
export function describe(input: unknown): string {
  if (typeof input === 'string') return JSON.stringify(input.length > 64 ? `${input.slice(0, 64)}...` : input);
  if (typeof input === 'number' || typeof input === 'boolean' || input == null) return String(input);
  if (typeof input === 'bigint') return `${input}n`;
  if (Array.isArray(input)) return 'an array';
  return `a ${typeof input}`;
}
