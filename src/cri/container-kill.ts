import type { ContainerService } from '../container/container-service.js';
import { invalidArgument } from '../errors.js';
import type { KillContainerRequest__Output } from '../generated/coracle/v1/KillContainerRequest.js';
import type { KillContainerResponse } from '../generated/coracle/v1/KillContainerResponse.js';
import type { UnaryHandler } from './wrap.js';

/** Coracle's KillContainer (docker kill): a signal to a running container's init. */
export function killContainerHandler(containers: Pick<ContainerService, 'kill'>): UnaryHandler<KillContainerRequest__Output, KillContainerResponse> {
  return async (request, ctx) => {
    if (!request.container_id) throw invalidArgument('KillContainer: container_id is empty');
    if (!request.signal) throw invalidArgument(`KillContainer: container ${request.container_id}: signal is empty`);
    await containers.kill(request.container_id, request.signal, ctx.log);
    return {};
  };
}
