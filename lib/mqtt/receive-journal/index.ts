/** The MQTT receive journal (no Node-RED imports): see journal.ts. */
export { ReceiveJournal, type AppendCallback, type JournalEntry, type JournalStats, type ReceiveJournalOptions } from './journal';
export { ReceiveJournalError, type ReceiveJournalErrorCode } from './errors';
export type { EntryInput } from './format';
export type { Unacknowledged } from './reader';
