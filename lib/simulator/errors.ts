import { IotpError } from '../errors';

export type SimulatorErrorCode = 'INVALID_CONFIG' | 'INVALID_TEMPLATE' | 'INVALID_COMMAND';

/** A simulator configuration or message template that cannot work (thrown when it is built), or an unknown command. */
export class SimulatorError extends IotpError<SimulatorErrorCode> {}
