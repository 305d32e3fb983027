import assert from 'node:assert/strict';
import { localSegments } from '../../../lib/time/zone';
import { parseLocal, resolveRepeated } from '../../../lib/isems/adopt';

const BERLIN = 'Europe/Berlin';
const local = (text: string): number => parseLocal(text)!;
const utc = (iso: string): string => new Date(iso).toISOString();

describe('ISEMS adoption: the repeated hour by insertion order', () => {
  const segments = localSegments(BERLIN, local('2023-10-29 00:00:00'), local('2023-10-30 00:00:00'));
  const row = (id: number, nodeId: string | null, text: string) => ({ id, nodeId, local: local(text), text });
  const toIso = (instants: Map<number, number>): Record<number, string> =>
    Object.fromEntries([...instants].map(([id, s]) => [id, new Date(s * 1000).toISOString()]));

  it("a node's rows are the first pass until its local time steps back, the second pass from there", () => {
    const instants = resolveRepeated(
      [
        row(1, 'A', '2023-10-29 02:10:00'),
        row(2, 'A', '2023-10-29 02:50:00'),
        row(3, 'A', '2023-10-29 02:05:00'),
        row(4, 'A', '2023-10-29 02:55:00'),
      ],
      segments,
    );
    assert.deepEqual(toIso(instants), {
      1: utc('2023-10-29T00:10:00Z'),
      2: utc('2023-10-29T00:50:00Z'),
      3: utc('2023-10-29T01:05:00Z'),
      4: utc('2023-10-29T01:55:00Z'),
    });
  });

  it('without a step back every row is the first pass; nodes (and no node) are judged apart', () => {
    const instants = resolveRepeated(
      [
        row(1, 'A', '2023-10-29 02:40:00'),
        row(2, 'B', '2023-10-29 02:10:00'),
        row(3, null, '2023-10-29 02:20:00'),
        row(4, 'B', '2023-10-29 02:15:00'),
      ],
      segments,
    );
    assert.deepEqual(toIso(instants), {
      1: utc('2023-10-29T00:40:00Z'),
      2: utc('2023-10-29T00:10:00Z'),
      3: utc('2023-10-29T00:20:00Z'),
      4: utc('2023-10-29T00:15:00Z'),
    });
  });
});
