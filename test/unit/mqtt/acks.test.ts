import assert from 'node:assert/strict';
import { AckTracker, settleAck, type InFlightPacket } from '../../../lib/mqtt/acks';

describe('mqtt ack tracker', () => {
  let sent: InFlightPacket[];
  let tracker: AckTracker;
  beforeEach(() => {
    sent = [];
    tracker = new AckTracker((p) => sent.push(p));
  });
  afterEach(() => tracker.dispose());

  it('acknowledges when the only consumer settles, once', () => {
    const p = tracker.track(7, 1, 1);
    const id = tracker.issue(p);
    assert.equal(tracker.inFlight, 1);
    assert.equal(settleAck(id), true);
    assert.equal(settleAck(id), false, 'idempotent');
    assert.equal(tracker.settle(id), false);
    assert.deepEqual(
      sent.map((s) => s.messageId),
      [7],
    );
    assert.equal(tracker.inFlight, 0);
    assert.equal(tracker.openCopies, 0);
  });

  it('waits for every consumer of a message', () => {
    const p = tracker.track(9, 2, 3);
    const ids = [tracker.issue(p), tracker.issue(p), tracker.issue(p)];
    assert.equal(new Set(ids).size, 3);
    tracker.settle(ids[1]!, 'journaled');
    tracker.settle(ids[0]!, 'rejected');
    assert.equal(sent.length, 0);
    tracker.settle(ids[2]!);
    assert.equal(sent.length, 1);
    assert.equal(sent[0]!.qos, 2);
    assert.equal(tracker.counts.rejected, 1);
  });

  it('settles in any order', () => {
    const ids = [1, 2, 3, 4].map((mid) => tracker.issue(tracker.track(mid, 1, 1)));
    for (const id of [ids[2], ids[0], ids[3], ids[1]]) tracker.settle(id!);
    assert.deepEqual(
      sent.map((s) => s.messageId),
      [3, 1, 4, 2],
    );
  });

  it('forgets everything on disconnect: late settles do nothing', () => {
    const p = tracker.track(1, 1, 1);
    const id = tracker.issue(p);
    tracker.forgetAll();
    assert.equal(tracker.inFlight, 0);
    assert.equal(settleAck(id), false);
    tracker.complete(p);
    assert.equal(sent.length, 0, 'no acknowledgement for a packet id of a closed connection');
    assert.equal(tracker.counts.forgotten, 1);
  });

  it('routes settleAck by id prefix across trackers and ignores junk', () => {
    const other = new AckTracker(() => undefined);
    try {
      const a = tracker.issue(tracker.track(1, 1, 1));
      const b = other.issue(other.track(1, 1, 1));
      assert.notEqual(a, b);
      assert.equal(settleAck(b), true);
      assert.equal(other.inFlight, 0);
      assert.equal(tracker.inFlight, 1);
      for (const junk of [undefined, null, 42, '', 'nope', 'mq999:1', {}, a + 'x']) assert.equal(settleAck(junk), false);
      assert.equal(tracker.inFlight, 1);
    } finally {
      other.dispose();
    }
  });
});
