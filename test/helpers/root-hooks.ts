import { runCleanups } from './cleanup.js';
import { killAllDaemons } from './daemon.js';
import { portmapChainsPresent, removeIdlePortmapChains } from './portmap-chains.js';

/** Whether portmap's chains were on the machine before the suite (portmap-chains.ts). */
let portmapChainsBefore = true;

export const mochaHooks = {
  async beforeAll(): Promise<void> {
    portmapChainsBefore = await portmapChainsPresent();
  },
  async afterAll(): Promise<void> {
    // The suite's hostPort pods made them: they go, as everything else the suite made.
    if (!portmapChainsBefore) await removeIdlePortmapChains();
  },
  async afterEach(this: Mocha.Context): Promise<void> {
    const failures = await runCleanups();
    if (failures.length > 0) throw new Error(`cleanup failed:\n${failures.join('\n')}`);
  },
};

// Should mocha itself die, no daemon started by the suite outlives it.
process.on('exit', killAllDaemons);
