import { closeSync } from 'node:fs';
import { Socket } from 'node:net';
import { constants as osConstants } from 'node:os';
import { osErrorName } from './errno.js';
import { libcFunctions } from './fs-syscalls.js';
import { makePipe } from './pipe.js';

/**
 * Children started with glibc's posix_spawn (clone with CLONE_VM|CLONE_VFORK), not with
 * Node's child_process. libuv forks: the kernel copies the page tables of the whole daemon,
 * and the event loop waits for that and for the child's exec. Measured here, a spawn blocks
 * the loop 0.9 ms at 49 MiB of RSS, 3.4 ms at 99 MiB and 7.6 ms at 200 MiB, and a pod's life
 * has a dozen of them (the native helpers, conmon, runc). posix_spawn shares the parent's
 * memory until the exec: about 0.2 ms, whatever the daemon's size. No npm package spawns
 * this way (they all sit on child_process), hence this module.
 *
 * What libuv does for a child, done here: stdio as asked (a pipe of ours or /dev/null), every
 * other fd of the daemon closed by the exec (Node and libuv open theirs close-on-exec, and so
 * does pipe.ts), every signal back to its default and none blocked, and optionally a session
 * of its own. libuv reaps only the children it made: these are reaped here, with waitpid
 * WNOHANG at each SIGCHLD once they are waited for.
 */

/** glibc's flags (spawn.h). */
const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
const POSIX_SPAWN_SETSID = 0x80;
const WNOHANG = 1;
/** Room for glibc's posix_spawn_file_actions_t (80 bytes), posix_spawnattr_t (336) and sigset_t (128) on x86-64 and arm64. */
const OPAQUE_BYTES = 512;

type Ptr = Buffer;
interface Spawn {
  faInit(fa: Ptr): number;
  faDup2(fa: Ptr, fd: number, newfd: number): number;
  faOpen(fa: Ptr, fd: number, path: string, oflag: number, mode: number): number;
  faChdir(fa: Ptr, path: string): number;
  faDestroy(fa: Ptr): number;
  attrInit(attr: Ptr): number;
  attrFlags(attr: Ptr, flags: number): number;
  attrSigmask(attr: Ptr, set: Ptr): number;
  attrSigdefault(attr: Ptr, set: Ptr): number;
  attrDestroy(attr: Ptr): number;
  sigemptyset(set: Ptr): number;
  sigfillset(set: Ptr): number;
  spawnp(pid: Int32Array, file: string, fa: Ptr, attr: Ptr, argv: (string | null)[], envp: (string | null)[]): number;
  waitpid(pid: number, status: Int32Array, options: number): number;
}

const libc = libcFunctions<Spawn>({
  faInit: 'int posix_spawn_file_actions_init(void *fa)',
  faDup2: 'int posix_spawn_file_actions_adddup2(void *fa, int fd, int newfd)',
  faOpen: 'int posix_spawn_file_actions_addopen(void *fa, int fd, const char *path, int oflag, uint32_t mode)',
  faChdir: 'int posix_spawn_file_actions_addchdir_np(void *fa, const char *path)',
  faDestroy: 'int posix_spawn_file_actions_destroy(void *fa)',
  attrInit: 'int posix_spawnattr_init(void *attr)',
  attrFlags: 'int posix_spawnattr_setflags(void *attr, short flags)',
  attrSigmask: 'int posix_spawnattr_setsigmask(void *attr, const void *set)',
  attrSigdefault: 'int posix_spawnattr_setsigdefault(void *attr, const void *set)',
  attrDestroy: 'int posix_spawnattr_destroy(void *attr)',
  sigemptyset: 'int sigemptyset(void *set)',
  sigfillset: 'int sigfillset(void *set)',
  spawnp: 'int posix_spawnp(_Out_ int *pid, const char *file, const void *fa, const void *attr, const char **argv, const char **envp)',
  waitpid: 'int waitpid(int pid, _Out_ int *status, int options)',
});

