import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { CoracleError, isErrno } from '../errors.js';

/** True when something accepts connections on the unix socket at `path`. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * The socket's parent with mode 0700: the socket itself can only be chmod-ed after bind, and
 * the parent is what closes that window.
 */
export async function ensureSocketDir(path: string): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}

/**
 * Removes a socket left by a killed daemon. Called with the socket's lock held, so no
 * coracle is behind it; one that still answers belongs to another program and is kept.
 */
export async function clearStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw err;
  }
  if (!isSocket) {
    throw new CoracleError('FAILED_PRECONDITION', `socket ${path}: exists and is not a socket`);
  }
  if (await answers(path)) {
    throw new CoracleError('FAILED_PRECONDITION', `socket ${path}: another program is listening on it`);
  }
  await unlink(path);
}

export async function removeSocket(path: string): Promise<void> {
  await unlink(path).catch((err: unknown) => {
    if (!isErrno(err, 'ENOENT')) throw err;
  });
}
