import type { ExecRequest__Output } from '../generated/runtime/v1/ExecRequest.js';
import type { ExecResponse } from '../generated/runtime/v1/ExecResponse.js';
import type { StreamingService } from '../streaming/streaming-service.js';
import { EXEC_OVERRIDES_METADATA, execOverridesOf } from './exec-metadata.js';
import type { UnaryHandler } from './wrap.js';

export function execHandler(streaming: Pick<StreamingService, 'exec'>): UnaryHandler<ExecRequest__Output, ExecResponse> {
  return async (request, ctx) => {
    const overrides = execOverridesOf(ctx.metadata(EXEC_OVERRIDES_METADATA), `container ${request.container_id}: exec`);
    const url = await streaming.exec(request.container_id, request.cmd, {
      tty: request.tty,
      stdin: request.stdin,
      stdout: request.stdout,
      stderr: request.stderr,
    }, overrides);
    return { url };
  };
}
