import type { AttachRequest__Output } from '../generated/runtime/v1/AttachRequest.js';
import type { AttachResponse } from '../generated/runtime/v1/AttachResponse.js';
import type { StreamingService } from '../streaming/streaming-service.js';
import type { UnaryHandler } from './wrap.js';

export function attachHandler(streaming: Pick<StreamingService, 'attach'>): UnaryHandler<AttachRequest__Output, AttachResponse> {
  return async (request) => {
    const url = await streaming.attach(request.container_id, {
      tty: request.tty,
      stdin: request.stdin,
      stdout: request.stdout,
      stderr: request.stderr,
    });
    return { url };
  };
}
