import { closeSync } from 'node:fs';
import { constants } from 'node:os';
import { fail, libcFunctions } from './fs-syscalls.js';

/**
 * pidfd_open(2) and pidfd_send_signal(2) through koffi (glibc 2.36 wraps both): a pidfd
 * names one process for as long as it is held, where a bare pid can name another once the
 * first has been reaped. Node has neither call.
 */
interface PidfdCalls {
  open(pid: number, flags: number): number;
  send(pidfd: number, sig: number, info: null, flags: number): number;
}

const lib = libcFunctions<PidfdCalls>({
  open: 'int pidfd_open(int pid, unsigned int flags)',
  send: 'int pidfd_send_signal(int pidfd, int sig, void *info, unsigned int flags)',
});

/** A pidfd for `pid`, or undefined when there is no such process. The caller closes it. */
export function openPidfd(pid: number): number | undefined {
  const fd = lib().open(pid, 0);
  if (fd >= 0) return fd;
  const err = (() => {
    try {
      fail('pidfd_open', String(pid));
    } catch (e) {
      return e as NodeJS.ErrnoException;
    }
  })();
  if (err.code === 'ESRCH') return undefined;
  throw err;
}

/** A signal's number from its name ("SIGTERM", "TERM") or number ("15"); undefined if none. */
export function signalNumber(signal: string): number | undefined {
  if (/^[0-9]{1,2}$/.test(signal)) {
    const n = Number(signal);
    return n >= 1 && n <= 64 ? n : undefined;
  }
  const name = (signal.startsWith('SIG') ? signal : `SIG${signal}`) as NodeJS.Signals;
  return Object.hasOwn(constants.signals, name) ? constants.signals[name] : undefined;
}

/** Sends signal `signo` through `pidfd`; false when the process has already exited. */
export function signalPidfd(pidfd: number, signo: number): boolean {
  if (lib().send(pidfd, signo, null, 0) === 0) return true;
  try {
    fail('pidfd_send_signal', String(pidfd));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw e;
  }
}

export function closePidfd(pidfd: number): void {
  closeSync(pidfd);
}
