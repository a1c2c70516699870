import type { InterfaceUsage } from '../netns/net-dev.js';
import type { ContainerRecord } from './container-store.js';
import type { ContainerUsage } from './container-stats.js';

export interface MetricDescriptor {
  name: string;
  help: string;
  labelKeys: string[];
  type: 'COUNTER' | 'GAUGE';
}

export interface MetricValue {
  name: string;
  type: 'COUNTER' | 'GAUGE';
  labelValues: string[];
  value: bigint;
}

export interface PodMetrics {
  podId: string;
  metrics: MetricValue[];
  containers: { id: string; metrics: MetricValue[] }[];
}

const CONTAINER_LABELS = ['id', 'name', 'image'];
const NETWORK_LABELS = ['id', 'name', 'image', 'interface'];

/**
 * The metrics ListPodSandboxMetrics gives, under cAdvisor's names, which kubelet serves as
 * they come when it takes container metrics from the runtime. Values are whole numbers
 * (CRI's UInt64Value): CPU time is in whole seconds.
 */
export const METRIC_DESCRIPTORS: MetricDescriptor[] = [
  { name: 'container_cpu_usage_seconds_total', help: 'Cumulative cpu time consumed in seconds.', labelKeys: CONTAINER_LABELS, type: 'COUNTER' },
  { name: 'container_memory_usage_bytes', help: 'Current memory usage in bytes, including all memory regardless of when it was accessed.', labelKeys: CONTAINER_LABELS, type: 'GAUGE' },
  { name: 'container_memory_working_set_bytes', help: 'Current working set in bytes.', labelKeys: CONTAINER_LABELS, type: 'GAUGE' },
  { name: 'container_memory_rss', help: 'Size of RSS in bytes.', labelKeys: CONTAINER_LABELS, type: 'GAUGE' },
  { name: 'container_processes', help: 'Number of processes running inside the container.', labelKeys: CONTAINER_LABELS, type: 'GAUGE' },
  { name: 'container_fs_usage_bytes', help: 'Number of bytes that are consumed by the container on this filesystem.', labelKeys: CONTAINER_LABELS, type: 'GAUGE' },
  { name: 'container_fs_inodes_total', help: 'Number of inodes the container uses in its writable layer.', labelKeys: CONTAINER_LABELS, type: 'GAUGE' },
  { name: 'container_network_receive_bytes_total', help: 'Cumulative count of bytes received.', labelKeys: NETWORK_LABELS, type: 'COUNTER' },
  { name: 'container_network_receive_errors_total', help: 'Cumulative count of errors encountered while receiving.', labelKeys: NETWORK_LABELS, type: 'COUNTER' },
  { name: 'container_network_transmit_bytes_total', help: 'Cumulative count of bytes transmitted.', labelKeys: NETWORK_LABELS, type: 'COUNTER' },
  { name: 'container_network_transmit_errors_total', help: 'Cumulative count of errors encountered while transmitting.', labelKeys: NETWORK_LABELS, type: 'COUNTER' },
];

const TYPES = new Map(METRIC_DESCRIPTORS.map((d) => [d.name, d.type]));

function metric(name: string, labelValues: string[], value: bigint | number): MetricValue {
  return { name, type: TYPES.get(name)!, labelValues, value: BigInt(value) };
}

/** One pod's metrics: its network counters at pod level, the rest per container. */
export function podMetrics(
  pod: { id: string; name: string },
  containers: { container: ContainerRecord; usage: ContainerUsage }[],
  interfaces: InterfaceUsage[],
): PodMetrics {
  return {
    podId: pod.id,
    metrics: interfaces.flatMap((i) => {
      const labels = [pod.id, pod.name, '', i.name];
      return [
        metric('container_network_receive_bytes_total', labels, i.rxBytes),
        metric('container_network_receive_errors_total', labels, i.rxErrors),
        metric('container_network_transmit_bytes_total', labels, i.txBytes),
        metric('container_network_transmit_errors_total', labels, i.txErrors),
      ];
    }),
    containers: containers.map(({ container: c, usage: u }) => {
      const labels = [c.id, c.metadata.name, c.image.spec];
      return {
        id: c.id,
        metrics: [
          metric('container_cpu_usage_seconds_total', labels, u.cpuNanoseconds / 1_000_000_000n),
          metric('container_memory_usage_bytes', labels, u.memoryUsageBytes),
          metric('container_memory_working_set_bytes', labels, u.memoryWorkingSetBytes),
          metric('container_memory_rss', labels, u.memoryRssBytes),
          metric('container_processes', labels, u.processes),
          metric('container_fs_usage_bytes', labels, u.writableBytes),
          metric('container_fs_inodes_total', labels, u.writableInodes),
        ],
      };
    }),
  };
}
