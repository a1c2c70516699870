import type { TagImageRequest__Output } from '../generated/coracle/v1/TagImageRequest.js';
import type { TagImageResponse } from '../generated/coracle/v1/TagImageResponse.js';
import { invalidArgument } from '../errors.js';
import type { ImageService } from '../image/image-service.js';
import type { UnaryHandler } from './wrap.js';

/** Coracle's TagImage (docker tag): the source image gets the target tag too. */
export function tagImageHandler(images: Pick<ImageService, 'tag'>): UnaryHandler<TagImageRequest__Output, TagImageResponse> {
  return async (request, ctx) => {
    if (!request.source) throw invalidArgument('TagImage: source is empty');
    if (!request.target) throw invalidArgument('TagImage: target is empty');
    const r = await images.tag(request.source, request.target, ctx.log);
    return { image_id: r.imageId, tag: r.tag };
  };
}
