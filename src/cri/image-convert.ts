import type { Image } from '../generated/runtime/v1/Image.js';
import type { ImageRecord } from '../image/image-store.js';

/**
 * An image as CRI reports it. The image's USER becomes uid when numeric (the user part of
 * `uid:gid`), username otherwise, as containerd reports it; an empty USER is neither.
 */
export function toCriImage(image: ImageRecord): Image {
  const user = image.config.user.split(':')[0] ?? '';
  const numeric = /^\d+$/.test(user);
  return {
    id: image.id,
    repo_tags: image.repoTags,
    repo_digests: image.repoDigests,
    // A number: exact below 2^53 bytes, and protobufjs takes it without parsing a string.
    size: image.size,
    uid: numeric ? { value: user } : null,
    username: numeric ? '' : user,
    spec: { image: image.id, annotations: {} },
    pinned: false,
  };
}
