import assert from 'node:assert/strict';
import { localSegments, localToInstant, zoneOffsetMs, zoneTransitions } from '../../../lib/time/zone';
import { formatLocal, parseLocal } from '../../../lib/isems/adopt';

const BERLIN = 'Europe/Berlin';
const local = (text: string): number => parseLocal(text)!;
const utc = (iso: string): string => new Date(iso).toISOString();
const at = (ms: number): string => new Date(ms).toISOString();

describe('time zones: local wall-clock time to instants', () => {
  it("reads Berlin's offsets and its two changes a year", () => {
    assert.equal(zoneOffsetMs(BERLIN, Date.parse('2023-01-15T12:00:00Z')), 3_600_000);
    assert.equal(zoneOffsetMs(BERLIN, Date.parse('2023-07-15T12:00:00Z')), 7_200_000);
    const changes = zoneTransitions(BERLIN, Date.parse('2023-01-01T00:00:00Z'), Date.parse('2024-01-01T00:00:00Z'));
    assert.deepEqual(
      changes.map((c) => [at(c.at), c.before / 3_600_000, c.after / 3_600_000]),
      [
        [utc('2023-03-26T01:00:00Z'), 1, 2],
        [utc('2023-10-29T01:00:00Z'), 2, 1],
      ],
    );
  });

  it('maps ordinary local times to the one instant', () => {
    assert.equal(at(localToInstant(BERLIN, local('2023-01-15 12:00:00'))), utc('2023-01-15T11:00:00Z'));
    assert.equal(at(localToInstant(BERLIN, local('2023-07-15 12:00:00'))), utc('2023-07-15T10:00:00Z'));
    assert.equal(at(localToInstant(BERLIN, local('2023-10-29 01:59:59'))), utc('2023-10-28T23:59:59Z'));
    assert.equal(at(localToInstant(BERLIN, local('2023-10-29 03:00:00'))), utc('2023-10-29T02:00:00Z'));
  });

  it('the repeated hour (October): first pass at +02:00, second at +01:00', () => {
    assert.equal(at(localToInstant(BERLIN, local('2023-10-29 02:30:00'))), utc('2023-10-29T00:30:00Z'));
    assert.equal(at(localToInstant(BERLIN, local('2023-10-29 02:30:00'), 'second')), utc('2023-10-29T01:30:00Z'));
    const segments = localSegments(BERLIN, local('2023-10-29 00:00:00'), local('2023-10-30 00:00:00'));
    const repeated = segments.filter((s) => s.kind === 'repeated');
    assert.deepEqual(
      repeated.map((s) => [formatLocal(s.from), formatLocal(s.to)]),
      [['2023-10-29 02:00:00', '2023-10-29 03:00:00']],
    );
  });

  it('a local time that never happened (March) is read with the offset before the change', () => {
    assert.equal(at(localToInstant(BERLIN, local('2024-03-31 02:00:00'))), utc('2024-03-31T01:00:00Z'));
    assert.equal(at(localToInstant(BERLIN, local('2024-03-31 02:30:00'))), utc('2024-03-31T01:30:00Z'));
    assert.equal(
      at(localToInstant(BERLIN, local('2024-03-31 03:30:00'))),
      utc('2024-03-31T01:30:00Z'),
      'the same instant as 02:30: the one collision the adoption refuses',
    );
    assert.equal(at(localToInstant(BERLIN, local('2024-03-31 01:59:59'))), utc('2024-03-31T00:59:59Z'));
  });

  it('covers a long span with fixed and repeated segments, gaps folded into the segment before', () => {
    const segments = localSegments(BERLIN, local('2015-01-01 00:00:00'), local('2025-01-01 00:00:00'));
    assert.equal(segments.filter((s) => s.kind === 'repeated').length, 10);
    for (let i = 1; i < segments.length; i++) assert.equal(segments[i].from, segments[i - 1].to, 'no holes, no overlaps in local time');
  });
});
