import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { CoracleError, isErrno } from '../errors.js';
import type { Logger } from '../log.js';
import { writeFileDurable } from '../util/atomic-write.js';
import { markTopDir } from '../util/top-dir.js';
import { digestHex } from './digest.js';
import { KEEP_EMPTIED_TOPS_MS, removeTree, removeTreesInChild, TreeRemovals } from './remove-tree.js';
import type { CommittedInfo, LayerBlob, Unpacker } from './snapshotter.js';
import type { CallCount } from '../util/call-count.js';

/** A committed layer's info.json, as written since the first layout (no kind, no key). */
type StoredInfo = Omit<CommittedInfo, 'kind' | 'key'>;

const CHAIN_DIR = /^[a-f0-9]{64}$/;

/**
 * Committed snapshots, by chain ID: every layer is unpacked once, into its own directory
 * `<root>/<hex>/{fs,info.json}`, and shared by every image that has it. A layer is unpacked
 * into a staging dir and renamed into place with its info file, so one that exists is complete.
 */
export class CommittedLayers {
  private readonly inflight = new Map<string, Promise<CommittedInfo>>();
  /**
   * Info files read so far: a snapshot's info never changes once it exists (it is renamed
   * into place complete), so it is read from disk once, not at every collection.
   */
  private readonly infos = new Map<string, CommittedInfo>();
  private readonly removals: TreeRemovals;
  /** Removes so far: a get that saw one start during its read does not cache what it read. */
  private removeCount = 0;

  constructor(
    readonly root: string,
    private readonly unpacker: Unpacker,
    log?: Logger,
    calls?: CallCount,
  ) {
    this.removals = new TreeRemovals({ remove: removeTreesInChild, keepTopsMs: KEEP_EMPTIED_TOPS_MS, log, calls });
  }

  /** Makes the root; removes what a daemon stopped half-way left (staging and removed trees). */
  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    // Each snapshot's files in a block group of their own, not among inodes just freed (util/top-dir.ts).
    markTopDir(this.root);
    for (const name of await readdir(this.root)) {
      if (name.startsWith('tmp-')) await removeTree(this.root, name);
    }
  }

  private base(chainId: string): string {
    return join(this.root, digestHex(chainId, 'chain ID'));
  }

  /** The layer's directory, an overlay lower dir. */
  dir(chainId: string): string {
    return join(this.base(chainId), 'fs');
  }

  async get(chainId: string): Promise<CommittedInfo | undefined> {
    const known = this.infos.get(chainId);
    if (known) return known;
    const removals = this.removeCount;
    try {
      const stored = JSON.parse(await readFile(join(this.base(chainId), 'info.json'), 'utf8')) as StoredInfo;
      const info: CommittedInfo = { kind: 'committed', key: stored.chainId, ...stored };
      // Not cached if a remove began while it was read: the snapshot may be gone.
      if (removals === this.removeCount) this.infos.set(chainId, info);
      return info;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  unpack(chainId: string, parent: string | undefined, diffId: string, blob: LayerBlob, lowerComplete: boolean): Promise<CommittedInfo> {
    const existing = this.inflight.get(chainId);
    if (existing) return existing;
    const p = this.doUnpack(chainId, parent, diffId, blob, lowerComplete).finally(() => this.inflight.delete(chainId));
    this.inflight.set(chainId, p);
    return p;
  }

  /** The dirs of `parent` and its parents, nearest first; all of them unless `partial` allows a gap. */
  async chainDirs(parent: string | undefined, partial: boolean): Promise<string[]> {
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

  private async doUnpack(chainId: string, parent: string | undefined, diffId: string, blob: LayerBlob, lowerComplete: boolean): Promise<CommittedInfo> {
    const have = await this.get(chainId);
    if (have) return have;
    const parents = await this.chainDirs(parent, !lowerComplete);
    const staging = join(this.root, `tmp-${digestHex(chainId)}-${randomBytes(4).toString('hex')}`);
    await mkdir(join(staging, 'fs'), { recursive: true });
    try {
      const target = join(staging, 'fs');
      const result = await (typeof blob === 'string'
        ? this.unpacker.unpack({ blob, target, parents, lowerComplete })
        : this.unpacker.unpack({ blob: blob.path, fd: blob.fd, target, parents, lowerComplete }, blob.feed));
      // The worker reads a followed blob to its verified end (the tar reader drains its input):
      // a snapshot is never made of bytes whose digest did not match.
      if (typeof blob !== 'string' && blob.feed.state.end !== 'verified') {
        throw new CoracleError('INTERNAL', `layer ${diffId}: unpacked before its blob was verified`);
      }
      if (result.diffId !== diffId) {
        throw new CoracleError('DATA_LOSS', `layer ${diffId}: uncompressed content has digest ${result.diffId}`);
      }
      const stored: StoredInfo = { chainId, diffId, ...(parent !== undefined ? { parent } : {}), bytes: result.bytes, inodes: result.inodes };
      // Durable: an image record (fsynced after this) must never name a snapshot whose
      // info.json a power loss left empty. The unpacked files themselves are not synced
      // (containerd's default too: image_pull_with_sync_fs is off); see docs/benchmarks.md.
      await writeFileDurable(join(staging, 'info.json'), JSON.stringify(stored) + '\n');
      await rename(staging, this.base(chainId));
      const info: CommittedInfo = { kind: 'committed', key: chainId, ...stored };
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

  /** Renamed away in one step (see TreeRemovals), deleted after the answer; none is no error. */
  async remove(chainId: string): Promise<void> {
    const base = this.base(chainId);
    this.removeCount++;
    this.infos.delete(chainId);
    await this.removals.removeLater(base);
  }

  async settled(ms?: number): Promise<void> {
    await this.removals.settled(ms);
  }

  async list(): Promise<CommittedInfo[]> {
    const out: CommittedInfo[] = [];
    for (const name of await readdir(this.root)) {
      if (!CHAIN_DIR.test(name)) continue;
      const info = await this.get(`sha256:${name}`);
      if (info) out.push(info);
    }
    return out;
  }
}
