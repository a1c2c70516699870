import type { ContainerService } from '../container/container-service.js';
import { invalidArgument } from '../errors.js';
import type { RestartContainerRequest__Output } from '../generated/coracle/v1/RestartContainerRequest.js';
import type { RestartContainerResponse } from '../generated/coracle/v1/RestartContainerResponse.js';
import type { UnaryHandler } from './wrap.js';

export function restartContainerHandler(containers: Pick<ContainerService, 'restart'>): UnaryHandler<RestartContainerRequest__Output, RestartContainerResponse> {
  return async (request, ctx) => {
    if (!request.container_id) throw invalidArgument('RestartContainer: container_id is empty');
    await containers.restart(request.container_id, ctx.log);
    return {};
  };
}
