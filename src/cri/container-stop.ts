import type { StopContainerRequest__Output } from '../generated/runtime/v1/StopContainerRequest.js';
import type { StopContainerResponse } from '../generated/runtime/v1/StopContainerResponse.js';
import type { ContainerService } from '../container/container-service.js';
import { invalidArgument } from '../errors.js';
import type { UnaryHandler } from './wrap.js';

export function stopContainerHandler(containers: Pick<ContainerService, 'stop'>): UnaryHandler<StopContainerRequest__Output, StopContainerResponse> {
  return async (request, ctx) => {
    if (!request.container_id) throw invalidArgument('StopContainer: container_id is empty');
    await containers.stop(request.container_id, Number(request.timeout), ctx.log);
    return {};
  };
}
