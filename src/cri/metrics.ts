import type { ContainerService } from '../container/container-service.js';
import { METRIC_DESCRIPTORS, podMetrics, type MetricValue } from '../container/pod-metrics.js';
import type { ListMetricDescriptorsRequest__Output } from '../generated/runtime/v1/ListMetricDescriptorsRequest.js';
import type { ListMetricDescriptorsResponse } from '../generated/runtime/v1/ListMetricDescriptorsResponse.js';
import type { ListPodSandboxMetricsRequest__Output } from '../generated/runtime/v1/ListPodSandboxMetricsRequest.js';
import type { ListPodSandboxMetricsResponse } from '../generated/runtime/v1/ListPodSandboxMetricsResponse.js';
import type { Metric } from '../generated/runtime/v1/Metric.js';
import type { SandboxService } from '../sandbox/sandbox-service.js';
import type { UnaryHandler } from './wrap.js';

export function listMetricDescriptorsHandler(): UnaryHandler<ListMetricDescriptorsRequest__Output, ListMetricDescriptorsResponse> {
  return async () => ({ descriptors: METRIC_DESCRIPTORS.map((d) => ({ name: d.name, help: d.help, label_keys: d.labelKeys })) });
}

/** Metrics gathered live: timestamp 0, as CRI asks for values that were not cached. */
const toCri = (m: MetricValue): Metric => ({ name: m.name, timestamp: 0, metric_type: m.type, label_values: m.labelValues, value: { value: m.value.toString() } });

export function listPodSandboxMetricsHandler(
  sandboxes: Pick<SandboxService, 'list'>,
  containers: Pick<ContainerService, 'podsStats'>,
): UnaryHandler<ListPodSandboxMetricsRequest__Output, ListPodSandboxMetricsResponse> {
  return async () => {
    const pods = sandboxes.list({ state: 'READY' });
    // Their containers listed once for all; a pod removed meanwhile is left out.
    const usage = await containers.podsStats(pods.map((p) => p.id));
    const pod_metrics = pods.flatMap((p) => {
      const u = usage.get(p.id);
      if (!u) return [];
      const m = podMetrics({ id: p.id, name: p.metadata.name }, u.containers, u.interfaces);
      return [{ pod_sandbox_id: m.podId, metrics: m.metrics.map(toCri), container_metrics: m.containers.map((c) => ({ container_id: c.id, metrics: c.metrics.map(toCri) })) }];
    });
    return { pod_metrics };
  };
}
