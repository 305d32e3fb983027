/**
 * Migration set "rolling-averages": the raw numbers of the rolling-averages pipeline, as the
 * original kept them: `messages(number INTEGER, epochtime INTEGER)` in a SQLite file of its own
 * (DB_FILE). `IF NOT EXISTS` lets an existing database of the original be used as it is. The index
 * serves the periodic retention DELETE (rows older than 35 minutes), which replaces the original's
 * delete per message.
 */
import type { MigrationSet } from '../db/types';
import { rollingAveragesAdoption } from './adopt';

export const rollingAveragesMigrations: MigrationSet = {
  name: 'rolling-averages',
  description: 'Raw numbers of the rolling-averages pipeline: messages(number, epochtime)',
  migrations: [
    {
      version: 1,
      name: 'create-messages',
      sqlite: [
        'CREATE TABLE IF NOT EXISTS messages (number INTEGER, epochtime INTEGER)',
        'CREATE INDEX IF NOT EXISTS messages_epochtime ON messages (epochtime)',
      ],
      mysql: [
        'CREATE TABLE IF NOT EXISTS messages (number INTEGER, epochtime BIGINT, KEY messages_epochtime (epochtime)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci',
      ],
      postgres: [
        'CREATE TABLE IF NOT EXISTS messages (number INTEGER, epochtime BIGINT)',
        'CREATE INDEX IF NOT EXISTS messages_epochtime ON messages (epochtime)',
      ],
    },
  ],
  adoption: rollingAveragesAdoption,
};

/** Keeps the last 35 minutes, as the original did; run from one timer, not per message. */
export const ROLLING_RETENTION_SQL = 'DELETE FROM messages WHERE epochtime < :cutoff';
