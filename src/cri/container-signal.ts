import type { ContainerService } from '../container/container-service.js';
import { invalidArgument } from '../errors.js';
import type { SignalContainerRequest__Output } from '../generated/coracle/v1/SignalContainerRequest.js';
import type { SignalContainerResponse } from '../generated/coracle/v1/SignalContainerResponse.js';
import type { UnaryHandler } from './wrap.js';

export function signalContainerHandler(containers: Pick<ContainerService, 'signal'>): UnaryHandler<SignalContainerRequest__Output, SignalContainerResponse> {
  return async (request) => {
    if (!request.container_id) throw invalidArgument('SignalContainer: container_id is empty');
    if (!request.signal) throw invalidArgument('SignalContainer: signal is empty');
    await containers.signal(request.container_id, request.signal);
    return {};
  };
}
