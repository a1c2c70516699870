import type { ContainerService } from '../container/container-service.js';
import { invalidArgument } from '../errors.js';
import type { CopyChunk } from '../generated/coracle/v1/CopyChunk.js';
import type { CopyFromContainerRequest__Output } from '../generated/coracle/v1/CopyFromContainerRequest.js';

/** Chunks of at most 1 MiB: well under the 16 MiB message limit. */
const CHUNK = 1 << 20;

/** Coracle's CopyFromContainer (docker cp CONTAINER:SRC): a path of the container's root, as a tar. */
export function copyFromContainerHandler(containers: Pick<ContainerService, 'copyFrom'>) {
  return async (request: CopyFromContainerRequest__Output, write: (m: CopyChunk) => Promise<void>): Promise<void> => {
    if (!request.container_id) throw invalidArgument('CopyFromContainer: container_id is empty');
    if (!request.path) throw invalidArgument(`CopyFromContainer: container ${request.container_id}: path is empty`);
    for await (const buf of containers.copyFrom(request.container_id, request.path)) {
      for (let off = 0; off < buf.length; off += CHUNK) await write({ data: buf.subarray(off, off + CHUNK) });
    }
  };
}
