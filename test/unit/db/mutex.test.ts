import assert from 'node:assert/strict';
import { DatabaseError } from '../../../lib/db/errors';
import { LruMap } from '../../../lib/db/lru';
import { AsyncMutex } from '../../../lib/db/mutex';

describe('db/mutex: AsyncMutex', () => {
  it('grants in FIFO order and excludes concurrent holders', async () => {
    const mutex = new AsyncMutex();
    const order: string[] = [];
    let inside = 0;
    const critical = async (name: string): Promise<void> => {
      await mutex.acquire();
      try {
        inside++;
        assert.equal(inside, 1);
        order.push(name);
        await new Promise((resolve) => setImmediate(resolve));
      } finally {
        inside--;
        mutex.release();
      }
    };
    await Promise.all(['a', 'b', 'c', 'd'].map(critical));
    assert.deepEqual(order, ['a', 'b', 'c', 'd']);
    assert.equal(mutex.locked, false);
  });

  it('times out a waiter with a transient DB_LOCK_TIMEOUT and forgets it', async () => {
    const mutex = new AsyncMutex();
    await mutex.acquire();
    await assert.rejects(
      mutex.acquire(10, 'the test lock'),
      (err: unknown) =>
        err instanceof DatabaseError && err.kind === 'transient' && err.code === 'DB_LOCK_TIMEOUT' && /the test lock/.test(err.message),
    );
    assert.equal(mutex.waiting, 0);
    mutex.release();
    assert.equal(mutex.locked, false);
  });
});

describe('db/lru: LruMap', () => {
  it('evicts the least recently used entry beyond capacity', () => {
    const evicted: string[] = [];
    const lru = new LruMap<string, number>(2, (key) => evicted.push(key));
    lru.set('a', 1);
    lru.set('b', 2);
    assert.equal(lru.get('a'), 1);
    lru.set('c', 3);
    assert.deepEqual(evicted, ['b']);
    assert.equal(lru.get('b'), undefined);
    assert.equal(lru.size, 2);
    assert.throws(() => new LruMap(0), RangeError);
  });
});
