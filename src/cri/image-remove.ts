import type { RemoveImageRequest__Output } from '../generated/runtime/v1/RemoveImageRequest.js';
import type { RemoveImageResponse } from '../generated/runtime/v1/RemoveImageResponse.js';
import { invalidArgument } from '../errors.js';
import type { ImageService } from '../image/image-service.js';
import type { UnaryHandler } from './wrap.js';

/** Removes the whole image, all its tags, whichever name it is given by; idempotent. */
export function removeImageHandler(images: Pick<ImageService, 'remove'>): UnaryHandler<RemoveImageRequest__Output, RemoveImageResponse> {
  return async (request, ctx) => {
    const ref = request.image?.image ?? '';
    if (ref === '') throw invalidArgument('RemoveImage: image reference is empty');
    await images.remove(ref, ctx.log);
    return {};
  };
}
