import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Socket } from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import { createRequire } from 'node:module';
import type { ExecStreamOptions, StdioSession } from './stdio-session.js';
import { setLongTimeout } from '../util/long-timeout.js';
import { failureOf, runToEnd, vforkSpawn, type Spawned } from '../util/vfork-spawn.js';
import { CoracleError, codeForToolMessage, messageOf } from '../errors.js';
import { runcRefusal } from './runc-refusals.js';
import { execFifoPath, startThroughExecFifo } from './exec-fifo.js';

/**
 * node-pty (a native addon) is loaded at the first exec with a terminal, not at start: most
 * daemons seldom run one. It is CommonJS, so a synchronous require serves here.
 */
let ptyModule: typeof import('node-pty') | undefined;
const pty = (): typeof import('node-pty') => (ptyModule ??= createRequire(import.meta.url)('node-pty') as typeof import('node-pty'));

export interface CreateOptions {
  id: string;
  bundle: string;
  /** CRI log file; conmon writes it in the CRI format. */
  logPath: string;
  /** conmon writes the exit code to `<exitDir>/<id>` when the container ends. */
  exitDir: string;
  /** conmon's per-container dir: `exit` and, after an OOM kill, `oom`. */
  persistDir: string;
  /** Where conmon makes the attach socket. */
  attachDir: string;
  stdin: boolean;
  stdinOnce: boolean;
  tty: boolean;
}

const CREATE_TIMEOUT_MS = 60_000;
/** As long as a `runc start` is given (run's timeout). */
const START_TIMEOUT_MS = 60_000;

/**
 * An OCI runtime (runc, crun) driven the way CRI-O drives it: `create` goes through conmon,
 * the per-container monitor that owns the container's stdio, writes its CRI log and records
 * its exit, and that outlives this daemon; start, kill, delete and state are the runtime's
 * own commands. conmon reports the created container's pid (or the runtime's error) on the
 * sync pipe, fd 3.
 */
export class OciRuntime {
  constructor(
    readonly name: string,
    private readonly runtimePath: string,
    private readonly root: string,
    private readonly conmonPath = 'conmon',
  ) {}

  private async run(args: string[], what: string): Promise<string> {
    const r = await runToEnd(this.runtimePath, [`--root=${this.root}`, ...args], { timeoutMs: 60_000, maxBuffer: 1 << 20 }).catch((err: unknown) => {
      throw new CoracleError('INTERNAL', `${what}: ${this.name}: ${messageOf(err)}`, { cause: err });
    });
    const failure = failureOf(this.runtimePath, r);
    if (failure === undefined) return r.stdout;
    if (r.killed === 'timeout') throw new CoracleError('DEADLINE_EXCEEDED', `${what}: ${this.name}: ${failure}`);
    const msg = (r.stderr || failure).trim().split('\n').pop()?.replace(/^time="[^"]*" level=\w+ msg=/, '') ?? '';
    throw new CoracleError(codeForToolMessage(msg) ?? runcRefusal(msg) ?? 'INTERNAL', `${what}: ${this.name}: ${msg}`);
  }

  create(o: CreateOptions): Promise<number> {
    const args = [
      '--api-version', '1',
      '-c', o.id,
      '-u', o.id,
      '-n', o.id,
      '-r', this.runtimePath,
      '-b', o.bundle,
      '-p', `${o.bundle}/pidfile`,
      '--conmon-pidfile', `${o.bundle}/conmon.pid`,
      '--exit-dir', o.exitDir,
      '--persist-dir', o.persistDir,
      '--socket-dir-path', o.attachDir,
      '-l', `k8s-file:${o.logPath}`,
      '--runtime-arg', `--root=${this.root}`,
      '--log-level', 'error',
    ];
    if (o.stdin) args.push('-i');
    if (o.stdin && !o.stdinOnce) args.push('--leave-stdin-open');
    if (o.tty) args.push('-t');
    return new Promise((resolve, reject) => {
      let child: Spawned;
      try {
        child = vforkSpawn(this.conmonPath, args, {
          env: { ...process.env, _OCI_SYNCPIPE: '3' },
          stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
          // conmon writes some files (an "oom" marker) to its working directory.
          cwd: o.bundle,
          // conmon must outlive the daemon: its own session, not our process group.
          setsid: true,
        });
      } catch (err) {
        reject(new CoracleError('INTERNAL', `container ${o.id}: create: conmon: ${messageOf(err)}`, { cause: err }));
        return;
      }
      // conmon forks at once and its first process exits: reaped as soon as it has.
      void child.wait().catch(() => undefined);
      let sync = '';
      let output = '';
      const [, stdout, stderr, pipe] = child.pipes as [undefined, Socket, Socket, Socket];
      const timer = setTimeout(() => fail(new CoracleError('DEADLINE_EXCEEDED', `container ${o.id}: create: conmon gave no answer in ${CREATE_TIMEOUT_MS / 1000} s`)), CREATE_TIMEOUT_MS);
      const fail = (err: Error): void => {
        clearTimeout(timer);
        for (const p of [stdout, stderr, pipe]) p.destroy();
        reject(err);
      };
      // The monitor keeps these after the answer: read (capped) while it has them, never waited for.
      const keep = (c: Buffer): void => {
        if (output.length < 64 << 10) output += c.toString();
      };
      for (const p of [stdout, stderr]) {
        p.on('data', keep);
        p.on('error', () => undefined);
        p.unref();
      }
      pipe.on('error', (err) => fail(new CoracleError('INTERNAL', `container ${o.id}: create: conmon's sync pipe: ${err.message}`)));
      pipe.on('data', (c: Buffer) => {
        sync += c.toString();
        const nl = sync.indexOf('\n');
        if (nl < 0) {
          if (sync.length > 64 << 10) fail(new CoracleError('INTERNAL', `container ${o.id}: create: conmon's answer is past 64 KiB`));
          return;
        }
        clearTimeout(timer);
        try {
          const doc = JSON.parse(sync.slice(0, nl)) as { data: number; message?: string };
          if (doc.data > 0) resolve(doc.data);
          else {
            const message = (doc.message ?? 'failed').trim();
            reject(new CoracleError(codeForToolMessage(message) ?? runcRefusal(message) ?? 'INTERNAL', `container ${o.id}: create: ${this.name}: ${message}`));
          }
        } catch (err) {
          reject(new CoracleError('INTERNAL', `container ${o.id}: create: conmon said ${JSON.stringify(sync)}: ${messageOf(err)}`));
        }
        pipe.destroy();
      });
      pipe.on('end', () => {
        if (!sync.includes('\n')) fail(new CoracleError(runcRefusal(output) ?? 'INTERNAL', `container ${o.id}: create: conmon exited without an answer${output ? `: ${output.trim()}` : ''}`));
      });
    });
  }

