import type { Mount } from '../util/mounts.js';
import type { BlobFeed } from './blob-feed.js';
import type { UnpackRequest, UnpackResult } from './unpack.js';

export type { Mount } from '../util/mounts.js';

/*
 * The snapshotter, in containerd's manner: committed snapshots (image layers, by chain ID),
 * active snapshots (a container's writable layer over a committed parent) and views (read-only
 * over one), handed out as mounts, data the caller mounts; and references, which say what
 * image collection must keep. The implementation is DirSnapshotter (dir-snapshotter.ts).
 */

export type SnapshotKind = 'committed' | 'active' | 'view';

/** An unpacked layer: a directory that serves as an overlayfs lower dir. Its key is its chain ID. */
export interface CommittedInfo {
  kind: 'committed';
  key: string;
  chainId: string;
  diffId: string;
  parent?: string;
  bytes: number;
  inodes: number;
}

/** A writable snapshot (active) or a read-only one (view) over the committed `parent`. */
export interface ActiveInfo {
  kind: 'active' | 'view';
  key: string;
  /** The committed snapshot it is made over (a chain ID); none for an empty active one. */
  parent?: string;
  /** When it was made, an ISO 8601 time. */
  created: string;
}

export type SnapshotInfo = CommittedInfo | ActiveInfo;

/**
 * What an operation in progress holds (a pull's, an import's, a commit's layers, a create's
 * image): chain IDs kept from collection until `release`. Synchronous, so a caller can take
 * one in the same tick it finds what it needs.
 */
export interface SnapshotLease {
  /** Holds `chainId` (and, once unpacked, its parents) until release. */
  add(chainId: string): void;
  /** Lets go of everything held; later calls do nothing. */
  release(): void;
}

export interface Unpacker {
  /** Unpacks `request`; with `feed`, the blob at `request.fd` as its download goes. */
  unpack(request: UnpackRequest, feed?: BlobFeed): Promise<UnpackResult>;
}

/** A layer blob to unpack: a file in the content store, or one being downloaded (`feed`, opened at `fd`). */
export type LayerBlob = string | { path: string; fd: number; feed: BlobFeed };

export interface Snapshotter {
  /** The snapshot `key` names (a chain ID, or an active or view key); undefined if none. */
  stat(key: string): Promise<SnapshotInfo | undefined>;
  /**
   * Unpacks `blob` as the committed snapshot `chainId` over `parent`, checking that the tar's
   * sha256 is `diffId`. Concurrent calls for one chain ID share one unpack. With
   * `lowerComplete` false the parents may still be unpacking: a layer that needs them (a
   * hardlink into them) fails with NEEDS_LOWER_LAYERS and is unpacked again once they are.
   * A blob being downloaded is unpacked as it comes, and committed only once its feed says it
   * was verified; one whose download failed ends the unpack with FEED_FAILED.
   */
  unpack(chainId: string, parent: string | undefined, diffId: string, blob: LayerBlob, lowerComplete: boolean): Promise<CommittedInfo>;
  /**
   * A writable snapshot `key` over the committed `parent` (and its whole chain): the mounts
   * of an overlay of the parent chain's dirs under a new upper and work dir of its own. The
   * same key and parent again returns the same mounts (a retried create gets the same
   * snapshot); the same key with another parent or kind is ALREADY_EXISTS.
   */
  prepare(key: string, parent: string | undefined): Promise<Mount[]>;
  /** A read-only snapshot `key` of `parent`: an overlay of lower dirs only, or a read-only bind of one. */
  view(key: string, parent: string): Promise<Mount[]>;
  /** The mounts of the active or view snapshot `key`; NOT_FOUND if there is none. */
  mounts(key: string): Promise<Mount[]>;
  /**
   * Removes the snapshot `key`, committed or active; none is no error. A committed one that
   * another snapshot has as its parent is FAILED_PRECONDITION. Its files are deleted after
   * the answer (`settled` waits for that).
   */
  remove(key: string): Promise<void>;
  list(): Promise<SnapshotInfo[]>;
  /** A hold on chain IDs for an operation in progress. */
  lease(): SnapshotLease;
  /** Every chain ID an active or view snapshot (its whole parent chain) or a live lease holds. */
  referenced(): Promise<Set<string>>;
  /**
   * Makes the active snapshot `key` over `parent` of an upper and a work dir made elsewhere
   * on the same filesystem, by renaming them into place (an upgrade from a layout that kept
   * them outside the snapshotter). Idempotent: a call that a crash cut short is finished by
   * the next; dirs already moved are passed over.
   */
  adopt(key: string, parent: string | undefined, dirs: { upper: string; work: string }): Promise<void>;
  /** Settles when every tree removed so far has been deleted, or after `ms` (the shutdown's cap). */
  settled(ms?: number): Promise<void>;
}
