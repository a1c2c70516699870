import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isErrno } from '../errors.js';
import { O_DIRECTORY, O_RDONLY } from '../util/at-syscalls.js';
import { removeAt } from '../util/in-root.js';

/**
 * Removes `name` from `parent`. Node's recursive rm first (asynchronous: a big snapshot does
 * not stall the daemon's event loop), then the fd-based removeAt for what rm cannot do: a
 * layer can build a tree deeper than PATH_MAX, where rm fails with ENAMETOOLONG.
 */
export async function removeTree(parent: string, name: string): Promise<void> {
  try {
    await rm(join(parent, name), { recursive: true, force: true });
    return;
  } catch {
    /* below, by fd */
  }
  const fd = openSync(parent, O_RDONLY | O_DIRECTORY);
  try {
    removeAt(fd, name);
  } finally {
    closeSync(fd);
  }
}

/**
 * Trees renamed away in one step and deleted after: a crash half-way leaves a `tmp-` dir
 * that the owner's init collects, never a snapshot with its info file and half its files.
 */
export class TreeRemovals {
  private readonly removing = new Set<Promise<void>>();

  /** Renames `path` to a `tmp-rm-` name beside it and deletes it in the background; false if absent. */
  async removeLater(path: string): Promise<boolean> {
    const doomed = join(dirname(path), `tmp-rm-${basename(path).slice(0, 64)}-${randomBytes(4).toString('hex')}`);
    try {
      await rename(path, doomed);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return false;
      throw err;
    }
    const deleting: Promise<void> = removeTree(dirname(doomed), basename(doomed))
      // A failed deletion is left for the next start's init.
      .catch(() => undefined)
      .finally(() => this.removing.delete(deleting));
    this.removing.add(deleting);
    return true;
  }

  /** Settles when every tree removed so far has been deleted. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.removing]);
  }
}
