import type { ContainerService } from '../container/container-service.js';
import { invalidArgument } from '../errors.js';
import type { ContainerTopRequest__Output } from '../generated/coracle/v1/ContainerTopRequest.js';
import type { ContainerTopResponse } from '../generated/coracle/v1/ContainerTopResponse.js';
import type { UnaryHandler } from './wrap.js';

export function containerTopHandler(containers: Pick<ContainerService, 'top'>): UnaryHandler<ContainerTopRequest__Output, ContainerTopResponse> {
  return async (request) => {
    if (!request.container_id) throw invalidArgument('ContainerTop: container_id is empty');
    return { processes: await containers.top(request.container_id) };
  };
}
