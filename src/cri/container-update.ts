import type { UpdateContainerResourcesRequest__Output } from '../generated/runtime/v1/UpdateContainerResourcesRequest.js';
import type { UpdateContainerResourcesResponse } from '../generated/runtime/v1/UpdateContainerResourcesResponse.js';
import type { ContainerService } from '../container/container-service.js';
import { invalidArgument } from '../errors.js';
import { toResources } from './container-convert.js';
import { vetResources } from '../container/resource-checks.js';
import type { UnaryHandler } from './wrap.js';

export function updateContainerResourcesHandler(containers: Pick<ContainerService, 'updateResources'>): UnaryHandler<UpdateContainerResourcesRequest__Output, UpdateContainerResourcesResponse> {
  return async (request) => {
    if (!request.container_id) throw invalidArgument('UpdateContainerResources: container_id is empty');
    if (!request.linux) throw invalidArgument('UpdateContainerResources: linux resources are required');
    const resources = toResources(request.linux);
    await vetResources(resources, `container ${request.container_id}: resources`);
    await containers.updateResources(request.container_id, resources);
    return {};
  };
}
