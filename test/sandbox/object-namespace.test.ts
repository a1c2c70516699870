import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CLI_NAMESPACE } from '../../src/cli/cli-namespace.js';
import { namespaceOf } from '../../src/sandbox/object-namespace.js';
import { busyboxDaemon } from '../helpers/busybox-pod.js';
import { busyboxRegistry } from '../helpers/busybox-registry.js';
import { onCleanup } from '../helpers/cleanup.js';
import { criClients } from '../helpers/cri-client.js';
import { spawnCoracle, waitServing } from '../helpers/daemon.js';
import { podConfig, startContainer } from '../helpers/pods.js';

describe('sandbox/object-namespace: whose a pod or container is', function () {
  this.timeout(90_000);
  const fx = busyboxRegistry('objns/busybox', { config: { Env: ['PATH=/bin'] } });

  it('a record names its namespace; one from before namespaces is kubelet\'s, or the CLI\'s if the CLI marked it', () => {
    assert.equal(namespaceOf({ namespace: 'x.y', labels: { 'io.coracle.cli': 'true' } }), 'x.y');
    assert.equal(namespaceOf({ labels: {} }), 'k8s.io');
    assert.equal(namespaceOf({ labels: { 'io.coracle.cli': 'false' } }), 'k8s.io');
    assert.equal(namespaceOf({ labels: { 'io.coracle.cli': 'true' } }), 'coracle.cli');
  });

  it('records written before namespaces: after a restart, the CLI\'s are still the CLI\'s and the rest kubelet\'s', async () => {
    const d = await busyboxDaemon(fx);
    const cli = criClients(d.socket, CLI_NAMESPACE);
    onCleanup('close the CLI namespace clients', () => cli.close());
    // Both made by kubelet's client, one marked as the CLI marked its own; their records are
    // then made as an older Coracle wrote them, with no namespace.
    const made: Record<string, { pod: string; ctr: string }> = {};
    for (const [who, labels] of [['plain', {}], ['marked', { 'io.coracle.cli': 'true' }]] as const) {
      const config = podConfig(who, { log_directory: join(d.dir, 'logs'), labels });
      const pod = (await d.clients.runtime.RunPodSandbox({ config })).pod_sandbox_id;
      const ctr = await startContainer(d.clients.runtime, { id: pod, config }, fx.image, who, ['sleep', '300'], { labels });
      made[who] = { pod, ctr };
    }
    assert.equal((await cli.runtime.ListContainers({})).containers.length, 0, 'written now, they are kubelet\'s whatever their labels');
    await d.stop();
    for (const { pod, ctr } of Object.values(made)) {
      for (const file of [join(d.root, 'sandboxes', pod, 'sandbox.json'), join(d.root, 'containers', ctr, 'container.json')]) {
        const record = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
        const written = JSON.stringify(record);
        assert.ok(written.includes('"namespace":"k8s.io"'), `${file}: ${written.slice(0, 200)}`);
        await writeFile(file, written.replace('"namespace":"k8s.io",', ''));
      }
    }
    const again = spawnCoracle(['--config', d.configPath, 'serve']);
    await waitServing(again);
    assert.deepEqual((await d.clients.runtime.ListContainers({})).containers.map((c) => c.id), [made.plain!.ctr]);
    assert.deepEqual((await d.clients.runtime.ListPodSandbox({})).items.map((p) => p.id), [made.plain!.pod]);
    assert.deepEqual((await cli.runtime.ListContainers({})).containers.map((c) => [c.id, c.state]), [[made.marked!.ctr, 'CONTAINER_RUNNING']]);
    assert.deepEqual((await cli.runtime.ListPodSandbox({})).items.map((p) => p.id), [made.marked!.pod]);
    await cli.runtime.StopPodSandbox({ pod_sandbox_id: made.marked!.pod });
    await cli.runtime.RemovePodSandbox({ pod_sandbox_id: made.marked!.pod });
    await d.clients.runtime.StopPodSandbox({ pod_sandbox_id: made.plain!.pod });
    await d.clients.runtime.RemovePodSandbox({ pod_sandbox_id: made.plain!.pod });
    again.proc.kill('SIGTERM');
    await again.exited;
  });
});
