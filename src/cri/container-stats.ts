import type { ContainerStats } from '../generated/runtime/v1/ContainerStats.js';
import type { ContainerStatsRequest__Output } from '../generated/runtime/v1/ContainerStatsRequest.js';
import type { ContainerStatsResponse } from '../generated/runtime/v1/ContainerStatsResponse.js';
import type { ListContainerStatsRequest__Output } from '../generated/runtime/v1/ListContainerStatsRequest.js';
import type { ListContainerStatsResponse } from '../generated/runtime/v1/ListContainerStatsResponse.js';
import type { ContainerService } from '../container/container-service.js';
import { invalidArgument } from '../errors.js';
import type { UnaryHandler } from './wrap.js';
import type { Long } from '@grpc/proto-loader';
import { int64 } from './int64.js';
import { identityMemo } from './identity-memo.js';
import { encodeAhead } from './proto.js';
import type { ContainerAttributes } from '../generated/runtime/v1/ContainerAttributes.js';
import type { ContainerRecord } from '../container/container-store.js';

type Stats = Awaited<ReturnType<ContainerService['stats']>>;

/** A container's attributes, one object per record and encoded once: each stats call sends them again (proto.ts). */
const containerAttributes = identityMemo((c: ContainerRecord) =>
  encodeAhead<ContainerAttributes>('runtime.v1.ContainerAttributes', { id: c.id, metadata: c.metadata, labels: c.labels, annotations: c.annotations }),
);

export function toCriStats({ container: c, usage: u, mountpoint }: Stats): ContainerStats {
  const v = (n: bigint | number): { value: Long } => ({ value: int64(BigInt(n), true) });
  const timestamp = int64(u.timestamp);
  return {
    attributes: containerAttributes(c),
    cpu: { timestamp, usage_core_nano_seconds: v(u.cpuNanoseconds), ...(u.cpuNanoCores !== undefined ? { usage_nano_cores: v(u.cpuNanoCores) } : {}) },
    memory: { timestamp, working_set_bytes: v(u.memoryWorkingSetBytes), usage_bytes: v(u.memoryUsageBytes), rss_bytes: v(u.memoryRssBytes) },
    writable_layer: { timestamp, fs_id: { mountpoint }, used_bytes: v(u.writableBytes), inodes_used: v(u.writableInodes) },
  };
}

export function containerStatsHandler(containers: Pick<ContainerService, 'stats'>): UnaryHandler<ContainerStatsRequest__Output, ContainerStatsResponse> {
  return async (request) => {
    if (!request.container_id) throw invalidArgument('ContainerStats: container_id is empty');
    return { stats: toCriStats(await containers.stats(request.container_id)) };
  };
}

export function listContainerStatsHandler(containers: Pick<ContainerService, 'listStats'>): UnaryHandler<ListContainerStatsRequest__Output, ListContainerStatsResponse> {
  return async (request) => {
    const f = request.filter;
    const stats = await containers.listStats({
      ...(f?.id ? { id: f.id } : {}),
      ...(f?.pod_sandbox_id ? { sandboxId: f.pod_sandbox_id } : {}),
      ...(f?.label_selector ? { labels: f.label_selector } : {}),
    });
    return { stats: stats.map(toCriStats) };
  };
}
