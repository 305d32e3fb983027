/**
 * Property: for random sequences of deliveries, outages and restarts (close + reopen on the same
 * journal), every delivery is answered exactly once, and every row is either committed exactly
 * once, in arrival order, or reported (dropped / refused / failed) to its delivery.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { RowWriter, OverflowPolicy } from '../../../lib/writer';
import { FakeDatabase } from './fake-db';
import { Deliveries, makeWriter, until, type Outcome } from './helpers';
import { makeTempDir, removeTempDir } from '../../support/tmp';

type Command = { type: 'write'; rows: number } | { type: 'down' } | { type: 'up' } | { type: 'wait'; ms: number } | { type: 'restart' };

const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ type: fc.constant('write' as const), rows: fc.integer({ min: 1, max: 6 }) }) },
  { weight: 1, arbitrary: fc.constant({ type: 'down' as const }) },
  { weight: 1, arbitrary: fc.constant({ type: 'up' as const }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 8 }) }) },
  { weight: 1, arbitrary: fc.constant({ type: 'restart' as const }) },
);

const setup = fc.record({
  overflow: fc.constantFrom<OverflowPolicy>('backpressure', 'reject-new', 'drop-oldest'),
  journal: fc.boolean(),
  maxBufferedRows: fc.integer({ min: 3, max: 20 }),
  maxJournalBytes: fc.constantFrom(600, 3000, 1 << 20),
  batchSize: fc.integer({ min: 1, max: 8 }),
  maxInFlight: fc.constantFrom(1, 2),
});

describe('writer engine: property (random writes, outages, restarts)', function () {
  this.timeout(120_000);

  it('answers every delivery once; commits each accepted row once, in order, or reports it', async () => {
    await fc.assert(
      fc.asyncProperty(setup, fc.array(command, { minLength: 1, maxLength: 30 }), async (config, commands) => {
        const dir = makeTempDir('iotp-writer-prop-');
        // Every 11th row is refused by the database (a data error), to exercise bisection too.
        const isBad = (n: number): boolean => n % 11 === 7;
        const db = new FakeDatabase({ latencyMs: 1, badRow: (row) => (isBad(row.n as number) ? 'value out of range' : null) });
        const deliveries = new Deliveries();
        const options = {
          overflow: config.overflow,
          maxBufferedRows: config.maxBufferedRows,
          batchSize: config.batchSize,
          maxInFlight: config.maxInFlight,
          maxLatencyMs: 3,
          journalSyncMs: 2,
          retryInitialMs: 2,
          retryMaxMs: 10,
          ...(config.journal ? { journalDir: dir, maxJournalBytes: config.maxJournalBytes } : {}),
        };
        let writer: RowWriter = makeWriter(db, options);
        const sent: { ns: number[]; outcome: Promise<Outcome> }[] = [];
        let next = 0;
        try {
          for (const step of commands) {
            switch (step.type) {
              case 'write': {
                const ns = Array.from({ length: step.rows }, () => next++);
                sent.push({
                  ns,
                  outcome: deliveries.send(
                    writer,
                    ns.map((n) => ({ n, label: `r${n}` })),
                  ),
                });
                break;
              }
              case 'down':
                db.down = true;
                break;
              case 'up':
                db.down = false;
                break;
              case 'wait':
                await new Promise((resolve) => setTimeout(resolve, step.ms));
                break;
              case 'restart':
                await writer.close(2000);
                writer = makeWriter(db, options);
                break;
            }
          }
          db.down = false;
          const outcomes = await Promise.all(sent.map((s) => s.outcome));
          deliveries.assertAllAnsweredOnce();
          // Everything acknowledged as committed or journaled must reach the database.
          const expected = new Set<number>();
          sent.forEach((s, i) => {
            const r = outcomes[i].result;
            assert.equal(r.committed + r.journaled + r.dropped + r.failed + r.rejected.length, s.ns.length, 'every row accounted for');
            for (const rejected of r.rejected) assert.ok(isBad(s.ns[rejected.index]), `row ${s.ns[rejected.index]} wrongly rejected`);
            if (r.dropped + r.failed > 0) assert.ok(outcomes[i].err, 'a dropped/failed row comes with an error');
            if (r.dropped + r.failed === 0) s.ns.filter((n) => !isBad(n)).forEach((n) => expected.add(n));
          });
          await until(
            () => expected.size === 0 || [...expected].every((n) => db.rows.some((row) => row.n === n)),
            'acknowledged rows committed',
            10_000,
          );
          await until(() => writer.stats().journalRows === 0 && writer.stats().backlogRows === 0, 'writer drained', 10_000);
          const committed = db.column('n') as number[];
          assert.equal(new Set(committed).size, committed.length, `no row twice: ${committed.join(',')}`);
          sent.forEach((s, i) => {
            const r = outcomes[i].result;
            const stored = s.ns.filter((n) => committed.includes(n));
            assert.ok(stored.every((n) => !isBad(n)));
            // Journaled bad rows are refused at replay (with a warning): their caller was already answered.
            const badJournaled = s.ns.filter(isBad).length - r.rejected.length;
            assert.ok(
              stored.length <= r.committed + r.journaled && stored.length >= r.committed + r.journaled - badJournaled,
              `delivery ${i}: ${stored.length} rows stored, ${JSON.stringify(r)}`,
            );
          });
          if (config.maxInFlight === 1) {
            for (let i = 1; i < committed.length; i++) assert.ok(committed[i - 1] < committed[i], `order: ${committed.join(',')}`);
          }
        } finally {
          await writer.close(500);
          removeTempDir(dir);
        }
      }),
      { numRuns: Number(process.env.WRITER_PROPERTY_RUNS ?? 40) },
    );
  });
});
