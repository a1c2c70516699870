import type { UntagImageRequest__Output } from '../generated/coracle/v1/UntagImageRequest.js';
import type { UntagImageResponse } from '../generated/coracle/v1/UntagImageResponse.js';
import { invalidArgument } from '../errors.js';
import type { ImageService } from '../image/image-service.js';
import type { UnaryHandler } from './wrap.js';

/** Coracle's UntagImage (docker rmi NAME): one name taken; CRI's RemoveImage stays whole-image. */
export function untagImageHandler(images: Pick<ImageService, 'untag'>): UnaryHandler<UntagImageRequest__Output, UntagImageResponse> {
  return async (request, ctx) => {
    if (!request.image) throw invalidArgument('UntagImage: image is empty');
    const r = await images.untag(request.image, request.keep_untagged, ctx.log);
    return { image_id: r.imageId, untagged: r.untagged, deleted: r.deleted };
  };
}
