// Mocha's spec output, plus one closing line in the plain 'N passed, N failed' form that CI
// reads whatever the runner.
import Mocha = require('mocha');

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
    super(runner, options);
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      const s = runner.stats;
      if (!s) return;
      process.stdout.on('drain', () => undefined);
      setImmediate(() =>
        console.log(`tests: ${s.passes} passed, ${s.failures} failed, ${s.pending} skipped`),
      );
    });
  }
}

export = SummaryReporter;
