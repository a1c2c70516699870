import type { StopPodSandboxRequest__Output } from '../generated/runtime/v1/StopPodSandboxRequest.js';
import type { StopPodSandboxResponse } from '../generated/runtime/v1/StopPodSandboxResponse.js';
import { invalidArgument } from '../errors.js';
import type { SandboxService } from '../sandbox/sandbox-service.js';
import type { UnaryHandler } from './wrap.js';

export function stopPodSandboxHandler(sandboxes: Pick<SandboxService, 'stop'>): UnaryHandler<StopPodSandboxRequest__Output, StopPodSandboxResponse> {
  return async (request, ctx) => {
    if (!request.pod_sandbox_id) throw invalidArgument('StopPodSandbox: pod_sandbox_id is empty');
    await sandboxes.stop(request.pod_sandbox_id, ctx.log);
    return {};
  };
}
