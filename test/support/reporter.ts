/**
 * Mocha reporter: the usual spec output, plus the run's totals appended as one JSON line to the
 * file named by IOTP_TEST_TOTALS, so scripts/test.mjs can print one closing tally for all stages.
 */
import { appendFileSync } from 'node:fs';
import Mocha from 'mocha';

class TotalsReporter extends Mocha.reporters.Spec {
  constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
    super(runner, options);
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      const target = process.env.IOTP_TEST_TOTALS;
      if (!target || !this.stats) return;
      const { passes, failures, pending } = this.stats;
      appendFileSync(target, `${JSON.stringify({ passes, failures, pending })}\n`);
    });
  }
}

export = TotalsReporter;