  /**
   * Lets the created container's process run. For runc, with the init's `pid` known, through
   * its exec FIFO (startThroughExecFifo: runc's start without the exec of runc); otherwise,
   * and whenever there is no FIFO to open, the runtime's own `start`.
   */
  async start(id: string, pid?: number, pidStartTime?: string): Promise<void> {
    if (pid !== undefined && basename(this.runtimePath) === 'runc') {
      if (await startThroughExecFifo(execFifoPath(this.root, id), id, pid, START_TIMEOUT_MS, pidStartTime)) return;
    }
    await this.run(['start', id], `container ${id}: start`);
  }

  async kill(id: string, signal: string, all = false): Promise<void> {
    await this.run(['kill', ...(all ? ['--all'] : []), id, signal], `container ${id}: kill ${signal}`);
  }

  async delete(id: string): Promise<void> {
    await this.run(['delete', '--force', id], `container ${id}: delete`).catch((err: unknown) => {
      if (!/does not exist/.test(messageOf(err))) throw err;
    });
  }

  /**
   * Starts `processFile` in the container and returns once it runs (runc exec --detach), its
   * stdio /dev/null: docker exec -d. runc's own failure (no such binary) is read from its log,
   * a file beside the pid file: its stderr would be the process's too, open as long as it runs.
   */
  async execDetached(id: string, processFile: string, pidFile: string): Promise<void> {
    const logFile = `${pidFile}.log`;
    try {
      const code = await new Promise<number | null>((resolve, reject) => {
        const child = spawn(this.runtimePath, [`--root=${this.root}`, '--log', logFile, '--log-format', 'json', 'exec', '--detach', '--process', processFile, '--pid-file', pidFile, id], { stdio: 'ignore' });
        child.on('error', (e) => reject(new CoracleError('INTERNAL', `container ${id}: exec: ${e.message}`)));
        child.on('exit', (c) => resolve(c));
      });
      if (code === 0) return;
      // The last error line runc logged, capped: a file of ours, but read no more than 64 KiB.
      const text = (await readFile(logFile).catch(() => Buffer.alloc(0))).subarray(-65536).toString('utf8');
      const errors = text.split('\n').flatMap((l) => {
        try {
          const r = JSON.parse(l) as { level?: string; msg?: string };
          return r.level === 'error' && r.msg ? [r.msg] : [];
        } catch {
          return [];
        }
      });
      throw new CoracleError('FAILED_PRECONDITION', `container ${id}: exec: ${this.name}: ${errors.at(-1) ?? `exited with ${code}`}`);
    } finally {
      await rm(logFile, { force: true });
    }
  }

