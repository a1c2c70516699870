import type { PortForwardRequest__Output } from '../generated/runtime/v1/PortForwardRequest.js';
import type { PortForwardResponse } from '../generated/runtime/v1/PortForwardResponse.js';
import type { StreamingService } from '../streaming/streaming-service.js';
import type { UnaryHandler } from './wrap.js';

export function portForwardHandler(streaming: Pick<StreamingService, 'portForward'>): UnaryHandler<PortForwardRequest__Output, PortForwardResponse> {
  return (request) => ({ url: streaming.portForward(request.pod_sandbox_id, request.port) });
}
