import type { ImageRecord, ImageStore } from './image-store.js';
import { isImageId, parseReference, repoDigest, repoTag, type ImageReference } from './reference.js';

/** The image `text` names: an id, an id prefix, a tag or a repo digest; undefined if none. */
export function findImage(store: ImageStore, text: string): ImageRecord | undefined {
  if (isImageId(text)) {
    const id = text.startsWith('sha256:') ? text : `sha256:${text}`;
    return store.get(id);
  }
  let ref: ImageReference | undefined;
  try {
    ref = parseReference(text);
  } catch {
    ref = undefined;
  }
  if (ref) {
    const found = ref.digest ? store.byDigest(repoDigest(ref, ref.digest)) : store.byTag(repoTag(ref)!);
    if (found) return found;
  }
  if (/^(sha256:)?[a-f0-9]{3,63}$/.test(text)) return store.byIdPrefix(text.replace(/^sha256:/, ''));
  if (!ref) parseReference(text); // rethrows the reference's own error
  return undefined;
}
