import type { RemovePodSandboxRequest__Output } from '../generated/runtime/v1/RemovePodSandboxRequest.js';
import type { RemovePodSandboxResponse } from '../generated/runtime/v1/RemovePodSandboxResponse.js';
import { invalidArgument } from '../errors.js';
import type { SandboxService } from '../sandbox/sandbox-service.js';
import type { UnaryHandler } from './wrap.js';

export function removePodSandboxHandler(sandboxes: Pick<SandboxService, 'remove'>): UnaryHandler<RemovePodSandboxRequest__Output, RemovePodSandboxResponse> {
  return async (request, ctx) => {
    if (!request.pod_sandbox_id) throw invalidArgument('RemovePodSandbox: pod_sandbox_id is empty');
    await sandboxes.remove(request.pod_sandbox_id, ctx.log);
    return {};
  };
}
