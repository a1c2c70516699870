import type { PodSandboxStatusRequest__Output } from '../generated/runtime/v1/PodSandboxStatusRequest.js';
import type { PodSandboxStatusResponse } from '../generated/runtime/v1/PodSandboxStatusResponse.js';
import { invalidArgument } from '../errors.js';
import type { SandboxService } from '../sandbox/sandbox-service.js';
import { toCriSandboxStatus } from './sandbox-convert.js';
import { toNanos } from './time.js';
import { identityMemo } from './identity-memo.js';
import type { UnaryHandler } from './wrap.js';

/** One conversion (and encoding, proto.ts) per record: kubelet asks every relist. */
const converted = identityMemo(toCriSandboxStatus);

export function podSandboxStatusHandler(sandboxes: Pick<SandboxService, 'status'>): UnaryHandler<PodSandboxStatusRequest__Output, PodSandboxStatusResponse> {
  return (request): PodSandboxStatusResponse => {
    if (!request.pod_sandbox_id) throw invalidArgument('PodSandboxStatus: pod_sandbox_id is empty');
    const r = sandboxes.status(request.pod_sandbox_id);
    return {
      status: converted(r),
      info: request.verbose ? { info: JSON.stringify(r) } : {},
      containers_statuses: [],
      timestamp: toNanos(Date.now()),
    };
  };
}
