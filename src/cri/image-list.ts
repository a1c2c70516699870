import type { ListImagesRequest__Output } from '../generated/runtime/v1/ListImagesRequest.js';
import type { ListImagesResponse } from '../generated/runtime/v1/ListImagesResponse.js';
import type { ImageService } from '../image/image-service.js';
import { criImage } from './answers.js';
import type { UnaryHandler } from './wrap.js';

/** A filter names one image (by id, tag or digest): the list is that image or nothing. */
export function listImagesHandler(images: Pick<ImageService, 'find' | 'list'>): UnaryHandler<ListImagesRequest__Output, ListImagesResponse> {
  return (request) => {
    const wanted = request.filter?.image?.image ?? '';
    if (wanted === '') return { images: images.list().map(criImage) };
    const image = images.find(wanted);
    return { images: image ? [criImage(image)] : [] };
  };
}
