import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { CoracleError, isErrno } from '../errors.js';
import { writeFileDurable } from '../util/atomic-write.js';
import { O_DIRECTORY, O_RDONLY } from '../util/at-syscalls.js';
import { removeAt } from '../util/in-root.js';
import { digestHex } from './digest.js';
import type { UnpackRequest, UnpackResult } from './unpack.js';

/** One unpacked layer: a directory that serves as an overlayfs lower dir. */
export interface SnapshotInfo {
  chainId: string;
  diffId: string;
  parent?: string;
  bytes: number;
  inodes: number;
}

export interface Snapshotter {
  /** The layer's directory, for overlay lowerdir. */
  dir(chainId: string): string;
  get(chainId: string): Promise<SnapshotInfo | undefined>;
  /**
   * Unpacks `blob` as the snapshot `chainId` over `parent`, checking that the tar's sha256 is
   * `diffId`. Concurrent calls for one chain ID share one unpack. With `lowerComplete`
   * false the parents may still be unpacking: a layer that needs them (a hardlink into them)
   * fails with NEEDS_LOWER_LAYERS and is unpacked again once they are there.
   */
  unpack(chainId: string, parent: string | undefined, diffId: string, blob: string, lowerComplete: boolean): Promise<SnapshotInfo>;
  remove(chainId: string): Promise<void>;
  list(): Promise<SnapshotInfo[]>;
}

/**
 * Removes `name` from `parent`. Node's recursive rm first (asynchronous: a big snapshot does
 * not stall the daemon's event loop), then the fd-based removeAt for what rm cannot do: a
 * layer can build a tree deeper than PATH_MAX, where rm fails with ENAMETOOLONG.
 */
async function removeTree(parent: string, name: string): Promise<void> {
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

export interface Unpacker {
  unpack(request: UnpackRequest): Promise<UnpackResult>;
}

/**
 * Layered snapshots by chain ID: every layer is unpacked once, into its own directory, and
 * shared by every image that has it. A layer is unpacked into a staging dir and renamed into
 * place with its info file, so a snapshot that exists is complete.
 */
export class DirSnapshotter implements Snapshotter {
  private readonly inflight = new Map<string, Promise<SnapshotInfo>>();
  /**
   * Info files read so far: a snapshot's info never changes once it exists (it is renamed
   * into place complete), so it is read from disk once, not at every collection.
   */
  private readonly infos = new Map<string, SnapshotInfo>();
  /** Trees renamed away by remove and still being deleted. */
  private readonly removing = new Set<Promise<void>>();
  /** Removes so far: a get that saw one start during its read does not cache what it read. */
  private removals = 0;

  constructor(
    /** The snapshots' parent dir; overlay lower dirs are given relative to it. */
    readonly root: string,
    private readonly unpacker: Unpacker,
  ) {}

  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    for (const name of await readdir(this.root)) {
      if (name.startsWith('tmp-')) await removeTree(this.root, name);
    }
  }

  private base(chainId: string): string {
    return join(this.root, digestHex(chainId, 'chain ID'));
  }

  dir(chainId: string): string {
    return join(this.base(chainId), 'fs');
  }

  async get(chainId: string): Promise<SnapshotInfo | undefined> {
    const known = this.infos.get(chainId);
    if (known) return known;
    const removals = this.removals;
    try {
      const info = JSON.parse(await readFile(join(this.base(chainId), 'info.json'), 'utf8')) as SnapshotInfo;
      // Not cached if a remove began while it was read: the snapshot may be gone.
      if (removals === this.removals) this.infos.set(chainId, info);
      return info;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  unpack(chainId: string, parent: string | undefined, diffId: string, blob: string, lowerComplete: boolean): Promise<SnapshotInfo> {
    const existing = this.inflight.get(chainId);
    if (existing) return existing;
    const p = this.doUnpack(chainId, parent, diffId, blob, lowerComplete).finally(() => this.inflight.delete(chainId));
    this.inflight.set(chainId, p);
    return p;
  }

  /** The parents' dirs, nearest first; all of them unless `partial` allows a gap. */
  private async parentDirs(parent: string | undefined, partial: boolean): Promise<string[]> {
    const dirs: string[] = [];
    for (let p = parent; p !== undefined; ) {
      const info = await this.get(p);
      if (!info) {
        if (partial) return dirs;
        throw new CoracleError('FAILED_PRECONDITION', `snapshot ${p}: parent missing`);
      }
      dirs.push(this.dir(p));
      p = info.parent;
    }
    return dirs;
  }

  private async doUnpack(chainId: string, parent: string | undefined, diffId: string, blob: string, lowerComplete: boolean): Promise<SnapshotInfo> {
    const have = await this.get(chainId);
    if (have) return have;
    const parents = await this.parentDirs(parent, !lowerComplete);
    const staging = join(this.root, `tmp-${digestHex(chainId)}-${randomBytes(4).toString('hex')}`);
    await mkdir(join(staging, 'fs'), { recursive: true });
    try {
      const result = await this.unpacker.unpack({ blob, target: join(staging, 'fs'), parents, lowerComplete });
      if (result.diffId !== diffId) {
        throw new CoracleError('DATA_LOSS', `layer ${diffId}: uncompressed content has digest ${result.diffId}`);
      }
      const info: SnapshotInfo = {
        chainId,
        diffId,
        ...(parent !== undefined ? { parent } : {}),
        bytes: result.bytes,
        inodes: result.inodes,
      };
      // Durable: an image record (fsynced after this) must never name a snapshot whose
      // info.json a power loss left empty. The unpacked files themselves are not synced
      // (containerd's default too: image_pull_with_sync_fs is off); see docs/benchmarks.md.
      await writeFileDurable(join(staging, 'info.json'), JSON.stringify(info) + '\n');
      await rename(staging, this.base(chainId));
      this.infos.set(chainId, info);
      return info;
    } catch (err) {
      // The unpack's error is the one to report: a failed cleanup leaves a tmp- dir for init.
      try {
        await removeTree(this.root, basename(staging));
      } catch {
        /* left for init */
      }
      throw err;
    }
  }

  /**
   * Renamed away in one step, so a crash half-way leaves a tmp- dir that init collects, never
   * a snapshot with an info file and half its files; the tree itself is deleted after the
   * caller has its answer (`settled` waits for it). A failed deletion is left for init.
   */
  async remove(chainId: string): Promise<void> {
    const doomed = join(this.root, `tmp-rm-${digestHex(chainId)}-${randomBytes(4).toString('hex')}`);
    this.removals++;
    this.infos.delete(chainId);
    try {
      await rename(this.base(chainId), doomed);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      throw err;
    }
    const deleting: Promise<void> = removeTree(this.root, basename(doomed))
      .catch(() => undefined)
      .finally(() => this.removing.delete(deleting));
    this.removing.add(deleting);
  }

  /** Settles when every tree removed so far has been deleted. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.removing]);
  }

  async list(): Promise<SnapshotInfo[]> {
    const out: SnapshotInfo[] = [];
    for (const name of await readdir(this.root)) {
      if (!/^[a-f0-9]{64}$/.test(name)) continue;
      const info = await this.get(`sha256:${name}`);
      if (info) out.push(info);
    }
    return out;
  }
}
