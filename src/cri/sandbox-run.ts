import type { RunPodSandboxRequest__Output } from '../generated/runtime/v1/RunPodSandboxRequest.js';
import type { RunPodSandboxResponse } from '../generated/runtime/v1/RunPodSandboxResponse.js';
import type { SandboxService } from '../sandbox/sandbox-service.js';
import { toSandboxSpec } from './sandbox-convert.js';
import type { UnaryHandler } from './wrap.js';

export function runPodSandboxHandler(sandboxes: Pick<SandboxService, 'run'>): UnaryHandler<RunPodSandboxRequest__Output, RunPodSandboxResponse> {
  return async (request, ctx) => ({
    pod_sandbox_id: await sandboxes.run(toSandboxSpec(request.config, request.runtime_handler), ctx.log),
  });
}
