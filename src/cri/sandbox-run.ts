import type { RunPodSandboxRequest__Output } from '../generated/runtime/v1/RunPodSandboxRequest.js';
import type { RunPodSandboxResponse } from '../generated/runtime/v1/RunPodSandboxResponse.js';
import type { SandboxService } from '../sandbox/sandbox-service.js';
import { toSandboxSpec } from './sandbox-convert.js';
import type { UnaryHandler } from './wrap.js';

/**
 * The request metadata with which Coracle's CLI asks for its own network. A gRPC header, not a
 * label: a pod's labels come from whoever wrote the pod, and must not move it off the cluster's
 * network; metadata only a client of the socket sets, and kubelet sets none.
 */
export const POD_NETWORK_METADATA = 'coracle-pod-network';

export function runPodSandboxHandler(sandboxes: Pick<SandboxService, 'run'>): UnaryHandler<RunPodSandboxRequest__Output, RunPodSandboxResponse> {
  return async (request, ctx) => {
    const spec = toSandboxSpec(request.config, request.runtime_handler);
    const wanted = ctx.metadata(POD_NETWORK_METADATA);
    // 'none': a network namespace of its own with only its loopback (docker's --network none).
    if (wanted === 'embedded' || wanted === 'none') spec.network = wanted;
    return { pod_sandbox_id: await sandboxes.run(spec, ctx.log) };
  };
}
