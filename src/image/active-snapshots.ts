import { createHash, randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, rename } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { CoracleError, invalidArgument, isErrno, messageOf, notFound, withContext } from '../errors.js';
import type { Logger } from '../log.js';
import { writeFileDurable } from '../util/atomic-write.js';
import { readRegularFile } from '../util/bounded-read.js';
import type { Mount } from '../util/mounts.js';
import { markTopDir } from '../util/top-dir.js';
import { removeTree, TreeRemovals } from './remove-tree.js';
import type { ActiveInfo } from './snapshotter.js';

/** The longest key taken: it is kept whole in the snapshot's info file. */
export const MAX_KEY_LENGTH = 4096;
/** An info file is a key, a parent and a time: anything larger is not one we wrote. */
const MAX_INFO_BYTES = 16 << 10;
const CHAIN_ID = /^sha256:[a-f0-9]{64}$/;
const KEY_DIR = /^[a-f0-9]{64}$/;

/** The committed side, as active snapshots need it: a parent chain's dirs, nearest first. */
export interface ParentChains {
  chainDirs(parent: string | undefined, partial: false): Promise<string[]>;
}

/**
 * Active (writable) and view (read-only) snapshots, each `<root>/<sha256(key)>/` with its
 * info.json (key, parent, kind, created) and, for an active one, `fs` (the overlay upper dir)
 * and `work`. The key is hashed: a key is never a path. Each is made in a `tmp-` staging dir
 * and renamed into place with its info written durably, so one that exists is complete; init
 * removes the `tmp-` dirs a daemon stopped half-way left. Their infos are kept in memory.
 */
export class ActiveSnapshots {
  private readonly infos = new Map<string, ActiveInfo>();
  /** One change of a key at a time: a retried prepare waits for the first, then finds it. */
  private readonly locks = new Map<string, Promise<void>>();
  private readonly removals: TreeRemovals;

