import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isErrno } from '../errors.js';
import { O_DIRECTORY, O_RDONLY } from '../util/at-syscalls.js';
import { removeAt } from '../util/in-root.js';
import { vforkSpawn } from '../util/vfork-spawn.js';

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
 * Removes `name` from `parent` in a child process, coreutils' `rm -rf --one-file-system`:
 * the daemon's event loop is not in it. Why: Node's recursive rm makes a few calls to libuv's
 * pool per file, each answered on the event loop, and stalls it besides: while an image layer
 * of 20,000 small files was deleted, the slowest of the Version calls made meanwhile took
 * 147-254 ms (3 runs), and 13-19 ms with rm, which also left room for a quarter more calls.
 * rm walks by fd (fts: no symlink followed, no PATH_MAX limit) and leaves alone what is
 * mounted inside; a spawn is about 0.2 ms of the loop (util/vfork-spawn). An rm that fails
 * is an error (the tree is left, for init); one that cannot be run (no rm on PATH) leaves
 * the work to removeTree.
 */
export async function removeTreeInChild(parent: string, name: string): Promise<void> {
  const path = join(parent, name);
  let child: ReturnType<typeof vforkSpawn>;
  try {
    child = vforkSpawn('rm', ['-rf', '--one-file-system', '--', path], { stdio: ['ignore', 'ignore', 'ignore'] });
  } catch {
    return removeTree(parent, name);
  }
  const ended = await child.wait();
  if (ended.code !== 0) throw new Error(`rm -rf ${path}: ${ended.signal ?? `exit status ${String(ended.code)}`}`);
}

/**
 * Trees renamed away in one step and deleted after: a crash half-way leaves a `tmp-` dir
 * that the owner's init collects, never a snapshot with its info file and half its files.
 * `remove` deletes one: removeTree in the daemon, for a container's writable layer (most
 * often a few files: a spawn made bench/lifecycle's RemoveContainer 2.0-2.1 ms instead of
 * 1.4), or removeTreeInChild, for an image's layer (hundreds of files or more).
 */
export class TreeRemovals {
  private readonly removing = new Set<Promise<void>>();

  constructor(private readonly remove: (parent: string, name: string) => Promise<void> = removeTree) {}

  /** Renames `path` to a `tmp-rm-` name beside it and deletes it in the background; false if absent. */
  async removeLater(path: string): Promise<boolean> {
    const doomed = join(dirname(path), `tmp-rm-${basename(path).slice(0, 64)}-${randomBytes(4).toString('hex')}`);
    try {
      await rename(path, doomed);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return false;
      throw err;
    }
    // Begun on the next turn of the event loop: the caller's answer does not wait for a spawn.
    const deleting: Promise<void> = new Promise<void>((r) => setImmediate(r))
      .then(() => this.remove(dirname(doomed), basename(doomed)))
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
