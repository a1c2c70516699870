import { messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import { Lease, type ImageContext } from './image-deps.js';
import { findImage } from './image-find.js';
import type { ImageLayer, ImageRecord } from './image-store.js';

export interface ImageFsUsage {
  /** The directory that holds image data, on the filesystem it uses. */
  mountpoint: string;
  usedBytes: number;
  inodesUsed: number;
}

/**
 * What is referenced, before parents are added: the chains containers use, and the content
 * and chains of every image and of every lease (a pull, import or commit in progress).
 */
export function referenced(
  inUse: Iterable<string>,
  images: Iterable<Pick<ImageRecord, 'content'> & { layers: Pick<ImageLayer, 'chainId'>[] }>,
  leases: Iterable<{ digests: Iterable<string>; chains: Iterable<string> }>,
): { digests: Set<string>; chains: Set<string> } {
  const digests = new Set<string>();
  const chains = new Set<string>(inUse);
  for (const image of images) {
    image.content.forEach((d) => digests.add(d));
    image.layers.forEach((l) => chains.add(l.chainId));
  }
  for (const lease of leases) {
    for (const d of lease.digests) digests.add(d);
    for (const c of lease.chains) chains.add(c);
  }
  return { digests, chains };
}

/** What is removed: those of `present` that `keep` does not hold, in the order listed. */
export function unreferenced(present: Iterable<string>, keep: ReadonlySet<string>): string[] {
  return [...present].filter((x) => !keep.has(x));
}

/** Runs `work` holding a lease; a failure collects whatever the work left unreferenced. */
export async function withLease<T>(cx: ImageContext, log: Logger, work: (lease: Lease) => Promise<T>): Promise<T> {
  const lease = new Lease();
  cx.leases.add(lease);
  try {
    return await work(lease);
  } catch (err) {
    cx.leases.delete(lease);
    await collect(cx, log).catch((gcErr: unknown) => log.error('collection after a failed operation failed', { error: messageOf(gcErr) }));
    throw err;
  } finally {
    cx.leases.delete(lease);
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

/** Deletes content and snapshots that no image, container or pull in progress holds. */
export async function collect(cx: ImageContext, log: Logger): Promise<void> {
  await cx.meta.run(async () => {
    const { store, content, snapshots, users } = cx.deps;
    const inUse = users ? [...users.chainIdsInUse()] : [];
    const keep = referenced(inUse, store.all(), cx.leases);
    // A kept snapshot keeps its parents: overlay needs the whole chain.
    for (const info of await snapshots.list()) {
      if (!keep.chains.has(info.chainId)) continue;
      for (let p = info.parent; p; p = (await snapshots.get(p))?.parent) keep.chains.add(p);
    }
    let blobs = 0;
    let snaps = 0;
    for (const digest of unreferenced(await content.list(), keep.digests)) {
      await content.remove(digest);
      blobs++;
    }
    for (const chainId of unreferenced((await snapshots.list()).map((info) => info.chainId), keep.chains)) {
      await snapshots.remove(chainId);
      snaps++;
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
    usedBytes += info.bytes;
    inodesUsed += info.inodes;
  }
  for (const digest of await content.list()) {
    usedBytes += (await content.size(digest)) ?? 0;
    inodesUsed++;
  }
  return { mountpoint: cx.deps.root, usedBytes, inodesUsed };
}
