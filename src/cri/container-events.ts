import type { ContainerEvent, ContainerEvents } from '../container/container-events.js';
import type { ContainerService } from '../container/container-service.js';
import type { ContainerEventResponse } from '../generated/runtime/v1/ContainerEventResponse.js';
import type { GetEventsRequest__Output } from '../generated/runtime/v1/GetEventsRequest.js';
import { messageOf } from '../errors.js';
import type { SandboxService } from '../sandbox/sandbox-service.js';
import { toCriContainerStatus } from './container-convert.js';
import { toCriSandboxStatus } from './sandbox-convert.js';
import { toNanos } from './time.js';
import type { ServerStreamHandler } from './wrap.js';

/**
 * GetContainerEvents: every container and sandbox event from now on, each with the pod's
 * status and all its containers' statuses as they are when it is sent (what kubelet's
 * evented PLEG rebuilds the pod from). A container's STOPPED whose container is gone by then
 * (removed as it exited: run --rm) carries the status it had when it stopped, so that a stream
 * that is behind still tells its exit code. The response headers come once the subscription
 * is made. The stream ends when the client leaves or the daemon stops.
 */
export function getContainerEventsHandler(
  events: Pick<ContainerEvents, 'subscribe'>,
  sandboxes: Pick<SandboxService, 'resolve'>,
  containers: Pick<ContainerService, 'list'>,
): ServerStreamHandler<GetEventsRequest__Output, ContainerEventResponse> {
  const toResponse = async (e: ContainerEvent): Promise<ContainerEventResponse> => {
    const pod = sandboxes.resolve(e.sandboxId);
    const statuses = pod ? (await containers.list({ sandboxId: pod.id })).map(toCriContainerStatus) : [];
    if (e.container && !statuses.some((s) => s.id === e.id)) statuses.push(toCriContainerStatus(e.container));
    return {
      container_id: e.id,
      container_event_type: `CONTAINER_${e.type}_EVENT`,
      created_at: toNanos(e.at),
      ...(pod && pod.state !== 'CREATING' ? { pod_sandbox_status: toCriSandboxStatus(pod) } : {}),
      containers_statuses: statuses,
    };
  };
  return (_request, write, ctx, headers) =>
    new Promise<void>((resolve) => {
      // One at a time and in order: a slow client holds up only its own stream.
      let queue = Promise.resolve();
      const end = (): void => {
        unsubscribe();
        void queue.then(() => resolve());
      };
      const unsubscribe = events.subscribe((e) => {
        queue = queue
          .then(async () => {
            if (!ctx.signal.aborted) await write(await toResponse(e));
          })
          .catch((err: unknown) => {
            ctx.log.warn('event not sent', { container: e.id, error: messageOf(err) });
          });
      }, end);
      ctx.signal.addEventListener('abort', end, { once: true });
      // Subscribed: a client that waits for the headers misses no event after them (run).
      headers();
    });
}
