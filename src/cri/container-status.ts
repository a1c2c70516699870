import type { ContainerStatusRequest__Output } from '../generated/runtime/v1/ContainerStatusRequest.js';
import type { ContainerStatusResponse } from '../generated/runtime/v1/ContainerStatusResponse.js';
import type { ContainerService } from '../container/container-service.js';
import { invalidArgument } from '../errors.js';
import { toCriContainerStatus } from './container-convert.js';
import { identityMemo } from './identity-memo.js';
import type { UnaryHandler } from './wrap.js';

/** One conversion (and encoding, proto.ts) per record: kubelet asks after every change it sees. */
const converted = identityMemo(toCriContainerStatus);
/** The verbose info, as the record: its JSON once per record. */
const described = identityMemo((c: object) => ({ info: JSON.stringify(c) }));

export function containerStatusHandler(containers: Pick<ContainerService, 'status'>): UnaryHandler<ContainerStatusRequest__Output, ContainerStatusResponse> {
  return async (request): Promise<ContainerStatusResponse> => {
    if (!request.container_id) throw invalidArgument('ContainerStatus: container_id is empty');
    const c = await containers.status(request.container_id);
    return { status: converted(c), info: request.verbose ? described(c) : {} };
  };
}
