import { errorCodeOf } from '../errors.js';
import type { Logger } from '../log.js';
import { limiter, Mutex } from '../util/limit.js';
import type { ImageContext, ImageServiceDeps, Lease, OnPullProgress } from './image-deps.js';
import { findImage } from './image-find.js';
import { collect, removeImage, usage, type ImageFsUsage } from './image-gc.js';
import { commitLayer, history, type HistoryStep } from './image-history.js';
import { exportArchive, importArchive } from './image-import-export.js';
import { pullImage } from './image-pull.js';
import type { ImageRecord } from './image-store.js';
import type { RegistryCredentials } from './registry-auth.js';
import { tagImage, type TagResult } from './image-tag.js';
import { untagImage, type UntagResult } from './image-untag.js';

export type { ImageServiceDeps, OnPullProgress, PullMetrics, PullProgress, RegistryAccess } from './image-deps.js';
export type { ImageFsUsage } from './image-gc.js';
export type { HistoryStep } from './image-history.js';
export type { UntagResult } from './image-untag.js';

/**
 * Pulls, finds, lists and removes images. A pull fetches the manifest (choosing this host's
 * platform from an index), then the config, then downloads layers in parallel and unpacks
 * each while it downloads; only when every layer is in place is the image recorded. A
 * failed pull leaves nothing: what it fetched is collected.
 *
 * A facade: each operation lives in its own module (image-pull, image-import-export,
 * image-history, image-gc, with image-make shared by pull, import and commit), and this
 * class holds what they share (the deps, the leases of operations in progress, the lock
 * over the records, the download limit), passed to each explicitly.
 */
export class ImageService {
  private readonly cx: ImageContext;

  constructor(deps: ImageServiceDeps) {
    this.cx = { deps, leases: new Set<Lease>(), meta: new Mutex(), download: limiter(deps.maxConcurrentDownloads) };
  }

  /** The image `text` names: an id, an id prefix, a tag or a repo digest; undefined if none. */
  find(text: string): ImageRecord | undefined {
    return findImage(this.cx.deps.store, text);
  }

  list(): ImageRecord[] {
    return this.cx.deps.store.all();
  }

  async pull(text: string, credentials: RegistryCredentials | undefined, log: Logger, signal?: AbortSignal, progress?: OnPullProgress): Promise<ImageRecord> {
    const { metrics, duringPull } = this.cx.deps;
    const start = process.hrtime.bigint();
    const seconds = (): number => Number(process.hrtime.bigint() - start) / 1e9;
    const over = duringPull?.();
    try {
      const image = await pullImage(this.cx, text, credentials, log, signal, progress);
      metrics?.pulled(seconds());
      return image;
    } catch (err) {
      metrics?.pulled(seconds(), errorCodeOf(err));
      throw err;
    } finally {
      over?.();
    }
  }

  /** Loads the images of an archive (docker-save or OCI layout) streamed from `source`. */
  async importArchive(source: AsyncIterable<Buffer>, log: Logger): Promise<ImageRecord[]> {
    return importArchive(this.cx, source, log);
  }

  /** The images `texts` name, as one archive; every name must resolve. */
  exportArchive(texts: string[]): AsyncIterable<Buffer> {
    return exportArchive(this.cx, texts);
  }

  /** A new image: `base` with one more layer on top, from `layer` (docker commit); see image-history. */
  async commitLayer(baseText: string, layer: AsyncIterable<Buffer>, o: { tag?: string; createdBy: string; comment: string; author: string }, log: Logger): Promise<ImageRecord> {
    return commitLayer(this.cx, baseText, layer, o, log);
  }

  /** How the image was made, newest first (docker history). */
  async history(text: string): Promise<HistoryStep[]> {
    return history(this.cx, text);
  }

  /** Removes the image `text` names, with all its tags; nothing named is no error. */
  async remove(text: string, log: Logger): Promise<void> {
    return removeImage(this.cx, text, log);
  }

  /** Gives the image `source` names the tag `target` too (docker tag); see image-tag. */
  async tag(source: string, target: string, log: Logger): Promise<TagResult> {
    return tagImage(this.cx, source, target, log);
  }

  /** Takes one tag or repo digest from its image (docker rmi NAME); see image-untag. */
  async untag(text: string, keepUntagged: boolean, log: Logger): Promise<UntagResult> {
    return untagImage(this.cx, text, keepUntagged, log);
  }

  /** Deletes content and snapshots that no image, container or pull in progress holds. */
  async collect(log: Logger): Promise<void> {
    return collect(this.cx, log);
  }

  async usage(): Promise<ImageFsUsage> {
    return usage(this.cx);
  }
}
