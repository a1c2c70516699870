import { invalidArgument, notFound, withContext } from '../errors.js';
import type { Logger } from '../log.js';
import type { ImageContext } from './image-deps.js';
import { findImage } from './image-find.js';
import { parseReference, repoTag } from './reference.js';

export interface TagResult {
  imageId: string;
  /** The target as stored: "registry/repository:tag". */
  tag: string;
}

/**
 * docker tag SOURCE TARGET: the image `source` names gets the tag `target` (":latest" when
 * it has none); an image that had that tag loses it (and stays, untagged, as docker leaves it).
 * A target with a digest is refused: a digest is what the content is, not a name to give.
 */
export async function tagImage(cx: ImageContext, source: string, target: string, log: Logger): Promise<TagResult> {
  let ref;
  try {
    ref = parseReference(target);
  } catch (err) {
    throw withContext(`tag ${target}`, err);
  }
  if (ref.digest) throw invalidArgument(`tag ${target}: a tag cannot hold a digest (repository[:tag])`);
  const tag = repoTag(ref)!;
  return cx.meta.run(async (): Promise<TagResult> => {
    const { store } = cx.deps;
    const image = findImage(store, source);
    if (!image) throw notFound(`image ${source}: no such image`);
    for (const other of store.all()) {
      if (other.id !== image.id && other.repoTags.includes(tag)) await store.setNames(other.id, other.repoTags.filter((t) => t !== tag), other.repoDigests);
    }
    if (!image.repoTags.includes(tag)) await store.setNames(image.id, [...image.repoTags, tag], image.repoDigests);
    log.info('image tagged', { image: image.id, tag });
    return { imageId: image.id, tag };
  });
}
