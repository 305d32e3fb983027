import assert from 'node:assert/strict';
import { INSTANCE_LABEL_MAX } from '../../../lib/instance-identity';
import { tablesOfMigrationSet } from '../../../lib/sensors/catalog';
import { sensorsMigrations, upsertAggregatedPartSql } from '../../../lib/sensors/schema';

const parts = sensorsMigrations.migrations.find((m) => m.version === 3);

/** The assignments of every SET / ON DUPLICATE KEY UPDATE clause of `sql`, in order. */
function assignmentLists(sql: string): string[][] {
  const lists: string[][] = [];
  for (const m of sql.matchAll(/(?:\bSET|ON DUPLICATE KEY UPDATE|DO UPDATE SET)\s+(.*?)(?:\s+WHERE\b|;|$)/gs)) {
    lists.push(m[1].split(/,\s*(?=[`"]\w+[`"] = )/).map((a) => a.trim()));
  }
  return lists;
}

describe('sensors/schema: aggregate parts', () => {
  it('upserts parts on (sensor_id, timestamp, instance), overwriting the part, never the key', () => {
    assert.equal(
      upsertAggregatedPartSql('mysql', 1),
      'INSERT INTO `aggregated_sensor_parts` (`sensor_id`, `timestamp`, `value`, `lat`, `lng`, `unit`, `type`, `description`, `samples`, `instance`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ' +
        'ON DUPLICATE KEY UPDATE `value` = VALUES(`value`), `lat` = VALUES(`lat`), `lng` = VALUES(`lng`), `unit` = VALUES(`unit`), `type` = VALUES(`type`), `description` = VALUES(`description`), `samples` = VALUES(`samples`)',
    );
    const sqlite = upsertAggregatedPartSql('sqlite', 2);
    assert.match(
      sqlite,
      /VALUES \((\?, ){9}\?\), \((\?, ){9}\?\) ON CONFLICT \("sensor_id", "timestamp", "instance"\) DO UPDATE SET "value" = excluded\."value", /,
    );
    assert.doesNotMatch(sqlite, /"(sensor_id|timestamp|instance)" = excluded/);
    assert.throws(() => upsertAggregatedPartSql('mysql', 0), RangeError);
  });

  it('migration 3 creates the parts table with its key, copies the old minutes before any trigger exists, then the triggers', () => {
    assert.ok(parts, 'migration 3');
    assert.equal(parts.name, 'create-aggregated-sensor-parts');
    for (const dialect of ['mysql', 'sqlite'] as const) {
      const statements = parts[dialect];
      const at = (re: RegExp): number => statements.findIndex((s) => re.test(s));
      const copy = at(/^INSERT INTO [`"]aggregated_sensor_parts[`"].*SELECT .*, '' FROM [`"]aggregated_sensor_data[`"]/s);
      const triggers = statements.map((s, i) => (/^CREATE TRIGGER/.test(s) ? i : -1)).filter((i) => i >= 0);
      assert.ok(copy > 0, `${dialect}: copy`);
      assert.ok(triggers.length >= 3 && triggers.every((i) => i > copy), `${dialect}: triggers after the copy`);
      assert.match(statements[copy], /NOT EXISTS/, 'a re-run copies no minute twice');
      assert.ok(
        at(/AFTER INSERT ON [`"]aggregated_sensor_parts[`"]/) > 0 && at(/AFTER UPDATE ON/) > 0 && at(/AFTER DELETE ON/) > 0,
        dialect,
      );
      for (const s of statements) assert.doesNotMatch(s, /DELIMITER/, 'statements go one by one');
      // The triggers read no other part: only the aggregated row, by its key.
      for (const i of triggers)
        assert.doesNotMatch(
          statements[i].replace(/^CREATE TRIGGER.*? ON [`"]aggregated_sensor_parts[`"]/s, ''),
          /aggregated_sensor_parts/,
          `${dialect}: trigger ${i}`,
        );
    }
    assert.match(parts.mysql[0], /`instance` VARCHAR\((\d+)\) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL/);
    assert.equal(Number(/VARCHAR\((\d+)\) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin/.exec(parts.mysql[0])?.[1]), INSTANCE_LABEL_MAX);
    assert.match(parts.mysql[0], /UNIQUE KEY `uq_aggregated_part` \(`sensor_id`, `timestamp`, `instance`\)/);
    assert.ok(
      parts.sqlite.includes(
        'CREATE UNIQUE INDEX IF NOT EXISTS "uq_aggregated_part" ON "aggregated_sensor_parts" ("sensor_id", "timestamp", "instance")',
      ),
    );
    // MySQL re-runs a failed migration from the start (DDL commits): the triggers go before the copy.
    const drops = parts.mysql.filter((s) => /^DROP TRIGGER IF EXISTS/.test(s)).length;
    assert.equal(drops, parts.mysql.filter((s) => /^CREATE TRIGGER/.test(s)).length);
  });

  it('assigns samples last in every clause, so MySQL (left to right) and SQLite (old values) compute the same', () => {
    for (const dialect of ['mysql', 'sqlite'] as const) {
      for (const statement of parts?.[dialect].filter((s) => /^CREATE TRIGGER/.test(s)) ?? []) {
        for (const list of assignmentLists(statement)) {
          const i = list.findIndex((a) => /^[`"]samples[`"] = /.test(a));
          if (i >= 0) assert.equal(i, list.length - 1, `${dialect}: ${list.join(' | ')}`);
          else
            assert.ok(!list.some((a) => /[`"]samples[`"]/.test(a)), `${dialect}: reads samples without assigning it? ${list.join(' | ')}`);
        }
      }
    }
  });

  it('the parts table is one of the tables the catalog covers', () => {
    for (const dialect of ['mysql', 'sqlite'] as const) {
      assert.deepEqual(tablesOfMigrationSet(sensorsMigrations, dialect), [
        'sensor_data',
        'aggregated_sensor_data',
        'aggregated_sensor_parts',
      ]);
    }
  });
});
