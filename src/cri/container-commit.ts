import type { ContainerService } from '../container/container-service.js';
import { invalidArgument } from '../errors.js';
import type { CommitContainerRequest__Output } from '../generated/coracle/v1/CommitContainerRequest.js';
import type { CommitContainerResponse } from '../generated/coracle/v1/CommitContainerResponse.js';
import type { UnaryHandler } from './wrap.js';

export function commitContainerHandler(containers: Pick<ContainerService, 'commit'>): UnaryHandler<CommitContainerRequest__Output, CommitContainerResponse> {
  return async (request, ctx) => {
    if (!request.container_id) throw invalidArgument('CommitContainer: container_id is empty');
    const image = await containers.commit(request.container_id, { ...(request.repo_tag ? { tag: request.repo_tag } : {}), comment: request.comment, author: request.author }, ctx.log);
    return { image_id: image.id };
  };
}
