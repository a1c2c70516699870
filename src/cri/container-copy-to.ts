import type { ContainerService } from '../container/container-service.js';
import { invalidArgument } from '../errors.js';
import type { CopyToContainerChunk__Output } from '../generated/coracle/v1/CopyToContainerChunk.js';
import type { CopyToContainerResponse } from '../generated/coracle/v1/CopyToContainerResponse.js';
import type { CallContext } from './wrap.js';

/** Coracle's CopyToContainer (docker cp SRC CONTAINER:DEST): the first message names where, the tar follows. */
export function copyToContainerHandler(containers: Pick<ContainerService, 'copyTo'>) {
  return async (chunks: AsyncIterable<CopyToContainerChunk__Output>, ctx: CallContext): Promise<CopyToContainerResponse> => {
    const it = chunks[Symbol.asyncIterator]();
    const first = await it.next();
    if (first.done) throw invalidArgument('CopyToContainer: no message');
    const { container_id: id, path, data, contents, archive } = first.value;
    if (!id) throw invalidArgument('CopyToContainer: container_id is empty');
    if (!path) throw invalidArgument(`CopyToContainer: container ${id}: path is empty`);
    async function* bytes(): AsyncGenerator<Buffer> {
      if (data.length > 0) yield data;
      for (let n = await it.next(); !n.done; n = await it.next()) yield n.value.data;
    }
    await containers.copyTo(id, path, bytes(), ctx.log, archive ? 'archive' : contents ? 'contents' : 'docker');
    return {};
  };
}
