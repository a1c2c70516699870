import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { readdir, rename, rm } from 'node:fs/promises';
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
 * With `calls` (TreeRemovals), the deletion waits, DELETE_AFTER_MS at a time, until a wait
 * ends with no call under way and none begun during it; at most this long after the first
 * removal of its batch.
 */
const QUIET_WAIT_MAX_MS = 5_000;

/** The daemon's calls, as a deletion that waits for a quiet moment sees them (util/call-count.ts). */
export interface QuietSource {
  readonly started: number;
  readonly underWay: number;
}

/**
 * How long an image layer's emptied top directory is kept once what it held is deleted (see
 * TreeRemovals' `keepTopsMs`): ext4 without a journal passes over an inode freed in the last
 * 60 s, 360 s while its inode table block is not written back (RECENTCY_MIN and
 * RECENTCY_DIRTY in fs/ext4/ialloc.c; util/top-dir.ts tells the cost). Why keep one: the
 * snapshots root is a top directory, so each new snapshot's directory goes to the block
 * group with the fewest directories among those with room, and a group whose snapshot was
 * just deleted has lost all of its own. The next pull's layers went there first, and each
 * file they made passed over every inode just freed. The emptied directory still counts for
 * its group, which then loses to one that holds none. bench/pull's image (8 layers of 500
 * small files and 4 big ones) pulled and removed 8 times by one daemon, a run of this build
 * and one of the build before, twice, alternating: the kernel's samples in that scan 297 and
 * 352 a run against 484 and 652, the pulls' median 1.00 and 1.11 s against 1.15 and 1.20.
 * Keeping every directory of the tree (its files deleted) did no better than the top alone.
 */
export const KEEP_EMPTIED_TOPS_MS = 360_000;

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
  /** When the batch's first tree was removed, and the calls begun by the timer's last arming. */
  private batchSince = 0;
  private callsSeen = 0;
  /** Emptied top dirs, each batch until its timer (keepTopsMs) deletes it. */
  private readonly kept = new Map<NodeJS.Timeout, readonly string[]>();

  private readonly remove: TreeDeleter;
  private readonly delayMs: number;
  private readonly keepTopsMs: number;
  private readonly log: Pick<Logger, 'warn'> | undefined;
  private readonly calls: QuietSource | undefined;
  private readonly quietWaitMaxMs: number;

  /**
   * `remove`: removeTreesHere by default; `delayMs`: DELETE_AFTER_MS; `keepTopsMs`: how long
   * each tree's emptied top dir stays after what it held is deleted (KEEP_EMPTIED_TOPS_MS for
   * image layers; 0, the default: the tree is deleted whole); `log`: where a failed deletion
   * is told; `calls`: the daemon's calls (util/call-count.ts), whose quiet moment a deletion
   * waits for, at most `quietWaitMaxMs` (QUIET_WAIT_MAX_MS); no calls: it begins after delayMs.
   */
  constructor(
    o: { remove?: TreeDeleter; delayMs?: number; keepTopsMs?: number; log?: Pick<Logger, 'warn'>; calls?: QuietSource; quietWaitMaxMs?: number } = {},
  ) {
    this.remove = o.remove ?? removeTreesHere;
    this.delayMs = o.delayMs ?? DELETE_AFTER_MS;
    this.keepTopsMs = o.keepTopsMs ?? 0;
    this.log = o.log;
    this.calls = o.calls;
    this.quietWaitMaxMs = o.quietWaitMaxMs ?? QUIET_WAIT_MAX_MS;
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
    if (!this.timer) {
      this.batchSince = Date.now();
      this.armQuiet();
    }
    return true;
  }

  private armQuiet(): void {
    this.callsSeen = this.calls?.started ?? 0;
    this.timer = setTimeout(() => this.whenQuiet(), this.delayMs);
  }

  /** The batch is deleted now, unless a call began during the wait or is under way (and the batch can wait longer). */
  private whenQuiet(): void {
    const busy = this.calls !== undefined && (this.calls.started !== this.callsSeen || this.calls.underWay > 0);
    if (busy && Date.now() - this.batchSince < this.quietWaitMaxMs) {
      this.armQuiet();
      return;
    }
    this.deleteBatch();
  }

  private deleteBatch(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const paths = this.batch;
    this.batch = [];
    if (paths.length > 0) this.track(paths, this.keepTopsMs > 0 ? this.emptyAndKeep(paths) : this.remove(paths));
  }

  private track(paths: readonly string[], deletion: Promise<void>): void {
    const deleting: Promise<void> = deletion
      // What a failed deletion left is collected by the next start's init.
      .catch((err: unknown) => {
        this.log?.warn('removed trees not deleted: the next start collects what is left', { paths, error: messageOf(err) });
      })
      .finally(() => this.removing.delete(deleting));
    this.removing.add(deleting);
  }

  /** Deletes what the dirs `paths` hold, and the dirs themselves keepTopsMs later. */
  private async emptyAndKeep(paths: readonly string[]): Promise<void> {
    // A dir that cannot be listed is deleted whole, at the end of the wait.
    const inside = (await Promise.all(paths.map((p) => readdir(p).then((names) => names.map((n) => join(p, n)), () => [])))).flat();
    if (inside.length > 0) await this.remove(inside);
    const timer: NodeJS.Timeout = setTimeout(() => this.deleteKept(timer), this.keepTopsMs).unref();
    this.kept.set(timer, paths);
  }

  private deleteKept(timer: NodeJS.Timeout): void {
    clearTimeout(timer);
    const paths = this.kept.get(timer);
    this.kept.delete(timer);
    if (paths) this.track(paths, this.remove(paths));
  }

  /**
   * Settles when every tree removed so far has been deleted (those waiting begin now, and
   * emptied top dirs go without their wait), or after `ms`: a deletion still running then
   * goes on without the caller (an rm child to its end; what one in the daemon leaves, the
   * next start's init collects).
   */
  async settled(ms?: number): Promise<void> {
    const all = (async (): Promise<void> => {
      // A tree being emptied keeps its top dir when that ends: one more round deletes it.
      for (;;) {
        this.deleteBatch();
        for (const timer of [...this.kept.keys()]) this.deleteKept(timer);
        if (this.removing.size === 0) return;
        await Promise.allSettled([...this.removing]);
      }
    })();
    await (ms === undefined ? all : settledWithin(all, ms));
  }
}
