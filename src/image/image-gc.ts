import { CoracleError, messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import { Lease, type ImageContext } from './image-deps.js';
import { findImage } from './image-find.js';
import type { ImageLayer, ImageRecord } from './image-store.js';
import type { CommittedInfo } from './snapshotter.js';

export interface ImageFsUsage {
  /** The directory that holds image data, on the filesystem it uses. */
  mountpoint: string;
  usedBytes: number;
  inodesUsed: number;
}

/**
 * What is referenced, before parents are added: the chains the snapshotter holds (active
 * snapshots' and leases'), and the content and chains of every image, and the content of
 * every lease (a pull, import or commit in progress).
 */
export function referenced(
  held: Iterable<string>,
  images: Iterable<Pick<ImageRecord, 'content'> & { layers: Pick<ImageLayer, 'chainId'>[] }>,
  leases: Iterable<{ digests: Iterable<string> }>,
): { digests: Set<string>; chains: Set<string> } {
  const digests = new Set<string>();
  const chains = new Set<string>(held);
  for (const image of images) {
    image.content.forEach((d) => digests.add(d));
    image.layers.forEach((l) => chains.add(l.chainId));
  }
  for (const lease of leases) {
    for (const d of lease.digests) digests.add(d);
  }
  return { digests, chains };
}

/** What is removed: those of `present` that `keep` does not hold, in the order listed. */
export function unreferenced(present: Iterable<string>, keep: ReadonlySet<string>): string[] {
  return [...present].filter((x) => !keep.has(x));
}

/** `layers` ordered so that each comes before its parent: the snapshotter refuses to remove a parent first. */
export function childrenFirst<T extends { chainId: string; parent?: string | undefined }>(layers: readonly T[]): T[] {
  const parentOf = new Map(layers.map((l) => [l.chainId, l.parent]));
  const depth = (c: string): number => {
    let n = 0;
    // Bounded by the layers given: a cycle (a hand-edited info file) cannot loop.
    for (let p = parentOf.get(c); p !== undefined && parentOf.has(p) && n < layers.length; p = parentOf.get(p)) n++;
    return n;
  };
  return [...layers].map((l) => ({ l, d: depth(l.chainId) })).sort((a, b) => b.d - a.d).map((x) => x.l);
}

/** Runs `work` holding a lease; a failure collects whatever the work left unreferenced. */
export async function withLease<T>(cx: ImageContext, log: Logger, work: (lease: Lease) => Promise<T>): Promise<T> {
  const lease = new Lease(cx.deps.snapshots.lease());
  cx.leases.add(lease);
  const release = (): void => {
    cx.leases.delete(lease);
    lease.chains.release();
  };
  try {
    return await work(lease);
  } catch (err) {
    release();
    await collect(cx, log).catch((gcErr: unknown) => log.error('collection after a failed operation failed', { error: messageOf(gcErr) }));
    throw err;
  } finally {
    release();
  }
}

/** Removes the image `text` names, with all its tags; nothing named is no error. */
export async function removeImage(cx: ImageContext, text: string, log: Logger): Promise<void> {
  await cx.meta.run(async () => {
    const image = findImage(cx.deps.store, text);
    if (!image) return;
    await cx.deps.store.remove(image.id);
    log.info('image removed', { image: image.id, tags: image.repoTags });
  });
  await collect(cx, log);
}

/**
 * Deletes content and committed snapshots that nothing holds: no image, no lease of an
 * operation in progress, no active or view snapshot (a container's) over them.
 */
export async function collect(cx: ImageContext, log: Logger): Promise<void> {
  await cx.meta.run(async () => {
    const { store, content, snapshots } = cx.deps;
    const keep = referenced(await snapshots.referenced(), store.all(), cx.leases);
    const layers = (await snapshots.list()).filter((info): info is CommittedInfo => info.kind === 'committed');
    // A kept snapshot keeps its parents: overlay needs the whole chain.
    const parentOf = new Map(layers.map((l) => [l.chainId, l.parent]));
    for (const c of [...keep.chains]) {
      for (let p = parentOf.get(c); p !== undefined && !keep.chains.has(p); p = parentOf.get(p)) keep.chains.add(p);
    }
    let blobs = 0;
    let snaps = 0;
    for (const digest of unreferenced(await content.list(), keep.digests)) {
      await content.remove(digest);
      blobs++;
    }
    for (const layer of childrenFirst(layers.filter((l) => !keep.chains.has(l.chainId)))) {
      try {
        await snapshots.remove(layer.chainId);
        snaps++;
      } catch (err) {
        // A snapshot made over it since the list (its maker holds a lease): kept, the rest go on.
        if (!(err instanceof CoracleError && err.code === 'FAILED_PRECONDITION')) throw err;
        log.warn('a layer was not collected', { chainId: layer.chainId, error: messageOf(err) });
      }
    }
    if (blobs + snaps > 0) log.info('collected unused image data', { blobs, snapshots: snaps });
  });
}

/** What content and snapshots take on disk (ImageFsInfo). */
export async function usage(cx: ImageContext): Promise<ImageFsUsage> {
  const { content, snapshots } = cx.deps;
  let usedBytes = 0;
  let inodesUsed = 0;
  for (const info of await snapshots.list()) {
    if (info.kind !== 'committed') continue;
    usedBytes += info.bytes;
    inodesUsed += info.inodes;
  }
  for (const digest of await content.list()) {
    usedBytes += (await content.size(digest)) ?? 0;
    inodesUsed++;
  }
  return { mountpoint: cx.deps.root, usedBytes, inodesUsed };
}
