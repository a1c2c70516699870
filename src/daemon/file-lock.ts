import { closeSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import koffi from 'koffi';
import { CoracleError } from '../errors.js';
import { flock } from '../util/fs-syscalls.js';

/**
 * An exclusive flock(2) on a file, held for the life of the process. The kernel drops it
 * when the process dies however it dies, so a lock left by a killed daemon is never stale;
 * Node has no flock of its own, hence koffi.
 */
const LOCK_EX = 2;
const LOCK_NB = 4;
const EWOULDBLOCK = 11;


export interface FileLock {
  readonly path: string;
  release(): void;
}

/**
 * Takes the lock at `path` and writes our pid into it, or fails naming the pid that holds
 * it. `what` says what the lock guards, for the message.
 */
export function acquireFileLock(path: string, what: string): FileLock {
  const fd = openSync(path, 'a+', 0o600);
  if (flock(fd, LOCK_EX | LOCK_NB) !== 0) {
    const errno = koffi.errno();
    closeSync(fd);
    if (errno === EWOULDBLOCK) {
      const holder = readFileSync(path, 'utf8').trim();
      throw new CoracleError(
        'FAILED_PRECONDITION',
        `${what} is in use by another coracle daemon${holder ? ` (pid ${holder})` : ''}: lock ${path} is held`,
      );
    }
    throw new CoracleError('INTERNAL', `${what}: flock ${path}: errno ${errno}`);
  }
  ftruncateSync(fd, 0);
  writeSync(fd, `${process.pid}\n`, 0);
  let held = true;
  return {
    path,
    release() {
      if (!held) return;
      held = false;
      // Closing the descriptor drops the flock; the file stays so that its inode is stable.
      closeSync(fd);
    },
  };
}
