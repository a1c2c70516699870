/**
 * bench/lib/runs: a bench's runs, coracle and containerd alternating (coracle, containerd,
 * coracle, ... `--runs` of each), so that a change of load during the bench hits both alike.
 * Each run starts a fresh daemon on a temp dir of its own and is torn down whole (daemon,
 * pods, bridge, temp dir) before the next starts; the load average is printed before the
 * first run, between runs and after the last.
 */
import { Cleanups } from './host.js';
import { printLoad } from './loadavg.js';
import { checkInterrupted } from './teardown.js';

export type RuntimeName = 'coracle' | 'containerd';

export interface Runner<R> {
  name: RuntimeName;
  /** One run; what it starts goes into `cleanups`, torn down when it returns or throws. */
  run(cleanups: Cleanups, index: number): Promise<R>;
}

/**
 * `runs` runs of each runner, alternating in the order given; each run's results by runner.
 * `outer` tears down a run cut short (an error, Ctrl-C); a run that ends is torn down at
 * once, and a failed teardown fails the bench (a run must leave nothing for the next).
 */
export async function alternate<R>(outer: Cleanups, runs: number, runners: Runner<R>[]): Promise<Map<RuntimeName, R[]>> {
  const results = new Map<RuntimeName, R[]>(runners.map((r) => [r.name, []]));
  await printLoad('at the start');
  for (let i = 1; i <= runs; i++) {
    for (const runner of runners) {
      checkInterrupted();
      const label = `${runner.name} run ${i}/${runs}`;
      console.log(`\n### ${label}\n`);
      const cleanups = new Cleanups();
      outer.add(`tear down ${label}`, async () => {
        const failures = await cleanups.runAll();
        if (failures.length > 0) throw new Error(failures.join('; '));
      });
      let result: R | undefined;
      let error: unknown;
      try {
        result = await runner.run(cleanups, i);
      } catch (err) {
        error = err;
      }
      const failures = await cleanups.runAll();
      // The run's own error is the one to report; its teardown's failures are printed beside.
      if (error !== undefined) {
        for (const f of failures) console.error(`tear down ${label}: ${f}`);
        throw error instanceof Error ? error : new Error(`${label}: a non-Error was thrown`, { cause: error });
      }
      if (failures.length > 0) throw new Error(`tear down ${label}: ${failures.join('; ')}`);
      results.get(runner.name)!.push(result as R);
      await printLoad(`after ${label}`);
    }
  }
  return results;
}
