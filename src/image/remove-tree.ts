import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isErrno, messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import { O_DIRECTORY, O_RDONLY } from '../util/at-syscalls.js';
import { removeAt } from '../util/in-root.js';
import { settledWithin } from '../util/settled-within.js';
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

/** Deletes the trees at `paths`, whole; a failure leaves what is left for the next start's init. */
export type TreeDeleter = (paths: readonly string[]) => Promise<void>;

/** removeTree for each of `paths`, one after the other, in the daemon. */
export async function removeTreesHere(paths: readonly string[]): Promise<void> {
  for (const path of paths) await removeTree(dirname(path), basename(path));
}

/**
 * Deletes `paths` in one child process, coreutils' `rm -rf --one-file-system`: the daemon's
 * event loop is not in it. Why: Node's recursive rm makes a few calls to libuv's pool per
 * file, each answered on the event loop, and stalls it besides: while an image layer of
 * 20,000 small files was deleted, the slowest of the Version calls made meanwhile took
 * 147-254 ms (3 runs), and 13-19 ms with rm, which also left room for a quarter more calls.
 * rm walks by fd (fts: no symlink followed, no PATH_MAX limit) and leaves alone what is
 * mounted inside; a spawn is about 0.2 ms of the loop (util/vfork-spawn). An rm that fails
 * is an error (what it left is left, for init); one that cannot be run (no rm on PATH)
 * leaves the work to removeTreesHere.
 */
export async function removeTreesInChild(paths: readonly string[]): Promise<void> {
  let child: ReturnType<typeof vforkSpawn>;
  try {
    child = vforkSpawn('rm', ['-rf', '--one-file-system', '--', ...paths], { stdio: ['ignore', 'ignore', 'ignore'] });
  } catch {
    return removeTreesHere(paths);
  }
  const ended = await child.wait();
  if (ended.code !== 0) throw new Error(`rm -rf ${paths.join(' ')}: ${ended.signal ?? `exit status ${String(ended.code)}`}`);
}

/**
 * How long after a tree is renamed away its deletion begins, with whatever else was removed
 * meanwhile: past the end of the call that removed it (RemoveImage renames an image's layers
 * one after the other, then answers: 1-4 ms in all), so that one rm takes them together and
 * does not compete with that call. critest with its image benchmark first (two layers each
 * removal), 3 runs each: RemoveImage took 3.4 ms (p50) this way, 3.7 with an rm per layer
 * begun at once, 3.0 with Node's rm in the daemon (containerd: 6.0).
 */
const DELETE_AFTER_MS = 20;

/**
 * Trees renamed away in one step and deleted after: a crash half-way leaves a `tmp-` dir
 * that the owner's init collects, never a snapshot with its info file and half its files.
 * `remove` deletes them: removeTreesHere for containers' writable layers, or
 * removeTreesInChild for image layers (hundreds of files or more). A container's layer is
 * most often a few files, and an rm for it costs more than it saves: begun at once it made
 * bench/lifecycle's RemoveContainer 2.0-2.1 ms instead of 1.4, and begun after the delay it
 * competed with the next pod's start on 2 cores (RunPodSandbox 7.6-9.5 ms against 6.7-7.0,
 * StartContainer 29.4-32.9 against 26.5-27.7).
 */
export class TreeRemovals {
  private readonly removing = new Set<Promise<void>>();
  /** Renamed away, not yet being deleted. */
  private batch: string[] = [];
  private timer: NodeJS.Timeout | undefined;

  private readonly remove: TreeDeleter;
  private readonly delayMs: number;
  private readonly log: Pick<Logger, 'warn'> | undefined;

  /** `remove`: removeTreesHere by default; `delayMs`: DELETE_AFTER_MS; `log`: where a failed deletion is told. */
  constructor(o: { remove?: TreeDeleter; delayMs?: number; log?: Pick<Logger, 'warn'> } = {}) {
    this.remove = o.remove ?? removeTreesHere;
    this.delayMs = o.delayMs ?? DELETE_AFTER_MS;
    this.log = o.log;
  }

  /** Renames `path` to a `tmp-rm-` name beside it and deletes it in the background; false if absent. */
  async removeLater(path: string): Promise<boolean> {
    const doomed = join(dirname(path), `tmp-rm-${basename(path).slice(0, 64)}-${randomBytes(4).toString('hex')}`);
    try {
      await rename(path, doomed);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return false;
      throw err;
    }
    this.batch.push(doomed);
    this.timer ??= setTimeout(() => this.deleteBatch(), this.delayMs);
    return true;
  }

  private deleteBatch(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const paths = this.batch;
    this.batch = [];
    if (paths.length === 0) return;
    const deleting: Promise<void> = this.remove(paths)
      // What a failed deletion left is collected by the next start's init.
      .catch((err: unknown) => {
        this.log?.warn('removed trees not deleted: the next start collects what is left', { paths, error: messageOf(err) });
      })
      .finally(() => this.removing.delete(deleting));
    this.removing.add(deleting);
  }

  /**
   * Settles when every tree removed so far has been deleted (those waiting begin now), or
   * after `ms`: a deletion still running then goes on without the caller (an rm child to its
   * end; what one in the daemon leaves, the next start's init collects).
   */
  async settled(ms?: number): Promise<void> {
    this.deleteBatch();
    const all = Promise.allSettled([...this.removing]);
    await (ms === undefined ? all : settledWithin(all, ms));
  }
}
