/** Shared helpers for the writer's unit tests. */
import assert from 'node:assert/strict';
import { RowWriter, type DeliveryResult, type RowWriterOptions } from '../../../lib/writer';
import type { FakeDatabase } from './fake-db';
import { makeTempDir, removeTempDir } from '../../support/tmp';

export interface Outcome {
  err: Error | null;
  result: DeliveryResult;
}

/** Tracks every delivery of a test and fails loudly if any callback fires twice. */
export class Deliveries {
  readonly outcomes: Outcome[][] = [];

  send(writer: RowWriter, rows: unknown): Promise<Outcome> {
    const calls: Outcome[] = [];
    this.outcomes.push(calls);
    return new Promise((resolve) => {
      writer.write(rows, (err, result) => {
        calls.push({ err, result });
        assert.equal(calls.length, 1, 'a delivery callback fired twice');
        resolve({ err, result });
      });
    });
  }

  /** Every delivery answered exactly once. */
  assertAllAnsweredOnce(): void {
    this.outcomes.forEach((calls, i) => assert.equal(calls.length, 1, `delivery ${i} answered ${calls.length} times`));
  }
}

export function makeWriter(db: FakeDatabase, options: Partial<RowWriterOptions> = {}): RowWriter {
  return new RowWriter({
    db,
    table: 'readings',
    columns: ['n', 'label'],
    retryInitialMs: 5,
    retryMaxMs: 20,
    warn: () => undefined,
    ...options,
  });
}

/** Waits (polling) until `condition` holds; fails after `timeoutMs` with `what`. */
export async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

export const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i);
export const rowsOf = (ns: number[]): { n: number; label: string }[] => ns.map((n) => ({ n, label: `r${n}` }));

export interface WriterFixture {
  /** A fresh temporary directory per test (journals), removed afterwards. */
  dir: string;
  /** Fresh per test. */
  deliveries: Deliveries;
  /** Registers a writer to be closed after the test; returns it. */
  track(writer: RowWriter): RowWriter;
}

/**
 * The set-up the writer suites share, per test: a temporary directory, a Deliveries, and the
 * writers to close afterwards. Call it inside describe(); read its fields inside the tests.
 */
export function writerFixture(prefix: string): WriterFixture {
  let writers: RowWriter[] = [];
  const fixture: WriterFixture = {
    dir: '',
    deliveries: new Deliveries(),
    track: (writer) => {
      writers.push(writer);
      return writer;
    },
  };
  beforeEach(() => {
    fixture.dir = makeTempDir(prefix);
    fixture.deliveries = new Deliveries();
    writers = [];
  });
  afterEach(async () => {
    for (const writer of writers) await writer.close(200);
    removeTempDir(fixture.dir);
  });
  return fixture;
}
