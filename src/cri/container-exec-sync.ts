import type { ExecSyncRequest__Output } from '../generated/runtime/v1/ExecSyncRequest.js';
import type { ExecSyncResponse } from '../generated/runtime/v1/ExecSyncResponse.js';
import type { ContainerService } from '../container/container-service.js';
import { invalidArgument } from '../errors.js';
import type { UnaryHandler } from './wrap.js';

export function execSyncHandler(containers: Pick<ContainerService, 'execSync'>): UnaryHandler<ExecSyncRequest__Output, ExecSyncResponse> {
  return async (request) => {
    if (!request.container_id) throw invalidArgument('ExecSync: container_id is empty');
    const r = await containers.execSync(request.container_id, request.cmd, Number(request.timeout));
    return { stdout: r.stdout, stderr: r.stderr, exit_code: r.exitCode };
  };
}