  constructor(
    readonly root: string,
    private readonly parents: ParentChains,
    private readonly log?: Logger,
  ) {
    this.removals = new TreeRemovals({ log });
  }

  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    // Each snapshot's files in a block group of their own, not among inodes just freed (util/top-dir.ts).
    markTopDir(this.root);
    for (const name of await readdir(this.root)) {
      if (name.startsWith('tmp-')) {
        await removeTree(this.root, name);
        continue;
      }
      if (!KEY_DIR.test(name)) continue;
      const info = await this.readInfo(name).catch((err: unknown) => messageOf(err));
      // Never deleted: it may hold a container's files. Left for whoever looks.
      if (typeof info === 'string') this.log?.error('active snapshot unreadable: left as it is, not listed', { dir: join(this.root, name), reason: info });
      else this.infos.set(info.key, info);
    }
  }

  private async readInfo(name: string): Promise<ActiveInfo> {
    const doc = JSON.parse((await readRegularFile(join(this.root, name, 'info.json'), { max: MAX_INFO_BYTES, what: 'snapshot info', code: 'DATA_LOSS' })).toString('utf8')) as Partial<ActiveInfo>;
    const { key, parent, kind, created } = doc;
    if (typeof key !== 'string' || (kind !== 'active' && kind !== 'view') || typeof created !== 'string' || (parent !== undefined && typeof parent !== 'string')) {
      throw new Error('not an active snapshot info');
    }
    if (hashOf(key) !== name) throw new Error(`its key hashes to ${hashOf(key)}`);
    return { key, kind, created, ...(parent !== undefined ? { parent } : {}) };
  }

  private dir(key: string): string {
    return join(this.root, hashOf(key));
  }

  get(key: string): ActiveInfo | undefined {
    return this.infos.get(key);
  }

  list(): ActiveInfo[] {
    return [...this.infos.values()];
  }

  /** Runs `task` when no other change of `key` runs. */
  private serial<T>(key: string, task: () => Promise<T>): Promise<T> {
    const before = this.locks.get(key) ?? Promise.resolve();
    const run = before.then(task);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(key, tail);
    void tail.then(() => {
      if (this.locks.get(key) === tail) this.locks.delete(key);
    });
    return run;
  }

  /** An active or view snapshot `key` over `parent`; the same again is the same snapshot. */
  async make(key: string, parent: string | undefined, kind: 'active' | 'view'): Promise<Mount[]> {
    checkKey(key);
    return this.serial(key, async () => {
      const have = this.infos.get(key);
      if (have) {
        if (have.kind !== kind || have.parent !== parent) {
          throw new CoracleError('ALREADY_EXISTS', `snapshot ${JSON.stringify(key)}: exists as ${have.kind} over ${have.parent ?? 'nothing'}`);
        }
        return this.mountsOf(have);
      }
      // The parent chain must be whole before anything is made.
      await this.parents.chainDirs(parent, false);
      const info: ActiveInfo = { key, kind, created: new Date().toISOString(), ...(parent !== undefined ? { parent } : {}) };
      await this.place(info, kind === 'active' ? ['fs', 'work'] : []);
      return this.mountsOf(info);
    });
  }

  /** Makes the snapshot's dir in a staging dir and renames it into place; it is known from then on. */
  private async place(info: ActiveInfo, dirs: string[]): Promise<void> {
    const staging = join(this.root, `tmp-${hashOf(info.key)}-${randomBytes(4).toString('hex')}`);
    try {
      await mkdir(staging);
      await Promise.all(dirs.map((d) => mkdir(join(staging, d))));
      // Durable: after a power loss a snapshot's info names its key, or the snapshot is not there.
      await writeFileDurable(join(staging, 'info.json'), JSON.stringify(info) + '\n');
      await rename(staging, this.dir(info.key));
    } catch (err) {
      await removeTree(this.root, basename(staging)).catch(() => undefined);
      throw withContext(`snapshot ${JSON.stringify(info.key.slice(0, 100))}: make`, err);
    }
    this.infos.set(info.key, info);
  }

  async mounts(key: string): Promise<Mount[]> {
    const info = this.infos.get(key);
    if (!info) throw notFound(`snapshot ${JSON.stringify(key.slice(0, 100))}: no active or view snapshot`);
    return this.mountsOf(info);
  }

  /**
   * An active snapshot: an overlay of its parent chain under its own fs (upper) and work dirs,
   * or a read-write bind of its fs with no parent. A view: an overlay of lower dirs only, or a
   * read-only bind of its one layer (overlayfs wants two lower dirs without an upper).
   */
  private async mountsOf(info: ActiveInfo): Promise<Mount[]> {
    const lowers = await this.parents.chainDirs(info.parent, false);
    const dir = this.dir(info.key);
    if (info.kind === 'active') {
      if (lowers.length === 0) return [{ type: 'bind', source: join(dir, 'fs'), options: ['rbind', 'rw'] }];
      return [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${lowers.join(':')}`, `upperdir=${join(dir, 'fs')}`, `workdir=${join(dir, 'work')}`] }];
    }
    if (lowers.length === 1) return [{ type: 'bind', source: lowers[0]!, options: ['rbind', 'ro'] }];
    return [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${lowers.join(':')}`] }];
  }

  /** Forgotten at once, its dir renamed away and deleted after; none is no error. */
  remove(key: string): Promise<void> {
    return this.serial(key, async () => {
      this.infos.delete(key);
      await this.removals.removeLater(this.dir(key));
    });
  }

  /**
   * The active snapshot `key` of dirs made elsewhere (see Snapshotter.adopt). The snapshot's
   * dir is placed first with its info, then each dir renamed into it; a step a crash cut short
   * is done by the next call, one already done is passed over. Until then the snapshot exists
   * without its files: only recovery, before any request, adopts.
   */
  async adopt(key: string, parent: string | undefined, from: { upper: string; work: string }): Promise<void> {
    checkKey(key);
    return this.serial(key, async () => {
      const have = this.infos.get(key);
      if (have && (have.kind !== 'active' || have.parent !== parent)) {
        throw new CoracleError('ALREADY_EXISTS', `snapshot ${JSON.stringify(key)}: exists as ${have.kind} over ${have.parent ?? 'nothing'}`);
      }
      if (!have) await this.place({ key, kind: 'active', created: new Date().toISOString(), ...(parent !== undefined ? { parent } : {}) }, []);
      const dir = this.dir(key);
      for (const [src, name] of [[from.upper, 'fs'], [from.work, 'work']] as const) {
        try {
          // Over the empty dir a cut-short call may have made; a full one is ENOTEMPTY.
          if (await exists(src)) await rename(src, join(dir, name));
          else await mkdir(join(dir, name)).catch((err: unknown) => {
            if (!isErrno(err, 'EEXIST')) throw err;
          });
        } catch (err) {
          const why = isErrno(err, 'EXDEV') ? 'it is on another filesystem than the snapshots: move it by hand' : messageOf(err);
          throw new CoracleError('FAILED_PRECONDITION', `snapshot ${JSON.stringify(key)}: adopt ${src}: ${why}`, { cause: err });
        }
      }
    });
  }

  async settled(ms?: number): Promise<void> {
    await this.removals.settled(ms);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return false;
    throw err;
  }
}

function hashOf(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** A key names one snapshot: not empty, not too long, never a chain ID (a committed one's key). */
function checkKey(key: string): void {
  if (key.length === 0) throw invalidArgument('snapshot key: empty');
  if (key.length > MAX_KEY_LENGTH) throw invalidArgument(`snapshot key: ${key.length} characters, more than the ${MAX_KEY_LENGTH} allowed`);
  if (CHAIN_ID.test(key)) throw invalidArgument(`snapshot key ${key}: has a chain ID's form, which names a committed snapshot`);
}
