import assert from 'node:assert/strict';
import { INSTANCE_LABEL_MAX, instanceIdentity } from '../../lib/instance-identity';

describe('instance identity', () => {
  it('is IOTP_INSTANCE_ID when set, else host name and user directory (the MQTT client id is derived from it unchanged)', () => {
    assert.equal(instanceIdentity({ IOTP_INSTANCE_ID: 'a' }, 'host', '/data').id, 'a');
    assert.equal(instanceIdentity({}, 'host', '/data').id, 'host:/data');
    assert.equal(instanceIdentity({ IOTP_INSTANCE_ID: '' }, 'host', '/data').id, 'host:/data', 'empty counts as unset');
  });

  it('labels a plain IOTP_INSTANCE_ID as itself', () => {
    for (const name of ['a', 'b', 'node-red-0', 'pod.ns_1:x@y', 'x'.repeat(64)])
      assert.equal(instanceIdentity({ IOTP_INSTANCE_ID: name }, 'h', '/d').label, name);
  });

  it('hashes anything else into # and 16 hex digits: stable, short, never the user directory', () => {
    const fallback = instanceIdentity({}, 'host', '/home/alice/.node-red');
    assert.match(fallback.label, /^#[0-9a-f]{16}$/);
    assert.ok(!fallback.label.includes('alice'));
    assert.equal(instanceIdentity({}, 'host', '/home/alice/.node-red').label, fallback.label, 'same inputs, same label');
    assert.notEqual(instanceIdentity({}, 'host', '/home/bob/.node-red').label, fallback.label, 'another user directory, another label');
    for (const name of ['x'.repeat(65), 'with space', 'tab\there', 'ümlaut', '#a', '-dash-first', 'semi;colon']) {
      const { id, label } = instanceIdentity({ IOTP_INSTANCE_ID: name }, 'h', '/d');
      assert.equal(id, name);
      assert.match(label, /^#[0-9a-f]{16}$/, name);
    }
    assert.notEqual(
      instanceIdentity({ IOTP_INSTANCE_ID: 'a b' }, 'h', '/d').label,
      instanceIdentity({ IOTP_INSTANCE_ID: 'a c' }, 'h', '/d').label,
    );
  });

  it('never gives an empty label or one longer than the column', () => {
    for (const env of [{}, { IOTP_INSTANCE_ID: 'a' }, { IOTP_INSTANCE_ID: 'é'.repeat(200) }]) {
      const { label } = instanceIdentity(env, '', '');
      assert.ok(label.length > 0 && label.length <= INSTANCE_LABEL_MAX, label);
    }
  });
});
