import assert from 'node:assert/strict';
import { ArrivalRegistry, ConnectionWatch } from '../../lib/arrivals';

describe('arrivals: where rows may still be on their way into a database', () => {
  it('answers the earliest held-since time of the sources for that database and of database-less sources', () => {
    const registry = new ArrivalRegistry();
    assert.equal(registry.heldSince('db-a', 1000, 0), null, 'no sources: nothing held');
    registry.register({ database: 'db-a', heldSince: () => 500 });
    registry.register({ database: 'db-b', heldSince: () => 100 });
    registry.register({ database: 'db-a', heldSince: () => null });
    assert.equal(registry.heldSince('db-a', 1000, 0), 500, 'db-b holds nothing back for db-a');
    const ingest = { label: 'mqtt in "sensors"', heldSince: (): number | null => 300 };
    const unregister = registry.register(ingest);
    assert.equal(registry.heldSince('db-a', 1000, 0), 300, 'an ingest (no database) may feed any database');
    assert.deepEqual(registry.earliest('db-a', 1000, 0), { since: 300, source: ingest }, 'and the status can name it');
    unregister();
    assert.equal(registry.heldSince('db-a', 1000, 0), 500);
  });

  it('lets a successor registered under the same key replace a source; the old unregister then changes nothing', () => {
    const registry = new ArrivalRegistry();
    const unregisterOld = registry.register({ database: 'db', heldSince: () => 0 }, 'writer:1');
    assert.equal(registry.heldSince('db', 1000, 0), 0);
    registry.register({ database: 'db', heldSince: () => 700 }, 'writer:1');
    assert.equal(registry.size, 1);
    unregisterOld();
    assert.equal(registry.heldSince('db', 1000, 0), 700, "the redeployed node's registration stays");
  });

  it('counts only sources that feed the tables a reader names, in its database', () => {
    const registry = new ArrivalRegistry();
    const sensors = { database: 'db', tables: ['sensor_data'], label: 'db write "raw"', heldSince: (): number | null => 400 };
    const messages = { database: 'db', tables: ['messages', 'facts'], label: 'db write "messages"', heldSince: (): number | null => 100 };
    registry.register(sensors);
    registry.register(messages);
    assert.equal(registry.earliest({ database: 'db', tables: ['sensor_data'] }, 1000, 0)?.source, sensors);
    assert.equal(registry.earliest({ database: 'db', tables: ['facts'] }, 1000, 0)?.source, messages, 'a trigger-filled table');
    assert.equal(registry.earliest({ database: 'db' }, 1000, 0)?.source, messages, 'a reader that cannot tell its tables waits for all');
    assert.equal(registry.heldSince({ database: 'other', tables: ['sensor_data'] }, 1000, 0), null);
  });

  it('asks an ingest what its messages feed (only while it holds something); unknown means everything', () => {
    const registry = new ArrivalRegistry();
    let asked = 0;
    const statestream = new ConnectionWatch('mqtt in "statestream"', () => {
      asked++;
      return [
        { database: 'db', table: 'messages' },
        { database: 'db', table: 'facts' },
      ];
    });
    registry.register(statestream);
    assert.equal(
      registry.heldSince({ database: 'db', tables: ['sensor_data'] }, 1000, 0),
      null,
      'never connected, but it feeds other tables',
    );
    assert.equal(registry.heldSince({ database: 'db', tables: ['facts'] }, 1000, 0), 0);
    assert.equal(asked, 2);
    statestream.observe(true, 0);
    registry.heldSince({ database: 'db', tables: ['facts'] }, 5000, 1000);
    assert.equal(asked, 2, 'not asked while it holds nothing');
    registry.register(new ConnectionWatch('feeds nothing', () => []));
    assert.equal(
      registry.heldSince({ database: 'db', tables: ['sensor_data'] }, 1000, 0),
      null,
      'an ingest wired to no writer holds no table',
    );
    registry.register(new ConnectionWatch('unknown', () => undefined));
    assert.equal(
      registry.heldSince({ database: 'db', tables: ['sensor_data'] }, 1000, 0),
      0,
      'a path that cannot be followed may feed anything',
    );
  });

  it('ConnectionWatch: holds everything before the first connection, then since the loss for one settle delay after reconnecting', () => {
    const watch = new ConnectionWatch();
    assert.equal(watch.heldSince(10_000, 1000), 0, 'never connected: how long the broker has been collecting is unknown');
    watch.observe(true, 10_000);
    assert.equal(watch.heldSince(10_500, 1000), 0, 'the broker hands over its queue right after the connection');
    assert.equal(watch.heldSince(11_000, 1000), null, 'connected for a settle delay: caught up');
    watch.observe(true, 12_000);
    watch.observe(false, 20_000);
    assert.equal(watch.heldSince(25_000, 1000), 20_000, 'disconnected: messages since the loss wait at the broker');
    watch.observe(false, 26_000);
    assert.equal(watch.heldSince(27_000, 1000), 20_000, 'the loss time stays the first one');
    watch.observe(true, 30_000);
    assert.equal(watch.heldSince(30_999, 1000), 20_000);
    assert.equal(watch.heldSince(31_000, 1000), null);
    assert.equal(new ConnectionWatch().heldSince(0, 0), 0, 'a zero settle delay still waits for the first connection');
  });

  it('ConnectionWatch with a receive journal: its backlog holds too, while connected and after catching up', () => {
    let waiting: number | null = 15_000;
    const watch = new ConnectionWatch('journaled', undefined, () => waiting);
    assert.equal(watch.heldSince(10_000, 1000), 0, 'before the first connection the earlier time wins');
    watch.observe(true, 10_000);
    assert.equal(watch.heldSince(20_000, 1000), 15_000, 'connected and caught up with the broker, but the journal still holds messages');
    waiting = null;
    assert.equal(watch.heldSince(20_000, 1000), null, 'the flow finished with them');
    watch.observe(false, 30_000);
    waiting = 25_000;
    assert.equal(watch.heldSince(31_000, 1000), 25_000, 'the earlier of the journal and the connection loss');
  });
});
