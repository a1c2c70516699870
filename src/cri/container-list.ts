import type { ListContainersRequest__Output } from '../generated/runtime/v1/ListContainersRequest.js';
import type { ListContainersResponse } from '../generated/runtime/v1/ListContainersResponse.js';
import type { ContainerService } from '../container/container-service.js';
import type { ContainerRecord } from '../container/container-store.js';
import { toCriContainer } from './container-convert.js';
import { identityMemo } from './identity-memo.js';
import type { UnaryHandler } from './wrap.js';

/** One conversion per record: the next List gives the same object, and the encoder its bytes. */
const listed = identityMemo(toCriContainer);

const STATES: Record<string, ContainerRecord['state']> = {
  CONTAINER_CREATED: 'CREATED',
  CONTAINER_RUNNING: 'RUNNING',
  CONTAINER_EXITED: 'EXITED',
  CONTAINER_UNKNOWN: 'CREATING',
};

export function listContainersHandler(containers: Pick<ContainerService, 'list'>): UnaryHandler<ListContainersRequest__Output, ListContainersResponse> {
  return async (request) => {
    const f = request.filter;
    const state = f?.state ? STATES[f.state.state] : undefined;
    const list = await containers.list({
      ...(f?.id ? { id: f.id } : {}),
      ...(f?.pod_sandbox_id ? { sandboxId: f.pod_sandbox_id } : {}),
      ...(state ? { state } : {}),
      ...(f?.label_selector ? { labels: f.label_selector } : {}),
    });
    return { containers: list.map(listed) };
  };
}
