import type { FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { CoracleError, notFound } from '../errors.js';
import type { ImageRecord } from '../image/image-store.js';
import type { Snapshotter } from '../image/snapshotter.js';
import type { Logger } from '../log.js';
import type { CgroupHost } from '../oci/cgroup-host.js';
import type { OciRuntime } from '../oci/runtime.js';
import type { SandboxRecord } from '../sandbox/sandbox-store.js';
import { BackgroundTasks } from '../util/background.js';
import { writableDir } from '../util/mounts.js';
import { ContainerReleases } from './container-release.js';
import { isListed } from './container-states.js';
import type { ContainerRecord, ContainerStore } from './container-store.js';
import { ExitWaiters } from './exit-waiters.js';
import { UsageReader } from './usage-reader.js';
import { namespaceOf } from '../sandbox/object-namespace.js';

export interface ContainerDeps {
  store: ContainerStore;
  /** Volatile per-container dirs: root mount point, bundle, conmon's files. */
  stateDir: string;
  sandboxes: { get(id: string): SandboxRecord | undefined; podDir(id: string): string };
  images: {
    find(text: string): ImageRecord | undefined;
    commitLayer(base: string, layer: AsyncIterable<Buffer>, o: { tag?: string; createdBy: string; comment: string; author: string }, log: Logger): Promise<ImageRecord>;
    /** Image collection: run once a container's layers are let go. */
    collect(log: Logger): Promise<void>;
  };
  /** Containers' writable layers are active snapshots (keyed by snapshotKey); their leases hold a create's layers. */
  snapshots: Pick<Snapshotter, 'prepare' | 'mounts' | 'remove' | 'list' | 'lease' | 'adopt'>;
  runtime(handler: string): OciRuntime | undefined;
  /** The daemon's own oom_score_adj: no container goes below it (no CAP_SYS_RESOURCE here). */
  ownOomScoreAdj: number;
  /** The capabilities the daemon holds: all a container can be given. */
  allCapabilities: string[];
  /** The host's cgroups, detected at start: limits without a controller are left out. */
  cgroups: CgroupHost;
  /** A STOPPED carries the exited record (container-events.ts). */
  events: { publish(id: string, sandboxId: string, type: 'CREATED' | 'STARTED' | 'STOPPED' | 'DELETED', namespace: string, container?: ContainerRecord): void };
  log: Logger;
  /** Told of each exit recorded as OOMKilled (the daemon's metrics; none with metrics off). */
  onOomKill?: () => void;
}

/** Where a container's volatile files are, under the state dir; its layer is a snapshot (snapshotKey). */
export interface ContainerPaths {
  state: string;
  rootfs: string;
  bundle: string;
  persist: string;
  exitFile: string;
}

const SNAPSHOT_KEY_PREFIX = 'container/';

/** The key of a container's active snapshot (its writable layer), fixed by its id. */
export const snapshotKey = (id: string): string => `${SNAPSHOT_KEY_PREFIX}${id}`;

/** The dir a container writes into, as its snapshot's mounts say; undefined when it has none (being removed). */
export async function upperDirOf(snapshots: Pick<Snapshotter, 'mounts'>, id: string): Promise<string | undefined> {
  try {
    return writableDir(await snapshots.mounts(snapshotKey(id)), `container ${id}: writable layer`);
  } catch (err) {
    if (err instanceof CoracleError && err.code === 'NOT_FOUND') return undefined;
    throw err;
  }
}

/** The container id a snapshot key names, if it is a container's. */
export const containerOfKey = (key: string): string | undefined => (key.startsWith(SNAPSHOT_KEY_PREFIX) ? key.slice(SNAPSHOT_KEY_PREFIX.length) : undefined);

export const nowNanos = (): string => (BigInt(Date.now()) * 1_000_000n).toString();

/**
 * What the container operations share: the service's dependencies, where a container's files
 * are, and the work in flight that one operation waits for or joins in another.
 */
export class ContainerContext {
  /** Creates in flight, by name: a retry waits for the first; pod removal waits for them. */
  readonly creating = new Map<string, { sandboxId: string; id: Promise<string> }>();
  readonly refreshing = new Map<string, Promise<ContainerRecord>>();
  /** Starts and restarts in flight, by container: a stop or removal waits for them. */
  readonly starting = new Map<string, Promise<void>>();
  /** Containers being removed: a start or restart is refused (container-lifecycle). */
  readonly removing = new Set<string>();
  readonly usage: UsageReader;
  /** Conmon's exit dir, watched once watchExits has run. */
  exitWatcher: FSWatcher | undefined;
  readonly exitWaiters = new ExitWaiters();
  readonly background: BackgroundTasks;
  readonly releases: ContainerReleases;

  constructor(readonly deps: ContainerDeps) {
    this.background = new BackgroundTasks(deps.log);
    this.releases = new ContainerReleases({ runtime: (h) => deps.runtime(h), rootfs: (id) => this.paths(id).rootfs }, this.background);
    this.usage = new UsageReader({ cgroups: deps.cgroups, upperDir: (id) => upperDirOf(deps.snapshots, id), mountpoint: (id) => deps.store.dir(id) });
  }

  paths(id: string): ContainerPaths {
    const state = join(this.deps.stateDir, id);
    return {
      state,
      rootfs: join(state, 'rootfs'),
      bundle: join(state, 'bundle'),
      persist: join(state, 'persist'),
      exitFile: join(this.deps.stateDir, 'exits', id),
    };
  }

  runtimeFor(handler: string, id: string): OciRuntime {
    const rt = this.deps.runtime(handler);
    if (!rt) throw new CoracleError('NOT_FOUND', `container ${id}: runtime handler "${handler}" is not configured`);
    return rt;
  }

  /** The container `id` names: a full id or a unique prefix (within `namespace`, if given). */
  resolve(id: string, namespace?: string): ContainerRecord | undefined {
    return this.deps.store.resolve(id, namespace === undefined ? undefined : (c) => namespaceOf(c) === namespace);
  }

  mustGet(id: string): ContainerRecord {
    const c = this.resolve(id);
    if (!c || !isListed(c)) throw notFound(`container ${id}: not found`);
    return c;
  }
}
