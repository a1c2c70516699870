import { resolve } from 'node:path';
import { fail, fcntl, libcLibrary } from './fs-syscalls.js';

/**
 * The V8 flags the daemon runs with, whoever starts it (systemd, scripts/setup.sh, the tests'
 * and benches' `node dist/src/cli/main.js serve`):
 * - `--max-semi-space-size=1`: V8's young generation grows to 2 x 16 MiB under load and
 *   keeps it; a daemon that allocates in short bursts per RPC gains nothing from it but 30
 *   MiB of RSS. bench/daemon at 1 MiB against 2 (with the flags below): 2 MiB less with 20
 *   pods up and after 100 came and went, no more CPU over the whole run (7.7 s against 8.6)
 *   and no larger old generation (14.1 MiB live against 15.0). An earlier measure, before
 *   the memory reducer and the bundle, had found more garbage promoted at 1 MiB.
 * - `--heap-growing-percent=15`: after a full GC the old generation may grow by 15% of what
 *   is live before the next, not V8's default of up to 4x for a small heap: the garbage of
 *   a pod's RPCs is collected before it piles up. bench/lifecycle (30 rounds, then 100 pods
 *   that come and go): 92 MiB of RSS at the end against 114 MiB without it, the RPC
 *   latencies unchanged. Pulls widen it while they run (util/heap-growth.ts).
 * - `--expose-gc`: for util/memory-reducer, which runs a full collection once a burst of
 *   work is over, so that what it grew is given back, and for util/young-collector, whose
 *   scavenges free a pull's dead Buffers as it goes (in the unpack workers too: V8's flags
 *   are the process's).
 * - `--no-turbofan`: no optimizing compiler while the daemon starts; serve turns it on once
 *   the daemon serves (util/optimizer-gate).
 * - `--no-sparkplug`: no baseline compiler, ever: a function runs in the interpreter until
 *   TurboFan optimizes it. Sparkplug compiles every function that runs a little (the start's
 *   code and each RPC's) to machine code that stays in the heap's code space. bench/lifecycle:
 *   a fresh daemon 57.1 MiB against 58.4, and after 100 pods came and went 68.1-68.3 MiB in 4
 *   runs against 69.2-73.7 in 4 without; Start and Teardown within 0.5 ms of each other (39.2
 *   and 19.5 ms against 39.3 and 19.0), bench/scale's ListPodSandboxStats (42.0 ms) and
 *   bench/pull's throughput within their run-to-run noise. The cost: calls that run only a
 *   few times on a cold daemon, as critest's ListImages and ImageStatus with its image
 *   benchmark first, take 0.03-0.05 ms more. Unlike TurboFan, turning it on once the daemon
 *   serves gave back only the start's part (fresh 57.6 MiB, after the pods 69.5-70.2).
 */
export const DAEMON_V8_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--heap-growing-percent=15', '--expose-gc', '--no-turbofan', '--no-sparkplug'];

/**
 * The environment the daemon runs with, set by the same re-execution (where the caller did
 * not set it): `MALLOC_ARENA_MAX=1`, one glibc malloc arena for every thread. Why: glibc
 * gives each thread that allocates while another holds the lock an arena of its own (up to
 * 8 per core), and V8's compiler and GC threads and libuv's pool allocate in bursts; those
 * arenas fragment and malloc_trim gives little of them back. bench/daemon, after 100 pods
 * came and went: 32.5 MiB of anonymous memory against 44.1 MiB with glibc's default (RSS
 * 79.9 against 91.4 MiB). The threads that allocate are few and short on this daemon: with
 * one lock, bench/pull and bench/scale moved no more than their noise between runs. The
 * programs the daemon starts (conmon, runc, the CNI plugins and helpers) inherit it, which
 * suits their few threads as well; a container's environment is its spec's alone.
 */
export const DAEMON_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '1' };

type Execve = (path: string, argv: (string | null)[], envp: (string | null)[]) => number;

const F_GETFD = 1;
const F_SETFD = 2;
const FD_CLOEXEC = 1;

/** The flags of `wanted` this process was not started with (on its command line or in NODE_OPTIONS). */
export function missingFlags(wanted: readonly string[], execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  // A flag the user set in NODE_OPTIONS, whatever its value, is left as they set it: the
  // command line would override it.
  const named = (flag: string): string => flag.split('=')[0]!;
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].map(named);
  return wanted.filter((f) => !given.includes(named(f)));
}

/**
 * Replaces this process with the same node and arguments, running `script` (the same one by
 * default) with `flags` added (execve: the pid stays, for systemd, kill and the tests; stdio
 * and the environment carry over, with the variables of `env` the environment lacks). V8
 * sizes its heap when the isolate is made, and glibc reads its tunables when it starts, so
 * neither can be applied to a running process (v8.setFlagsFromString takes the heap flags
 * and changes nothing). Returns when nothing is missing and the script is this one; throws when
 * execve fails, with the process as it was.
 *
 * Call it before anything else starts: a thread, a listener, an open file without CLOEXEC
 * (Node and libuv open theirs with it) or a lock would not survive the exec as it was meant.
 */
export function reexecWith(flags: readonly string[], script: string | undefined = process.argv[1], env: Readonly<Record<string, string>> = {}): void {
  const missing = missingFlags(flags, process.execArgv, process.env.NODE_OPTIONS);
  if (!script || (missing.length === 0 && resolve(script) === resolve(process.argv[1] ?? ''))) return;
  const libc = libcLibrary();
  const execve = libc.func('int execve(const char *path, const char **argv, const char **envp)') as Execve;
  const argv = [process.argv0, ...process.execArgv, ...missing, script, ...process.argv.slice(2), null];
  const envp = [...Object.entries({ ...env, ...process.env }).map(([k, v]) => `${k}=${v ?? ''}`), null];
  // Node opens its stdio close-on-exec: without this, the new process would start with no
  // stdin, stdout or stderr (its log, systemd's journal, the tests' pipe: gone).
  const stdio = [0, 1, 2].map((fd) => ({ fd, flags: fcntl(fd, F_GETFD) }));
  for (const { fd, flags } of stdio) if (flags >= 0 && (flags & FD_CLOEXEC) !== 0) fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
  execve(process.execPath, argv, envp);
  const err = (() => {
    try {
      fail('execve', process.execPath);
    } catch (e) {
      return e;
    }
  })();
  for (const { fd, flags } of stdio) if (flags >= 0) fcntl(fd, F_SETFD, flags);
  throw err;
}
