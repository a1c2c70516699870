/**
 * bench/lib/teardown: a bench's run, torn down whatever happens. The first SIGINT/SIGTERM
 * stops the bench at its next checkInterrupted() (the call in flight ends, then the teardown
 * runs); a second one tears down at once.
 */
import { Cleanups } from './host.js';
import { optionsOrUsage } from './options.js';

/** Set by the first SIGINT/SIGTERM: the bench stops at its next call and tears down. */
let interrupted: NodeJS.Signals | undefined;

class Interrupted extends Error {
  constructor(signal: NodeJS.Signals) {
    super(`interrupted (${signal})`);
  }
}

export function checkInterrupted(): void {
  if (interrupted) throw new Interrupted(interrupted);
}

/**
 * Runs `body`, then every step of `cleanups`, and sets process.exitCode: 130 when
 * interrupted, 1 when `body` threw or a cleanup step failed, else 0.
 */
export async function runWithTeardown(cleanups: Cleanups, body: () => Promise<void>): Promise<void> {
  // One teardown, whoever asks first: a second signal must not run it again alongside.
  let teardown: Promise<string[]> | undefined;
  const tearDown = (): Promise<string[]> =>
    (teardown ??= cleanups.runAll().then((failures) => {
      for (const f of failures) console.error(`cleanup: ${f}`);
      return failures;
    }));
  let failed = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (!interrupted) {
      interrupted = signal;
      console.error(`${signal}: stopping after the call in flight, then cleaning up (again to clean up at once)`);
      return;
    }
    if (!teardown) console.error(`${signal}: cleaning up now`);
    void tearDown().then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await body();
  } catch (err) {
    failed = true;
    if (err instanceof Interrupted) console.error(err.message);
    else console.error(err);
  } finally {
    if ((await tearDown()).length > 0) failed = true;
  }
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.exitCode = interrupted ? 130 : failed ? 1 : 0;
}

/**
 * A bench's whole run: its options from `parse` (or why they are wrong and the usage, exit
 * code 2), then `body` with a Cleanups of its own, under runWithTeardown.
 */
export function runBench<O>(parse: () => O, usage: string, body: (options: O, cleanups: Cleanups) => Promise<void>): void {
  const o = optionsOrUsage(parse, usage);
  if (o === undefined) return;
  const cleanups = new Cleanups();
  runWithTeardown(cleanups, () => body(o, cleanups)).catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
