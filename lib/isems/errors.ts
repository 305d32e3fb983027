/**
 * Typed errors of the ISEMS collector. Every failure carries a machine-readable `code`, so a
 * Node-RED node (or a Catch node behind it) can branch on the kind without parsing messages.
 */
import { IotpError } from '../errors';

/** Why one log line was rejected. */
export type IsemsLineErrorCode =
  | 'ISEMS_FIELD_COUNT'
  | 'ISEMS_LINE_TOO_LONG'
  | 'ISEMS_EMPTY_NODE_ID'
  | 'ISEMS_BAD_TEXT'
  | 'ISEMS_BAD_NUMBER'
  | 'ISEMS_BAD_BOOLEAN'
  | 'ISEMS_BAD_TIMESTAMP'
  | 'ISEMS_BAD_STATUS';

/** Why a whole solar node could not be read in one poll. */
export type IsemsNodeFailureCode =
  | 'ISEMS_HTTP_STATUS'
  | 'ISEMS_TIMEOUT'
  | 'ISEMS_NETWORK'
  | 'ISEMS_TOO_LARGE'
  | 'ISEMS_NOT_A_LOG'
  /** The caller's onNode consumer rejected the node's records (they are offered again next poll). */
  | 'ISEMS_CONSUMER';

export type IsemsErrorCode =
  IsemsLineErrorCode | IsemsNodeFailureCode | 'ISEMS_BAD_CONFIG' | 'ISEMS_BAD_TOPIC' | 'ISEMS_BAD_PAYLOAD' | 'ISEMS_BAD_WATERMARKS';

export class IsemsError extends IotpError<IsemsErrorCode> {}