/** How a child ended: its exit code, or the signal that killed it. */
export interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  /** Default: this process's environment. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** A session (and process group) of its own: kill of ours does not reach it. */
  setsid?: boolean;
  /**
   * fd n of the child for n = 0, 1, 2, ...: a pipe whose other end is returned in `pipes[n]`,
   * or /dev/null. stdin's pipe is for writing, the others' for reading.
   */
  stdio: readonly ('pipe' | 'ignore')[];
}

export interface Spawned {
  pid: number;
  /** Our end of each 'pipe' of `stdio`, by the child's fd number. */
  pipes: (Socket | undefined)[];
  /** Reaps the child (at its SIGCHLD, or within 100 ms) and says how it ended. */
  wait(): Promise<Ended>;
}

function signalName(n: number): NodeJS.Signals | null {
  for (const [name, num] of Object.entries(osConstants.signals)) if (num === n) return name as NodeJS.Signals;
  return null;
}

/** Decodes a wait status (sys/wait.h's macros). */
export function endedFrom(status: number): Ended {
  const sig = status & 0x7f;
  return sig === 0 ? { code: (status >> 8) & 0xff, signal: null } : { code: null, signal: signalName(sig) };
}

/** Children of ours not yet reaped, each with what to do when it has been. */
const unreaped = new Map<number, (status: number) => void>();

/** waitpid WNOHANG for each child not yet reaped: the ones that have ended are done with. */
function reapEnded(): void {
  const status = new Int32Array(1);
  for (const [pid, done] of unreaped) {
    const r = libc().waitpid(pid, status, WNOHANG);
    if (r === pid || r < 0) {
      unreaped.delete(pid);
      done(r === pid ? status[0]! : -1);
    }
  }
  if (unreaped.size === 0) stopWatching();
}

/**
 * SIGCHLD wakes the reaping (libuv's own handler reaps only its children, and signals of the
 * same kind may come as one: every child is looked at each time). A slow timer backs it up.
 */
const FALLBACK_MS = 100;
let fallback: NodeJS.Timeout | undefined;
function watch(): void {
  if (fallback) return;
  process.on('SIGCHLD', reapEnded);
  // Not unref'd: a child waited for keeps the process up until it is reaped.
  fallback = setInterval(reapEnded, FALLBACK_MS);
}
function stopWatching(): void {
  if (!fallback) return;
  process.off('SIGCHLD', reapEnded);
  clearInterval(fallback);
  fallback = undefined;
}

function reaper(pid: number): () => Promise<Ended> {
  let ended: Promise<Ended> | undefined;
  return () =>
    (ended ??= new Promise((resolve, reject) => {
      unreaped.set(pid, (status) => (status < 0 ? reject(Object.assign(new Error(`waitpid ${pid}: no such child`), { code: 'ECHILD' })) : resolve(endedFrom(status))));
      watch();
      // It may have ended already, before its SIGCHLD could be waited for.
      reapEnded();
    }));
}

/**
 * Starts `file` (looked up on PATH when it has no slash) with `args`. Throws, as Node's spawn
 * would, an error whose code is the errno (ENOENT, EACCES...) when it cannot be run.
 */
