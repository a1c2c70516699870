import type { Logger } from '../log.js';
import type { Mutex } from '../util/limit.js';
import type { ContentStore } from './content-store.js';
import type { ImageStore } from './image-store.js';
import type { Platform } from './manifest.js';
import type { RegistryCredentials } from './registry-auth.js';
import type { RegistryRepository } from './registry-client.js';
import type { Endpoint, RegistryHostConfig } from './registry-hosts.js';
import type { SnapshotLease, Snapshotter } from './snapshotter.js';

export interface RegistryAccess {
  repository(endpoint: Endpoint, repository: string, credentials: RegistryCredentials | undefined): RegistryRepository;
}

/** What the daemon's metrics are told of pulls (nothing, with metrics off). */
export interface PullMetrics {
  /** Bytes received from a registry for a pull: manifests and blobs. */
  received(bytes: number): void;
  /** A pull ended after `seconds`: done, or failed with the error's code name. */
  pulled(seconds: number, failure?: string): void;
}

export interface ImageServiceDeps {
  store: ImageStore;
  content: ContentStore;
  snapshots: Snapshotter;
  registry: RegistryAccess;
  hosts: Record<string, RegistryHostConfig>;
  /**
   * The daemon's own docker-config credentials file ([registry] config_path), read at each
   * pull whose request carries no credentials; unset or empty, none.
   */
  credentialsFile?: string;
  maxConcurrentDownloads: number;
  platform: Platform;
  /** Where content and snapshots live, reported by ImageFsInfo. */
  root: string;
  log: Logger;
  metrics?: PullMetrics;
  /**
   * Called as a pull starts; what it returns, as it ends: the daemon lets V8's heap grow
   * further meanwhile (util/heap-growth.ts).
   */
  duringPull?: () => () => void;
}

/** How far a pull is with one layer (docker pull's progress lines). */
export interface PullProgress {
  layer: string;
  status: 'exists' | 'waiting' | 'downloading' | 'extracting' | 'done';
  /** Bytes so far and in all, while downloading. */
  current: number;
  total: number;
}

export type OnPullProgress = (p: PullProgress) => void;

/**
 * Content and snapshots a pull, import or commit in progress holds, so that collection leaves
 * them alone: the digests here, the chains through a lease of the snapshotter's.
 */
export class Lease {
  readonly digests = new Set<string>();
  constructor(readonly chains: SnapshotLease) {}
}

/**
 * What the image operations share, passed to each explicitly: the deps, and the state the
 * ImageService facade holds for all of them.
 */
export interface ImageContext {
  readonly deps: ImageServiceDeps;
  /** The leases of the operations in progress; collection keeps what they hold. */
  readonly leases: Set<Lease>;
  /** Serialises changes to the image records with collection. */
  readonly meta: Mutex;
  /** Runs at most deps.maxConcurrentDownloads downloads at once. */
  readonly download: <T>(task: () => Promise<T>) => Promise<T>;
}
