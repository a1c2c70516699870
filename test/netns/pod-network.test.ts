import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { POD_NETWORK_METADATA } from '../../src/cri/sandbox-run.js';
import { onCleanup } from '../helpers/cleanup.js';
import { codeOf } from '../helpers/cri-client.js';
import { startTestDaemon, tempDir, testNetwork, writeTestConfig } from '../helpers/daemon.js';
import { podConfig } from '../helpers/pods.js';

const run = promisify(execFile);
const prefix = (subnet: string): string => subnet.split('.').slice(0, 3).join('.') + '.';

describe('netns/pod-network: CRI pods use the cluster\'s network only; Coracle\'s own network is its own', function () {
  this.timeout(60_000);

  it('writes nothing into the cluster conf dir, is not NetworkReady until a config appears, then uses it; the CLI\'s pods keep Coracle\'s own', async () => {
    const dir = await tempDir();
    const cluster = testNetwork();
    // Registered first, so it runs after the daemon's own cleanup has removed the pods.
    onCleanup(`delete bridge ${cluster.bridge}`, () => run('ip', ['link', 'del', cluster.bridge]).catch(() => undefined));
    const d = await startTestDaemon({ network: true, clusterNetwork: true });

    const status = async (): Promise<{ status: boolean; message: string }> =>
      (await d.clients.runtime.Status({ verbose: false })).status!.conditions.find((c) => c.type === 'NetworkReady')!;
    assert.deepEqual(await status(), { type: 'NetworkReady', status: false, reason: 'NetworkPluginNotReady', message: `no usable CNI network config in ${d.cniConfDir}` });
    assert.deepEqual(await readdir(d.cniConfDir).catch(() => []), [], 'nothing written to the cluster conf dir');
    assert.deepEqual(await readdir(join(d.root, 'cni', 'net.d')), ['10-coracle.conflist'], 'Coracle\'s own network lives under its root');

    const early = await codeOf(d.clients.runtime.RunPodSandbox({ config: podConfig('early') }));
    assert.equal(early.code, grpc.status.FAILED_PRECONDITION);
    assert.match(early.details, /no CNI network config in the cluster's conf dir/);
    assert.deepEqual((await d.clients.runtime.ListPodSandbox({})).items, [], 'the failed pod left nothing');

    // The cluster's plugin arrives: a bridge of its own, on another subnet.
    await mkdir(d.cniConfDir, { recursive: true });
    await writeFile(
      join(d.cniConfDir, '10-cluster.conflist'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'cluster',
        plugins: [{ type: 'bridge', bridge: cluster.bridge, isGateway: true, ipam: { type: 'host-local', ranges: [[{ subnet: cluster.subnet }]], dataDir: join(dir, 'leases') } }],
      }),
    );
    assert.equal((await status()).status, true);
    const pod = (await d.clients.runtime.RunPodSandbox({ config: podConfig('kube') })).pod_sandbox_id;
    const ip = (await d.clients.runtime.PodSandboxStatus({ pod_sandbox_id: pod })).status!.network!.ip;
    assert.ok(ip.startsWith(prefix(cluster.subnet)), `${ip} is on the cluster's ${cluster.subnet}`);

    // Only a client of the socket asks for Coracle's own network (the CLI does), by metadata.
    const md = new grpc.Metadata();
    md.set(POD_NETWORK_METADATA, 'embedded');
    const cliPod = await new Promise<string>((resolve, reject) =>
      d.clients.rawRuntime.RunPodSandbox({ config: podConfig('cli') }, md, (err, res) => (err ? reject(err) : resolve(res!.pod_sandbox_id))),
    );
    const cliIp = (await d.clients.runtime.PodSandboxStatus({ pod_sandbox_id: cliPod })).status!.network!.ip;
    assert.ok(cliIp.startsWith(prefix(d.subnet!)), `${cliIp} is on Coracle's own ${d.subnet}`);
    // A label does not: a pod's labels are whoever wrote the pod's.
    const labelled = (await d.clients.runtime.RunPodSandbox({ config: podConfig('labelled', { labels: { 'io.coracle.cli': 'true' } }) })).pod_sandbox_id;
    assert.ok((await d.clients.runtime.PodSandboxStatus({ pod_sandbox_id: labelled })).status!.network!.ip.startsWith(prefix(cluster.subnet)));

    for (const id of [pod, cliPod, labelled]) await d.clients.runtime.RemovePodSandbox({ pod_sandbox_id: id });
    assert.deepEqual(await readdir(join(dir, 'leases', 'cluster')).then((f) => f.filter((n) => /^\d/.test(n))), [], 'the cluster network\'s leases released');
  });

  it('names, at start, the config an earlier Coracle wrote into the cluster\'s conf dir', async () => {
    const paths = await writeTestConfig(await tempDir());
    await mkdir(paths.cniConfDir, { recursive: true });
    await writeFile(join(paths.cniConfDir, '10-coracle.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'coracle', plugins: [{ type: 'bridge' }] }));
    const d = await startTestDaemon({ paths });
    assert.ok(d.lines.some((l) => l.includes('holds the config an earlier Coracle wrote there') && l.includes('10-coracle.conflist')), d.lines.join('\n'));
  });
});
