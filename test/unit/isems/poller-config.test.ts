import assert from 'node:assert/strict';
import { IsemsPoller, parseNodeList, pollerConfigFromEnv, readWatermarkSnapshot, resolveNodeUrl } from '../../../lib/isems/poller';

describe('isems poller: node addresses and configuration', () => {
  it('turns IPs and host:port into the node log URL, keeps full URLs', () => {
    assert.equal(resolveNodeUrl('10.36.158.33'), 'http://10.36.158.33/ISEMS/ffopenmppt.log');
    assert.equal(resolveNodeUrl(' solar-1.mesh:8080 '), 'http://solar-1.mesh:8080/ISEMS/ffopenmppt.log');
    assert.equal(resolveNodeUrl('fd00::1'), 'http://[fd00::1]/ISEMS/ffopenmppt.log');
    assert.equal(resolveNodeUrl('[fd00::1]:81'), 'http://[fd00::1]:81/ISEMS/ffopenmppt.log');
    assert.equal(resolveNodeUrl('http://127.0.0.1:9000/a/log.txt'), 'http://127.0.0.1:9000/a/log.txt');
    assert.equal(resolveNodeUrl('https://node.example/x'), 'https://node.example/x');
  });

  it('refuses empty, path-carrying, credential-carrying and non-http entries', () => {
    for (const bad of ['', '   ', '10.0.0.1/other', 'user@host', 'ftp://host/x', 'file:///etc/passwd', 'host:99999', 'a b']) {
      assert.throws(() => resolveNodeUrl(bad), { code: 'ISEMS_BAD_CONFIG' }, bad);
    }
  });

  it('splits ISEMS_ROUTER_IPS on commas, trimming and dropping empties and repeats', () => {
    assert.deepEqual(parseNodeList(' 10.0.0.1, 10.0.0.2,,10.0.0.1 ,'), ['10.0.0.1', '10.0.0.2']);
    assert.deepEqual(parseNodeList(undefined), []);
  });

  it('reads ISEMS_ROUTER_IPS and ISEMS_POLL_INTERVAL (default 60 s)', () => {
    assert.deepEqual(pollerConfigFromEnv({ ISEMS_ROUTER_IPS: '10.0.0.1,10.0.0.2:81' }), {
      nodes: ['10.0.0.1', '10.0.0.2:81'],
      intervalSeconds: 60,
    });
    assert.equal(pollerConfigFromEnv({ ISEMS_POLL_INTERVAL: '900' }).intervalSeconds, 900);
    for (const bad of ['0', '-5', 'often', '1e3', '0.5']) {
      assert.throws(() => pollerConfigFromEnv({ ISEMS_POLL_INTERVAL: bad }), { code: 'ISEMS_BAD_CONFIG' }, bad);
    }
    assert.throws(() => pollerConfigFromEnv({ ISEMS_ROUTER_IPS: '10.0.0.1,bad/entry' }), { code: 'ISEMS_BAD_CONFIG' });
  });

  it('refuses nonsense limits', () => {
    assert.throws(() => new IsemsPoller({ nodes: [], concurrency: 0 }), { code: 'ISEMS_BAD_CONFIG' });
    assert.throws(() => new IsemsPoller({ nodes: [], timeoutMs: -1 }), { code: 'ISEMS_BAD_CONFIG' });
    assert.throws(() => new IsemsPoller({ nodes: ['ok', 'not ok'] }), { code: 'ISEMS_BAD_CONFIG' });
  });

  it('keeps one target per URL and the entry as given for messages', () => {
    const poller = new IsemsPoller({ nodes: ['10.0.0.1', 'http://10.0.0.1/ISEMS/ffopenmppt.log', '10.0.0.2'] });
    assert.deepEqual(poller.nodes, [
      { node: '10.0.0.1', url: 'http://10.0.0.1/ISEMS/ffopenmppt.log' },
      { node: '10.0.0.2', url: 'http://10.0.0.2/ISEMS/ffopenmppt.log' },
    ]);
    poller.close();
  });
});

describe('isems poller: watermark snapshots', () => {
  it('exports plain JSON and restores it in a new poller', () => {
    const poller = new IsemsPoller({
      nodes: ['10.0.0.1'],
      watermarks: { version: 1, watermarks: { 'http://10.0.0.1/ISEMS/ffopenmppt.log': 1_700_000_000 } },
    });
    const json = JSON.stringify(poller.exportWatermarks());
    const restored = new IsemsPoller({ nodes: ['10.0.0.1'], watermarks: JSON.parse(json) });
    assert.equal(restored.watermarkOf('10.0.0.1'), 1_700_000_000);
    assert.equal(restored.watermarkOf('10.0.0.2'), undefined);
    poller.close();
    restored.close();
  });

  it('only ever moves a watermark forward on import', () => {
    const url = 'http://10.0.0.1/ISEMS/ffopenmppt.log';
    const poller = new IsemsPoller({ nodes: ['10.0.0.1'], watermarks: { version: 1, watermarks: { [url]: 200 } } });
    poller.importWatermarks({ version: 1, watermarks: { [url]: 100 } });
    assert.equal(poller.watermarkOf('10.0.0.1'), 200);
    poller.importWatermarks({ version: 1, watermarks: { [url]: 300 } });
    assert.equal(poller.watermarkOf('10.0.0.1'), 300);
    poller.close();
  });

  it('refuses snapshots that are not one, naming the problem', () => {
    for (const bad of [
      null,
      42,
      'x',
      {},
      { version: 2, watermarks: {} },
      { version: 1, watermarks: { a: 'soon' } },
      { version: 1, watermarks: { a: -1 } },
      { version: 1, watermarks: { a: 1.5 } },
    ]) {
      assert.throws(() => readWatermarkSnapshot(bad), { code: 'ISEMS_BAD_WATERMARKS' }, JSON.stringify(bad));
    }
    assert.deepEqual([...readWatermarkSnapshot({ version: 1, watermarks: { a: 5 } })], [['a', 5]]);
  });
});
