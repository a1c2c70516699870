import type { ListPodSandboxRequest__Output } from '../generated/runtime/v1/ListPodSandboxRequest.js';
import type { ListPodSandboxResponse } from '../generated/runtime/v1/ListPodSandboxResponse.js';
import type { SandboxService } from '../sandbox/sandbox-service.js';
import { toCriSandbox } from './sandbox-convert.js';
import { identityMemo } from './identity-memo.js';
import type { UnaryHandler } from './wrap.js';

/** One conversion per record: the next List gives the same object, and the encoder its bytes. */
const listed = identityMemo(toCriSandbox);

export function listPodSandboxHandler(sandboxes: Pick<SandboxService, 'list'>): UnaryHandler<ListPodSandboxRequest__Output, ListPodSandboxResponse> {
  return (request) => {
    const f = request.filter;
    const state = f?.state?.state;
    const items = sandboxes.list({
      ...(f?.id ? { id: f.id } : {}),
      ...(state ? { state: state === 'SANDBOX_READY' ? 'READY' : 'NOTREADY' } : {}),
      ...(f?.label_selector ? { labels: f.label_selector } : {}),
    });
    return { items: items.map(listed) };
  };
}
