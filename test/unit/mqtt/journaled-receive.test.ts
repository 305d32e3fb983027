/**
 * The ingest's journal mode without Node-RED: a crash between a group's flush and its PUBACK
 * leaves messages both in the journal and unacknowledged at the broker, which delivers them again
 * (dup set, same packet identifier); the restarted node acknowledges that redelivery without a
 * second entry, so the journal's replay is the only copy. A QoS 2 message repeated before the
 * broker's PUBREL (our PUBREC lost in a broker restart) is journaled once too.
 */
import assert from 'node:assert/strict';
import type { ReceivedMessage } from '../../../lib/mqtt';
import { ReceiveJournal, type EntryInput, type JournalEntry } from '../../../lib/mqtt/receive-journal';
import { JournaledReceive } from '../../../nodes/iotp-mqtt-in/journaled-receive';
import { makeTempDir, removeTempDir } from '../../support/tmp';

function received(messageId: number, topic: string, payload: string, dup: boolean, settled: string[], qos: 1 | 2 = 1): ReceivedMessage {
  return {
    topic,
    payload: Buffer.from(payload),
    qos,
    retain: false,
    dup,
    properties: undefined,
    subscription: '#',
    messageId,
    ackId: `t:${messageId}`,
    settle: (outcome) => settled.push(`${messageId}:${outcome ?? 'committed'}`),
  };
}

function append(journal: ReceiveJournal, input: EntryInput): Promise<JournalEntry> {
  return new Promise((resolve, reject) => journal.append(input, (err, entry) => (err ? reject(err) : resolve(entry as JournalEntry))));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('ingest journal mode: messages the broker delivers again', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir('iotp-jr-');
  });
  afterEach(() => removeTempDir(dir));

  it('acknowledges the redelivery of an entry a crash left unacknowledged without journaling it again', async () => {
    // The earlier run: 11 was acknowledged (marked), 12 flushed but killed before its PUBACK.
    const earlier = new ReceiveJournal({ dir, maxBytes: 1 << 20, warn: () => undefined });
    const base = { qos: 1 as const, retain: false, dup: false, receivedAt: 0 };
    const acked = await append(earlier, { ...base, topic: 'a/x', payload: Buffer.from('one'), messageId: 11 });
    earlier.acknowledged([acked]);
    await append(earlier, { ...base, topic: 'a/y', payload: Buffer.from('two'), messageId: 12 });
    await earlier.close();

    const delivered: JournalEntry[] = [];
    const bypassed: ReceivedMessage[] = [];
    const settled: string[] = [];
    const receiver = new JournaledReceive({
      dir,
      maxBytes: 1 << 20,
      warn: () => undefined,
      error: (err) => assert.fail(err),
      deliver: (entry) => delivered.push(entry),
      bypass: (m) => bypassed.push(m),
    });
    try {
      receiver.receive(received(12, 'a/y', 'two', true, settled)); // the broker's redelivery of 12
      receiver.receive(received(11, 'a/x', 'other payload', true, settled)); // not what 11 was: a message of its own
      receiver.receive(received(12, 'a/y', 'two', true, settled)); // once recognised, a later one is new
      await sleep(50);
      assert.deepEqual(settled, ['12:journaled', '11:journaled', '12:journaled']);
      assert.equal(receiver.redeliveriesSkipped, 1);
      assert.equal(receiver.journal.stats().appended, 2, 'only the two new messages were journaled');
      // The journal hands out both earlier entries (replays) and the two new ones.
      assert.deepEqual(
        delivered.map((e) => [e.topic, e.payload.toString(), e.replayed]),
        [
          ['a/x', 'one', true],
          ['a/y', 'two', true],
          ['a/x', 'other payload', false],
          ['a/y', 'two', false],
        ],
      );
      assert.equal(bypassed.length, 0);
    } finally {
      await receiver.close();
    }
  });

  it('QoS 2: journals a message once however often the broker repeats it before its PUBREL', async () => {
    const delivered: JournalEntry[] = [];
    const settled: string[] = [];
    const receiver = new JournaledReceive({
      dir,
      maxBytes: 1 << 20,
      warn: () => undefined,
      error: (err) => assert.fail(err),
      deliver: (entry) => delivered.push(entry),
      bypass: () => assert.fail('nothing takes the path without the journal'),
    });
    try {
      receiver.receive(received(5, 'q/two', 'on', false, settled, 2));
      // Our PUBREC lost (connection cut while it was being journaled): the broker repeats it.
      receiver.receive(received(5, 'q/two', 'on', true, settled, 2));
      await sleep(50);
      assert.deepEqual(settled, ['5:journaled', '5:journaled'], 'both copies acknowledged (PUBREC), the repeat with the first');
      // Acknowledged, the PUBREC lost again (a broker restart): acknowledged at once, not journaled.
      receiver.receive(received(5, 'q/two', 'on', true, settled, 2));
      assert.deepEqual(settled.length, 3);
      receiver.qos2Released(5); // PUBREL: identifier 5 may name a new message now
      receiver.receive(received(5, 'q/two', 'on', false, settled, 2));
      await sleep(50);
      assert.equal(receiver.journal.stats().appended, 2, 'the first message once, then the new one');
      assert.equal(receiver.redeliveriesSkipped, 2);
      assert.deepEqual(
        delivered.map((e) => [e.topic, e.payload.toString(), e.qos]),
        [
          ['q/two', 'on', 2],
          ['q/two', 'on', 2],
        ],
      );
      // A session the broker did not resume: identifiers are void, so 5 is a new message again.
      receiver.sessionLost();
      receiver.receive(received(5, 'q/two', 'on', true, settled, 2));
      await sleep(50);
      assert.equal(receiver.journal.stats().appended, 3);
    } finally {
      await receiver.close();
    }
  });
});
