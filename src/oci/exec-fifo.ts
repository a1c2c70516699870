import { close, constants, fstat, open } from 'node:fs';
import { readlink, unlink } from 'node:fs/promises';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { CoracleError, isErrno, messageOf } from '../errors.js';
import { O_CLOEXEC } from '../util/at-syscalls.js';
import { processStartTime } from '../util/process-start-time.js';

/**
 * `runc start` without runc: what the command does, done here, to save the ~10 ms it costs
 * to exec a Go binary on the path of every container start.
 *
 * runc's `create` leaves the container's init blocked in open(2) of `<root>/<id>/exec.fifo`
 * for writing; `runc start` (libcontainer's Container.exec) opens that FIFO for reading, reads
 * the one byte init writes, which lets init exec the user's process, and removes the FIFO:
 * from then on runc's state says "running" (a container whose FIFO exists is "created"). That
 * has been runc's protocol since 1.0 (2017). Only for runc; another runtime, or a runc
 * whose FIFO is not where it should be, is left to its own `start` (the caller's fallback).
 *
 * The FIFO is opened O_RDWR|O_NONBLOCK: that never blocks, and with a writer of our own the
 * read end sees no EOF in the window between runc create returning and init reaching its
 * open. While we wait, init is watched: one that died without writing fails the start, as
 * runc's "container process is already dead".
 */

/** How often the init is looked at while its byte has not come. runc's own interval. */
const LIVENESS_POLL_MS = 100;
/** How long the init is given, once let go, to exec the container's process. */
const EXEC_WAIT_MS = 1_000;

/** The FIFO of a runc container, under the runc root the daemon gave it. */
export function execFifoPath(runtimeRoot: string, id: string): string {
  return join(runtimeRoot, id, 'exec.fifo');
}

/**
 * Starts the container whose init is `pid` (started at `startTime`, when known) through its exec FIFO. Resolves false when there is
 * no FIFO to open (not a runc container in the created state: the caller runs the runtime's
 * own start, which says why); true once the process runs.
 */
export async function startThroughExecFifo(fifo: string, id: string, pid: number, timeoutMs: number, startTime?: string): Promise<boolean> {
  // What the init runs now (runc itself): the start returns once that has changed.
  const initExe = await readlink(`/proc/${pid}/exe`).catch(() => undefined);
  // A plain fd, no FileHandle: the Socket below owns it, and a FileHandle would close it again.
  let fd: number;
  try {
    // runc's own state dir under our root, no path of the container's: O_NOFOLLOW all the same.
    fd = await promisify(open)(fifo, constants.O_RDWR | constants.O_NONBLOCK | constants.O_NOFOLLOW | O_CLOEXEC);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return false;
    throw new CoracleError('INTERNAL', `container ${id}: start: open ${fifo}: ${messageOf(err)}`, { cause: err });
  }
  const isFifo = await promisify(fstat)(fd).then(
    (st) => st.isFIFO(),
    () => false,
  );
  if (!isFifo) {
    close(fd, () => undefined);
    return false;
  }
  // A pipe read through libuv (epoll), not the thread pool: no thread blocks while init is late.
  const pipe = new Socket({ fd, readable: true, writable: false });
  try {
    await new Promise<void>((resolve, reject) => {
      const deadline = Date.now() + timeoutMs;
      const fail = (err: Error): void => {
        settle();
        reject(err);
      };
      const poll = setInterval(() => {
        void processStartTime(pid).then((alive) => {
          // Gone, or (its start time known) a new process under a reused pid.
          if (alive === undefined || (startTime !== undefined && alive !== startTime)) fail(new CoracleError('FAILED_PRECONDITION', `container ${id}: start: its process ${pid} is already dead`));
          else if (Date.now() >= deadline) fail(new CoracleError('DEADLINE_EXCEEDED', `container ${id}: start: its process ${pid} did not take the start in ${timeoutMs / 1000} s`));
        }, (err: unknown) => fail(err instanceof Error ? err : new Error(String(err))));
      }, LIVENESS_POLL_MS);
      // Every way out stops the watch: a timer left behind would poll a dead pid for ever.
      const settle = (): void => clearInterval(poll);
      pipe.once('data', () => {
        settle();
        resolve();
      });
      pipe.once('error', (err) => {
        settle();
        reject(new CoracleError('INTERNAL', `container ${id}: start: read ${fifo}: ${err.message}`, { cause: err }));
      });
      pipe.once('end', () => {
        settle();
        reject(new CoracleError('INTERNAL', `container ${id}: start: ${fifo} closed with nothing read`));
      });
    });
  } finally {
    pipe.destroy();
  }
  // As runc: the FIFO gone is what makes the container "running" to runc's state.
  await unlink(fifo).catch((err: unknown) => {
    if (!isErrno(err, 'ENOENT')) throw new CoracleError('INTERNAL', `container ${id}: start: remove ${fifo}: ${messageOf(err)}`, { cause: err });
  });
  await execed(pid, initExe);
  return true;
}

/**
 * Until the init has exec'd the container's process (its /proc/PID/exe is no longer what it
 * was), has gone, or EXEC_WAIT_MS have passed; about a millisecond. `runc start` returned
 * after that, its own exit taking longer: a StopContainer right after StartContainer (critest
 * does one) would otherwise signal a pid 1 that is still runc, or a shell that has not set up
 * its handlers, and a pid 1 drops a signal it has no handler for: the stop then waits out its
 * whole timeout.
 */
async function execed(pid: number, initExe: string | undefined): Promise<void> {
  if (initExe === undefined) return;
  const deadline = Date.now() + EXEC_WAIT_MS;
  while (Date.now() < deadline) {
    const now = await readlink(`/proc/${pid}/exe`).catch(() => undefined);
    if (now !== initExe) return;
    await sleep(1);
  }
}
