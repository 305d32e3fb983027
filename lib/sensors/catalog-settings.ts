/**
 * The iotp-catalog node's settings: the migration sets it describes and the dataset
 * declarations (the sets' tables, the sensors defaults when that set is chosen, then the dialog's).
 */
import type { MigrationSet } from '../db/types';
import { listSetting } from '../list-setting';
import { findMigrationSet } from '../migrations';
import { CatalogError, catalogDeclarations, sensorDatasets, type DatasetDeclaration } from './catalog';
import { parseDatasetDeclarations } from './declarations';

export interface CatalogNodeProperties {
  migrationSets: string;
  datasets: string;
  topic: string;
}

/** Migration sets by name, and the declarations: the sets' tables, the sensors defaults when that set is chosen, then the dialog's. */
export function catalogPlan(def: CatalogNodeProperties): { sets: MigrationSet[]; declarations: DatasetDeclaration[] } {
  const sets = listSetting(def.migrationSets).map((name) => {
    const set = findMigrationSet(name);
    if (!set) throw new CatalogError('UNKNOWN_MIGRATION_SET', `unknown migration set ${JSON.stringify(name)}`);
    return set;
  });
  const defaults = sets.some((s) => s.name === 'sensors') ? sensorDatasets(def.topic || 'sensors') : [];
  const declared = parseDatasetDeclarations(def.datasets);
  const byName = new Map<string, DatasetDeclaration>();
  for (const d of [...defaults, ...declared]) byName.set(d.name, d);
  return { sets, declarations: catalogDeclarations(sets, [...byName.values()]) };
}
