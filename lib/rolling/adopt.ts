/**
 * Taking over the original rolling-averages pipeline's SQLite file (CONTRACTS §6.2): its table
 * `messages(number INTEGER, epochtime INTEGER)`, no index, the last 35 minutes of numbers. The
 * table stays as it is (ours has the same columns); migration 1 adds the index for the retention
 * DELETE. The window node starts from these rows (iotp-window's seed), so the first STATS after
 * the switch counts them.
 *
 * A `messages` table of another shape is refused by name: pointing DB_FILE (or the flow's
 * database) at the statestream pipeline's database is the likely mistake, and writing numbers into
 * its `messages` would fail on every row.
 */
import { columnProblems, refuse, type AdoptionPlan, type SchemaAdoption } from '../db/adopt';
import { column, readSchema } from '../db/introspect';
import type { SqlExecutor } from '../db/types';

const NUMBER = ['integer', 'real', 'decimal'] as const;

async function inspect(executor: SqlExecutor): Promise<AdoptionPlan> {
  const snapshot = await readSchema(executor, ['messages']);
  const table = snapshot.tables.get('messages');
  if (!table) return { action: 'none' };
  if (column(table, 'topic') && column(table, 'payload')) {
    return refuse(
      `its table messages(${table.columns.map((c) => c.name).join(', ')}) is the statestream pipeline's, not the rolling averages' messages(number, epochtime)`,
      "The rolling averages keep their numbers in a SQLite file of their own: set DB_FILE (or ROLLING_AVERAGES_DATABASE_URL) to the original's file (its default is tmp/test.db) or to a new one, then start again.",
    );
  }
  const problems = columnProblems(table, [
    { name: 'number', family: NUMBER },
    { name: 'epochtime', family: NUMBER },
  ]);
  for (const trigger of snapshot.triggers)
    problems.push(`a trigger ${trigger.name} (${trigger.timing} ${trigger.event} on ${trigger.table})`);
  if (problems.length > 0) {
    return refuse(
      problems.join('; '),
      'Point DB_FILE (or ROLLING_AVERAGES_DATABASE_URL) at the original rolling-averages file or a new one, then start again.',
    );
  }
  return {
    action: 'adopt',
    record: 'adopt-original',
    version: 1,
    summary: "the original pipeline's messages(number, epochtime)",
    run: async (ex) => {
      // Migration 1 as it is: CREATE ... IF NOT EXISTS leaves the table and adds the index.
      const { rollingAveragesMigrations } = await import('./schema');
      for (const sql of rollingAveragesMigrations.migrations[0][ex.dialect]!) await ex.query(sql);
      const { rows } = await ex.query('SELECT COUNT(*) AS n, MIN(epochtime) AS first, MAX(epochtime) AS last FROM messages');
      const n = Number(rows[0].n);
      const at = (epoch: unknown): string => {
        const ms = Number(epoch) * 1000;
        return Number.isFinite(ms) && Math.abs(ms) < 8.64e15 ? new Date(ms).toISOString() : String(epoch);
      };
      return n === 0 ? 'It holds no numbers.' : `It holds ${n} numbers from ${at(rows[0].first)} to ${at(rows[0].last)}.`;
    },
  };
}

export const rollingAveragesAdoption: SchemaAdoption = {
  inspect: { mysql: inspect, sqlite: inspect, postgres: inspect },
};
