import { runCleanups } from './cleanup.js';
import { killAllDaemons } from './daemon.js';

export const mochaHooks = {
  async afterEach(this: Mocha.Context): Promise<void> {
    const failures = await runCleanups();
    if (failures.length > 0) throw new Error(`cleanup failed:\n${failures.join('\n')}`);
  },
};

// Should mocha itself die, no daemon started by the suite outlives it.
process.on('exit', killAllDaemons);
