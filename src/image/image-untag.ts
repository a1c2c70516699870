import { notFound } from '../errors.js';
import type { Logger } from '../log.js';
import type { ImageContext } from './image-deps.js';
import { collect } from './image-gc.js';
import { parseReference, repoDigest, repoName, repoTag } from './reference.js';

export interface UntagResult {
  imageId: string;
  /** The names taken: the one asked for, and the repo digests that went with it. */
  untagged: string[];
  /** Whether the image itself was removed (it had no name left). */
  deleted: boolean;
}

/**
 * docker rmi NAME: takes one tag or repo digest from its image. When a repository's last tag
 * goes, that repository's repo digests go with it, as docker's reference store does; once the
 * image has no name left it is removed (its data collected), unless `keepUntagged`. CRI's
 * RemoveImage, which kubelet uses, still removes an image with all its names (image-gc.ts).
 */
export async function untagImage(cx: ImageContext, text: string, keepUntagged: boolean, log: Logger): Promise<UntagResult> {
  const ref = parseReference(text);
  const name = ref.digest ? repoDigest(ref, ref.digest) : repoTag(ref)!;
  const result = await cx.meta.run(async (): Promise<UntagResult> => {
    const { store } = cx.deps;
    const image = ref.digest ? store.byDigest(name) : store.byTag(name);
    if (!image) throw notFound(`image ${text}: no such image (${name})`);
    const repository = repoName(ref);
    const sameRepository = (n: string): boolean => repoName(parseReference(n)) === repository;
    const repoTags = image.repoTags.filter((t) => t !== name);
    const lastOfRepository = !ref.digest && !repoTags.some(sameRepository);
    const repoDigests = image.repoDigests.filter((d) => d !== name && !(lastOfRepository && sameRepository(d)));
    const untagged = [name, ...image.repoDigests.filter((d) => d !== name && !repoDigests.includes(d))];
    if (repoTags.length === 0 && repoDigests.length === 0 && !keepUntagged) {
      await store.remove(image.id);
      log.info('image untagged and removed', { image: image.id, untagged });
      return { imageId: image.id, untagged, deleted: true };
    }
    await store.setNames(image.id, repoTags, repoDigests);
    log.info('image untagged', { image: image.id, untagged });
    return { imageId: image.id, untagged, deleted: false };
  });
  if (result.deleted) await collect(cx, log);
  return result;
}
