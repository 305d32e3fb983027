import assert from 'node:assert/strict';
import { Qos2Receipts } from '../../../lib/mqtt/qos2-receipts';

describe('QoS 2 receipts: one store per message between PUBLISH and PUBREL', () => {
  const payload = (text: string): Buffer => Buffer.from(text);

  it('stores the first copy, holds a repeat while it is being stored, acknowledges repeats once stored', () => {
    const receipts = new Qos2Receipts<string>();
    assert.equal(receipts.receive(7, 'a/b', payload('on'), 'first'), 'new');
    assert.equal(receipts.receive(7, 'a/b', payload('on'), 'repeat while storing'), 'held');
    assert.deepEqual(receipts.stored(7), ['repeat while storing'], 'the held copy is acknowledged with the first');
    assert.equal(receipts.receive(7, 'a/b', payload('on'), 'repeat after a reconnect'), 'stored');
    assert.equal(receipts.repeats, 2);
    assert.equal(receipts.size, 1);
  });

  it('frees the identifier at PUBREL: the same identifier then names a new message, even with the same content', () => {
    const receipts = new Qos2Receipts<string>();
    receipts.receive(7, 'a/b', payload('on'), 'first');
    receipts.stored(7);
    receipts.released(7);
    assert.equal(receipts.size, 0);
    assert.equal(receipts.receive(7, 'a/b', payload('on'), 'next message'), 'new');
  });

  it('takes a different topic or payload under a held identifier as a new message (never drops one)', () => {
    const receipts = new Qos2Receipts<string>();
    receipts.receive(7, 'a/b', payload('on'), 'first');
    receipts.stored(7);
    assert.equal(receipts.receive(7, 'a/b', payload('off'), 'other payload'), 'new');
    receipts.stored(7);
    assert.equal(receipts.receive(7, 'a/c', payload('off'), 'other topic'), 'new');
  });

  it('returns the held copies when the first could not be stored, and forgets everything when the session was not resumed', () => {
    const receipts = new Qos2Receipts<string>();
    receipts.receive(1, 't', payload('x'), 'first');
    receipts.receive(1, 't', payload('x'), 'held');
    assert.deepEqual(receipts.failed(1), ['held']);
    assert.equal(receipts.receive(1, 't', payload('x'), 'again'), 'new', 'a failed store leaves no receipt');
    receipts.stored(1);
    receipts.released(99); // an identifier it never saw: nothing happens
    receipts.clear();
    assert.equal(receipts.receive(1, 't', payload('x'), 'after a new session'), 'new');
  });
});
