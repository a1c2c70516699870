import { CoracleError, messageOf } from '../errors.js';
import type { OciRuntime } from '../oci/runtime.js';
import { processStartTime } from '../util/process-start-time.js';
import { closePidfd, openPidfd, signalNumber, signalPidfd } from '../util/pidfd.js';

/**
 * Sends `signal` to a container's init process. The runtime's `kill` costs an exec (about
 * 9 ms of runc's start-up) and does no more than this for one process: it checks that the
 * pid is still the container's init by its start time, then signals it. Here a pidfd is
 * opened first and the start time read after: if it is the one recorded at create, the
 * pidfd holds that very process (a reused pid would show another start time), and the
 * signal cannot reach any other. A record without a start time (made before they were
 * kept), a signal this host has no number for, and `--all` (every process of the cgroup, which the runtime freezes first) go
 * through the runtime.
 */
export async function signalInit(c: { id: string; pid?: number; pidStartTime?: string }, signal: string, rt: OciRuntime, all = false): Promise<void> {
  const signo = signalNumber(signal);
  if (all || signo === undefined || c.pid === undefined || c.pidStartTime === undefined) {
    await rt.kill(c.id, signal, all);
    return;
  }
  const fd = openPidfd(c.pid);
  if (fd === undefined) return; // Exited and reaped: conmon has written, or is writing, its exit.
  try {
    if ((await processStartTime(c.pid)) !== c.pidStartTime) return;
    signalPidfd(fd, signo);
  } catch (err) {
    throw new CoracleError('INTERNAL', `container ${c.id}: signal ${signal}: ${messageOf(err)}`, { cause: err });
  } finally {
    closePidfd(fd);
  }
}
