/** Errors of the MQTT receive journal. */
import { IotpError } from '../../errors';

export type ReceiveJournalErrorCode =
  | 'JOURNAL_UNUSABLE' // the directory cannot be created, listed or read
  | 'JOURNAL_IN_USE' // another journal of this process has the directory open
  | 'JOURNAL_WRITE' // an append could not be made durable (disk full, I/O error, directory gone)
  | 'JOURNAL_CLOSED';

export class ReceiveJournalError extends IotpError<ReceiveJournalErrorCode> {}
