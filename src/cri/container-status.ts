import type { ContainerStatusRequest__Output } from '../generated/runtime/v1/ContainerStatusRequest.js';
import type { ContainerStatusResponse } from '../generated/runtime/v1/ContainerStatusResponse.js';
import type { ContainerService } from '../container/container-service.js';
import { invalidArgument } from '../errors.js';
import { containerInfo, criContainerStatus } from './answers.js';
import type { UnaryHandler } from './wrap.js';

export function containerStatusHandler(containers: Pick<ContainerService, 'status'>): UnaryHandler<ContainerStatusRequest__Output, ContainerStatusResponse> {
  return async (request): Promise<ContainerStatusResponse> => {
    if (!request.container_id) throw invalidArgument('ContainerStatus: container_id is empty');
    const c = await containers.status(request.container_id);
    return { status: criContainerStatus(c), info: request.verbose ? containerInfo(c) : {} };
  };
}
