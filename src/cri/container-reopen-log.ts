import type { ReopenContainerLogRequest__Output } from '../generated/runtime/v1/ReopenContainerLogRequest.js';
import type { ReopenContainerLogResponse } from '../generated/runtime/v1/ReopenContainerLogResponse.js';
import type { ContainerService } from '../container/container-service.js';
import { invalidArgument } from '../errors.js';
import type { UnaryHandler } from './wrap.js';

export function reopenContainerLogHandler(containers: Pick<ContainerService, 'reopenLog'>): UnaryHandler<ReopenContainerLogRequest__Output, ReopenContainerLogResponse> {
  return async (request) => {
    if (!request.container_id) throw invalidArgument('ReopenContainerLog: container_id is empty');
    await containers.reopenLog(request.container_id);
    return {};
  };
}
