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
});