  /**
   * Runs `processFile` (an OCI process spec) in the container and collects its output, at
   * most `maxOutput` bytes of each stream. Past `timeoutMs` the process is SIGKILLed (by
   * the pid runc reports) and the call fails: nothing is left running in the container.
   */
  exec(id: string, processFile: string, pidFile: string, timeoutMs: number, maxOutput: number): Promise<{ stdout: Buffer; stderr: Buffer; exitCode: number }> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.runtimePath, [`--root=${this.root}`, 'exec', '--process', processFile, '--pid-file', pidFile, id], { stdio: ['ignore', 'pipe', 'pipe'] });
      const closed = new Promise<void>((r) => child.once('close', () => r()));
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      const sizes = [0, 0];
      const collect = (into: Buffer[], i: 0 | 1) => (c: Buffer) => {
        const room = maxOutput - sizes[i]!;
        if (room <= 0) return;
        into.push(room >= c.length ? c : c.subarray(0, room));
        sizes[i] = sizes[i]! + Math.min(room, c.length);
      };
      child.stdout.on('data', collect(out, 0));
      child.stderr.on('data', collect(err, 1));
      let timedOut = false;
      // Not setTimeout: past 2^31-1 ms it fires after 1 ms.
      const cancelTimer = setLongTimeout(() => {
        timedOut = true;
        void killExec(pidFile, (signal) => child.kill(signal), closed);
      }, timeoutMs);
      child.on('error', (e) => reject(new CoracleError('INTERNAL', `container ${id}: exec: ${e.message}`)));
      child.on('close', (code, signal) => {
        cancelTimer();
        const stderr = Buffer.concat(err);
        if (timedOut) {
          reject(new CoracleError('DEADLINE_EXCEEDED', `container ${id}: exec: timed out after ${timeoutMs / 1000} s: the process was killed`));
          return;
        }
        // runc's own failures (no such container, no such binary) come as its log lines.
        const runcError = /^time="[^"]*" level=error msg="(.*)"$/m.exec(stderr.toString());
        if (code === 255 && runcError) {
          reject(new CoracleError('FAILED_PRECONDITION', `container ${id}: exec: ${this.name}: ${runcError[1]}`));
          return;
        }
        resolve({ stdout: Buffer.concat(out), stderr, exitCode: code ?? (signal ? 128 + 9 : 255) });
      });
    });
  }

  /**
   * Runs `processFile` in the container with its stdio live, for the streaming server. With
   * a terminal, `runc exec` runs on a pty of ours: runc makes the container-side console
   * itself and copies between the two, and passes our window size on at SIGWINCH, which a
   * resize of our pty raises (CRI-O does the same). When the client goes, the process is
   * killed as killExec does it.
   */
  execStream(id: string, processFile: string, pidFile: string, o: ExecStreamOptions): StdioSession {
    const args = [`--root=${this.root}`, 'exec', '--process', processFile, '--pid-file', pidFile, id];

    if (o.tty) {
      const [cols, rows] = o.size && o.size.width > 0 && o.size.height > 0 ? [o.size.width, o.size.height] : [80, 24];
      const term = pty().spawn(this.runtimePath, args, { cols, rows, encoding: null, env: process.env as Record<string, string> });
      const stdout = new PassThrough();
      term.onData((d: string | Buffer) => {
        if (!stdout.write(d)) term.pause();
      });
      stdout.on('drain', () => term.resume());
      const done = new Promise<number>((resolve) => {
        term.onExit(({ exitCode, signal }) => {
          stdout.end();
          resolve(signal ? 128 + signal : exitCode);
        });
      });
      const stdin = o.stdin
        ? new Writable({
            write(chunk: Buffer, _enc, cb) {
              term.write(chunk);
              cb();
            },
          })
        : undefined;
      return {
        ...(stdin ? { stdin } : {}),
        stdout,
        resize: ({ width, height }) => {
          if (width > 0 && height > 0) term.resize(width, height);
        },
        done,
        cancel: () => void killExec(pidFile, (signal) => term.kill(signal), done),
      };
    }
    const child = spawn(this.runtimePath, args, { stdio: [o.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    child.stdin?.on('error', () => undefined);
    const done = new Promise<number>((resolve, reject) => {
      child.on('error', (e) => reject(new CoracleError('INTERNAL', `container ${id}: exec: ${e.message}`)));
      child.on('close', (code, signal) => resolve(code ?? (signal ? 128 + 9 : 255)));
    });
    return {
      ...(child.stdin ? { stdin: child.stdin } : {}),
      stdout: child.stdout!,
      stderr: child.stderr!,
      resize: () => undefined,
      done,
      cancel: () => void killExec(pidFile, (signal) => child.kill(signal), done.catch(() => undefined)),
    };
  }

  /** Changes the limits of a created or running container (`runc update --resources`). */
  async update(id: string, resourcesFile: string): Promise<void> {
    await this.run(['update', '--resources', resourcesFile, id], `container ${id}: update resources`);
  }

}

/** Reap grace for runc once its process is killed; past it runc itself is killed. */
const REAP_GRACE_MS = 5_000;

/**
 * Ends an exec: SIGKILL to the process by the pid runc wrote (signalling runc would leave
 * it running), then runc is left to reap it and exit. Killing runc first would orphan the
 * process to the container's init, which need not reap it: a zombie left in the container.
 */
async function killExec(pidFile: string, killRunc: (signal: NodeJS.Signals) => void, exited: Promise<unknown>): Promise<void> {
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (pid > 0) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  const timer = setTimeout(() => killRunc('SIGKILL'), pid > 0 ? REAP_GRACE_MS : 0);
  await exited;
  clearTimeout(timer);
}
