import type { CreateContainerRequest__Output } from '../generated/runtime/v1/CreateContainerRequest.js';
import type { CreateContainerResponse } from '../generated/runtime/v1/CreateContainerResponse.js';
import type { ContainerService } from '../container/container-service.js';
import { toContainerSpec } from './container-convert.js';
import type { UnaryHandler } from './wrap.js';

export function createContainerHandler(containers: Pick<ContainerService, 'create'>): UnaryHandler<CreateContainerRequest__Output, CreateContainerResponse> {
  return async (request, ctx) => ({ container_id: await containers.create(toContainerSpec(request.pod_sandbox_id, request.config), ctx.log) });
}
