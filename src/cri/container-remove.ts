import type { RemoveContainerRequest__Output } from '../generated/runtime/v1/RemoveContainerRequest.js';
import type { RemoveContainerResponse } from '../generated/runtime/v1/RemoveContainerResponse.js';
import type { ContainerService } from '../container/container-service.js';
import { invalidArgument } from '../errors.js';
import type { UnaryHandler } from './wrap.js';

export function removeContainerHandler(containers: Pick<ContainerService, 'remove'>): UnaryHandler<RemoveContainerRequest__Output, RemoveContainerResponse> {
  return async (request, ctx) => {
    if (!request.container_id) throw invalidArgument('RemoveContainer: container_id is empty');
    await containers.remove(request.container_id, ctx.log);
    return {};
  };
}
