import { busyboxPod } from '../helpers/busybox-pod.js';
import { busyboxRegistry } from '../helpers/busybox-registry.js';
import assert from 'node:assert/strict';

describe('cri: ListMetricDescriptors and ListPodSandboxMetrics', function () {
  this.timeout(60_000);
  const fx = busyboxRegistry('metrics/busybox', { config: { Env: ['PATH=/bin'] } });

  it('every metric has its descriptor; values come from the pod\'s cgroups, writable layers and interfaces', async () => {
    const { d, pod, start } = await busyboxPod(fx, 'metricpod');
    const { descriptors } = await d.clients.runtime.ListMetricDescriptors({});
    const keys = new Map(descriptors.map((x) => [x.name, x.label_keys]));
    assert.ok(keys.has('container_cpu_usage_seconds_total') && keys.has('container_memory_working_set_bytes') && keys.has('container_network_receive_bytes_total'));

    const ctr = await start('busy', ['sh', '-c', 'head -c 30000000 /dev/zero > /tmp/fill; sleep 60']);
    await new Promise((r) => setTimeout(r, 1500));

    const { pod_metrics } = await d.clients.runtime.ListPodSandboxMetrics({});
    assert.deepEqual(pod_metrics.map((p) => p.pod_sandbox_id), [pod]);
    const pm = pod_metrics[0]!;
    const all = [...pm.metrics, ...pm.container_metrics.flatMap((c) => c.metrics)];
    for (const m of all) {
      assert.ok(keys.has(m.name), `${m.name} has a descriptor`);
      assert.equal(m.label_values.length, keys.get(m.name)!.length, `${m.name}: one value per label key`);
    }
    const value = (name: string): number => Number(pm.container_metrics[0]!.metrics.find((m) => m.name === name)!.value!.value);
    assert.equal(pm.container_metrics[0]!.container_id, ctr);
    assert.deepEqual(pm.container_metrics[0]!.metrics[0]!.label_values, [ctr, 'busy', fx.image]);
    assert.ok(value('container_fs_usage_bytes') >= 30_000_000, `writable layer ${value('container_fs_usage_bytes')}`);
    assert.ok(value('container_memory_usage_bytes') > 0);
    assert.ok(value('container_processes') >= 1);
    const rx = pm.metrics.find((m) => m.name === 'container_network_receive_bytes_total');
    assert.deepEqual(rx?.label_values, [pod, 'metricpod', '', 'eth0']);
    assert.equal(rx?.metric_type, 'COUNTER');
  });
});
