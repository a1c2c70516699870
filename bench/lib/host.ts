/**
 * bench/lib/host: what every bench needs of the host. Teardown steps undone newest first,
 * child processes (started, stopped, their output kept), mounts under a dir, and processes
 * found by name.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { access, readdir, readFile } from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';

export const run = promisify(execFile);

export const START_TIMEOUT_MS = 30_000;

/** Teardown steps, undone newest first; each runs even when an earlier one fails. */
export class Cleanups {
  private readonly steps: { what: string; run: () => Promise<unknown> }[] = [];
  add(what: string, step: () => Promise<unknown>): void {
    this.steps.push({ what, run: step });
  }
  async runAll(): Promise<string[]> {
    const failures: string[] = [];
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      try {
        await step.run();
      } catch (err) {
        failures.push(`${step.what}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return failures;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves when the process has exited; SIGTERM first, SIGKILL after `graceMs`. */
export async function stopProcess(proc: ChildProcess, graceMs: number): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Keeps the last bytes of a child's output, to show when it fails. */
export function tail(proc: ChildProcess, limit = 8192): () => string {
  let log = '';
  const keep = (c: Buffer): void => {
    log = (log + c.toString('utf8')).slice(-limit);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  return () => log;
}

/**
 * Whether `name` is an executable on PATH. BENCH_WITHOUT=containerd (a comma-separated list)
 * has the benches take it as absent: coracle's figures alone, for a quick look while working.
 */
export async function onPath(name: string): Promise<boolean> {
  if ((process.env.BENCH_WITHOUT ?? '').split(',').includes(name)) return false;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      await access(join(dir, name), fsConstants.X_OK);
      return true;
    } catch {
      // next one
    }
  }
  return false;
}

/** Mount points under `dir`, deepest first, so that each can be unmounted before its parent. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((mp): mp is string => mp !== undefined)
    .map((mp) => mp.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((mp) => mp.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

export async function unmountAll(dir: string): Promise<void> {
  for (const mp of await mountsUnder(dir)) {
    // A mount still busy (a process left in it) is detached instead, so that the dir can go.
    await run('umount', [mp]).catch(() => run('umount', ['-l', mp]));
  }
}

/** Pids of the processes whose program is `name` (argv[0], or its last path part) and whose argv satisfies `match`. */
export async function processesNamed(name: string, match: (argv: string[]) => boolean): Promise<number[]> {
  const out: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (argv.at(-1) === '') argv.pop();
    const prog = argv[0] ?? '';
    if ((prog === name || prog.endsWith(`/${name}`)) && match(argv)) out.push(Number(entry));
  }
  return out;
}

/** Waits (at most `ms`) until no process whose /proc/PID/stat matches `stat` (a zombie of a name) is left. */
export async function zombiesReaped(stat: RegExp, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  const zombie = async (pid: string): Promise<boolean> => stat.test(await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => ''));
  while (Date.now() < deadline) {
    let any = false;
    for (const name of await readdir('/proc')) if (/^\d+$/.test(name) && (await zombie(name))) any = true;
    if (!any) return;
    await sleep(100);
  }
}