export function vforkSpawn(file: string, args: readonly string[], o: SpawnOptions): Spawned {
  const c = libc();
  const fa = Buffer.alloc(OPAQUE_BYTES);
  const attr = Buffer.alloc(OPAQUE_BYTES);
  const empty = Buffer.alloc(OPAQUE_BYTES);
  const full = Buffer.alloc(OPAQUE_BYTES);
  const ours: number[] = [];
  const theirs: number[] = [];
  let started = false;
  c.faInit(fa);
  c.attrInit(attr);
  try {
    o.stdio.forEach((kind, fd) => {
      if (kind === 'ignore') {
        c.faOpen(fa, fd, '/dev/null', fd === 0 ? 0 /* O_RDONLY */ : 1 /* O_WRONLY */, 0);
        ours.push(-1);
        return;
      }
      const [r, w] = makePipe();
      const [mine, child] = fd === 0 ? [w, r] : [r, w];
      ours.push(mine);
      theirs.push(child);
      c.faDup2(fa, child, fd);
    });
    if (o.cwd !== undefined) c.faChdir(fa, o.cwd);
    c.sigemptyset(empty);
    c.sigfillset(full);
    c.attrSigmask(attr, empty);
    c.attrSigdefault(attr, full);
    c.attrFlags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | (o.setsid ? POSIX_SPAWN_SETSID : 0));
    const env = o.env ?? process.env;
    const envp = [...Object.entries(env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`])), null];
    const pid = new Int32Array(1);
    const rc = c.spawnp(pid, file, fa, attr, [file, ...args, null], envp);
    if (rc !== 0) {
      const code = osErrorName(rc);
      throw Object.assign(new Error(`spawn ${file} ${code}`), { code, errno: -rc, syscall: `spawn ${file}`, path: file });
    }
    started = true;
    const pipes = ours.map((fd, n) => (fd < 0 ? undefined : new Socket({ fd, readable: n !== 0, writable: n === 0 })));
    return { pid: pid[0]!, pipes, wait: reaper(pid[0]!) };
  } finally {
    for (const fd of theirs) closeSync(fd);
    if (!started) for (const fd of ours) if (fd >= 0) closeSync(fd);
    c.faDestroy(fa);
    c.attrDestroy(attr);
  }
}

/** What a child run to its end left: its output (each capped) and how it ended. */
export interface Completed extends Ended {
  stdout: string;
  stderr: string;
  /** Killed by us: past its time, or past maxBuffer on a stream. */
  killed?: 'timeout' | 'maxBuffer';
}

export interface RunOptions {
  timeoutMs: number;
  /** Per stream, as execFile's. */
  maxBuffer: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/**
 * execFile through vforkSpawn: runs `file` to its end with stdin on /dev/null and collects
 * its stdout and stderr. Past `timeoutMs`, or past `maxBuffer` bytes on a stream, it is
 * SIGKILLed. Rejects only when it cannot be started; how it ended is the caller's to judge.
 */
export function runToEnd(file: string, args: readonly string[], o: RunOptions): Promise<Completed> {
  let child: Spawned;
  try {
    child = vforkSpawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(o.env ? { env: o.env } : {}), ...(o.cwd !== undefined ? { cwd: o.cwd } : {}) });
  } catch (err) {
    // As a rejection, never a throw: callers chain .catch() to say which step failed.
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
  let killed: Completed['killed'];
  const kill = (why: NonNullable<Completed['killed']>): void => {
    killed ??= why;
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone (not yet reaped: the pid is still ours)
    }
  };
  const collect = (pipe: Socket): Promise<string> =>
    new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      pipe.on('data', (c: Buffer) => {
        if (size + c.length > o.maxBuffer) {
          chunks.push(c.subarray(0, o.maxBuffer - size));
          size = o.maxBuffer;
          kill('maxBuffer');
          pipe.destroy();
          resolve(Buffer.concat(chunks).toString());
          return;
        }
        chunks.push(c);
        size += c.length;
      });
      const done = (): void => resolve(Buffer.concat(chunks).toString());
      pipe.once('end', done);
      pipe.once('close', done);
      // EPIPE and the like end the read: what came is what there is.
      pipe.once('error', done);
    });
  const timer = setTimeout(() => {
    kill('timeout');
    // A grandchild that holds the pipes open must not hold the call too.
    for (const pipe of child.pipes) pipe?.destroy();
  }, o.timeoutMs);
  return Promise.all([collect(child.pipes[1]!), collect(child.pipes[2]!)])
    .then(async ([stdout, stderr]) => ({ ...(await child.wait()), stdout, stderr, ...(killed ? { killed } : {}) }))
    .finally(() => clearTimeout(timer));
}

/** Why a completed run failed, in execFile's words, or undefined when it exited 0. */
export function failureOf(file: string, r: Completed): string | undefined {
  if (r.killed === 'timeout') return `${file}: timed out, killed`;
  if (r.killed === 'maxBuffer') return `${file}: output past its limit, killed`;
  if (r.signal) return `${file}: killed by ${r.signal}`;
  return r.code === 0 ? undefined : `${file}: exited with code ${r.code}`;
}
