/**
 * bench/lib/teardown: a bench's run, torn down whatever happens. The first SIGINT, SIGTERM or
 * SIGHUP stops the bench at its next checkInterrupted() (the call in flight ends, then the
 * teardown runs); a second one tears down at once. So does a reader of its output that goes
 * away (a pipe into `head`, a closed terminal): Node ignores SIGPIPE and reports the broken
 * pipe as an error on process.stdout or stderr, which, with no listener, ended the bench
 * there and then and left its daemons, mounts and temp dirs behind.
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
  // The bench's output is lost from here on (what is still written fails the same way, and
  // is dropped); the teardown runs as after a first signal.
  const onOutputError = (err: NodeJS.ErrnoException): void => {
    if (!interrupted) interrupted = err.code === 'EPIPE' ? 'SIGPIPE' : 'SIGHUP';
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);
  process.stdout.on('error', onOutputError);
  process.stderr.on('error', onOutputError);
  try {
    await body();
  } catch (err) {
    failed = true;
    if (err instanceof Interrupted) console.error(err.message);
    else console.error(err);
  } finally {
    if ((await tearDown()).length > 0) failed = true;
  }
  for (const s of signals) process.off(s, onSignal);
  process.stdout.off('error', onOutputError);
  process.stderr.off('error', onOutputError);
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
