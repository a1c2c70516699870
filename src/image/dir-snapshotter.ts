import { join } from 'node:path';
import { failedPrecondition } from '../errors.js';
import type { Logger } from '../log.js';
import type { Mount } from '../util/mounts.js';
import { ActiveSnapshots } from './active-snapshots.js';
import { CommittedLayers } from './committed-layers.js';
import { SnapshotLeases } from './snapshot-leases.js';
import type { CommittedInfo, LayerBlob, SnapshotInfo, SnapshotLease, Snapshotter, Unpacker } from './snapshotter.js';
import type { CallCount } from '../util/call-count.js';

const CHAIN_ID = /^sha256:[a-f0-9]{64}$/;

/**
 * The snapshotter on plain directories: committed layers by chain ID under `<root>/<hex>`
 * (committed-layers.ts), active and view snapshots under `<root>/active/<sha256(key)>`
 * (active-snapshots.ts), and the leases of operations in progress (snapshot-leases.ts). One
 * filesystem for all of them: an adopted dir is renamed into place.
 */
export class DirSnapshotter implements Snapshotter {
  private readonly committed: CommittedLayers;
  private readonly active: ActiveSnapshots;
  private readonly leases = new SnapshotLeases();

  constructor(
    readonly root: string,
    unpacker: Unpacker,
    log?: Logger,
    /** The daemon's calls: a removed layer's deletion waits for a quiet moment (image/remove-tree.ts). */
    calls?: CallCount,
  ) {
    this.committed = new CommittedLayers(root, unpacker, log, calls);
    this.active = new ActiveSnapshots(join(root, 'active'), this.committed, log);
  }

  /** Makes the dirs; collects what a daemon stopped half-way left; loads the active snapshots. */
  async init(): Promise<void> {
    await this.committed.init();
    await this.active.init();
  }

  async stat(key: string): Promise<SnapshotInfo | undefined> {
    return CHAIN_ID.test(key) ? this.committed.get(key) : this.active.get(key);
  }

  unpack(chainId: string, parent: string | undefined, diffId: string, blob: LayerBlob, lowerComplete: boolean): Promise<CommittedInfo> {
    return this.committed.unpack(chainId, parent, diffId, blob, lowerComplete);
  }

  prepare(key: string, parent: string | undefined): Promise<Mount[]> {
    return this.active.make(key, parent, 'active');
  }

  view(key: string, parent: string): Promise<Mount[]> {
    return this.active.make(key, parent, 'view');
  }

  mounts(key: string): Promise<Mount[]> {
    return this.active.mounts(key);
  }

  async remove(key: string): Promise<void> {
    if (!CHAIN_ID.test(key)) return this.active.remove(key);
    const child = this.active.list().find((a) => a.parent === key) ?? (await this.committed.list()).find((c) => c.parent === key);
    if (child) throw failedPrecondition(`snapshot ${key}: remove: it is the parent of ${child.kind} snapshot ${JSON.stringify(child.key.slice(0, 100))}`);
    await this.committed.remove(key);
  }

  async list(): Promise<SnapshotInfo[]> {
    return [...(await this.committed.list()), ...this.active.list()];
  }

  lease(): SnapshotLease {
    return this.leases.lease();
  }

  /** The leases' chains and the active snapshots' parents, each with its whole parent chain as far as it is unpacked. */
  async referenced(): Promise<Set<string>> {
    const held = this.leases.held();
    for (const a of this.active.list()) if (a.parent !== undefined) held.add(a.parent);
    const out = new Set<string>();
    for (const start of held) {
      for (let c: string | undefined = start; c !== undefined && !out.has(c); c = (await this.committed.get(c))?.parent) out.add(c);
    }
    return out;
  }

  adopt(key: string, parent: string | undefined, dirs: { upper: string; work: string }): Promise<void> {
    return this.active.adopt(key, parent, dirs);
  }

  async settled(ms?: number): Promise<void> {
    await Promise.all([this.committed.settled(ms), this.active.settled(ms)]);
  }
}
