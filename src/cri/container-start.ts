import type { StartContainerRequest__Output } from '../generated/runtime/v1/StartContainerRequest.js';
import type { StartContainerResponse } from '../generated/runtime/v1/StartContainerResponse.js';
import type { ContainerService } from '../container/container-service.js';
import { invalidArgument } from '../errors.js';
import { prepareContainerStatus, prepared } from './answers.js';
import type { UnaryHandler } from './wrap.js';

export function startContainerHandler(containers: Pick<ContainerService, 'start' | 'status'>): UnaryHandler<StartContainerRequest__Output, StartContainerResponse> {
  return async (request, ctx) => {
    if (!request.container_id) throw invalidArgument('StartContainer: container_id is empty');
    await containers.start(request.container_id, ctx.log);
    // Started: a status not to be had now (removed meanwhile) is no failure of the start.
    await prepared(() => containers.status(request.container_id).then(prepareContainerStatus), ctx.log);
    return {};
  };
}
