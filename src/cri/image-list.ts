import type { ListImagesRequest__Output } from '../generated/runtime/v1/ListImagesRequest.js';
import type { ListImagesResponse } from '../generated/runtime/v1/ListImagesResponse.js';
import type { ImageService } from '../image/image-service.js';
import { toCriImage } from './image-convert.js';
import { identityMemo } from './identity-memo.js';
import type { UnaryHandler } from './wrap.js';

/** One conversion per record: the next List gives the same object, and the encoder its bytes. */
const listed = identityMemo(toCriImage);

/** A filter names one image (by id, tag or digest): the list is that image or nothing. */
export function listImagesHandler(images: Pick<ImageService, 'find' | 'list'>): UnaryHandler<ListImagesRequest__Output, ListImagesResponse> {
  return async (request) => {
    const wanted = request.filter?.image?.image ?? '';
    if (wanted === '') return { images: images.list().map(listed) };
    const image = images.find(wanted);
    return { images: image ? [listed(image)] : [] };
  };
}
