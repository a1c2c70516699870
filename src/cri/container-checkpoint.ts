import type { ContainerService } from '../container/container-service.js';
import { invalidArgument } from '../errors.js';
import type { CheckpointContainerRequest__Output } from '../generated/runtime/v1/CheckpointContainerRequest.js';
import type { CheckpointContainerResponse } from '../generated/runtime/v1/CheckpointContainerResponse.js';
import type { UnaryHandler } from './wrap.js';

export function checkpointContainerHandler(containers: Pick<ContainerService, 'checkpoint'>): UnaryHandler<CheckpointContainerRequest__Output, CheckpointContainerResponse> {
  return async (request) => {
    if (!request.container_id) throw invalidArgument('CheckpointContainer: container_id is empty');
    await containers.checkpoint(request.container_id, request.location);
    return {};
  };
}
