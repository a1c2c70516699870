import type { ListPodSandboxStatsRequest__Output } from '../generated/runtime/v1/ListPodSandboxStatsRequest.js';
import type { ListPodSandboxStatsResponse } from '../generated/runtime/v1/ListPodSandboxStatsResponse.js';
import type { PodSandboxStats } from '../generated/runtime/v1/PodSandboxStats.js';
import type { PodSandboxStatsRequest__Output } from '../generated/runtime/v1/PodSandboxStatsRequest.js';
import type { PodSandboxStatsResponse } from '../generated/runtime/v1/PodSandboxStatsResponse.js';
import type { ContainerService } from '../container/container-service.js';
import { invalidArgument, notFound } from '../errors.js';
import type { SandboxService } from '../sandbox/sandbox-service.js';
import type { SandboxRecord } from '../sandbox/sandbox-store.js';
import { toCriStats } from './container-stats.js';
import { toNanos } from './time.js';
import type { UnaryHandler } from './wrap.js';
import type { Long } from '@grpc/proto-loader';
import { int64 } from './int64.js';
import { identityMemo } from './identity-memo.js';
import { encodeAhead } from './proto.js';
import type { PodSandboxAttributes } from '../generated/runtime/v1/PodSandboxAttributes.js';

type PodUsage = Awaited<ReturnType<ContainerService['podStats']>>;

/** A pod's attributes, one object per record and encoded once: each stats call sends them again (proto.ts). */
const podAttributes = identityMemo((pod: SandboxRecord) =>
  encodeAhead<PodSandboxAttributes>('runtime.v1.PodSandboxAttributes', { id: pod.id, metadata: pod.metadata, labels: pod.labels, annotations: pod.annotations }),
);

function toCriPodStats(pod: SandboxRecord, u: PodUsage): PodSandboxStats {
  const timestamp = int64(toNanos(Date.now()));
  const v = (n: bigint | number): { value: Long } => ({ value: int64(BigInt(n), true) });
  const sum = (f: (s: PodUsage['containers'][number]) => bigint): bigint => u.containers.reduce((n, s) => n + f(s), 0n);
  const interfaces = u.interfaces.map((i) => ({ name: i.name, rx_bytes: v(i.rxBytes), rx_errors: v(i.rxErrors), tx_bytes: v(i.txBytes), tx_errors: v(i.txErrors) }));
  return {
    attributes: podAttributes(pod),
    linux: {
      cpu: {
        timestamp,
        usage_core_nano_seconds: v(sum((s) => s.usage.cpuNanoseconds)),
        // A pod's rate only when each of its running containers has one (none on a first reading).
        ...(u.containers.every((s) => s.container.state !== 'RUNNING' || s.usage.cpuNanoCores !== undefined) ? { usage_nano_cores: v(sum((s) => s.usage.cpuNanoCores ?? 0n)) } : {}),
      },
      memory: { timestamp, working_set_bytes: v(sum((s) => s.usage.memoryWorkingSetBytes)), usage_bytes: v(sum((s) => s.usage.memoryUsageBytes)), rss_bytes: v(sum((s) => s.usage.memoryRssBytes)) },
      network: { timestamp, default_interface: interfaces.find((i) => i.name === 'eth0') ?? interfaces[0] ?? null, interfaces },
      process: { timestamp, process_count: v(u.processes) },
      containers: u.containers.map(toCriStats),
    },
  };
}

export function podSandboxStatsHandler(
  sandboxes: Pick<SandboxService, 'resolve'>,
  containers: Pick<ContainerService, 'podStats'>,
): UnaryHandler<PodSandboxStatsRequest__Output, PodSandboxStatsResponse> {
  return async (request) => {
    if (!request.pod_sandbox_id) throw invalidArgument('PodSandboxStats: pod_sandbox_id is empty');
    const pod = sandboxes.resolve(request.pod_sandbox_id);
    if (!pod || pod.state === 'CREATING') throw notFound(`sandbox ${request.pod_sandbox_id}: not found`);
    return { stats: toCriPodStats(pod, await containers.podStats(pod.id)) };
  };
}

export function listPodSandboxStatsHandler(
  sandboxes: Pick<SandboxService, 'list'>,
  containers: Pick<ContainerService, 'podsStats'>,
): UnaryHandler<ListPodSandboxStatsRequest__Output, ListPodSandboxStatsResponse> {
  return async (request) => {
    const f = request.filter;
    const pods = sandboxes.list({ ...(f?.id ? { id: f.id } : {}), ...(f?.label_selector ? { labels: f.label_selector } : {}) });
    // A pod removed while its usage was read is left out, not the whole call failed.
    const usage = await containers.podsStats(pods.map((p) => p.id));
    return { stats: pods.flatMap((p) => (usage.has(p.id) ? [toCriPodStats(p, usage.get(p.id)!)] : [])) };
  };
}
