/**
 * The migration sets shipped with the package, one per pipeline, and the parser for a user's own
 * set given as JSON in a writer's settings.
 */
import type { Migration, MigrationSet } from '../db/types';
import { IotpError } from '../errors';
import { connectorMigrations } from '../connector/bookmark';
import { isemsMigrations } from '../isems/schema';
import { rollingAveragesMigrations } from '../rolling/schema';
import { sensorsMigrations } from '../sensors/schema';
import { statestreamMigrations } from '../statestream/schema';

const shipped: readonly MigrationSet[] = [
  statestreamMigrations,
  rollingAveragesMigrations,
  isemsMigrations,
  sensorsMigrations,
  connectorMigrations,
];

export function shippedMigrationSets(): readonly MigrationSet[] {
  return shipped;
}

export function findMigrationSet(name: string): MigrationSet | undefined {
  return shipped.find((set) => set.name === name);
}

export class MigrationSetError extends IotpError<'MIGRATION_SET_INVALID'> {
  constructor(message: string) {
    super('MIGRATION_SET_INVALID', message);
  }
}

const statements = (value: unknown, where: string): string[] => {
  if (!Array.isArray(value) || value.some((s) => typeof s !== 'string' || s.trim() === '')) {
    throw new MigrationSetError(`${where} must be an array of SQL statements (strings)`);
  }
  return value as string[];
};

/**
 * `{"name": "mine", "migrations": [{"version": 1, "name": "create", "mysql": [...], "sqlite": [...], "postgres": [...]}]}`:
 * versions are positive integers, unique and ascending; names are slugs; each migration has
 * statements for MySQL and SQLite (a list may be empty where that database is not used) and,
 * to run on PostgreSQL, a `postgres` list (without it the set is refused there, by name).
 */
export function parseCustomMigrationSet(json: string): MigrationSet {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new MigrationSetError(`the custom migration set is not valid JSON: ${(err as Error).message}`);
  }
  const set = raw as { name?: unknown; description?: unknown; migrations?: unknown };
  if (typeof set !== 'object' || set === null) throw new MigrationSetError('the custom migration set must be a JSON object');
  if (typeof set.name !== 'string' || !/^[a-z0-9][a-z0-9_-]{0,63}$/i.test(set.name)) {
    throw new MigrationSetError('the custom migration set needs a "name" (letters, digits, - and _)');
  }
  if (shipped.some((s) => s.name === set.name))
    throw new MigrationSetError(`"${set.name}" is the name of a shipped migration set; choose another`);
  if (!Array.isArray(set.migrations) || set.migrations.length === 0) throw new MigrationSetError('"migrations" must be a non-empty array');
  const migrations: Migration[] = [];
  let previous = 0;
  for (const [i, entry] of (set.migrations as unknown[]).entries()) {
    const m = entry as Record<string, unknown>;
    const where = `migrations[${i}]`;
    if (typeof m !== 'object' || m === null) throw new MigrationSetError(`${where} must be an object`);
    if (!Number.isInteger(m.version) || (m.version as number) <= previous) {
      throw new MigrationSetError(`${where}.version must be an integer greater than the previous one (${previous})`);
    }
    if (typeof m.name !== 'string' || !/^[a-z0-9][a-z0-9_-]{0,63}$/i.test(m.name))
      throw new MigrationSetError(`${where}.name must be a short slug`);
    const migration: Migration = {
      version: m.version as number,
      name: m.name,
      mysql: statements(m.mysql, `${where}.mysql`),
      sqlite: statements(m.sqlite, `${where}.sqlite`),
    };
    if (m.postgres !== undefined) migration.postgres = statements(m.postgres, `${where}.postgres`);
    migrations.push(migration);
    previous = m.version as number;
  }
  return {
    name: set.name,
    description: typeof set.description === 'string' ? set.description : `custom migration set ${set.name}`,
    migrations,
  };
}
