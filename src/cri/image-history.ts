import type { ImageHistoryRequest__Output } from '../generated/coracle/v1/ImageHistoryRequest.js';
import type { ImageHistoryResponse } from '../generated/coracle/v1/ImageHistoryResponse.js';
import { invalidArgument } from '../errors.js';
import type { ImageService } from '../image/image-service.js';
import { toNanos } from './time.js';
import type { UnaryHandler } from './wrap.js';

export function imageHistoryHandler(images: Pick<ImageService, 'history'>): UnaryHandler<ImageHistoryRequest__Output, ImageHistoryResponse> {
  return async (request) => {
    if (!request.image) throw invalidArgument('ImageHistory: image is empty');
    const steps = await images.history(request.image);
    return {
      entries: steps.map((s) => {
        const created = Date.parse(s.created);
        return { id: s.id ?? '<missing>', created: Number.isNaN(created) ? 0 : toNanos(created), created_by: s.createdBy, size: s.size, comment: s.comment, empty_layer: s.emptyLayer };
      }),
    };
  };
}
