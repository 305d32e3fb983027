import assert from 'node:assert/strict';
import { DEFAULT_READINGS_QUERY } from '../../lib/connector/query';
import { findMigrationSet } from '../../lib/migrations';
import { normalizeTableName, tablesFedBy, tablesRead, triggerLineage } from '../../lib/sql-tables';

describe('sql tables: what a query reads and what triggers fill', () => {
  it("reads the connector's default query as reading sensor_data", () => {
    assert.deepEqual(tablesRead(DEFAULT_READINGS_QUERY), ['sensor_data']);
  });

  it('finds FROM lists, JOINs, aliases, schemas and quotes; not comments or strings', () => {
    assert.deepEqual(
      tablesRead(
        'SELECT * FROM `iot`.`Facts` f JOIN states AS s ON s.id = f.state_id LEFT JOIN "entities" e ON 1=1 WHERE x = \'from secret\' -- from comments\n/* join hidden */',
      ),
      ['facts', 'states', 'entities'],
    );
    assert.deepEqual(tablesRead('select a.x from a, b as bb, c where a.id = bb.id'), ['a', 'b', 'c']);
    assert.deepEqual(tablesRead('SELECT * FROM (SELECT * FROM sensor_data) AS t'), ['sensor_data']);
    assert.equal(tablesRead('SELECT 1'), undefined, 'no table named: the caller assumes any');
  });

  it('normalizes names as tables are compared', () => {
    assert.equal(normalizeTableName('`IoT`.`Sensor_Data`'), 'sensor_data');
    assert.equal(normalizeTableName('[dbo].[x]'), 'x');
    assert.equal(normalizeTableName('"messages"'), 'messages');
  });

  it('reads the shipped triggers: messages fill the statestream tables, parts fill the per-minute means', () => {
    const statements = (name: string): string[] => findMigrationSet(name)!.migrations.flatMap((m) => [...m.mysql, ...m.sqlite]);
    assert.deepEqual(tablesFedBy('messages', triggerLineage(statements('statestream'))).sort(), [
      'base_topics',
      'entities',
      'facts',
      'messages',
      'states',
    ]);
    assert.deepEqual(tablesFedBy('aggregated_sensor_parts', triggerLineage(statements('sensors'))).sort(), [
      'aggregated_sensor_data',
      'aggregated_sensor_parts',
    ]);
    assert.deepEqual(tablesFedBy('sensor_data', triggerLineage(statements('sensors'))), ['sensor_data']);
  });

  it('follows triggers through other triggers, and ignores ON DUPLICATE KEY UPDATE', () => {
    const lineage = triggerLineage([
      'CREATE TRIGGER t1 AFTER INSERT ON a FOR EACH ROW INSERT INTO b (x) VALUES (NEW.x) ON DUPLICATE KEY UPDATE x = VALUES(x)',
      'CREATE TRIGGER t2 AFTER INSERT ON b FOR EACH ROW BEGIN UPDATE c SET n = n + 1; DELETE FROM d WHERE 0; END',
    ]);
    assert.deepEqual(tablesFedBy('A', lineage).sort(), ['a', 'b', 'c', 'd']);
  });
});
