import type { ImageStatusRequest__Output } from '../generated/runtime/v1/ImageStatusRequest.js';
import type { ImageStatusResponse } from '../generated/runtime/v1/ImageStatusResponse.js';
import { invalidArgument } from '../errors.js';
import type { ImageService } from '../image/image-service.js';
import { criImage } from './answers.js';
import type { UnaryHandler } from './wrap.js';

/** A missing image is an unset `image`, not an error: kubelet asks before every pull. */
export function imageStatusHandler(images: Pick<ImageService, 'find'>): UnaryHandler<ImageStatusRequest__Output, ImageStatusResponse> {
  return (request): ImageStatusResponse => {
    const ref = request.image?.image ?? '';
    if (ref === '') throw invalidArgument('ImageStatus: image reference is empty');
    const image = images.find(ref);
    if (!image) return { image: null };
    return {
      image: criImage(image),
      info: request.verbose ? { info: JSON.stringify(image) } : {},
    };
  };
}
