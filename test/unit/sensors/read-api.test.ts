import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DEFAULT_LIMIT,
  escapeHtml,
  parseReadQuery,
  ReadApiError,
  readSql,
  renderHtml,
  renderRow,
  type ReadParameter,
} from '../../../lib/sensors/read-api';

function rejects(query: Record<string, unknown> | URLSearchParams, parameter: ReadParameter, reason: RegExp): void {
  assert.throws(
    () => parseReadQuery(query),
    (err: unknown) =>
      err instanceof ReadApiError &&
      err.status === 400 &&
      err.code === 'BAD_PARAMETER' &&
      err.parameter === parameter &&
      reason.test(err.reason),
    `expected ${parameter} ${reason}`,
  );
}

const T = Date.UTC(2024, 5, 14, 16) * 1000;

describe('sensors/read-api parameters', () => {
  it('defaults: no filter, skip 0, limit 100', () => {
    assert.deepEqual(parseReadQuery({}), { sensorId: null, startUs: null, endUs: null, skip: 0, limit: DEFAULT_LIMIT });
  });

  it('parses every parameter, from an object or URLSearchParams', () => {
    const expected = { sensorId: 3, startUs: T, endUs: T + 3600e6, skip: 20, limit: 1000 };
    const q = { sensor_id: '3', start_time: '2024-06-14T16:00:00', end_time: '2024-06-14T19:00:00+02:00', skip: '20', limit: '1000' };
    assert.deepEqual(parseReadQuery(q), expected);
    assert.deepEqual(parseReadQuery(new URLSearchParams(q)), expected);
  });

  it('reads times without offset as UTC, honours Z and offsets, accepts a bare date', () => {
    assert.equal(parseReadQuery({ start_time: '2024-06-14T16:00:00Z' }).startUs, T);
    assert.equal(parseReadQuery({ start_time: '2024-06-14' }).startUs, Date.UTC(2024, 5, 14) * 1000);
    assert.equal(parseReadQuery({ end_time: '2024-06-14T16:00:00.000001' }).endUs, T + 1);
  });

  it('treats empty values as absent and ignores unknown parameters', () => {
    assert.deepEqual(parseReadQuery({ sensor_id: '', limit: '', _: '12345', format: 'x' }), parseReadQuery({}));
  });

  it('rejects bad values with a reason', () => {
    rejects({ sensor_id: 'abc' }, 'sensor_id', /not a non-negative integer/);
    rejects({ sensor_id: '-1' }, 'sensor_id', /not a non-negative integer/);
    rejects({ sensor_id: '1.5' }, 'sensor_id', /not a non-negative integer/);
    rejects({ sensor_id: '2147483648' }, 'sensor_id', /outside/);
    rejects({ sensor_id: '1e3' }, 'sensor_id', /not a non-negative integer/);
    rejects({ skip: '-5' }, 'skip', /not a non-negative integer/);
    rejects({ skip: '10000001' }, 'skip', /outside/);
    rejects({ limit: '0' }, 'limit', /outside 1\.\.1000/);
    rejects({ limit: '1001' }, 'limit', /outside 1\.\.1000/);
    rejects({ limit: '99999999999999999999' }, 'limit', /not a non-negative integer/);
    rejects({ start_time: 'yesterday' }, 'start_time', /not a valid ISO 8601 time/);
    rejects({ end_time: '2024-02-30T00:00:00' }, 'end_time', /does not exist/);
    rejects({ start_time: '2024-06-15', end_time: '2024-06-14' }, 'start_time', /after end_time/);
    rejects({ sensor_id: ['1', '2'] }, 'sensor_id', /more than once/);
    rejects(new URLSearchParams('limit=5&limit=6'), 'limit', /more than once/);
    rejects({ limit: { $gt: 1 } }, 'limit', /single text value/);
  });

  it('allows start == end (an empty half-open range)', () => {
    const q = parseReadQuery({ start_time: '2024-06-14T16:00:00', end_time: '2024-06-14T16:00:00' });
    assert.equal(q.startUs, q.endUs);
  });

  it('the error serialises to a JSON body naming the parameter', () => {
    try {
      parseReadQuery({ limit: 'x' });
      assert.fail('should throw');
    } catch (err) {
      assert.ok(err instanceof ReadApiError);
      assert.deepEqual(JSON.parse(JSON.stringify(err)), {
        error: 'limit: "x" is not a non-negative integer',
        code: 'BAD_PARAMETER',
        parameter: 'limit',
        reason: '"x" is not a non-negative integer',
      });
    }
  });

  it('never throws anything but ReadApiError for hostile query objects (property)', () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.constantFrom('sensor_id', 'start_time', 'end_time', 'skip', 'limit', 'other'),
          fc.oneof(fc.string(), fc.array(fc.string()), fc.anything()),
        ),
        (q) => {
          try {
            const r = parseReadQuery(q);
            assert.ok(r.limit >= 1 && r.limit <= 1000 && r.skip >= 0);
          } catch (err) {
            assert.ok(err instanceof ReadApiError, String(err));
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('sensors/read-api SQL', () => {
  it('builds the filtered, ordered, paged SELECT for MySQL', () => {
    const { sql, params } = readSql('mysql', 'data', { sensorId: 2, startUs: T, endUs: T + 1, skip: 10, limit: 5 });
    assert.equal(
      sql,
      'SELECT `id`, `sensor_id`, CAST(`timestamp` AS CHAR) AS `timestamp`, `value`, `lat`, `lng`, `unit`, `type`, `description` FROM `sensor_data` WHERE `sensor_id` = ? AND `timestamp` >= ? AND `timestamp` < ? ORDER BY `sensor_data`.`timestamp`, `sensor_data`.`id` LIMIT 5 OFFSET 10',
    );
    assert.deepEqual(params, [2, '2024-06-14 16:00:00.000000', '2024-06-14 16:00:00.000001']);
  });

  it('builds the SQLite SELECT for aggregates, with samples and without filters', () => {
    const { sql, params } = readSql('sqlite', 'aggregated_data', { sensorId: null, startUs: null, endUs: null, skip: 0, limit: 100 });
    assert.equal(
      sql,
      'SELECT "id", "sensor_id", "timestamp", "value", "lat", "lng", "unit", "type", "description", "samples" FROM "aggregated_sensor_data" ORDER BY "aggregated_sensor_data"."timestamp", "aggregated_sensor_data"."id" LIMIT 100 OFFSET 0',
    );
    assert.deepEqual(params, []);
  });

  it('refuses unvalidated paging numbers', () => {
    assert.throws(() => readSql('mysql', 'data', { sensorId: null, startUs: null, endUs: null, skip: 0, limit: 1.5 }), RangeError);
  });

  it('renders rows with ISO timestamps and numbers', () => {
    assert.deepEqual(
      renderRow({
        id: '7',
        sensor_id: 1,
        timestamp: '2024-06-14 16:00:00.123456',
        value: 23.5,
        lat: 10,
        lng: null,
        unit: 'C',
        type: 'temperature',
        description: 'x',
      }),
      {
        id: 7,
        sensor_id: 1,
        timestamp: '2024-06-14T16:00:00.123456Z',
        value: 23.5,
        lat: 10,
        lng: null,
        unit: 'C',
        type: 'temperature',
        description: 'x',
      },
    );
    const agg = renderRow({ id: 1, sensor_id: 1, timestamp: new Date(Date.UTC(2024, 5, 14, 16, 1)), value: 1, samples: 60 });
    assert.equal(agg.timestamp, '2024-06-14T16:01:00.000000Z');
    assert.equal(agg.samples, 60);
  });
});

describe('sensors/read-api HTML', () => {
  const hostile = `<script>alert("x")</script>' onmouseover='x' &amp; <img src=x onerror=alert(1)>`;

  it('escapes the five HTML-significant characters', () => {
    assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });

  it('never lets hostile strings from keys, values or the title become markup', () => {
    const html = renderHtml(hostile, {
      [hostile]: hostile,
      list: [hostile, 1, null],
      rows: [{ [hostile]: hostile, n: 1 }, { other: { deep: hostile } }],
    });
    assert.ok(!html.includes('<script>'), 'no script element');
    assert.ok(!/<img/i.test(html), 'no img element');
    assert.ok(!html.includes(`'x'`), 'quotes escaped');
    assert.ok(html.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'));
    assert.ok(html.includes('&amp;amp;'), 'an entity in the data is shown literally, not decoded');
    // The only tags are the page's own.
    const tags = new Set([...html.matchAll(/<\/?([a-zA-Z0-9]+)/g)].map((m) => m[1].toLowerCase()));
    for (const tag of tags)
      assert.ok(
        [
          'html',
          'head',
          'meta',
          'title',
          'style',
          'body',
          'h1',
          'table',
          'thead',
          'tbody',
          'tr',
          'th',
          'td',
          'ul',
          'li',
          'span',
          'code',
          'p',
        ].includes(tag),
        tag,
      );
    assert.ok(html.includes(`content="default-src 'none'; style-src 'unsafe-inline'"`), 'CSP forbids scripts');
  });

  it('escapes hostile text in any position (property)', () => {
    fc.assert(
      fc.property(fc.string(), fc.jsonValue(), (title, json) => {
        const html = renderHtml(`<${title}`, { value: json, text: `<script>${title}` });
        assert.ok(!html.includes('<script'), 'no raw script tag');
      }),
      { numRuns: 300 },
    );
  });

  it('renders an array of objects as one table with a column per key', () => {
    const html = renderHtml('Data', [
      { a: 1, b: 'x' },
      { a: 2, c: true },
    ]);
    assert.ok(html.includes('<thead><tr><th>a</th><th>b</th><th>c</th></tr></thead>'));
    assert.ok(html.includes('<title>Data</title>'));
  });

  it('bounds depth and length', () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 50; i++) deep = { d: deep };
    const html = renderHtml('deep', { deep, long: Array.from({ length: 1500 }, (_, i) => i) });
    assert.ok(html.includes('500 more'));
    assert.ok(html.includes('<code>'));
  });
});
