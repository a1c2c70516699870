import { invalidArgument } from '../errors.js';
import type { PullImageProgress } from '../generated/coracle/v1/PullImageProgress.js';
import type { PullImageProgressRequest__Output } from '../generated/coracle/v1/PullImageProgressRequest.js';
import type { ImageService, PullProgress } from '../image/image-service.js';
import { credentialsFromCri } from './image-pull.js';
import type { ServerStreamHandler } from './wrap.js';

/** Coracle's PullImage: CRI's pull with each layer's progress streamed as it goes. */
export function pullImageProgressHandler(images: Pick<ImageService, 'pull'>): ServerStreamHandler<PullImageProgressRequest__Output, PullImageProgress> {
  return async (request, write, ctx) => {
    if (!request.image) throw invalidArgument('PullImage: image is empty');
    // Progress comes as callbacks; the writes go out one after the other, in order.
    let queue = Promise.resolve();
    const send = (p: PullProgress): void => {
      queue = queue.then(() => write({ layer: p.layer, status: p.status, current: p.current, total: p.total }));
    };
    const image = await images.pull(request.image, credentialsFromCri(request.auth), ctx.log, ctx.signal, send);
    await queue;
    await write({ image_id: image.id, status: 'pulled' });
  };
}
