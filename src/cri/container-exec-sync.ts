import type { ExecSyncRequest__Output } from '../generated/runtime/v1/ExecSyncRequest.js';
import type { ExecSyncResponse } from '../generated/runtime/v1/ExecSyncResponse.js';
import type { ContainerService } from '../container/container-service.js';
import { invalidArgument } from '../errors.js';
import { EXEC_OVERRIDES_METADATA, execOverridesOf } from './exec-metadata.js';
import type { UnaryHandler } from './wrap.js';

export function execSyncHandler(containers: Pick<ContainerService, 'execSync'>): UnaryHandler<ExecSyncRequest__Output, ExecSyncResponse> {
  return async (request, ctx) => {
    if (!request.container_id) throw invalidArgument('ExecSync: container_id is empty');
    const overrides = execOverridesOf(ctx.metadata(EXEC_OVERRIDES_METADATA), `container ${request.container_id}: exec`);
    const r = await containers.execSync(request.container_id, request.cmd, Number(request.timeout), overrides);
    return { stdout: r.stdout, stderr: r.stderr, exit_code: r.exitCode };
  };
}
