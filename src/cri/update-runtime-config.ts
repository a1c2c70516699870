import type { UpdateRuntimeConfigRequest__Output } from '../generated/runtime/v1/UpdateRuntimeConfigRequest.js';
import type { UpdateRuntimeConfigResponse } from '../generated/runtime/v1/UpdateRuntimeConfigResponse.js';
import type { RuntimeSettings } from '../runtime/runtime-settings.js';
import type { UnaryHandler } from './wrap.js';

export function updateRuntimeConfigHandler(
  settings: Pick<RuntimeSettings, 'setPodCidr'>,
): UnaryHandler<UpdateRuntimeConfigRequest__Output, UpdateRuntimeConfigResponse> {
  return async (request, ctx) => {
    const cidr = request.runtime_config?.network_config?.pod_cidr ?? '';
    const { changed } = await settings.setPodCidr(cidr);
    if (changed) ctx.log.info('pod CIDR recorded', { podCidr: cidr });
    return {};
  };
}
