import type { StatusRequest__Output } from '../generated/runtime/v1/StatusRequest.js';
import type { StatusResponse } from '../generated/runtime/v1/StatusResponse.js';
import type { RuntimeStatusService } from '../runtime/runtime-status.js';
import type { UnaryHandler } from './wrap.js';

export function statusHandler(
  service: Pick<RuntimeStatusService, 'status'>,
): UnaryHandler<StatusRequest__Output, StatusResponse> {
  return async (request) => {
    const status = await service.status(request.verbose);
    return {
      status: {
        conditions: status.conditions.map((c) => ({
          type: c.type,
          status: c.status,
          reason: c.reason,
          message: c.message,
        })),
      },
      info: status.info,
      runtime_handlers: status.handlers.map((h) => ({
        name: h.name,
        features: {
          recursive_read_only_mounts: h.recursiveReadOnlyMounts,
          user_namespaces: h.userNamespaces,
        },
      })),
      features: { supplemental_groups_policy: false },
    };
  };
}
