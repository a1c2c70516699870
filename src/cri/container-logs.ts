import type { ContainerService } from '../container/container-service.js';
import { invalidArgument } from '../errors.js';
import type { ContainerLogChunk } from '../generated/coracle/v1/ContainerLogChunk.js';
import type { ContainerLogsRequest__Output } from '../generated/coracle/v1/ContainerLogsRequest.js';
import { int64 } from './int64.js';
import type { ServerStreamHandler } from './wrap.js';

/** Coracle's ContainerLogs (docker logs [-f]): the container's CRI log, read on the daemon's host. */
export function containerLogsHandler(containers: Pick<ContainerService, 'logs'>): ServerStreamHandler<ContainerLogsRequest__Output, ContainerLogChunk> {
  return async (request, write, ctx) => {
    if (!request.container_id) throw invalidArgument('ContainerLogs: container_id is empty');
    const tail = BigInt(request.tail || '-1');
    const since = BigInt(request.since_nanos || '0');
    const until = BigInt(request.until_nanos || '0');
    const o = {
      follow: request.follow,
      waitStart: request.wait_start,
      ...(tail >= 0n ? { tail: tail > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(tail) } : {}),
      ...(since !== 0n ? { since } : {}),
      ...(until !== 0n ? { until } : {}),
    };
    // One message a batch; the next batch is read once this one is sent (the stream drained).
    // The only empty one is wait_start's first: the file is open.
    for await (const batch of containers.logs(request.container_id, o, ctx.signal)) {
      await write({ lines: batch.map((m) => ({ stream: m.stream, time: m.time, time_nanos: int64(m.timeNanos), line: m.line })) });
    }
  };
}
